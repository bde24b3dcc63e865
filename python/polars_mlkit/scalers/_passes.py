"""Fitting from data that is only reached batch by batch: a LazyFrame larger
than memory (its ``collect_batches``) or the blocks of a Ray Dataset.

Min-max, standard and max-abs statistics merge exactly, so each batch is
fitted on its own and the partial states merged. The exact
quantiles of RobustScaler (six ranks) and QuantileTransformer (two per
reference) take two passes or more (the extension's ``OrderSearch``, see
``kernels/passes.rs``):

1. a census per batch (and group, column, dimension): how many values fall
   in each of 2**20 fixed order-key buckets (sign, exponent, 8 mantissa
   bits), plus the extent; the censuses merge by adding counts;
2. from the merged census, the buckets that hold the wanted ranks. While
   they hold more than a batch's worth of values (say all values in
   [1000, 1004), or 1,000 quantiles of a large column), a refining pass
   counts the values inside them by 12 more key bits, with each
   sub-bucket's extent (a bucket of equal values is then known);
3. a last pass gathers only the values in the wanted buckets, and sorting
   them gives the numbers the in-memory fit gives, bit for bit.

Memory: one batch, the census (sparse: the non-empty buckets), the refining
censuses (at most 4,096 sub-buckets per wanted bucket) and at most a
batch's worth of gathered values per column part.

Everything here works on a ``map_batches(fn)`` that applies ``fn`` to every
batch (a DataFrame) and yields the results (``polars_mlkit._batches``), so
the LazyFrame and the Ray Dataset share one implementation. The functions
return statistics; the transformers turn them into their fitted state
(``fit_in_passes`` in ``_fitted`` sets it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import polars as pl

from polars_mlkit import _internal
from polars_mlkit._batches import MapBatches
from polars_mlkit._plugin import call_plugin
from polars_mlkit._reserved import GROUP_KEY, PART, PREFIX, ROWS, internal
from polars_mlkit.scalers._state import (
    FloatArray,
    _Column,
    _key_expr,
    _width_error,
)
from polars_mlkit.scalers._statistics import _lane_expr

#: The most values the gather pass collects per column part: a batch's
#: worth. Beyond it the wanted buckets are refined by another pass first.
GATHER_VALUES = 1 << 20

_SORTED = ("count", "min", "max", "q_low", "median", "q_high")

# A census row's fields beside the by columns: internal names (``_reserved``),
# so that no by column can be named like one of them.
_CENSUS = internal("census")
_BUCKETS, _COUNTS = internal("buckets"), internal("counts")
_MIN, _MAX, _INFINITE = internal("min"), internal("max"), internal("infinite")
_STATISTICS = (ROWS, _BUCKETS, _COUNTS, _MIN, _MAX, _INFINITE)


def list_widths(columns: list[_Column], map_batches: MapBatches, function: str) -> None:
    """The one length of each List column, from a pass over the batches."""
    lists = [c for c in columns if c.container == "list"]
    if not lists:
        return

    def lengths(batch: pl.DataFrame) -> pl.DataFrame:
        exprs = []
        for i, c in enumerate(lists):
            length = pl.col(c.name).list.len()
            exprs += [length.min().alias(f"min{i}"), length.max().alias(f"max{i}")]
        return batch.select(exprs)

    found = pl.concat(list(map_batches(lengths)), how="vertical")
    for i, c in enumerate(lists):
        low, high = _length(found[f"min{i}"].min()), _length(found[f"max{i}"].max())
        _width_error(c, low, high, function)
        c.width = low or 0


def _length(value: object) -> int | None:
    return None if value is None else int(str(value))


# --------------------------------------------------------------------------- #
# exact order statistics in passes
# --------------------------------------------------------------------------- #
def part_name(i: int, j: int) -> str:
    """The name of column ``i``'s lane ``j`` in the passes' results."""
    return internal(i, j)


def part_index(part: str) -> tuple[int, int]:
    """``(i, j)`` of a :func:`part_name`."""
    i, j = part.removeprefix(PREFIX).split("_")
    return int(i), int(j)


def census_frame(batch: pl.DataFrame, columns: list[_Column], by: list[str]) -> pl.DataFrame:
    """Pass 1 on one batch: per group and ``part`` (column ``i``, lane ``j``)
    the sparse census (buckets, counts), the extent, whether it holds
    infinity, and the group's rows; every name but the by columns' is an
    internal one (``_reserved``)."""
    exprs = [
        call_plugin(
            "order_census",
            [_lane_expr(column, j)],
            {"function": "RobustScaler.fit"},
            is_elementwise=False,
            returns_scalar=True,
        ).alias(part_name(i, j))
        for i, column in enumerate(columns)
        for j in range(column.lanes)
    ]
    rows = pl.len().cast(pl.UInt64).alias(ROWS)
    if by:
        result = batch.group_by(by).agg(rows, *exprs).with_columns(_key_expr(by).alias(GROUP_KEY))
    else:
        result = batch.select(rows, *exprs).with_columns(pl.lit("").alias(GROUP_KEY))
    parts = [part_name(i, j) for i, column in enumerate(columns) for j in range(column.lanes)]
    if not parts:
        return result.with_columns(pl.lit(None, dtype=pl.String).alias(PART))
    census = result.unpivot(
        index=[*by, GROUP_KEY, ROWS], on=parts, variable_name=PART, value_name=_CENSUS
    )
    fields = [f.name for f in census.schema[_CENSUS].fields]  # type: ignore[attr-defined]
    renamed = pl.col(_CENSUS).struct.rename_fields([internal(f) for f in fields])
    return census.with_columns(renamed).unnest(_CENSUS)


def merge_census(a: pl.DataFrame | None, b: pl.DataFrame) -> pl.DataFrame:
    """Two censuses (each one row per group and part) as one: counts added
    per bucket, extents widened, rows added."""
    if a is None:
        return b
    both = pl.concat([a, b], how="vertical_relaxed")
    index = [c for c in both.columns if c not in _STATISTICS]
    counts = (
        both.select(*index, _BUCKETS, _COUNTS)
        .explode([_BUCKETS, _COUNTS])
        .drop_nulls(_BUCKETS)
        .group_by([*index, _BUCKETS])
        .agg(pl.col(_COUNTS).sum())
        .group_by(index)
        .agg(_BUCKETS, _COUNTS)
    )
    extent = both.group_by(index).agg(
        pl.col(ROWS).sum(),
        pl.col(_MIN).min(),
        pl.col(_MAX).max(),
        pl.col(_INFINITE).any(),
    )
    merged = extent.join(counts, on=index, how="left", nulls_equal=True).with_columns(
        pl.col(_BUCKETS).fill_null(pl.lit([], dtype=pl.List(pl.UInt32))),
        pl.col(_COUNTS).fill_null(pl.lit([], dtype=pl.List(pl.UInt64))),
    )
    return merged.select(b.columns)


def _array(lists: pl.Series, i: int, dtype: Any) -> Any:
    """Row ``i`` of a List column as a numpy array (no Python objects)."""
    values = lists.slice(i, 1).explode().drop_nulls()
    return values.to_numpy().astype(dtype, copy=False)


def first_census(
    map_batches: MapBatches, columns: list[_Column], by: list[str], estimator: str, function: str
) -> pl.DataFrame:
    """Pass 1 over every batch, merged: one row per group and part, with the
    census, extent and rows; infinity is an error naming the column."""
    census: pl.DataFrame | None = None
    for part in map_batches(lambda batch: census_frame(batch, columns, by)):
        census = merge_census(census, part)
    if census is None or census.height == 0:
        msg = f"{function}: no data to fit"
        raise ValueError(msg)
    bad = census.filter(pl.col(_INFINITE))
    if bad.height:
        i = part_index(str(bad[PART][0]))[0]
        msg = (
            f"{function}: column {columns[i].name!r} contains infinity; scikit-learn's "
            f"{estimator} rejects infinite values too"
        )
        raise ValueError(msg)
    return census


def census_groups(census: pl.DataFrame, by: list[str]) -> tuple[pl.DataFrame, list[str], int]:
    """The groups, sorted as the in-memory statistics query sorts them:
    (groups frame with the by columns, ``GROUP_KEY`` and ``ROWS``, the keys
    in that order, all rows)."""
    groups = census.select(*by, GROUP_KEY, ROWS).unique(GROUP_KEY, keep="first")
    if by:
        groups = groups.sort(by, nulls_last=True)
    return groups, [str(k) for k in groups[GROUP_KEY]], int(groups[ROWS].sum())


def extents(census: pl.DataFrame) -> dict[tuple[str, str], tuple[Any, Any]]:
    """Each (group key, part)'s extent, (min, max), from a merged census."""
    return {
        (str(key), str(part)): (low, high)
        for key, part, low, high in census.select(GROUP_KEY, PART, _MIN, _MAX).iter_rows()
    }


