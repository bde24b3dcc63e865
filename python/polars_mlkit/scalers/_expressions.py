"""Fitted parameters as elementwise expressions.

The extension derives every fitted transform (the kernel functions the
``ml`` scaling expressions run) and hands it over as four coefficients per
group and lane, ``(x * mul - sub) / div + add`` then clipped; the transform
expression gives them back to the extension's elementwise ``fitted_scale``,
which applies them with the expressions' own code. (Polars' arithmetic
would not do: it divides by a constant through its reciprocal, which is off
by an ulp, or by far more when the reciprocal is subnormal.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from polars_mlkit import _internal
from polars_mlkit._checks import scale_kwargs
from polars_mlkit._plugin import call_plugin
from polars_mlkit.scalers._state import FloatArray, _Column, _key_expr, _State

#: The coefficient names of ``(x * mul - sub) / div + add``.
COEFFICIENTS = ("mul", "sub", "div", "add")


def fitted_parameters(
    state: _State, column: _Column, method: str, function: str
) -> dict[str, FloatArray]:
    """scikit-learn's parameters and the transform coefficients of one fitted
    column, as (groups, lanes) arrays, computed by the extension."""
    options = {
        k: v for k, v in state.options.items() if k not in ("columns", "by", "unknown_group")
    }
    kwargs = scale_kwargs(function, method, options)
    per = state.stats[column.name]
    shape = next(iter(per.values())).shape
    flat = {name: np.ascontiguousarray(arr, dtype=np.float64).ravel() for name, arr in per.items()}
    out: dict[str, Any] = _internal.fitted_scaler(kwargs, flat, column.float32)
    return {name: np.asarray(arr, dtype=np.float64).reshape(shape) for name, arr in out.items()}


def column_expr(
    state: _State,
    column: _Column,
    coefficients: dict[str, FloatArray],
    clip: tuple[float, float] | None,
    inverse: bool,
    function: str,
) -> pl.Expr:
    """The expression that scales one fitted column (or undoes it): the
    extension's ``fitted_scale``, elementwise, with the coefficients of each
    group and lane as its arguments."""
    x = pl.col(column.name)
    if column.width:
        x = x.cast(pl.Array(pl.Float64, column.width))
    elif column.dtype not in ("Float32", "Float64"):
        x = x.cast(pl.Float64)
    stacked = np.stack([coefficients[name] for name in COEFFICIENTS], axis=-1)
    args = [x, _key_expr(state.by)] if state.by else [x]
    scaled = call_plugin(
        "fitted_scale",
        args,
        {
            "function": function,
            "width": column.width,
            "keys": state.keys if state.by else [],
            "coefficients": [float(v) for v in stacked.ravel()],
            "clip": None if clip is None else [float(clip[0]), float(clip[1])],
            "inverse": inverse,
            "float32": column.float32,
            "unknown": state.options["unknown_group"],
        },
        is_elementwise=True,
    )
    if column.container == "list":
        scaled = scaled.cast(pl.List(pl.Float32 if column.float32 else pl.Float64))
    return scaled.alias(column.name)
