"""The fill values and the fitted state of ``SimpleImputer``.

- :func:`fills` turns the merged statistics (``_imputer_state``) into each
  group's fill value: the mean, the most frequent value (ties: the
  smallest, as scikit-learn), the constant, or the median from the exact
  quantile passes of ``RobustScaler`` (``_passes``).
- :class:`ImputerState` is what a fit learned; :func:`state_from_batches`
  fits on data reached batch by batch, :func:`merge_states` adds a batch
  (``partial_fit``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from polars_mlkit._batches import MapBatches
from polars_mlkit._reserved import ROWS, internal
from polars_mlkit.scalers._imputer_state import (
    KEY,
    ImputedColumn,
    Partial,
    batches_partial,
    cast_batches,
    check_partial,
    mask_batches,
    merge_partials,
    missing_rows,
    present,
    select_columns,
    sorted_groups,
    stat_name,
)
from polars_mlkit.scalers._passes import (
    census_groups,
    first_census,
    list_widths,
    order_statistics,
    part_index,
)

#: The fill of a kept empty column (``keep_empty_features=True``), as
#: scikit-learn's 0; text columns have no such value and stay missing.
_EMPTY_FILL: dict[str, Any] = {"float": 0.0, "number": 0, "boolean": False, "vector": 0.0}


# --------------------------------------------------------------------------- #
# the fill values
# --------------------------------------------------------------------------- #
def _median_lanes(
    map_batches: MapBatches,
    columns: list[ImputedColumn],
    by: list[str],
    keys: list[str],
    function: str,
) -> dict[str, np.ndarray[Any, Any]]:
    """Each column's exact median per group and lane (NaN without values),
    from the robust scaler's passes over the batches (missing values null)."""
    scaler_columns = [c.as_scaler_column() for c in columns]
    census = first_census(map_batches, scaler_columns, by, "SimpleImputer", function)
    _, found_keys, _ = census_groups(census, by)
    target = {"target": "robust", "quantile_range": (25.0, 75.0)}
    found = order_statistics(map_batches, scaler_columns, by, census, found_keys, target, function)
    index = {k: g for g, k in enumerate(keys)}
    out = {c.name: np.full((len(keys), c.lanes), np.nan) for c in columns}
    for (key, part), named in found.items():
        i, j = part_index(part)
        if key in index:
            out[columns[i].name][index[key], j] = float(named["median"][0])
    return out


def _inline_medians(
    partial: Partial, columns: list[ImputedColumn]
) -> tuple[dict[str, np.ndarray[Any, Any]], Partial]:
    """The medians selected in the statistics pass, and the statistics
    without them."""
    frame = partial.frame
    medians = {}
    for i, c in enumerate(columns):
        lanes = [
            frame[stat_name("med", i, j)].cast(pl.Float64).fill_null(np.nan).to_numpy()
            for j in range(c.lanes)
        ]
        medians[c.name] = np.stack(lanes, axis=1).reshape(frame.height, c.lanes)
    kept = frame.drop([n for n in frame.columns if n.startswith(internal("med", ""))])
    return medians, Partial(kept, partial.counts)


def vector_widths(map_batches: MapBatches, columns: list[ImputedColumn], function: str) -> None:
    """Set the one length of each List column (a pass, as the scalers')."""
    lists = [c for c in columns if c.container == "list"]
    if not lists:
        return
    scaler_columns = [c.as_scaler_column() for c in lists]
    list_widths(scaler_columns, map_batches, function)
    for c, s in zip(lists, scaler_columns, strict=True):
        c.width = s.width


def fills(
    partial: Partial,
    columns: list[ImputedColumn],
    options: dict[str, Any],
    medians: dict[str, np.ndarray[Any, Any]] | None,
    function: str,
) -> dict[str, pl.Series]:
    """Each column's fill value per group (``partial.frame`` order), as a
    Series of the value dtype; null where a group has no value to learn from
    (unless ``keep_empty_features``)."""
    strategy = options["strategy"]
    keep = options["keep_empty_features"]
    out = {}
    for i, c in enumerate(columns):
        seen = present(partial, i, c)
        if strategy == "mean":
            # The moments' mean is in units of ``unit`` (no overflow near 1e308).
            parts = [
                partial.frame[f"{stat_name('s', i, j)}_mean"].to_numpy()
                * partial.frame[f"{stat_name('s', i, j)}_unit"].to_numpy()
                for j in range(c.lanes)
            ]
            values: Any = np.stack(parts, axis=1).reshape(seen.shape)
        elif strategy == "median":
            assert medians is not None
            values = medians[c.name]
        elif strategy == "most_frequent":
            values = _most_frequent(partial, c)
        else:
            values = [constant_fill(c, options["fill_value"], function)] * partial.frame.height
        out[c.name] = _fill_series(c, strategy, values, seen, keep)
    return out


