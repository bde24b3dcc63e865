"""A target encoder's fitted state, its JSON text (format
``polars-mlkit/target-encoder``, see ``docs/encoder-json.md``) written and
read back (registered with :func:`polars_mlkit.load`), and the state of a
fitted scikit-learn ``TargetEncoder``.

A document holds the constructor arguments, the target (type, classes,
mean, the target column's name), and per encoded column what an encoder's
document holds (name, dtype, kind, categories, counts, missing) plus its
encodings, one list per class (one list for binary and continuous targets).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from polars_mlkit.scalers._categories import FittedColumn
from polars_mlkit.scalers._encoder_json import (
    _column_from_json,
    _param_from_json,
    _param_to_json,
    _value_to_json,
)
from polars_mlkit.scalers._registry import bad, document_class, register_reader

#: The ``format`` field of a target encoder's JSON text.
TARGET_FORMAT = "polars-mlkit/target-encoder"
#: The newest target-encoder format version this package reads and the one it writes.
TARGET_FORMAT_VERSION = 1


@dataclass
class TargetState:
    """What a target encoder's fit learned (this is what the JSON text holds)."""

    options: dict[str, Any]
    columns: list[FittedColumn]
    encodings: list[npt.NDArray[np.float64]]  # per column: [category, y]
    target_type: str
    classes: list[Any] | None
    target_mean: list[float]  # per y (one per class if multiclass)
    target_name: str | None
    feature_names_in: list[str] | None
    n_features_in: int
    n_samples_seen: int

    def output_names(self, name: str) -> list[str]:
        """The output columns of the encoded column ``name``."""
        if self.target_type == "multiclass":
            return [f"{name}_{c}" for c in self.classes or []]
        return [name]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _params_to_json(params: dict[str, Any]) -> dict[str, Any]:
    out = {k: _param_to_json(k, v) for k, v in params.items()}
    if not (params["cv"] is None or isinstance(params["cv"], (int, str))):
        out["cv"] = None  # a splitter or explicit splits: given again to refit
    seed = params["random_state"]
    if not (seed is None or isinstance(seed, int)):
        out["random_state"] = None
    return out


def target_to_json(params: dict[str, Any], state: TargetState) -> str:
    """The JSON text of a fitted target encoder."""
    document = {
        "format": TARGET_FORMAT,
        "version": TARGET_FORMAT_VERSION,
        "kind": "TargetEncoder",
        "params": _params_to_json(params),
        "target": {
            "type": state.target_type,
            "classes": None if state.classes is None else [_plain(c) for c in state.classes],
            "mean": state.target_mean,
            "name": state.target_name,
        },
        "columns": [
            {
                "name": c.name,
                "dtype": c.dtype,
                "kind": c.kind,
                "categories": [_value_to_json(v, c.kind) for v in c.values],
                "counts": c.counts,
                "missing": c.missing,
                "missing_count": c.missing_count,
                "encodings": [e[:, j].tolist() for j in range(e.shape[1])],
            }
            for c, e in zip(state.columns, state.encodings, strict=True)
        ],
        "feature_names_in": state.feature_names_in,
        "n_features_in": state.n_features_in,
        "n_samples_seen": state.n_samples_seen,
    }
    return json.dumps(document, allow_nan=False)


def _encodings_from_json(entry: Mapping[str, Any], column: FittedColumn, n_y: int) -> Any:
    lists = entry["encodings"]
    if not isinstance(lists, list) or len(lists) != n_y:
        msg = f"column {column.name!r}: expected {n_y} encoding list(s)"
        raise ValueError(msg)
    table = np.array([[float(v) for v in values] for values in lists], dtype=np.float64).T
    if table.shape != (column.n_categories, n_y):
        msg = f"column {column.name!r}: expected one encoding per category"
        raise ValueError(msg)
    return table


