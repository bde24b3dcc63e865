"""``from_sklearn``: a fitted scikit-learn object as its polars-mlkit equivalent.

Each converter reads the fitted attributes of one scikit-learn class and
builds the fitted polars-mlkit object that gives the same output on the same
rows (1e-12 relative for the float steps). Scalers and encoders are rebuilt
through their JSON documents, so a converted object is checked exactly as a
loaded one is. Column names come from ``feature_names_in_`` (a model fitted
on a pandas or Polars frame), else from the step before it in a pipeline,
else scikit-learn's ``x0, x1, ...``.
"""

from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Callable, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

from polars_mlkit.compose import ColumnTransformer, Normalizer
from polars_mlkit.linear_model import LinearModel
from polars_mlkit.pipeline import Pipeline
from polars_mlkit.scalers import load

Converter = Callable[[Any, list[str]], Any]
_LINEAR = ("LinearRegression", "Ridge", "Lasso", "ElasticNet")


def from_sklearn(fitted: Any) -> Any:
    """The polars-mlkit equivalent of a fitted scikit-learn object.

    Supported: StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler,
    Normalizer, QuantileTransformer, PowerTransformer, OneHotEncoder,
    OrdinalEncoder, TargetEncoder, SimpleImputer, KBinsDiscretizer, PCA,
    LinearRegression, Ridge, Lasso, ElasticNet, LogisticRegression, and
    ``Pipeline``/``ColumnTransformer`` of those.

    Parameters
    ----------
    fitted
        A fitted scikit-learn estimator.

    Returns
    -------
    The fitted polars-mlkit object (a linear model becomes a
    :class:`~polars_mlkit.LinearModel`, a pipeline a
    :class:`~polars_mlkit.Pipeline`).

    Raises
    ------
    TypeError
        The object (or a step inside it) is of a class with no equivalent;
        the message names the class.
    ValueError
        The object is not fitted.

    Examples
    --------
    >>> import numpy as np
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> from sklearn.linear_model import LinearRegression
    >>> X = np.array([[1.0, 2.0], [2.0, 0.0], [3.0, 1.0]])
    >>> sk = LinearRegression().fit(X, [1.0, 2.0, 4.0])
    >>> model = pmk.from_sklearn(sk)
    >>> bool(np.allclose(model.predict(X), sk.predict(X), rtol=1e-12))
    True
    >>> pl.DataFrame(X, schema=["x0", "x1"]).select(model.predict_expr()).height
    3
    """
    return _convert(fitted, None)


def _convert(fitted: Any, names: list[str] | None) -> Any:
    name = type(fitted).__name__
    if name in _CONVERTERS:
        converter = _CONVERTERS[name]
    else:
        import polars_mlkit

        target = getattr(polars_mlkit, name, None)
        own = getattr(target, "_from_sklearn", None)
        if own is None or not type(fitted).__module__.startswith("sklearn"):
            msg = (
                f"from_sklearn: {name} ({type(fitted).__module__}) has no polars-mlkit "
                "equivalent; supported: " + ", ".join(sorted(_supported()))
            )
            raise TypeError(msg)
        _require_fitted(fitted, name)
        if names is not None and getattr(fitted, "feature_names_in_", None) is None:
            # Inside a pipeline the step saw the previous step's unnamed
            # output: name its inputs as that step's outputs are named.
            fitted = copy.copy(fitted)
            fitted.feature_names_in_ = np.array(names, dtype=object)
        return own(fitted)
    _require_fitted(fitted, name)
    return converter(fitted, _names(fitted, names))


def _supported() -> list[str]:
    return [*_CONVERTERS, "SimpleImputer", "KBinsDiscretizer", "TargetEncoder", "PCA"]


def _require_fitted(fitted: Any, name: str) -> None:
    validation = importlib.import_module("sklearn.utils.validation")
    exceptions = importlib.import_module("sklearn.exceptions")
    try:
        validation.check_is_fitted(fitted)
    except exceptions.NotFittedError as exc:
        msg = f"from_sklearn: the {name} is not fitted"
        raise ValueError(msg) from exc


