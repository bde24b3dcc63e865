"""The JSON text of a fitted encoder (format ``polars-mlkit/encoder``, see
``docs/encoder-json.md``): writing it and reading it back (registered with
:func:`polars_mlkit.load`).

A document holds the constructor arguments (``params``), and per encoded
column its name, dtype, kind, categories (sorted; floats as their ``repr``
text so that infinities survive), their training counts, and whether a
missing value is a category (with its count). A fit with ``by`` (version 2)
adds the by columns and, per group, its values, key, rows and columns.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from polars_mlkit._reserved import GROUP_KEY
from polars_mlkit.scalers._categories import KINDS, EncoderGroups, EncoderState, FittedColumn
from polars_mlkit.scalers._encoder_groups import rebuild_groups
from polars_mlkit.scalers._registry import bad, document_class, register_reader

#: The ``format`` field of an encoder's JSON text.
ENCODER_FORMAT = "polars-mlkit/encoder"
#: The newest encoder format version this package reads and writes: 2 for a
#: fit with ``by`` (its ``by`` and ``groups``); without, the text is version 1.
ENCODER_FORMAT_VERSION = 2


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


def _column_to_json(c: FittedColumn) -> dict[str, Any]:
    return {
        "name": c.name,
        "dtype": c.dtype,
        "kind": c.kind,
        "categories": [_value_to_json(v, c.kind) for v in c.values],
        "counts": c.counts,
        "missing": c.missing,
        "missing_count": c.missing_count,
    }


def _groups_to_json(groups: EncoderGroups) -> dict[str, Any]:
    rendered = groups.frame.select(pl.col(b).cast(pl.String) for b in groups.by).rows()
    keys = groups.frame[GROUP_KEY].to_list()
    return {
        "by": [{"name": b, "dtype": d} for b, d in zip(groups.by, groups.by_dtypes, strict=True)],
        "groups": [
            {
                "key": key,
                "values": list(values),
                "rows": rows,
                "columns": [_column_to_json(c) for c in columns],
            }
            for key, values, rows, columns in zip(
                keys, rendered, groups.rows, groups.columns, strict=True
            )
        ],
    }


def encoder_to_json(kind: str, params: dict[str, Any], state: EncoderState) -> str:
    """The JSON text of a fitted encoder of the class named ``kind``."""
    document = {
        "format": ENCODER_FORMAT,
        "version": 1 if state.groups is None else 2,
        "kind": kind,
        "params": {k: _param_to_json(k, v) for k, v in params.items()},
        "columns": [_column_to_json(c) for c in state.columns],
        "feature_names_in": state.feature_names_in,
        "n_features_in": state.n_features_in,
        "n_samples_seen": state.n_samples_seen,
    }
    if state.groups is not None:
        document.update(_groups_to_json(state.groups))
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
    _, cls = document_class(document, ENCODER_FORMAT, ENCODER_FORMAT_VERSION, "encoder ", function)
    try:
        params = {k: _param_from_json(k, v) for k, v in dict(document["params"]).items()}
        encoder = cls(**params)
        options = encoder._checked_options(function)
        columns = [_column_from_json(e, function) for e in document["columns"]]
        names = document.get("feature_names_in")
        groups = _groups_from_json(document, options, len(columns), function)
        state = EncoderState(
            options=options,
            columns=columns,
            feature_names_in=None if names is None else [str(n) for n in names],
            n_features_in=int(document["n_features_in"]),
            n_samples_seen=int(document["n_samples_seen"]),
            groups=groups,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise bad(
            function, f"malformed {cls.__name__} document ({type(exc).__name__}: {exc})"
        ) from exc
    encoder._validate(state, function)
    encoder._state = state
    return encoder


def _groups_from_json(
    document: Mapping[str, Any], options: dict[str, Any], n_columns: int, function: str
) -> EncoderGroups | None:
    by = [str(e["name"]) for e in document.get("by", [])]
    if by != (options.get("by") or []):
        raise bad(function, f"by {by} disagrees with params' by {options.get('by')}")
    if not by:
        return None
    entries = list(document["groups"])
    columns = [[_column_from_json(c, function) for c in g["columns"]] for g in entries]
    if any(len(c) != n_columns for c in columns):
        raise bad(function, "every group needs one entry per encoded column")
    parts = [list(g["values"]) for g in entries]
    if any(len(p) != len(by) for p in parts):
        raise bad(function, "every group needs one value per by column")
    return rebuild_groups(
        by,
        [str(e["dtype"]) for e in document["by"]],
        parts,
        [str(g["key"]) for g in entries],
        [int(g["rows"]) for g in entries],
        columns,
    )


register_reader(ENCODER_FORMAT, _read)
