"""Argument checks shared by the free functions and the fitted scalers.

Each check names the caller (``function``) in its message and raises
``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, bad value);
a check that converts returns the value in the builtin type the extension
reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit._reserved import check_by

# --------------------------------------------------------------------------- #
# scaling options (free functions, ``ml`` namespace and fitted scalers)
# --------------------------------------------------------------------------- #
METHODS = ("minmax", "standard", "robust", "maxabs")

DEFAULTS: dict[str, Any] = {
    "feature_range": [0.0, 1.0],
    "clip": False,
    "with_mean": True,
    "with_std": True,
    "ddof": 0,
    "with_centering": True,
    "with_scaling": True,
    "quantile_range": [25.0, 75.0],
    "unit_variance": False,
}


def pair(value: object, name: str, function: str) -> tuple[float, float]:
    """Two finite numbers (``feature_range``, ``quantile_range``)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        msg = f"{function}: {name} must be a pair of numbers, got {value!r}"
        raise TypeError(msg)
    items = list(value)
    if len(items) != 2 or not all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        for v in items
    ):
        msg = f"{function}: {name} must be a pair of numbers, got {value!r}"
        raise TypeError(msg)
    low, high = float(items[0]), float(items[1])
    if not (math.isfinite(low) and math.isfinite(high)):
        msg = f"{function}: {name} must be finite, got {value!r}"
        raise ValueError(msg)
    return low, high


def flag(value: object, name: str, function: str) -> bool:
    """A bool (numpy's included)."""
    if not isinstance(value, (bool, np.bool_)):
        msg = f"{function}: {name} must be True or False, got {value!r}"
        raise TypeError(msg)
    return bool(value)


def scale_kwargs(function: str, method: str, options: dict[str, Any]) -> dict[str, Any]:
    """Check every option in Python and return builtin-typed kwargs."""
    if method not in METHODS:
        msg = f"{function}: unknown method {method!r}; expected one of {', '.join(METHODS)}"
        raise ValueError(msg)
    allowed = {
        "minmax": {"feature_range", "clip"},
        "standard": {"with_mean", "with_std", "ddof"},
        "robust": {"with_centering", "with_scaling", "quantile_range", "unit_variance"},
        "maxabs": set(),
    }[method]
    unknown = set(options) - allowed
    if unknown:
        msg = (
            f"{function}: method {method!r} takes no option(s) {', '.join(sorted(unknown))}; "
            f"its options are {', '.join(sorted(allowed)) or 'none'}"
        )
        raise TypeError(msg)
    kwargs: dict[str, Any] = {**DEFAULTS, "function": function, "method": method}
    if "feature_range" in options:
        low, high = pair(options["feature_range"], "feature_range", function)
        if low >= high:
            msg = (
                f"{function}: feature_range minimum must be smaller than maximum, "
                f"got {options['feature_range']!r}"
            )
            raise ValueError(msg)
        kwargs["feature_range"] = [low, high]
    if "quantile_range" in options:
        q_low, q_high = pair(options["quantile_range"], "quantile_range", function)
        if not 0.0 <= q_low <= q_high <= 100.0:
            msg = (
                f"{function}: quantile_range must satisfy 0 <= low <= high <= 100, "
                f"got {options['quantile_range']!r}"
            )
            raise ValueError(msg)
        kwargs["quantile_range"] = [q_low, q_high]
    for name in (
        "clip",
        "with_mean",
        "with_std",
        "with_centering",
        "with_scaling",
        "unit_variance",
    ):
        if name in options:
            kwargs[name] = flag(options[name], name, function)
    if "ddof" in options:
        ddof = options["ddof"]
        if isinstance(ddof, bool) or not isinstance(ddof, (int, np.integer)):
            msg = f"{function}: ddof must be an integer, got {ddof!r}"
            raise TypeError(msg)
        if ddof < 0:
            msg = f"{function}: ddof must be >= 0, got {ddof}"
            raise ValueError(msg)
        # A ddof at or above the row count means scale 1; keep it within i64.
        kwargs["ddof"] = min(int(ddof), 2**32)
    if kwargs["unit_variance"]:
        q_low, q_high = kwargs["quantile_range"]
        if not 0.0 < q_low < q_high < 100.0:
            msg = (
                f"{function}: unit_variance needs 0 < low < high < 100 in quantile_range "
                "(the normal quantiles of 0 and 100 are infinite), "
                f"got {kwargs['quantile_range']!r}"
            )
            raise ValueError(msg)
    return kwargs


