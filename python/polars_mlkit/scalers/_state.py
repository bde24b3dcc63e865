"""The fitted state: what a fit learned, per column and per group.

A :class:`_State` is enough to resume ``partial_fit``, to rebuild identical
transforms and to write the JSON text. Also here: which columns a fit takes,
the group key, and the exact merge of two states (``partial_fit``, Ray).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit import _internal
from polars_mlkit._reserved import GROUP_KEY
from polars_mlkit.scalers._inputs import Frame

FloatArray: TypeAlias = "npt.NDArray[np.float64]"

# Separates the parts of a multi-column group key, and stands for a null part.
_KEY_SEPARATOR = "\x1f"
_NULL_PART = "\x00null"


@dataclass
class _Column:
    """One fitted column: its name, (inner) dtype, container and width."""

    name: str
    dtype: str  # str() of the (inner, for vectors) Polars dtype at fit time
    container: str  # "scalar" | "array" | "list"
    width: int  # 0 for scalar columns

    @property
    def float32(self) -> bool:
        return self.dtype == "Float32"

    @property
    def lanes(self) -> int:
        return max(self.width, 1)


@dataclass
class _State:
    """What a fit learned: enough to resume ``partial_fit`` and to rebuild
    identical transforms (this is what the JSON text holds)."""

    options: dict[str, Any]
    columns: list[_Column]
    by: list[str]
    by_dtypes: list[str]
    # one row per group: the by columns (typed) and their rendered key (GROUP_KEY)
    groups: pl.DataFrame
    # column name -> statistic name -> array (groups, lanes)
    stats: dict[str, dict[str, FloatArray]]
    feature_names_in: list[str] | None
    n_features_in: int
    n_samples_seen: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        if not self.by:
            return [""]
        return [str(k) for k in self.groups[GROUP_KEY].to_list()]


def _fitted_state(
    options: dict[str, Any],
    schema: pl.Schema,
    columns: list[_Column],
    by: list[str],
    groups: pl.DataFrame,
    stats: dict[str, dict[str, FloatArray]],
    rows: int,
) -> _State:
    """The state of a fit on a frame with ``schema`` (its names become
    ``feature_names_in_``)."""
    names = list(schema.names())
    return _State(
        options=options,
        columns=columns,
        by=by,
        by_dtypes=[str(schema[b]) for b in by],
        groups=groups,
        stats=stats,
        feature_names_in=names,
        n_features_in=len(names),
        n_samples_seen=rows,
    )


def _key_expr(by: Sequence[str]) -> pl.Expr:
    """The string key of each row's group (the same expression at fit and
    transform time, so rendered keys match)."""
    parts = [pl.col(b).cast(pl.String).fill_null(_NULL_PART) for b in by]
    if len(parts) == 1:
        return parts[0]
    return pl.concat_str(parts, separator=_KEY_SEPARATOR)


def _is_numeric(dtype: pl.DataType) -> bool:
    return bool(dtype.is_numeric())


def _vector_inner(dtype: pl.DataType) -> pl.DataType | None:
    if isinstance(dtype, (pl.Array, pl.List)):
        inner = dtype.inner
        if inner is not None and inner.is_numeric():
            return inner if isinstance(inner, pl.DataType) else inner()
    return None


# --------------------------------------------------------------------------- #
# the columns a fit takes
# --------------------------------------------------------------------------- #
def _select_columns(
    schema: pl.Schema, wanted: list[str] | None, by: list[str], function: str
) -> list[_Column]:
    names = [n for n in schema.names() if n not in by] if wanted is None else wanted
    columns = []
    for name in names:
        if name not in schema:
            msg = f"{function}: column {name!r} is not in the frame"
            raise pl.exceptions.ColumnNotFoundError(msg)
        if name in by:
            msg = f"{function}: column {name!r} is also a by column"
            raise ValueError(msg)
        dtype = schema[name]
        inner = _vector_inner(dtype)
        if isinstance(dtype, pl.Array) and inner is not None:
            columns.append(_Column(name, str(inner), "array", int(dtype.size)))
        elif isinstance(dtype, pl.List) and inner is not None:
            columns.append(_Column(name, str(inner), "list", -1))
        elif _is_numeric(dtype):
            columns.append(_Column(name, str(dtype), "scalar", 0))
        elif wanted is not None:
            msg = (
                f"{function}: column {name!r} has dtype {dtype}; expected a numeric column "
                "or a numeric Array/List (vector) column"
            )
            raise TypeError(msg)
    return columns


def _resolve_list_widths(frame: Frame, columns: list[_Column], function: str) -> None:
    """List columns need their (single) length before the statistics query."""
    lists = [c for c in columns if c.container == "list"]
    if not lists:
        return
    exprs = []
    for c in lists:
        length = pl.col(c.name).list.len()
        exprs += [length.min().alias(f"{c.name}\x00min"), length.max().alias(f"{c.name}\x00max")]
    lengths = frame.lazy().select(exprs).collect()
    for c in lists:
        low, high = lengths[f"{c.name}\x00min"][0], lengths[f"{c.name}\x00max"][0]
        _width_error(c, low, high, function)
        c.width = int(low)


def _width_error(column: _Column, low: int | None, high: int | None, function: str) -> None:
    """Refuse a List column without one common, non-zero length."""
    if low is None or high is None:
        msg = (
            f"{function}: list column {column.name!r} has no non-null row, so its vector "
            "length is unknown"
        )
        raise ValueError(msg)
    if low != high:
        msg = (
            f"{function}: list column {column.name!r} holds vectors of different lengths "
            f"({low} and {high}); a vector column needs one length"
        )
        raise ValueError(msg)
    if low == 0:
        msg = f"{function}: list column {column.name!r} holds empty lists"
        raise ValueError(msg)


# --------------------------------------------------------------------------- #
# exact merge of two states
# --------------------------------------------------------------------------- #
def _merge_states(old: _State, new: _State, method: str, function: str) -> _State:
    if [(c.name, c.container, c.width, c.dtype) for c in old.columns] != [
        (c.name, c.container, c.width, c.dtype) for c in new.columns
    ]:
        msg = (
            f"{function}: the batch's columns {[(c.name, c.dtype, c.width) for c in new.columns]}"
            f" differ from the fitted ones {[(c.name, c.dtype, c.width) for c in old.columns]}"
        )
        raise ValueError(msg)
    if old.by != new.by:
        msg = f"{function}: the batch is grouped by {new.by}, the scaler by {old.by}"
        raise ValueError(msg)
    if old.by:
        groups = (
            pl.concat([old.groups, new.groups], how="vertical_relaxed")
            .unique(GROUP_KEY, keep="first", maintain_order=True)
            .sort(old.by, nulls_last=True, maintain_order=True)
        )
        keys = [str(k) for k in groups[GROUP_KEY].to_list()]
        old_index = {k: i for i, k in enumerate(old.keys)}
        new_index = {k: i for i, k in enumerate(new.keys)}
    else:
        groups, keys = old.groups, [""]
        old_index = new_index = {"": 0}
    stats = {}
    for column in old.columns:
        parts = []
        for state, index in ((old, old_index), (new, new_index)):
            per = state.stats[column.name]
            aligned = _empty_stats(list(per), len(keys), column.lanes)
            aligned["count"][:] = 0.0
            if "unit" in aligned:
                aligned["unit"][:] = 1.0
            rows = [index.get(k, -1) for k in keys]
            for r, source in enumerate(rows):
                if source >= 0:
                    for stat, arr in per.items():
                        aligned[stat][r] = arr[source]
            parts.append(aligned)
        stats[column.name] = _merge_stats(parts[0], parts[1], method)
    return _State(
        options=new.options,
        columns=old.columns,
        by=old.by,
        by_dtypes=old.by_dtypes,
        groups=groups,
        stats=stats,
        feature_names_in=new.feature_names_in,
        n_features_in=new.n_features_in,
        n_samples_seen=old.n_samples_seen + new.n_samples_seen,
    )


def _empty_stats(names: Sequence[str], groups: int, lanes: int) -> dict[str, FloatArray]:
    return {s: np.full((groups, lanes), np.nan) for s in names}


def _merge_stats(
    a: dict[str, FloatArray], b: dict[str, FloatArray], method: str
) -> dict[str, FloatArray]:
    """Exact merge of two partial statistics, by the extension (counts add,
    extents widen, moments merge as Chan et al.)."""
    shape = a["count"].shape
    flat = [
        {k: np.ascontiguousarray(v, dtype=np.float64).ravel() for k, v in d.items()} for d in (a, b)
    ]
    merged: dict[str, Any] = _internal.merge_statistics(method, flat[0], flat[1])
    return {k: np.asarray(v, dtype=np.float64).reshape(shape) for k, v in merged.items()}


# --------------------------------------------------------------------------- #
# typed group columns from their rendered values (JSON)
# --------------------------------------------------------------------------- #
def _dtype_from_string(text: str) -> pl.DataType | None:
    simple: dict[str, pl.DataType] = {
        str(t): t()
        for t in (
            pl.Int8,
            pl.Int16,
            pl.Int32,
            pl.Int64,
            pl.UInt8,
            pl.UInt16,
            pl.UInt32,
            pl.UInt64,
            pl.Float32,
            pl.Float64,
            pl.String,
            pl.Boolean,
            pl.Date,
            pl.Categorical,
        )
    }
    if text in simple:
        return simple[text]
    match = re.fullmatch(r"Datetime\(time_unit='(ns|us|ms)', time_zone=(None|'[^']*')\)", text)
    if match:
        zone = None if match.group(2) == "None" else match.group(2)[1:-1]
        return pl.Datetime(match.group(1), zone)  # type: ignore[arg-type]
    return None


def _rebuild_groups(
    by: Sequence[str], by_dtypes: Sequence[str], parts: Sequence[Sequence[str | None]]
) -> pl.DataFrame:
    """The typed ``by`` columns from their rendered parts (JSON). A dtype this
    function cannot rebuild stays String; transforms only use the keys."""
    columns: dict[str, pl.Series] = {}
    for i, (name, text) in enumerate(zip(by, by_dtypes, strict=True)):
        rendered = pl.Series(name, [p[i] for p in parts], dtype=pl.String)
        dtype = _dtype_from_string(text)
        if dtype is None or dtype == pl.String:
            columns[name] = rendered
        elif dtype == pl.Boolean:
            columns[name] = rendered.replace_strict(
                {"true": True, "false": False}, default=None, return_dtype=pl.Boolean
            )
        else:
            try:
                columns[name] = rendered.cast(dtype)
            except pl.exceptions.PolarsError:
                columns[name] = rendered
    frame = pl.DataFrame(list(columns.values()), schema=list(by)) if by else pl.DataFrame()
    if not by:
        return frame
    return frame.with_columns(_key_expr(by).alias(GROUP_KEY))
