"""The JSON text of a fitted scaler (format ``polars-mlkit/scaler``, see
``docs/scaler-json.md``): writing it (``to_json``) and reading it back
(:func:`load_scaler`, an alias of :func:`polars_mlkit.load`)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from polars_mlkit._reserved import GROUP_KEY
from polars_mlkit.scalers._registry import bad, document_class, load, register_reader
from polars_mlkit.scalers._state import FloatArray, _Column, _rebuild_groups, _State

if TYPE_CHECKING:
    from polars_mlkit.scalers._base import Scaler

#: The ``format`` field of the JSON text written by ``to_json``.
FORMAT = "polars-mlkit/scaler"
#: The newest JSON format version this package reads and the one it writes.
FORMAT_VERSION = 2
# Version 1 kept StandardScaler moments without their extent and unit, and
# RobustScaler percentiles with `absmax` instead of the extent; it still loads.


# --------------------------------------------------------------------------- #
# writing
# --------------------------------------------------------------------------- #
def _to_json(kind: str, state: _State) -> str:
    """The JSON text of a fitted ``state`` of the scaler class named ``kind``."""
    document = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "kind": kind,
        "options": state.options,
        "columns": [
            {"name": c.name, "dtype": c.dtype, "container": c.container, "width": c.width}
            for c in state.columns
        ],
        "by": [{"name": b, "dtype": d} for b, d in zip(state.by, state.by_dtypes, strict=True)],
        "groups": _groups_to_json(state),
        "statistics": {
            name: {stat: _array_to_json(arr) for stat, arr in per.items()}
            for name, per in state.stats.items()
        },
        "feature_names_in": state.feature_names_in,
        "n_features_in": state.n_features_in,
        "n_samples_seen": state.n_samples_seen,
    }
    return json.dumps(document, allow_nan=False)


def _array_to_json(arr: FloatArray) -> list[list[float | None]]:
    return [[float(v) if math.isfinite(v) else None for v in row] for row in arr.tolist()]


def _groups_to_json(state: _State) -> list[dict[str, Any]]:
    if not state.by:
        return []
    rendered = state.groups.select(pl.col(b).cast(pl.String).alias(b) for b in state.by).rows()
    return [
        {"key": key, "values": list(values)}
        for key, values in zip(state.keys, rendered, strict=True)
    ]


# --------------------------------------------------------------------------- #
# reading
# --------------------------------------------------------------------------- #
def _expect(value: Any, kind: type, what: str, function: str) -> Any:
    if not isinstance(value, kind):
        raise bad(function, f"{what} must be a JSON {kind.__name__}, got {value!r}")
    return value


def load_scaler(text: str | bytes) -> Any:
    """Rebuild a fitted object from the JSON text of its ``to_json``.

    An alias of :func:`polars_mlkit.load` (its errors start with
    ``load_scaler``), kept from the time only scalers were fitted. Gives back
    the same class with identical transforms (bit for bit); a
    :class:`MinMaxScaler`, :class:`StandardScaler` or :class:`MaxAbsScaler`
    can go on with ``partial_fit``.

    Parameters
    ----------
    text
        The JSON text (format ``polars-mlkit/scaler``, see ``docs/scaler-json.md``,
        or any other format :func:`polars_mlkit.load` reads).

    Raises
    ------
    ValueError
        Malformed text, another format, or a version this package does not read.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> sc = pmk.MinMaxScaler().fit(pl.DataFrame({"x": [0.0, 4.0]}))
    >>> again = pmk.load_scaler(sc.to_json())
    >>> type(again).__name__, again.transform(pl.DataFrame({"x": [1.0]}))["x"].to_list()
    ('MinMaxScaler', [0.25])
    """
    return load(text, "load_scaler")


def _read(document: Mapping[str, Any], function: str) -> Any:
    """A parsed ``polars-mlkit/scaler`` document as its fitted scaler."""
    version, cls = document_class(document, FORMAT, FORMAT_VERSION, "", function)
    try:
        return _load(cls, document, version, function)
    except (KeyError, TypeError, IndexError) as exc:
        raise bad(
            function, f"malformed {cls.__name__} document ({type(exc).__name__}: {exc})"
        ) from exc


register_reader(FORMAT, _read)


#: Statistics holding several numbers per lane (their rows are wider).
_WIDE_STATISTICS = ("quantiles",)

_V1_STATISTICS = {
    "MinMaxScaler": ("count", "min", "max"),
    "MaxAbsScaler": ("count", "min", "max"),
    "StandardScaler": ("count", "mean", "m2"),
    "RobustScaler": ("count", "median", "q_low", "q_high", "absmax"),
}


def _upgrade_v1(per: dict[str, FloatArray]) -> dict[str, FloatArray]:
    """Version-1 statistics in today's form, giving the transforms version 1
    gave: moments in unit 1, and an extent no wider than the center (version
    1 always scaled as ``(x - center) / scale``)."""
    if "m2" in per:
        return {**per, "min": per["mean"], "max": per["mean"], "unit": np.ones_like(per["mean"])}
    if "median" in per:
        center = per["median"]
        return {k: v for k, v in per.items() if k != "absmax"} | {"min": center, "max": center}
    return per


def _load(cls: type[Scaler], document: Mapping[str, Any], version: int, function: str) -> Scaler:
    options = dict(_expect(document["options"], dict, "options", function))
    constructor = {k: options[k] for k in cls._param_names}
    for pair in ("feature_range", "quantile_range"):
        if pair in constructor:
            constructor[pair] = tuple(constructor[pair])
    scaler = cls(**constructor)
    checked = scaler._checked_options(function)
    columns = []
    for entry in _expect(document["columns"], list, "columns", function):
        container = entry["container"]
        width = entry["width"]
        if container not in ("scalar", "array", "list") or not isinstance(width, int):
            raise bad(function, f"bad column entry {entry!r}")
        if (container == "scalar") != (width == 0) or width < 0:
            raise bad(function, f"bad column entry {entry!r}")
        columns.append(_Column(str(entry["name"]), str(entry["dtype"]), container, width))
    by_entries = _expect(document["by"], list, "by", function)
    by = [str(e["name"]) for e in by_entries]
    by_dtypes = [str(e["dtype"]) for e in by_entries]
    group_entries = _expect(document["groups"], list, "groups", function)
    if by:
        parts = [list(g["values"]) for g in group_entries]
        if any(len(p) != len(by) for p in parts):
            raise bad(function, "every group needs one value per by column")
        groups = _rebuild_groups(by, by_dtypes, parts)
        keys = [str(g["key"]) for g in group_entries]
        if groups[GROUP_KEY].to_list() != keys:
            raise bad(function, "group keys do not match their values")
    else:
        groups = pl.DataFrame()
    n_groups = len(group_entries) if by else 1
    statistics = _expect(document["statistics"], dict, "statistics", function)
    stats: dict[str, dict[str, FloatArray]] = {}
    for column in columns:
        per = statistics[column.name]
        stats[column.name] = {}
        wanted = cls._stat_names if version > 1 else _V1_STATISTICS[cls.__name__]
        for stat in wanted:
            raw = per[stat]
            try:
                arr = (
                    np.array(
                        [[np.nan if v is None else float(v) for v in row] for row in raw],
                        dtype=np.float64,
                    ).reshape(-1, column.lanes)
                    if raw
                    else np.empty((0, column.lanes))
                )
                if stat in _WIDE_STATISTICS and arr.size:
                    # Several numbers per lane (QuantileTransformer's quantiles).
                    arr = arr.reshape(n_groups, -1) if n_groups else arr
            except ValueError as exc:  # ragged or mis-sized rows
                raise bad(function, f"statistic {stat!r} of column {column.name!r}: {exc}") from exc
            if stat in _WIDE_STATISTICS and arr.size:
                if arr.shape[1] % column.lanes:
                    raise bad(
                        function, f"statistic {stat!r} of column {column.name!r} is malformed"
                    )
            elif arr.shape != (n_groups, column.lanes):
                raise bad(
                    function,
                    f"statistic {stat!r} of column {column.name!r} has shape {arr.shape}, "
                    f"expected {(n_groups, column.lanes)}",
                )
            stats[column.name][stat] = arr
        if "count" in stats[column.name]:
            stats[column.name]["count"] = np.nan_to_num(stats[column.name]["count"])
        if version == 1:
            stats[column.name] = _upgrade_v1(stats[column.name])
    names = document.get("feature_names_in")
    scaler._state = _State(
        options=checked,
        columns=columns,
        by=by,
        by_dtypes=by_dtypes,
        groups=groups,
        stats=stats,
        feature_names_in=None if names is None else [str(n) for n in names],
        n_features_in=int(document.get("n_features_in", len(columns))),
        n_samples_seen=int(document.get("n_samples_seen", 0)),
    )
    return scaler