def _read(document: Mapping[str, Any], function: str) -> Any:
    """A parsed ``polars-mlkit/target-encoder`` document as its fitted encoder."""
    _, cls = document_class(
        document, TARGET_FORMAT, TARGET_FORMAT_VERSION, "target-encoder ", function
    )
    try:
        params = {k: _param_from_json(k, v) for k, v in dict(document["params"]).items()}
        encoder = cls(**params)
        options = encoder._checked_options(function)
        target = dict(document["target"])
        if target["type"] not in ("binary", "continuous", "multiclass"):
            raise ValueError(f"target type {target['type']!r}")
        mean = [float(m) for m in target["mean"]]
        columns = [_column_from_json(e, function) for e in document["columns"]]
        tables = [
            _encodings_from_json(e, c, len(mean))
            for e, c in zip(document["columns"], columns, strict=True)
        ]
        names = document.get("feature_names_in")
        state = TargetState(
            options=options,
            columns=columns,
            encodings=tables,
            target_type=str(target["type"]),
            classes=None if target["classes"] is None else list(target["classes"]),
            target_mean=mean,
            target_name=None if target["name"] is None else str(target["name"]),
            feature_names_in=None if names is None else [str(n) for n in names],
            n_features_in=int(document["n_features_in"]),
            n_samples_seen=int(document["n_samples_seen"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise bad(
            function, f"malformed {cls.__name__} document ({type(exc).__name__}: {exc})"
        ) from exc
    encoder._state = state
    return encoder


register_reader(TARGET_FORMAT, _read)


# --------------------------------------------------------------------------- #
# from scikit-learn
# --------------------------------------------------------------------------- #
def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _column_from_categories(name: str, categories: npt.NDArray[Any]) -> FittedColumn:
    """A fitted column from one of scikit-learn's ``categories_`` arrays."""
    values = [_plain(v) for v in categories.tolist()]
    missing = bool(values) and _is_missing(values[-1])
    plain = values[:-1] if missing else values
    if categories.dtype.kind == "f":
        kind = "float"
    elif categories.dtype.kind == "b" or (plain and all(isinstance(v, bool) for v in plain)):
        kind = "boolean"
    elif categories.dtype.kind in "iu" or (plain and all(isinstance(v, int) for v in plain)):
        kind = "integer"
    elif all(isinstance(v, str) for v in plain):
        kind = "text"
    else:
        kind = "float"
    dtype = {"float": "Float64", "boolean": "Boolean", "integer": "Int64", "text": "String"}[kind]
    if kind == "float":
        plain = [float(v) for v in plain]
    return FittedColumn(name, dtype, kind, plain, [0] * len(plain), missing, 0)


def state_from_sklearn(fitted: Any, options: dict[str, Any]) -> TargetState:
    """The state of a fitted scikit-learn ``TargetEncoder`` (columns named by
    its ``feature_names_in_``, else ``x0``, ``x1``, ...)."""
    n = int(fitted.n_features_in_)
    named = getattr(fitted, "feature_names_in_", None)
    names = [str(v) for v in named] if named is not None else [f"x{j}" for j in range(n)]
    columns = [
        _column_from_categories(name, c) for name, c in zip(names, fitted.categories_, strict=True)
    ]
    classes = None if fitted.classes_ is None else [_plain(c) for c in fitted.classes_]
    per = len(classes) if fitted.target_type_ == "multiclass" and classes else 1
    raw = fitted.encodings_
    tables = [
        np.column_stack([np.asarray(raw[i * per + j], dtype=np.float64) for j in range(per)])
        for i in range(n)
    ]
    return TargetState(
        options=options,
        columns=columns,
        encodings=tables,
        target_type=str(fitted.target_type_),
        classes=classes,
        target_mean=[float(m) for m in np.atleast_1d(fitted.target_mean_)],
        target_name=None,
        feature_names_in=None if named is None else names,
        n_features_in=n,
        n_samples_seen=0,
    )