def _names(fitted: Any, given: list[str] | None) -> list[str]:
    names = getattr(fitted, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    if given is not None:
        return given
    return [f"x{j}" for j in range(int(fitted.n_features_in_))]


# --------------------------------------------------------------------------- #
# scalers and transformers (through their JSON documents)
# --------------------------------------------------------------------------- #
def _column(name: str) -> dict[str, Any]:
    return {"name": name, "dtype": "Float64", "container": "scalar", "width": 0}


def _scaler(
    kind: str, options: dict[str, Any], names: list[str], stats: list[dict[str, Any]], n: int
) -> Any:
    document = {
        "format": "polars-mlkit/scaler",
        "version": 2,
        "kind": kind,
        "options": {**options, "columns": names, "by": None, "unknown_group": "error"},
        "columns": [_column(c) for c in names],
        "by": [],
        "groups": [],
        "statistics": {
            c: {
                k: [[_number(v)]] if np.ndim(v) == 0 else [list(map(_number, v))]
                for k, v in s.items()
            }
            for c, s in zip(names, stats, strict=True)
        },
        "feature_names_in": names,
        "n_features_in": len(names),
        "n_samples_seen": n,
    }
    return load(json.dumps(document), "from_sklearn")


def _number(value: Any) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value


def _per_feature(value: Any, size: int) -> np.ndarray[Any, Any]:
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (size,))


def _samples(fitted: Any, size: int) -> np.ndarray[Any, Any]:
    return _per_feature(getattr(fitted, "n_samples_seen_", 1), size)


def _standard(fitted: Any, names: list[str]) -> Any:
    d = len(names)
    count = _samples(fitted, d)
    mean = _per_feature(0.0 if fitted.mean_ is None else fitted.mean_, d)
    var = _per_feature(0.0 if fitted.var_ is None else fitted.var_, d)
    stats = [
        {
            "count": count[j],
            "mean": mean[j],
            "m2": var[j] * count[j],
            "min": mean[j],
            "max": mean[j] if var[j] == 0 else np.inf,
            "unit": 1.0,
        }
        for j in range(d)
    ]
    options = {"with_mean": bool(fitted.with_mean), "with_std": bool(fitted.with_std), "ddof": 0}
    return _scaler("StandardScaler", options, names, stats, int(np.max(count)))


def _min_max(fitted: Any, names: list[str]) -> Any:
    stats = [
        {"count": fitted.n_samples_seen_, "min": lo, "max": hi}
        for lo, hi in zip(fitted.data_min_, fitted.data_max_, strict=True)
    ]
    options = {"feature_range": list(fitted.feature_range), "clip": bool(fitted.clip)}
    return _scaler("MinMaxScaler", options, names, stats, int(fitted.n_samples_seen_))


def _max_abs(fitted: Any, names: list[str]) -> Any:
    count = _samples(fitted, len(names))
    stats = [{"count": count[j], "min": -m, "max": m} for j, m in enumerate(fitted.max_abs_)]
    return _scaler("MaxAbsScaler", {}, names, stats, int(np.max(count)))


def _robust(fitted: Any, names: list[str]) -> Any:
    d = len(names)
    center = _per_feature(0.0 if fitted.center_ is None else fitted.center_, d)
    scale = _per_feature(1.0 if fitted.scale_ is None else fitted.scale_, d)
    low, high = fitted.quantile_range
    if fitted.unit_variance:
        normal = NormalDist()
        scale = scale * (normal.inv_cdf(high / 100.0) - normal.inv_cdf(low / 100.0))
    stats = [
        {
            "count": 1.0,
            "min": center[j] - scale[j],
            "max": center[j] + scale[j],
            "q_low": center[j] - scale[j] / 2,
            "median": center[j],
            "q_high": center[j] + scale[j] / 2,
        }
        for j in range(d)
    ]
    options = {
        "with_centering": bool(fitted.with_centering),
        "with_scaling": bool(fitted.with_scaling),
        "quantile_range": [float(low), float(high)],
        "unit_variance": bool(fitted.unit_variance),
    }
    return _scaler("RobustScaler", options, names, stats, 1)


