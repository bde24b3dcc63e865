"""The one place that registers plugin calls with Polars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from polars.plugins import register_plugin_function

_LIBRARY = Path(__file__).parent


def call_plugin(
    function_name: str,
    args: list[pl.Expr],
    kwargs: dict[str, Any],
    *,
    is_elementwise: bool,
    returns_scalar: bool = False,
    changes_length: bool = False,
) -> pl.Expr:
    """Build the expression that runs ``function_name`` of the extension.

    ``kwargs`` must hold builtin Python values only (they are pickled, and
    numpy scalars do not decode on the Rust side).
    """
    return register_plugin_function(
        plugin_path=_LIBRARY,
        function_name=function_name,
        args=args,
        kwargs=kwargs,
        is_elementwise=is_elementwise,
        returns_scalar=returns_scalar,
        changes_length=changes_length,
    )