# --------------------------------------------------------------------------- #
# fitted scalers
# --------------------------------------------------------------------------- #
def names(value: object, name: str, function: str) -> list[str] | None:
    """``columns=`` or ``by=``: ``None``, one column name, or distinct names."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (Sequence, np.ndarray)) and all(isinstance(v, str) for v in value):
        found = [str(v) for v in value]
        if len(set(found)) != len(found):
            msg = f"{function}: {name} has repeated column names: {found!r}"
            raise ValueError(msg)
        return found
    msg = f"{function}: {name} must be a column name or a list of column names, got {value!r}"
    raise TypeError(msg)


def by_names(value: object, function: str) -> list[str] | None:
    """``by=``: as :func:`names`, and none named like an internal column
    (``polars_mlkit._reserved``)."""
    found = names(value, "by", function)
    check_by(found, function)
    return found


def unknown_group(value: object, function: str) -> None:
    """``unknown_group=``: ``"error"`` or ``"null"``."""
    if value not in ("error", "null"):
        msg = f'{function}: unknown_group must be "error" or "null", got {value!r}'
        raise ValueError(msg)


def output(value: object, function: str) -> None:
    """``set_output(transform=...)``: ``"default"``, ``"polars"`` or ``"pandas"``."""
    if value not in ("default", "polars", "pandas"):
        msg = f"{function}: transform must be 'default', 'polars', 'pandas' or None, got {value!r}"
        raise ValueError(msg)


# --------------------------------------------------------------------------- #
# vectors
# --------------------------------------------------------------------------- #
METRICS = ("euclidean", "sqeuclidean", "manhattan", "chebyshev", "cosine")
SEARCH_METRICS = ("cosine", "dot", "euclidean", "hamming")
RESCORE_METRICS = ("cosine", "dot", "euclidean")
PRECISIONS = ("int8", "binary")
NORMS = ("l1", "l2", "max")


def metric(value: object) -> None:
    """``distance``'s ``metric``."""
    if value not in METRICS:
        msg = f"distance: unknown metric {value!r}; expected one of {', '.join(METRICS)}"
        raise ValueError(msg)


def search_metric(value: object, function: str) -> None:
    """The ``metric`` of ``top_k_similar`` and ``nearest``."""
    if value not in SEARCH_METRICS:
        msg = f"{function}: metric must be one of {', '.join(SEARCH_METRICS)}, got {value!r}"
        raise ValueError(msg)


def precision(value: object) -> None:
    """``quantize``'s ``precision``."""
    if value not in PRECISIONS:
        msg = f"quantize: precision must be one of {', '.join(PRECISIONS)}, got {value!r}"
        raise ValueError(msg)


def ranges(value: Any) -> npt.NDArray[np.float64]:
    """``quantize``'s ``ranges``: a ``(2, d)`` array of per-dimension (min, max)
    with min < max, finite."""
    array = matrix(value, "quantize", "ranges")
    if array.shape[0] != 2:
        msg = f"quantize: ranges must have shape (2, d) (mins, then maxs), got {array.shape}"
        raise ValueError(msg)
    bad = ~(np.isfinite(array).all(axis=0) & (array[0] < array[1]))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        msg = (
            "quantize: ranges must be finite with min < max in every dimension, "
            f"got ({array[0, j]}, {array[1, j]}) in dimension {j}"
        )
        raise ValueError(msg)
    return array


def oversample(value: object) -> int:
    """``nearest``'s ``oversample``: a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        msg = f"nearest: oversample must be a positive integer, got {value!r}"
        raise ValueError(msg)
    return int(value)


def rescore_metric(value: object) -> None:
    if value not in RESCORE_METRICS:
        msg = f"nearest: rescore_metric must be one of {', '.join(RESCORE_METRICS)}, got {value!r}"
        raise ValueError(msg)


def unit_norm(value: object) -> None:
    """``unit_normalize``'s ``norm``."""
    if value not in NORMS:
        msg = f"unit_normalize: norm must be one of {', '.join(NORMS)}, got {value!r}"
        raise ValueError(msg)