def _quantile(fitted: Any, names: list[str]) -> Any:
    quantiles = np.asarray(fitted.quantiles_, dtype=np.float64)
    stats = [
        {
            "rows": fitted.n_quantiles_,
            "n_quantiles": fitted.n_quantiles_,
            "quantiles": quantiles[:, j],
        }
        for j in range(len(names))
    ]
    options = {
        "n_quantiles": int(fitted.n_quantiles),
        "output_distribution": fitted.output_distribution,
        "subsample": None,
    }
    return _scaler("QuantileTransformer", options, names, stats, int(fitted.n_quantiles_))


def _power(fitted: Any, names: list[str]) -> Any:
    d = len(names)
    scaler = getattr(fitted, "_scaler", None)
    if fitted.standardize and scaler is not None:
        mean, scale = np.asarray(scaler.mean_), np.asarray(scaler.scale_)
    else:
        mean, scale = np.zeros(d), np.ones(d)
    stats = [
        {
            "lambda": lam,
            "mean": mean[j],
            "var": scale[j] ** 2,
            "scale": scale[j],
            "mul": 1.0,
            "sub": mean[j],
            "div": scale[j],
            "add": -0.0,
        }
        for j, lam in enumerate(fitted.lambdas_)
    ]
    options = {"method": fitted.method, "standardize": bool(fitted.standardize)}
    return _scaler("PowerTransformer", options, names, stats, 0)


def _normalizer(fitted: Any, names: list[str]) -> Normalizer:
    out = Normalizer(norm=fitted.norm, columns=names)
    out.columns_ = list(names)
    out.feature_names_in_ = list(names)
    out.n_features_in_ = len(names)
    return out


# --------------------------------------------------------------------------- #
# encoders
# --------------------------------------------------------------------------- #
def _encoder_column(name: str, categories: Any, infrequent: Any, n: int) -> dict[str, Any]:
    values = list(categories)
    missing = bool(values) and (values[-1] is None or _is_nan(values[-1]))
    present = values[:-1] if missing else values
    array = np.asarray(present)
    shown: list[Any]
    if array.dtype.kind == "b":
        kind, dtype, shown = "boolean", "Boolean", [bool(v) for v in present]
    elif array.dtype.kind in "iu":
        kind, dtype, shown = "integer", "Int64", [int(v) for v in present]
    elif array.dtype.kind == "f":
        kind, dtype, shown = "float", "Float64", [repr(float(v)) for v in present]
    else:
        kind, dtype, shown = "text", "String", [str(v) for v in present]
    rare = set() if infrequent is None else {repr(v) for v in infrequent}
    counts = [0 if repr(v) in rare else n for v in present]
    return {
        "name": name,
        "dtype": dtype,
        "kind": kind,
        "categories": shown,
        "counts": counts,
        "missing": missing,
        "missing_count": 0
        if (missing and (None in rare or "nan" in rare))
        else (n if missing else 0),
    }


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and bool(value != value)


def _encoder(kind: str, params: dict[str, Any], fitted: Any, names: list[str]) -> Any:
    n = 1 << 40
    infrequent = getattr(fitted, "infrequent_categories_", [None] * len(names))
    document = {
        "format": "polars-mlkit/encoder",
        "version": 1,
        "kind": kind,
        "params": {**params, "columns": names},
        "columns": [
            _encoder_column(c, cats, rare, n)
            for c, cats, rare in zip(names, fitted.categories_, infrequent, strict=True)
        ],
        "feature_names_in": names,
        "n_features_in": len(names),
        "n_samples_seen": n,
    }
    return load(json.dumps(document, allow_nan=False), "from_sklearn")


def _frequency(fitted: Any) -> dict[str, Any]:
    # Infrequent groups come back from the counts given above: frequent
    # categories count n, infrequent ones 0, so any threshold of 1 or more
    # separates them as the fitted encoder did.
    rare = getattr(fitted, "infrequent_categories_", None)
    if rare is None or all(r is None for r in rare):
        return {"min_frequency": None, "max_categories": None}
    return {"min_frequency": 1, "max_categories": None}