def _most_frequent(partial: Partial, column: ImputedColumn) -> list[Any]:
    """The most frequent value per group (ties: the smallest)."""
    counts = partial.counts[column.name]
    if counts.height == 0:
        return [None] * partial.frame.height
    best = (
        counts.sort(["count", "value"], descending=[True, False])
        .group_by(KEY, maintain_order=True)
        .first()
    )
    by_key = dict(zip(best[KEY].to_list(), best["value"].to_list(), strict=True))
    return [by_key.get(k) for k in partial.frame[KEY].to_list()]


def _fill_series(
    column: ImputedColumn, strategy: str, values: Any, seen: Any, keep: bool
) -> pl.Series:
    dtype = column.value_dtype(strategy)
    empty = _EMPTY_FILL.get(column.kind) if keep else None
    if column.kind == "vector" or strategy in ("mean", "median"):
        arr = np.asarray(values, dtype=np.float64).reshape(seen.shape)
        rows: list[Any] = []
        for g in range(arr.shape[0]):
            lanes = [float(v) if n > 0 else empty for v, n in zip(arr[g], seen[g], strict=True)]
            rows.append(lanes if column.kind == "vector" else lanes[0])
        return pl.Series(column.name, rows, dtype=dtype)
    rows = [v if n > 0 else empty for v, n in zip(values, seen[:, 0], strict=True)]
    if column.kind == "text":
        text: pl.Series = pl.Series(column.name, rows, dtype=pl.String).cast(dtype)
        return text
    return pl.Series(column.name, rows, dtype=dtype)


def default_fill(column: ImputedColumn) -> Any:
    """scikit-learn's default ``fill_value``: 0 for numbers, ``"missing_value"``
    for text; False for Boolean columns."""
    return {"text": "missing_value", "boolean": False, "float": 0.0}.get(column.kind, 0)


def constant_fill(column: ImputedColumn, fill_value: Any, function: str) -> Any:
    """``fill_value`` checked against a column (it must keep the column's
    dtype, as scikit-learn's same-kind cast rule)."""
    value = default_fill(column) if fill_value is None else fill_value
    if isinstance(value, np.generic):
        value = value.item()
    ok = {
        "text": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "number": (isinstance(value, numbers.Integral) and not isinstance(value, bool))
        or (column.dtype.startswith("Decimal") and isinstance(value, numbers.Real)),
        "float": isinstance(value, numbers.Real) and not isinstance(value, bool),
    }[column.kind]
    if ok and column.kind == "float" and not math.isfinite(float(value)):
        ok = False
    if ok and column.categories is not None and value not in column.categories:
        ok = False
    if ok and column.kind == "number" and not column.dtype.startswith("Decimal"):
        try:
            pl.Series([value], dtype=column.input_dtype(), strict=True)
        except (OverflowError, pl.exceptions.PolarsError, TypeError):
            ok = False
    if not ok:
        msg = (
            f"{function}: fill_value={value!r} (of type {type(value).__name__}) cannot be "
            f"cast to column {column.name!r} of dtype {column.input_dtype()}; give a value of "
            "the column's kind (an int for integer columns, a finite number for floats, a "
            "string for text, one of the categories for an Enum, a bool for Boolean)"
        )
        raise ValueError(msg)
    return float(value) if column.kind == "float" else value


