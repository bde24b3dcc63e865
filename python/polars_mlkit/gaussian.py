"""Gaussianizing transforms with scikit-learn's exact semantics:
``QuantileTransformer`` (uniform or normal output) and ``PowerTransformer``
(Yeo-Johnson or Box-Cox, then standardization).

Each function takes a column name or expression (and returns an
expression), or data (and returns the same kind of data, transformed now).
The expressions fit on the whole column (or group, under ``.over`` and
``group_by``; per dimension on vector columns), so they are not
elementwise; the fitted :class:`~polars_mlkit.QuantileTransformer` and
:class:`~polars_mlkit.PowerTransformer` give elementwise, streaming
transforms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypeAlias, overload

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit import _checks, _internal
from polars_mlkit._data import is_expression_input, to_expr
from polars_mlkit._plugin import call_plugin

OutputDistribution: TypeAlias = Literal["uniform", "normal"]
PowerMethod: TypeAlias = Literal["yeo-johnson", "box-cox"]


def gaussian_expr(expr: pl.Expr, kwargs: dict[str, Any]) -> pl.Expr:
    """The ``gaussianize`` plugin on ``expr`` (not elementwise: the fit
    needs the whole column or group)."""
    return call_plugin("gaussianize", [expr], kwargs, is_elementwise=False)


def _dispatch(x: Any, function: str, kwargs: dict[str, Any]) -> Any:
    if is_expression_input(x):
        return gaussian_expr(to_expr(x), kwargs)
    if isinstance(x, pl.Series):
        out = x.to_frame("x").select(gaussian_expr(pl.col("x"), kwargs)).to_series()
        return out.alias(x.name)
    if isinstance(x, (list, tuple, np.ndarray)):
        return _internal.gaussianize(x, kwargs)
    msg = (
        f"{function}: expected a column name, an expression, a list, a numpy array "
        f"or a Series, got {type(x).__name__}"
    )
    raise TypeError(msg)


@overload
def quantile_transform(
    x: str | pl.Expr, n_quantiles: int = ..., output_distribution: OutputDistribution = ...
) -> pl.Expr: ...
@overload
def quantile_transform(
    x: pl.Series, n_quantiles: int = ..., output_distribution: OutputDistribution = ...
) -> pl.Series: ...
@overload
def quantile_transform(
    x: npt.NDArray[Any], n_quantiles: int = ..., output_distribution: OutputDistribution = ...
) -> npt.NDArray[Any]: ...
@overload
def quantile_transform(
    x: Sequence[float], n_quantiles: int = ..., output_distribution: OutputDistribution = ...
) -> list[float]: ...
def quantile_transform(
    x: Any, n_quantiles: int = 1000, output_distribution: OutputDistribution = "uniform"
) -> Any:
    """Map values through their quantiles, as scikit-learn's ``QuantileTransformer``.

    The column's quantiles at ``n_quantiles`` evenly spaced levels (numpy's
    linearly interpolated percentiles, found by selection; capped at the
    number of rows, as scikit-learn does) define a piecewise-linear map to
    [0, 1]; tied quantiles map to the middle of their levels (scikit-learn
    averages the forward and backward interpolation). ``"normal"`` output
    then applies the normal quantile function, clipped at about ±5.2
    (scikit-learn's ``BOUNDS_THRESHOLD``). The same numbers as
    ``QuantileTransformer(n_quantiles, output_distribution,
    subsample=None).fit_transform`` on the column.

    Nulls and NaN are skipped by the fit and kept in the output (the rows
    still count towards the cap on ``n_quantiles``, as scikit-learn counts
    its samples); an infinite value is an error. Float32 stays Float32.

    Parameters
    ----------
    x
        Column name or expression (returns an expression), or data: a list,
        numpy array (2-D: each column separately) or Series.
    n_quantiles
        Number of quantiles (>= 1).
    output_distribution
        ``"uniform"`` or ``"normal"``.

    Returns
    -------
    pl.Expr, pl.Series, numpy.ndarray or list
        The same kind as ``x``.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> pmk.quantile_transform([1.0, 10.0, 100.0, 1000.0, 10000.0])
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> df = pl.DataFrame({"x": [3.0, 1.0, None, 2.0]})
    >>> df.select(pl.col("x").ml.quantile_transform())["x"].round(3).to_list()
    [1.0, 0.0, None, 0.5]
    """
    options = {"n_quantiles": n_quantiles, "output_distribution": output_distribution}
    kwargs = _checks.gaussian_kwargs("quantile_transform", "quantile", options)
    return _dispatch(x, "quantile_transform", kwargs)


@overload
def power_transform(
    x: str | pl.Expr, method: PowerMethod = ..., standardize: bool = ...
) -> pl.Expr: ...
@overload
def power_transform(
    x: pl.Series, method: PowerMethod = ..., standardize: bool = ...
) -> pl.Series: ...
@overload
def power_transform(
    x: npt.NDArray[Any], method: PowerMethod = ..., standardize: bool = ...
) -> npt.NDArray[Any]: ...
@overload
def power_transform(
    x: Sequence[float], method: PowerMethod = ..., standardize: bool = ...
) -> list[float]: ...
def power_transform(x: Any, method: PowerMethod = "yeo-johnson", standardize: bool = True) -> Any:
    """Make a column more normal with a power transform, as scikit-learn's ``PowerTransformer``.

    The lambda maximises the normal log-likelihood of the transformed
    column, found as SciPy finds it (Yeo-Johnson: bounded Brent search,
    ``fminbound``, between SciPy's overflow-safe bounds; Box-Cox: Brent's
    method from the bracket (-2, 2)); the transform uses SciPy's
    numerically careful ``expm1``/``log1p`` forms; ``standardize`` then
    centers and scales the result as scikit-learn's ``StandardScaler``. A
    constant column keeps lambda 1 under Yeo-Johnson (scikit-learn's
    near-constant test); Box-Cox needs strictly positive, non-constant data
    and otherwise is an error naming the column.

    Nulls and NaN are skipped by the fit and kept in the output; an
    infinite value is an error. Float32 stays Float32 (the fit computes in
    Float64). A column with no value gives nulls/NaN back.

    Parameters
    ----------
    x
        Column name or expression (returns an expression), or data: a list,
        numpy array (2-D: each column separately) or Series.
    method
        ``"yeo-johnson"`` (any real values) or ``"box-cox"`` (positive values).
    standardize
        Center and scale the transformed values to zero mean, unit variance.

    Returns
    -------
    pl.Expr, pl.Series, numpy.ndarray or list
        The same kind as ``x``.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> out = pmk.power_transform([1.0, 2.0, 4.0, 8.0], method="box-cox")
    >>> [round(v, 3) for v in out]
    [-1.342, -0.447, 0.447, 1.342]
    >>> df = pl.DataFrame({"x": [0.5, 1.0, 2.0, None, 30.0]})
    >>> df.select(pl.col("x").ml.power_transform())["x"].round(3).to_list()
    [-1.136, -0.533, 0.115, None, 1.554]
    """
    options = {"method": method, "standardize": standardize}
    kwargs = _checks.gaussian_kwargs("power_transform", "power", options)
    return _dispatch(x, "power_transform", kwargs)
