"""Fitted parameters as elementwise expressions.

A scaler turns each fitted column into a list of steps (``("sub", center)``,
``("div", scale)``, ...) with one constant per group and lane; these build
the expression: literals, or a per-row group lookup with ``by``.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from polars_mlkit._plugin import call_plugin
from polars_mlkit.scalers._state import FloatArray, _Column, _key_expr, _State

_EPS64 = float(np.finfo(np.float64).eps)
_EPS32 = float(np.finfo(np.float32).eps)


def _constant(state: _State, column: _Column, values: FloatArray, function: str) -> pl.Expr:
    """The per-row constant: a literal, or a per-group lookup with ``by``."""
    if state.by:
        return call_plugin(
            "group_lookup",
            [_key_expr(state.by)],
            {
                "function": function,
                "keys": state.keys,
                "values": [float(v) for v in values.ravel()],
                "width": column.width,
                "unknown": state.options["unknown_group"],
            },
            is_elementwise=True,
        )
    if column.width:
        row = [float(v) for v in values[0]]
        return pl.lit(pl.Series([row], dtype=pl.Array(pl.Float64, column.width)))
    return pl.lit(float(values[0, 0]), dtype=pl.Float64)


def _column_expr(
    state: _State,
    column: _Column,
    ops: list[tuple[str, FloatArray]],
    clip: tuple[float, float] | None,
    function: str,
) -> pl.Expr:
    x = pl.col(column.name)
    x = x.cast(pl.Array(pl.Float64, column.width) if column.width else pl.Float64)
    for op, values in ops:
        const = _constant(state, column, values, function)
        if op == "sub":
            x = x - const
        elif op == "add":
            x = x + const
        elif op == "mul":
            x = x * const
        else:
            x = x / const
    if clip is not None:
        low, high = clip
        x = x.arr.eval(pl.element().clip(low, high)) if column.width else x.clip(low, high)
    inner: pl.DataType = pl.Float32() if column.float32 else pl.Float64()
    if column.container == "list":
        x = x.cast(pl.List(inner))
    elif column.container == "array":
        x = x.cast(pl.Array(inner, column.width))
    elif column.float32:
        x = x.cast(pl.Float32)
    return x.alias(column.name)


def _center_scale_ops(
    center: FloatArray | None, scale: FloatArray | None, inverse: bool
) -> list[tuple[str, FloatArray]]:
    """``(x - center) / scale`` as transform steps (either part optional);
    the inverse undoes them in reverse order."""
    ops: list[tuple[str, FloatArray]] = []
    if center is not None:
        ops.append(("add" if inverse else "sub", center))
    if scale is not None:
        ops.append(("mul" if inverse else "div", scale))
    return ops[::-1] if inverse else ops


def _handle_zeros(scale: FloatArray, column: _Column) -> FloatArray:
    """scikit-learn's ``_handle_zeros_in_scale`` with the column dtype's eps."""
    eps = _EPS32 if column.float32 else _EPS64
    with np.errstate(invalid="ignore"):
        return np.where(scale < 10.0 * eps, 1.0, scale)
