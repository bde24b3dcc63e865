"""Running an expression on data now: list in -> list out, numpy in -> numpy
out, Series in -> Series out. Shared by every free function."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl

#: Something a free function can compute on now.
ArrayLike: TypeAlias = "Sequence[float] | npt.NDArray[Any] | pl.Series"
#: A column name or an expression: the free function returns an expression.
IntoExpr: TypeAlias = "str | pl.Expr"


def is_expression_input(x: object) -> bool:
    """Whether ``x`` names a column or is an expression."""
    return isinstance(x, (str, pl.Expr))


def to_expr(x: str | pl.Expr) -> pl.Expr:
    return pl.col(x) if isinstance(x, str) else x


def _is_number(value: object) -> bool:
    """A real number, and not a bool (which numpy and Polars would accept)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _series_from_numpy(values: npt.NDArray[Any], function: str, name: str = "") -> pl.Series:
    if values.dtype.kind not in "biuf":
        msg = f"{function}: expected a numeric array, got dtype {values.dtype}"
        raise TypeError(msg)
    return pl.Series(name, values)


def _run(series: pl.Series, build: Callable[[pl.Expr], pl.Expr]) -> pl.Series:
    return series.to_frame("x").select(build(pl.col("x"))).to_series()


def apply_to_columns(
    x: Sequence[float] | npt.NDArray[Any] | pl.Series,
    build: Callable[[pl.Expr], pl.Expr],
    function: str,
) -> Any:
    """Apply the column expression ``build(col)`` to data now.

    A 1-D list/array/Series is one column; a 2-D numpy array is one column per
    feature (rows are samples, as in scikit-learn).
    """
    if isinstance(x, pl.Series):
        return _run(x, build).alias(x.name)
    if isinstance(x, np.ndarray):
        if x.ndim == 1:
            return _run(_series_from_numpy(x, function), build).to_numpy()
        if x.ndim == 2:
            frame = pl.DataFrame(
                {f"c{j}": _series_from_numpy(x[:, j], function) for j in range(x.shape[1])},
                height=x.shape[0],
            )
            result = frame.select(build(pl.col(c)) for c in frame.columns)
            if result.width == 0:
                return np.empty_like(x, dtype=np.float32 if x.dtype == np.float32 else np.float64)
            return result.to_numpy()
        msg = f"{function}: expected a 1-D or 2-D array, got {x.ndim} dimensions"
        raise ValueError(msg)
    if isinstance(x, (list, tuple)):
        items = list(x)
        if not all(v is None or _is_number(v) for v in items):
            msg = f"{function}: expected a list of numbers (or None), got {items[:5]!r}"
            raise TypeError(msg)
        series = pl.Series("", items, dtype=pl.Float64)
        values = _run(series, build).to_list()
        return tuple(values) if isinstance(x, tuple) else values
    msg = (
        f"{function}: expected a column name, an expression, a list, a numpy array "
        f"or a Series, got {type(x).__name__}"
    )
    raise TypeError(msg)