# --------------------------------------------------------------------------- #
# the fitted state
# --------------------------------------------------------------------------- #
@dataclass
class ImputerState:
    """What a fit learned: the merged statistics (enough to resume
    ``partial_fit`` where ``resumable``), each column's fill per group, and
    which columns had a missing value."""

    options: dict[str, Any]
    columns: list[ImputedColumn]
    by: list[str]
    by_dtypes: list[str]
    partial: Partial
    fills: dict[str, pl.Series]
    feature_names_in: list[str] | None
    n_features_in: int
    n_samples_seen: int
    resumable: bool = True

    @property
    def keys(self) -> list[str]:
        return [str(k) for k in self.partial.frame[KEY].to_list()]

    def groups(self) -> pl.DataFrame:
        """The ``by`` columns of each group (and its ``key``)."""
        return self.partial.frame.select(*self.by, KEY)

    def empty(self, i: int) -> bool:
        """Whether column ``i`` had no value at all (dropped unless
        ``keep_empty_features``)."""
        return bool(present(self.partial, i, self.columns[i]).sum() == 0)

    def kept(self) -> list[ImputedColumn]:
        keep = self.options["keep_empty_features"]
        return [c for i, c in enumerate(self.columns) if keep or not self.empty(i)]

    def dropped(self) -> list[str]:
        kept = {c.name for c in self.kept()}
        return [c.name for c in self.columns if c.name not in kept]

    def indicated(self) -> list[ImputedColumn]:
        """The columns that had a missing value (scikit-learn's
        ``features="missing-only"``), in the order of the fitted frame."""
        if not self.options["add_indicator"]:
            return []
        found = [c for i, c in enumerate(self.columns) if missing_rows(self.partial, i) > 0]
        order = {n: k for k, n in enumerate(self.feature_names_in or [])}
        return sorted(found, key=lambda c: order.get(c.name, len(order)))


def state_from_batches(
    schema: pl.Schema,
    map_batches: MapBatches,
    options: dict[str, Any],
    function: str,
    in_memory: bool = False,
) -> ImputerState:
    """Fit on data reached batch by batch: one pass of statistics (and a
    List column's length first), then for ``median`` the exact quantile
    passes; data ``in_memory`` (one batch) has its medians selected in the
    statistics pass, as RobustScaler's in-memory fit (the same numbers)."""
    by: list[str] = options["by"] or []
    for name in by:
        if name not in schema:
            msg = f"{function}: by column {name!r} is not in the frame"
            raise pl.exceptions.ColumnNotFoundError(msg)
    strategy, missing_values = options["strategy"], options["missing_values"]
    columns = select_columns(schema, options["columns"], by, strategy, missing_values, function)
    map_batches = cast_batches(map_batches, columns)
    vector_widths(map_batches, columns, function)
    # The census skips NaN itself: only a given missing value needs masking.
    masked = (
        map_batches
        if missing_values is None
        else mask_batches(map_batches, columns, missing_values)
    )
    inline = in_memory and strategy == "median"
    partial = batches_partial(map_batches, columns, by, strategy, missing_values, inline)
    check_partial(partial, columns, missing_values, function)
    medians = None
    if inline:
        medians, partial = _inline_medians(partial, columns)
    elif strategy == "median":
        keys = [str(k) for k in partial.frame[KEY].to_list()]
        medians = {c.name: np.full((len(keys), c.lanes), np.nan) for c in columns}
        counted = [c for i, c in enumerate(columns) if present(partial, i, c).sum() > 0]
        if counted:
            medians.update(_median_lanes(masked, counted, by, keys, function))
    names = list(schema.names())
    return ImputerState(
        options=options,
        columns=columns,
        by=by,
        by_dtypes=[str(schema[b]) for b in by],
        partial=partial,
        fills=fills(partial, columns, options, medians, function),
        feature_names_in=names,
        n_features_in=len(names),
        n_samples_seen=int(partial.frame[ROWS].sum() or 0),
    )


def merge_states(old: ImputerState, new: ImputerState, function: str) -> ImputerState:
    """``old`` followed by ``new`` (``partial_fit``): statistics merged
    exactly, fills derived again."""
    if not old.resumable:
        msg = (
            f"{function}: this imputer was built from fitted values and holds no "
            "statistics to merge"
        )
        raise ValueError(msg)
    described = [(c.name, c.kind, c.dtype, c.container, c.width) for c in old.columns]
    batch = [(c.name, c.kind, c.dtype, c.container, c.width) for c in new.columns]
    if described != batch:
        msg = f"{function}: the batch's columns {batch} differ from the fitted ones {described}"
        raise ValueError(msg)
    if old.by != new.by:
        msg = f"{function}: the batch is grouped by {new.by}, the imputer by {old.by}"
        raise ValueError(msg)
    partial = sorted_groups(merge_partials(old.partial, new.partial, old.by), old.by)
    return ImputerState(
        options=new.options,
        columns=old.columns,
        by=old.by,
        by_dtypes=old.by_dtypes,
        partial=partial,
        fills=fills(partial, old.columns, new.options, None, function),
        feature_names_in=new.feature_names_in,
        n_features_in=new.n_features_in,
        n_samples_seen=old.n_samples_seen + new.n_samples_seen,
    )
