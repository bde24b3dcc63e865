"""Computing on data now: list in -> list out, numpy in -> numpy out (both
straight through the extension's data face), Series in -> Series out
(through the plugin). Shared by every free function."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit import _internal

#: Something a free function can compute on now.
ArrayLike: TypeAlias = "Sequence[float] | npt.NDArray[Any] | pl.Series"
#: A column name or an expression: the free function returns an expression.
IntoExpr: TypeAlias = "str | pl.Expr"


def is_expression_input(x: object) -> bool:
    """Whether ``x`` names a column or is an expression."""
    return isinstance(x, (str, pl.Expr))


def to_expr(x: str | pl.Expr) -> pl.Expr:
    return pl.col(x) if isinstance(x, str) else x


def apply_to_columns(
    x: Sequence[float] | npt.NDArray[Any] | pl.Series,
    build: Callable[[pl.Expr], pl.Expr],
    kwargs: dict[str, Any],
    function: str,
) -> Any:
    """Scale data now: a Series through the plugin (``build(col)``), plain
    data straight through the extension with the same ``kwargs``.

    A 1-D list/array/Series is one column; a 2-D numpy array (or list of
    rows) is one column per feature (rows are samples, as in scikit-learn).
    A list may hold ``None``: skipped by the statistics and ``None`` out.
    """
    if isinstance(x, pl.Series):
        return x.to_frame("x").select(build(pl.col("x"))).to_series().alias(x.name)
    if isinstance(x, (list, tuple, np.ndarray)):
        return _internal.scale(x, kwargs)
    msg = (
        f"{function}: expected a column name, an expression, a list, a numpy array "
        f"or a Series, got {type(x).__name__}"
    )
    raise TypeError(msg)