def _one_hot(fitted: Any, names: list[str]) -> Any:
    drop = fitted.drop
    if drop is not None and not isinstance(drop, str):
        drop = [_plain(v) for v in drop]
    params = {
        "categories": "auto",
        "drop": drop,
        "handle_unknown": fitted.handle_unknown,
        **_frequency(fitted),
        "dtype": "UInt8",
    }
    return _encoder("OneHotEncoder", params, fitted, names)


def _ordinal(fitted: Any, names: list[str]) -> Any:
    params = {
        "categories": "auto",
        "handle_unknown": fitted.handle_unknown,
        "unknown_value": _plain(fitted.unknown_value),
        "encoded_missing_value": _plain(fitted.encoded_missing_value),
        **_frequency(fitted),
    }
    return _encoder("OrdinalEncoder", params, fitted, names)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return {"float": "nan"}
    return value.item() if hasattr(value, "item") else value


# --------------------------------------------------------------------------- #
# linear models
# --------------------------------------------------------------------------- #
def _linear(fitted: Any, names: list[str]) -> LinearModel:
    return LinearModel(fitted.coef_, fitted.intercept_, features=names)


def _logistic(fitted: Any, names: list[str]) -> LinearModel:
    return LinearModel(
        np.atleast_2d(fitted.coef_),
        np.atleast_1d(fitted.intercept_),
        features=names,
        kind="logistic",
        classes=fitted.classes_,
    )


# --------------------------------------------------------------------------- #
# composites
# --------------------------------------------------------------------------- #
def _pipeline(fitted: Any, names: list[str]) -> Pipeline:
    steps = []
    current = names
    for i, (name, step) in enumerate(fitted.steps):
        if step is None or step == "passthrough":
            continue
        converted = _convert(step, current)
        steps.append((name, converted))
        if i + 1 < len(fitted.steps):
            current = _names_out(step, current)
    return Pipeline(steps)


def _names_out(step: Any, names: list[str]) -> list[str]:
    try:
        return [str(n) for n in step.get_feature_names_out(names)]
    except (AttributeError, ValueError, TypeError):
        return [str(n) for n in step.get_feature_names_out()]


def _column_transformer(fitted: Any, names: list[str]) -> ColumnTransformer:
    entries = []
    for name, step, columns in fitted.transformers_:
        chosen = _chosen(columns, names)
        if _is_identity(step):
            step = "passthrough"
        if isinstance(step, str):
            entries.append((name, step, chosen))
        else:
            entries.append((name, _convert(step, chosen), chosen))
    # scikit-learn lists the remainder among transformers_; mirror it as an entry.
    ct = ColumnTransformer(
        entries, verbose_feature_names_out=bool(fitted.verbose_feature_names_out)
    )
    ct.feature_names_in_ = list(names)
    ct.n_features_in_ = len(names)
    return ct


def _is_identity(step: Any) -> bool:
    """scikit-learn keeps ``"passthrough"`` entries as a FunctionTransformer
    without a function once fitted."""
    return (
        type(step).__name__ == "FunctionTransformer"
        and step.func is None
        and step.inverse_func is None
    )


def _chosen(columns: Any, names: Sequence[str]) -> list[str]:
    if isinstance(columns, str):
        return [columns]
    values: list[Any] = (
        list(np.asarray(columns).ravel()) if not isinstance(columns, list) else columns
    )
    if values and all(isinstance(v, (bool, np.bool_)) for v in values):
        return [n for n, keep in zip(names, values, strict=True) if keep]
    if values and all(isinstance(v, (int, np.integer)) for v in values):
        return [names[int(v)] for v in values]
    return [str(v) for v in values]


_CONVERTERS: dict[str, Converter] = {
    "StandardScaler": _standard,
    "MinMaxScaler": _min_max,
    "MaxAbsScaler": _max_abs,
    "RobustScaler": _robust,
    "QuantileTransformer": _quantile,
    "PowerTransformer": _power,
    "Normalizer": _normalizer,
    "OneHotEncoder": _one_hot,
    "OrdinalEncoder": _ordinal,
    **dict.fromkeys(_LINEAR, _linear),
    "LogisticRegression": _logistic,
    "Pipeline": _pipeline,
    "ColumnTransformer": _column_transformer,
}