def order_statistics(
    map_batches: MapBatches,
    columns: list[_Column],
    by: list[str],
    census: pl.DataFrame,
    keys: list[str],
    target: dict[str, Any] | Callable[[str, str, int], dict[str, Any]],
    function: str,
) -> dict[tuple[str, str], dict[str, FloatArray]]:
    """The exact order statistics of every group and part (``target``:
    ``{"target": "robust", "quantile_range": ...}``, ``{"target":
    "quantiles", "n_quantiles": ...}``, or a function of the group's key,
    the part and its count of values giving ``{"target": "ranks", "ranks":
    [...]}``), from the merged first census and
    as many further passes as the extension's ``OrderSearch`` asks for:
    refining censuses while the wanted buckets hold more than a batch's worth
    of values, then one gather."""
    searches: dict[tuple[str, str], Any] = {}
    for i, (key, part, rows, low, high) in enumerate(
        census.select(GROUP_KEY, PART, ROWS, _MIN, _MAX).iter_rows()
    ):
        counts = _array(census[_COUNTS], i, np.uint64)
        searches[(key, part)] = _internal.OrderSearch(
            rows=int(rows),
            buckets=_array(census[_BUCKETS], i, np.uint32),
            counts=counts,
            min=np.nan if low is None else float(low),
            max=np.nan if high is None else float(high),
            budget=GATHER_VALUES,
            **(target(str(key), str(part), int(counts.sum())) if callable(target) else target),
        )

    def run_pass(stage: str) -> Iterator[tuple[str, str, pl.Series, int]]:
        """One pass over the batches for the searches at ``stage``: per
        result row and part, (key, part, the part's column, row)."""
        plugin = "order_refine" if stage == "refine" else "order_gather"

        def kwargs(part: str) -> dict[str, Any]:
            chosen = [searches.get((k, part)) for k in (keys if by else [""])]
            active = [s if s is not None and s.stage()[0] == stage else None for s in chosen]
            return {
                "function": function,
                "keys": keys if by else [],
                "bits": [0 if s is None else s.stage()[1] for s in active],
                "buckets": [[] if s is None else [int(b) for b in s.wanted()] for s in active],
                "into_bits": [0 if s is None else s.refine_bits() for s in active],
            }

        parts = {
            part_name(i, j): kwargs(part_name(i, j))
            for i, column in enumerate(columns)
            for j in range(column.lanes)
        }

        def one_batch(batch: pl.DataFrame) -> pl.DataFrame:
            exprs = []
            for i, column in enumerate(columns):
                for j in range(column.lanes):
                    args = [_lane_expr(column, j)] + ([_key_expr(by)] if by else [])
                    exprs.append(
                        call_plugin(
                            plugin,
                            args,
                            parts[part_name(i, j)],
                            is_elementwise=False,
                            returns_scalar=True,
                        ).alias(part_name(i, j))
                    )
            if by:
                return batch.group_by(by).agg(*exprs).with_columns(_key_expr(by).alias(GROUP_KEY))
            return batch.select(*exprs).with_columns(pl.lit("").alias(GROUP_KEY))

        for result in map_batches(one_batch):
            for i, key in enumerate(result[GROUP_KEY]):
                for part in parts:
                    if (key, part) in searches:
                        yield key, part, result[part], i

    def due(stage: str) -> bool:
        return any(s.stage()[0] == stage for s in searches.values())

    while due("refine"):
        for key, part, found, i in run_pass("refine"):
            search = searches[(key, part)]
            if search.stage()[0] != "refine" or found[i] is None:
                continue
            search.add_census(
                _array(found.struct.field("buckets"), i, np.uint64),
                _array(found.struct.field("counts"), i, np.uint64),
                _array(found.struct.field("min"), i, np.float64),
                _array(found.struct.field("max"), i, np.float64),
            )
        for search in searches.values():
            search.refine(function)

    gathered: dict[tuple[str, str], list[Any]] = {}
    if due("gather"):
        for key, part, values, i in run_pass("gather"):
            found = _array(values, i, np.float64)
            if found.size:
                gathered.setdefault((key, part), []).append(found)
    return {
        place: search.finish(
            np.concatenate(gathered[place]) if place in gathered else np.empty(0), function
        )
        for place, search in searches.items()
    }


def sorted_statistics(
    map_batches: MapBatches,
    columns: list[_Column],
    by: list[str],
    quantile_range: tuple[float, float],
    function: str,
) -> tuple[dict[str, dict[str, FloatArray]], pl.DataFrame, int]:
    """RobustScaler's statistics of every group, column and lane from passes
    over the batches: (stats, groups frame, rows seen)."""
    census = first_census(map_batches, columns, by, "RobustScaler", function)
    groups, keys, rows = census_groups(census, by)
    target = {"target": "robust", "quantile_range": quantile_range}
    found = order_statistics(map_batches, columns, by, census, keys, target, function)

    index = {k: g for g, k in enumerate(keys)}
    stats = {c.name: {s: np.full((len(keys), c.lanes), np.nan) for s in _SORTED} for c in columns}
    for c in columns:
        stats[c.name]["count"][:] = 0.0
    for (key, part), named in found.items():
        i, j = part_index(part)
        for name in _SORTED:
            stats[columns[i].name][name][index[key], j] = float(named[name][0])
    return stats, groups.select(*by, GROUP_KEY) if by else pl.DataFrame(), rows
