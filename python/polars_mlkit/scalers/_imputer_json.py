"""The JSON text of a fitted ``SimpleImputer`` (format
``polars-mlkit/imputer``, see ``docs/imputer-json.md``): writing it, reading
it back (registered with :func:`polars_mlkit.load`), and the state of an
imputer built from a fitted scikit-learn ``SimpleImputer``.

A document holds the constructor arguments, the imputed columns, the
groups, each group's fill values, and the statistics they came from (rows,
missing rows, values present, sums, value counts), so a loaded imputer
transforms identically and goes on with ``partial_fit``. Floats are written
as their ``repr`` text, so that every bit (and infinity) survives.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from polars_mlkit._reserved import ROWS
from polars_mlkit.scalers._imputer_fit import ImputerState
from polars_mlkit.scalers._imputer_state import KEY, KINDS, ImputedColumn, Partial, present
from polars_mlkit.scalers._registry import bad, document_class, register_reader
from polars_mlkit.scalers._state import _rebuild_groups

#: The ``format`` field of an imputer's JSON text.
IMPUTER_FORMAT = "polars-mlkit/imputer"
#: The newest imputer format version this package reads and the one it writes.
IMPUTER_FORMAT_VERSION = 1


def _float_text(value: Any) -> Any:
    return None if value is None else repr(float(value))


def _param_to_json(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}
    if isinstance(value, tuple):
        return list(value)
    return value


def _param_from_json(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"float"}:
        return float(value["float"])
    return value


def _is_float(column: ImputedColumn, strategy: str) -> bool:
    return column.kind in ("float", "vector") or strategy in ("mean", "median")


def _values_to_json(column: ImputedColumn, strategy: str, values: list[Any]) -> list[Any]:
    if not _is_float(column, strategy):
        return values
    if column.kind == "vector":
        return [None if v is None else [_float_text(x) for x in v] for v in values]
    return [_float_text(v) for v in values]


def _values_from_json(column: ImputedColumn, strategy: str, values: list[Any]) -> list[Any]:
    if not _is_float(column, strategy):
        return values
    if column.kind == "vector":
        return [None if v is None else [None if x is None else float(x) for x in v] for v in values]
    return [None if v is None else float(v) for v in values]


def imputer_to_json(params: dict[str, Any], state: ImputerState) -> str:
    """The JSON text of a fitted imputer."""
    strategy = state.options["strategy"]
    frame = state.partial.frame
    statistics = {}
    for name in frame.columns:
        if name in state.by or name == KEY:
            continue
        values = frame[name].to_list()
        if frame[name].dtype == pl.Float64:
            values = [_float_text(v) for v in values]
        statistics[name] = values
    ordered = {name: part.sort(KEY, "value") for name, part in state.partial.counts.items()}
    counts = {
        name: {
            "key": part[KEY].to_list(),
            "value": _values_to_json(col, "most_frequent", part["value"].to_list()),
            "count": part["count"].to_list(),
        }
        for col in state.columns
        for name, part in ordered.items()
        if name == col.name
    }
    groups = frame.select(pl.col(b).cast(pl.String) for b in state.by).rows() if state.by else []
    document = {
        "format": IMPUTER_FORMAT,
        "version": IMPUTER_FORMAT_VERSION,
        "kind": "SimpleImputer",
        "params": {k: _param_to_json(v) for k, v in params.items()},
        "columns": [
            {
                "name": c.name,
                "kind": c.kind,
                "dtype": c.dtype,
                "container": c.container,
                "width": c.width,
                "categories": c.categories,
            }
            for c in state.columns
        ],
        "by": state.by,
        "by_dtypes": state.by_dtypes,
        "groups": [list(g) for g in groups],
        "keys": frame[KEY].to_list(),
        "statistics": statistics,
        "counts": counts,
        "fills": {
            c.name: _values_to_json(c, strategy, state.fills[c.name].to_list())
            for c in state.columns
        },
        "feature_names_in": state.feature_names_in,
        "n_features_in": state.n_features_in,
        "n_samples_seen": state.n_samples_seen,
        "resumable": state.resumable,
    }
    return json.dumps(document, allow_nan=False)


def _column_from_json(entry: Mapping[str, Any], function: str) -> ImputedColumn:
    kind = entry["kind"]
    if kind not in KINDS:
        raise bad(function, f"column kind must be one of {', '.join(KINDS)}, got {kind!r}")
    categories = entry.get("categories")
    column = ImputedColumn(
        name=str(entry["name"]),
        kind=kind,
        dtype=str(entry["dtype"]),
        container=str(entry["container"]),
        width=int(entry["width"]),
        categories=None if categories is None else [str(c) for c in categories],
    )
    column.input_dtype()  # a dtype this package cannot rebuild is an error now
    return column


def _read(document: Mapping[str, Any], function: str) -> Any:
    """A parsed ``polars-mlkit/imputer`` document as its fitted imputer."""
    _, cls = document_class(document, IMPUTER_FORMAT, IMPUTER_FORMAT_VERSION, "imputer ", function)
    try:
        params = {k: _param_from_json(v) for k, v in dict(document["params"]).items()}
        imputer = cls(**params)
        options = imputer._checked_options(function)
        strategy = options["strategy"]
        columns = [_column_from_json(e, function) for e in document["columns"]]
        by = [str(b) for b in document["by"]]
        keys = [str(k) for k in document["keys"]]
        if by:
            parts = [list(g) for g in document["groups"]]
            if len(parts) != len(keys) or any(len(p) != len(by) for p in parts):
                raise ValueError("groups and keys differ in length")
            groups = _rebuild_groups(by, [str(d) for d in document["by_dtypes"]], parts)
            if groups[KEY].to_list() != keys:
                raise ValueError("the group keys do not match the groups")
            groups = groups.drop(KEY)
        else:
            groups = pl.DataFrame()
        numbers = {}
        for name, values in dict(document["statistics"]).items():
            if len(values) != len(keys):
                raise ValueError(
                    f"statistic {name!r} has {len(values)} values for {len(keys)} groups"
                )
            if name.startswith("__pmk_s_"):
                numbers[name] = pl.Series(name, [float(v) for v in values], dtype=pl.Float64)
            elif name.startswith(("__pmk_inf_", "__pmk_nan_")):
                numbers[name] = pl.Series(name, [bool(v) for v in values], dtype=pl.Boolean)
            else:
                numbers[name] = pl.Series(name, [int(v) for v in values], dtype=pl.UInt64)
        frame = groups.with_columns(list(numbers.values())) if by else pl.DataFrame(numbers)
        frame = frame.with_columns(pl.Series(KEY, keys, dtype=pl.String))
        counts = {}
        for column in columns:
            entry = dict(document["counts"]).get(column.name)
            if entry is None:
                continue
            values = _values_from_json(column, "most_frequent", list(entry["value"]))
            dtype = pl.String if column.kind == "text" else column.output_dtype("most_frequent")
            counts[column.name] = pl.DataFrame(
                {
                    KEY: pl.Series(entry["key"], dtype=pl.String),
                    "value": pl.Series(values, dtype=dtype),
                    "count": pl.Series(entry["count"], dtype=pl.UInt64),
                }
            )
        fills = {}
        for column in columns:
            values = _values_from_json(column, strategy, list(document["fills"][column.name]))
            if len(values) != len(keys):
                raise ValueError(f"column {column.name!r} has fills for {len(values)} groups")
            dtype = column.value_dtype(strategy)
            series = pl.Series(
                column.name, values, dtype=pl.String if column.kind == "text" else dtype
            )
            fills[column.name] = series.cast(dtype)
        names = document.get("feature_names_in")
        state = ImputerState(
            options=options,
            columns=columns,
            by=by,
            by_dtypes=[str(d) for d in document["by_dtypes"]],
            partial=Partial(frame, counts),
            fills=fills,
            feature_names_in=None if names is None else [str(n) for n in names],
            n_features_in=int(document["n_features_in"]),
            n_samples_seen=int(document["n_samples_seen"]),
            resumable=bool(document.get("resumable", True)),
        )
        for i, column in enumerate(columns):
            present(state.partial, i, column)  # every statistic is there
    except (KeyError, TypeError, ValueError, AttributeError, pl.exceptions.PolarsError) as exc:
        raise bad(
            function, f"malformed {cls.__name__} document ({type(exc).__name__}: {exc})"
        ) from exc
    imputer._state = state
    return imputer


register_reader(IMPUTER_FORMAT, _read)


# --------------------------------------------------------------------------- #
# from a fitted scikit-learn SimpleImputer
# --------------------------------------------------------------------------- #
def state_from_sklearn(fitted: Any, options: dict[str, Any]) -> ImputerState:
    """The state of a fitted scikit-learn ``SimpleImputer``: its
    ``statistics_`` as the fills, the columns its ``indicator_`` marks as
    having had missing values. It transforms as the scikit-learn one does;
    it holds no statistics to merge, so ``partial_fit`` on it is an error."""
    function = "SimpleImputer._from_sklearn"
    if not hasattr(fitted, "statistics_"):
        msg = f"{function}: the scikit-learn SimpleImputer is not fitted"
        raise ValueError(msg)
    n = int(fitted.n_features_in_)
    names = (
        [str(v) for v in fitted.feature_names_in_] if hasattr(fitted, "feature_names_in_") else None
    )
    columns_named = names or [f"x{j}" for j in range(n)]
    dtype = np.dtype(fitted._fit_dtype)
    if dtype.kind == "f":
        kind, text = "float", "Float32" if dtype.itemsize == 4 else "Float64"
    elif dtype.kind in "iu":
        kind, text = "number", str(pl.Series(np.empty(0, dtype=dtype)).dtype)
    else:
        kind, text = "text", "String"
    columns = [ImputedColumn(name, kind, text) for name in columns_named]
    indicated = set()
    if getattr(fitted, "add_indicator", False) and getattr(fitted, "indicator_", None) is not None:
        indicated = {int(j) for j in fitted.indicator_.features_}
    strategy = options["strategy"]
    data: dict[str, Any] = {ROWS: pl.Series([0], dtype=pl.UInt64)}
    fills = {}
    for i, (column, value) in enumerate(zip(columns, list(fitted.statistics_), strict=True)):
        if isinstance(value, np.generic):
            value = value.item()
        empty = value is None or (isinstance(value, float) and math.isnan(value))
        data[f"__pmk_m_{i}"] = pl.Series([int(i in indicated)], dtype=pl.UInt64)
        data[f"__pmk_n_{i}_0"] = pl.Series([0 if empty else 1], dtype=pl.UInt64)
        out = column.value_dtype(strategy)
        if empty:
            value = None
        elif kind == "text" and not isinstance(value, str):
            value = None  # scikit-learn's 0 of a kept empty object column
        elif kind == "number" and strategy in ("most_frequent", "constant"):
            value = int(value)
        series_dtype = pl.String if kind == "text" else out
        fills[column.name] = pl.Series(column.name, [value], dtype=series_dtype).cast(out)
    frame = pl.DataFrame(data).with_columns(pl.lit("").alias(KEY))
    return ImputerState(
        options=options,
        columns=columns,
        by=[],
        by_dtypes=[],
        partial=Partial(frame, {}),
        fills=fills,
        feature_names_in=names,
        n_features_in=n,
        n_samples_seen=0,
        resumable=False,
    )
