"""Column scaling with scikit-learn's exact semantics.

Each function takes a column name or expression (and returns an expression),
or data (and returns the same kind of data, scaled now).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypeAlias, overload

import numpy.typing as npt
import polars as pl

from polars_mlkit import _checks, _internal
from polars_mlkit._data import apply_to_columns, is_expression_input, to_expr
from polars_mlkit._plugin import call_plugin

ScaleMethod: TypeAlias = Literal["minmax", "standard", "robust", "maxabs"]


def _scale_expr(expr: pl.Expr, kwargs: dict[str, Any]) -> pl.Expr:
    # Not elementwise: the statistics need the whole column (or group).
    return call_plugin("scale", [expr], kwargs, is_elementwise=False)


DataIn: TypeAlias = "Sequence[float] | npt.NDArray[Any] | pl.Series"


def _dispatch(x: Any, function: str, kwargs: dict[str, Any]) -> Any:
    if is_expression_input(x):
        return _scale_expr(to_expr(x), kwargs)
    return apply_to_columns(x, lambda e: _scale_expr(e, kwargs), kwargs, function)


#: ``normalize()``'s default options, parsed once.
_NORMALIZE_PLAN = _internal.ScalePlan(_checks.scale_kwargs("normalize", "minmax", {}))


@overload
def normalize(x: str | pl.Expr, method: ScaleMethod = ..., **options: Any) -> pl.Expr: ...
@overload
def normalize(x: pl.Series, method: ScaleMethod = ..., **options: Any) -> pl.Series: ...
@overload
def normalize(
    x: npt.NDArray[Any], method: ScaleMethod = ..., **options: Any
) -> npt.NDArray[Any]: ...
@overload
def normalize(x: Sequence[float], method: ScaleMethod = ..., **options: Any) -> list[float]: ...
def normalize(x: Any, method: ScaleMethod = "minmax", **options: Any) -> Any:
    """Scale a column with one of scikit-learn's scalers.

    ``normalize()`` with no options is min-max scaling to [0, 1]. ``options``
    are those of the method's own function (:func:`minmax_scale`,
    :func:`standard_scale`, :func:`robust_scale`, :func:`maxabs_scale`).

    Parameters
    ----------
    x
        Column name or expression (returns an expression), or data: a list,
        numpy array (2-D: each column scaled separately) or Series.
    method
        ``"minmax"``, ``"standard"``, ``"robust"`` or ``"maxabs"``.
    **options
        Options of the chosen method.

    Returns
    -------
    pl.Expr, pl.Series, numpy.ndarray or list
        The same kind as ``x``.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> pmk.normalize([1.0, 2.0, 3.0])
    [0.0, 0.5, 1.0]
    >>> df = pl.DataFrame({"x": [1.0, 2.0, None, 5.0]})
    >>> df.with_columns(pl.col("x").ml.normalize(method="maxabs"))["x"].to_list()
    [0.2, 0.4, None, 1.0]
    """
    if method == "minmax" and not options:
        # Plain data (numpy arrays, lists, tuples) is scaled in one call.
        found = _internal.try_scale(x, _NORMALIZE_PLAN)
        if found is not NotImplemented:
            return found
    return _dispatch(x, "normalize", _checks.scale_kwargs("normalize", method, options))


@overload
def minmax_scale(
    x: str | pl.Expr, feature_range: tuple[float, float] = ..., clip: bool = ...
) -> pl.Expr: ...
@overload
def minmax_scale(
    x: pl.Series, feature_range: tuple[float, float] = ..., clip: bool = ...
) -> pl.Series: ...
@overload
def minmax_scale(
    x: npt.NDArray[Any], feature_range: tuple[float, float] = ..., clip: bool = ...
) -> npt.NDArray[Any]: ...
@overload
def minmax_scale(
    x: Sequence[float], feature_range: tuple[float, float] = ..., clip: bool = ...
) -> list[float]: ...
def minmax_scale(
    x: Any, feature_range: tuple[float, float] = (0.0, 1.0), clip: bool = False
) -> Any:
    """Scale to ``feature_range``, as scikit-learn's ``MinMaxScaler``.

    ``(x - min) / (max - min) * (high - low) + low``, computed with
    scikit-learn's formula. Nulls and NaN are skipped by the statistics and
    kept in the output. A range below ``10 * eps`` of the dtype counts as 1,
    so a constant column maps to ``low``. A range wider than the largest
    float is handled without overflow.

    Parameters
    ----------
    x
        Column name or expression, or data (list, numpy array, Series).
    feature_range
        ``(low, high)`` with ``low < high``.
    clip
        Clip the output to ``feature_range`` (matters for data the
        statistics were not computed on, as in grouped contexts).

    Examples
    --------
    >>> import polars_mlkit as pmk
    >>> pmk.minmax_scale([0.0, 5.0, 10.0], feature_range=(-1.0, 1.0))
    [-1.0, 0.0, 1.0]
    """
    return _dispatch(
        x,
        "minmax_scale",
        _checks.scale_kwargs(
            "minmax_scale", "minmax", {"feature_range": feature_range, "clip": clip}
        ),
    )


@overload
def standard_scale(
    x: str | pl.Expr, with_mean: bool = ..., with_std: bool = ..., ddof: int = ...
) -> pl.Expr: ...
@overload
def standard_scale(
    x: pl.Series, with_mean: bool = ..., with_std: bool = ..., ddof: int = ...
) -> pl.Series: ...
@overload
def standard_scale(
    x: npt.NDArray[Any], with_mean: bool = ..., with_std: bool = ..., ddof: int = ...
) -> npt.NDArray[Any]: ...
@overload
def standard_scale(
    x: Sequence[float], with_mean: bool = ..., with_std: bool = ..., ddof: int = ...
) -> list[float]: ...
def standard_scale(x: Any, with_mean: bool = True, with_std: bool = True, ddof: int = 0) -> Any:
    """Center and scale to unit variance, as scikit-learn's ``StandardScaler``.

    ``(x - mean) / std``. ``ddof=0`` (the default) is scikit-learn's
    population standard deviation; ``ddof=1`` gives the sample one, as
    Polars' ``std()``. A near-constant column (scikit-learn's
    ``_is_constant_feature`` test) gets scale 1, so it maps to 0. When fewer
    than ``ddof + 1`` values are present the variance is undefined and the
    scale is taken as 1. Values near ±1e308 do not overflow.

    Parameters
    ----------
    x
        Column name or expression, or data (list, numpy array, Series).
    with_mean
        Subtract the mean.
    with_std
        Divide by the standard deviation.
    ddof
        Delta degrees of freedom of the standard deviation (>= 0).

    Examples
    --------
    >>> import polars_mlkit as pmk
    >>> pmk.standard_scale([1.0, 2.0, 3.0])
    [-1.224744871391589, 0.0, 1.224744871391589]
    """
    options = {"with_mean": with_mean, "with_std": with_std, "ddof": ddof}
    return _dispatch(
        x, "standard_scale", _checks.scale_kwargs("standard_scale", "standard", options)
    )


@overload
def robust_scale(
    x: str | pl.Expr,
    with_centering: bool = ...,
    with_scaling: bool = ...,
    quantile_range: tuple[float, float] = ...,
    unit_variance: bool = ...,
) -> pl.Expr: ...
@overload
def robust_scale(
    x: pl.Series,
    with_centering: bool = ...,
    with_scaling: bool = ...,
    quantile_range: tuple[float, float] = ...,
    unit_variance: bool = ...,
) -> pl.Series: ...
@overload
def robust_scale(
    x: npt.NDArray[Any],
    with_centering: bool = ...,
    with_scaling: bool = ...,
    quantile_range: tuple[float, float] = ...,
    unit_variance: bool = ...,
) -> npt.NDArray[Any]: ...
@overload
def robust_scale(
    x: Sequence[float],
    with_centering: bool = ...,
    with_scaling: bool = ...,
    quantile_range: tuple[float, float] = ...,
    unit_variance: bool = ...,
) -> list[float]: ...
def robust_scale(
    x: Any,
    with_centering: bool = True,
    with_scaling: bool = True,
    quantile_range: tuple[float, float] = (25.0, 75.0),
    unit_variance: bool = False,
) -> Any:
    """Center on the median and scale by a quantile range, as ``RobustScaler``.

    ``(x - median) / (q_high - q_low)`` with numpy's linear-interpolated
    percentiles, found by selection rather than a full sort. A spread below
    ``10 * eps`` counts as 1.

    Parameters
    ----------
    x
        Column name or expression, or data (list, numpy array, Series).
    with_centering
        Subtract the median.
    with_scaling
        Divide by the quantile range.
    quantile_range
        ``(q_low, q_high)`` percentiles with ``0 <= q_low <= q_high <= 100``.
    unit_variance
        Divide by the spread of the same quantiles of a standard normal, so
        normally distributed data gets variance 1 (needs ``0 < q_low < q_high < 100``).

    Examples
    --------
    >>> import polars_mlkit as pmk
    >>> pmk.robust_scale([1.0, 2.0, 3.0, 4.0, 100.0])
    [-1.0, -0.5, 0.0, 0.5, 48.5]
    """
    options = {
        "with_centering": with_centering,
        "with_scaling": with_scaling,
        "quantile_range": quantile_range,
        "unit_variance": unit_variance,
    }
    return _dispatch(x, "robust_scale", _checks.scale_kwargs("robust_scale", "robust", options))


@overload
def maxabs_scale(x: str | pl.Expr) -> pl.Expr: ...
@overload
def maxabs_scale(x: pl.Series) -> pl.Series: ...
@overload
def maxabs_scale(x: npt.NDArray[Any]) -> npt.NDArray[Any]: ...
@overload
def maxabs_scale(x: Sequence[float]) -> list[float]: ...
def maxabs_scale(x: Any) -> Any:
    """Divide by the largest absolute value, as scikit-learn's ``MaxAbsScaler``.

    Keeps zeros and signs. A maximum below ``10 * eps`` counts as 1.

    Examples
    --------
    >>> import polars_mlkit as pmk
    >>> pmk.maxabs_scale([-4.0, 2.0, 1.0])
    [-1.0, 0.5, 0.25]
    """
    return _dispatch(x, "maxabs_scale", _checks.scale_kwargs("maxabs_scale", "maxabs", {}))
