"""The JSON text of a fitted encoder (format ``polars-mlkit/encoder``, see
``docs/encoder-json.md``): writing it and reading it back (registered with
:func:`polars_mlkit.load`).

A document holds the constructor arguments (``params``), and per encoded
column its name, dtype, kind, categories (sorted; floats as their ``repr``
text so that infinities survive), their training counts, and whether a
missing value is a category (with its count).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from polars_mlkit.scalers._categories import KINDS, EncoderState, FittedColumn
from polars_mlkit.scalers._registry import bad, kinds, register_reader

#: The ``format`` field of an encoder's JSON text.
ENCODER_FORMAT = "polars-mlkit/encoder"
#: The newest encoder format version this package reads and the one it writes.
ENCODER_FORMAT_VERSION = 1


def _param_to_json(name: str, value: Any) -> Any:
    if name == "dtype":
        return str(value() if isinstance(value, type) else value)
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}
    if hasattr(value, "tolist"):
        return _param_to_json(name, value.tolist())
    if isinstance(value, (list, tuple)):
        return [_param_to_json(name, v) for v in value]
    return value


def _value_to_json(value: Any, kind: str) -> Any:
    return repr(float(value)) if kind == "float" else value


def encoder_to_json(kind: str, params: dict[str, Any], state: EncoderState) -> str:
    """The JSON text of a fitted encoder of the class named ``kind``."""
    document = {
        "format": ENCODER_FORMAT,
        "version": ENCODER_FORMAT_VERSION,
        "kind": kind,
        "params": {k: _param_to_json(k, v) for k, v in params.items()},
        "columns": [
            {
                "name": c.name,
                "dtype": c.dtype,
                "kind": c.kind,
                "categories": [_value_to_json(v, c.kind) for v in c.values],
                "counts": c.counts,
                "missing": c.missing,
                "missing_count": c.missing_count,
            }
            for c in state.columns
        ],
        "feature_names_in": state.feature_names_in,
        "n_features_in": state.n_features_in,
        "n_samples_seen": state.n_samples_seen,
    }
    return json.dumps(document, allow_nan=False)


def _param_from_json(name: str, value: Any) -> Any:
    if name == "dtype" and isinstance(value, str):
        return getattr(pl, value)
    if isinstance(value, dict) and set(value) == {"float"}:
        return float(value["float"])
    if isinstance(value, list):
        return [_param_from_json(name, v) for v in value]
    return value


def _column_from_json(entry: Mapping[str, Any], function: str) -> FittedColumn:
    kind = entry["kind"]
    if kind not in KINDS:
        raise bad(function, f"column kind must be one of {', '.join(KINDS)}, got {kind!r}")
    raw = entry["categories"]
    counts = [int(c) for c in entry["counts"]]
    if not isinstance(raw, list) or len(raw) != len(counts):
        raise bad(function, f"column {entry['name']!r}: categories and counts differ in length")
    values = [float(v) for v in raw] if kind == "float" else list(raw)
    return FittedColumn(
        name=str(entry["name"]),
        dtype=str(entry["dtype"]),
        kind=kind,
        values=values,
        counts=counts,
        missing=bool(entry["missing"]),
        missing_count=int(entry["missing_count"]),
    )


def _read(document: Mapping[str, Any], function: str) -> Any:
    """A parsed ``polars-mlkit/encoder`` document as its fitted encoder."""
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise bad(function, f"version must be an integer, got {version!r}")
    if not 1 <= version <= ENCODER_FORMAT_VERSION:
        raise bad(
            function,
            f"format version {version} is not supported; this polars-mlkit reads encoder "
            f"versions 1 to {ENCODER_FORMAT_VERSION} (a newer polars-mlkit wrote it?)",
        )
    classes = kinds(ENCODER_FORMAT)
    kind = document.get("kind")
    if kind not in classes:
        raise bad(function, f"unknown kind {kind!r}; expected one of {', '.join(classes)}")
    try:
        params = {k: _param_from_json(k, v) for k, v in dict(document["params"]).items()}
        encoder = classes[kind](**params)
        options = encoder._checked_options(function)
        columns = [_column_from_json(e, function) for e in document["columns"]]
        names = document.get("feature_names_in")
        state = EncoderState(
            options=options,
            columns=columns,
            feature_names_in=None if names is None else [str(n) for n in names],
            n_features_in=int(document["n_features_in"]),
            n_samples_seen=int(document["n_samples_seen"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise bad(function, f"malformed {kind} document ({type(exc).__name__}: {exc})") from exc
    encoder._validate(state, function)
    encoder._state = state
    return encoder


register_reader(ENCODER_FORMAT, _read)