def norm_ord(value: Any) -> str:
    """``norm``'s ``ord`` (1, 2 or infinity), as the text the extension reads."""
    if isinstance(value, bool) or value not in (1, 2, math.inf):
        msg = f"norm: ord must be 1, 2 or float('inf'), got {value!r}"
        raise ValueError(msg)
    return "inf" if value == math.inf else str(int(value))


def top_k(k: object, function: str) -> int:
    """The ``k`` of ``top_k_similar`` and ``nearest``: a positive integer."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        msg = f"{function}: k must be an integer, got {k!r}"
        raise TypeError(msg)
    if k <= 0:
        msg = f"{function}: k must be positive, got {k}"
        raise ValueError(msg)
    # More than the rows there can be means "all rows".
    return min(int(k), 2**32 - 1)


def numeric_array(value: Any, function: str, what: str) -> npt.NDArray[Any]:
    """``value`` as a numeric numpy array, or an error naming ``function``."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as err:
        msg = f"{function}: {what} must be numbers of one shape (no ragged rows): {err}"
        raise ValueError(msg) from err
    if array.dtype.kind not in "biuf":
        msg = f"{function}: {what} must hold numbers, got dtype {array.dtype}"
        raise TypeError(msg)
    return array


def constant_vector(value: Any, function: str, what: str = "other") -> npt.NDArray[np.float64]:
    """A constant vector, checked, as a float64 array."""
    if isinstance(value, pl.Series):
        if not value.dtype.is_numeric():
            msg = f"{function}: {what} must hold numbers, got a Series of {value.dtype}"
            raise TypeError(msg)
        if value.null_count():
            msg = f"{function}: {what} must not contain nulls"
            raise ValueError(msg)
        array = value.cast(pl.Float64).to_numpy()
    else:
        array = numeric_array(value, function, what)
    if array.ndim != 1:
        msg = f"{function}: {what} must be one vector (1-D), got an array of shape {array.shape}"
        raise ValueError(msg)
    return np.ascontiguousarray(array, dtype=np.float64)


def matrix(value: Any, function: str, what: str) -> npt.NDArray[np.float64]:
    """A 2-D constant (``project``'s matrix, ``nearest``'s queries) as float64."""
    array = numeric_array(value, function, what)
    if array.ndim != 2:
        msg = f"{function}: {what} must be 2-D, got an array of shape {array.shape}"
        raise ValueError(msg)
    return np.ascontiguousarray(array, dtype=np.float64)


# --------------------------------------------------------------------------- #
# gaussianizing transforms (quantile_transform, power_transform and the
# fitted QuantileTransformer / PowerTransformer)
# --------------------------------------------------------------------------- #
OUTPUT_DISTRIBUTIONS = ("uniform", "normal")
POWER_METHODS = ("yeo-johnson", "box-cox")


def gaussian_kwargs(function: str, transform: str, options: dict[str, Any]) -> dict[str, Any]:
    """Checked, builtin-typed kwargs of ``quantile_transform`` (``transform``
    ``"quantile"``: ``n_quantiles``, ``output_distribution``) or
    ``power_transform`` (``"power"``: ``method``, ``standardize``)."""
    kwargs: dict[str, Any] = {
        "function": function,
        "transform": transform,
        "n_quantiles": 1000,
        "output_distribution": "uniform",
        "method": "yeo-johnson",
        "standardize": True,
    }
    if transform == "quantile":
        n = options.get("n_quantiles", 1000)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            msg = f"{function}: n_quantiles must be an integer, got {n!r}"
            raise TypeError(msg)
        if n < 1:
            msg = f"{function}: n_quantiles must be >= 1, got {n}"
            raise ValueError(msg)
        # More quantiles than rows there can be means "one per row".
        kwargs["n_quantiles"] = min(int(n), 2**62)
        distribution = options.get("output_distribution", "uniform")
        if distribution not in OUTPUT_DISTRIBUTIONS:
            msg = (
                f"{function}: output_distribution must be 'uniform' or 'normal', "
                f"got {distribution!r}"
            )
            raise ValueError(msg)
        kwargs["output_distribution"] = str(distribution)
    else:
        method = options.get("method", "yeo-johnson")
        if method not in POWER_METHODS:
            msg = f"{function}: method must be 'yeo-johnson' or 'box-cox', got {method!r}"
            raise ValueError(msg)
        kwargs["method"] = str(method)
        kwargs["standardize"] = flag(options.get("standardize", True), "standardize", function)
    return kwargs
