"""Fitting from data that is only reached batch by batch: a LazyFrame larger
than memory (its ``collect_batches``) or the blocks of a Ray Dataset.

Min-max, standard and max-abs statistics merge exactly, so each batch is
fitted on its own and the partial states merged. RobustScaler's exact
quantiles take two passes (the extension's ``Census`` and ``RankPlan``):

1. a census per batch (and group, column, dimension): how many values fall
   in each of 2**20 fixed order-key buckets (sign, exponent, 8 mantissa
   bits), plus the extent; the censuses
   merge by adding counts;
2. from the merged census, the buckets that hold the wanted ranks (the
   median and the two percentiles, and their neighbours); a second pass
   gathers only the values in those buckets, and selection on them gives the
   numbers the in-memory fit gives, bit for bit.

Memory: one batch, the census (sparse: the non-empty buckets) and the
gathered buckets. The gathered buckets are what the wanted ranks' buckets
hold: for N(50, 10) data about 0.5% of the values each; but a column whose
values nearly all share their sign, exponent and first eight mantissa bits
(say all in [1000, 1004)) puts most of its values in one bucket.

Everything here works on a ``map_batches(fn)`` that applies ``fn`` to every
batch (a DataFrame) and yields the results, so the LazyFrame and the Ray
Dataset share one implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import polars as pl

from polars_mlkit import _internal
from polars_mlkit._plugin import call_plugin
from polars_mlkit.scalers._state import (
    FloatArray,
    _Column,
    _fitted_state,
    _key_expr,
    _select_columns,
    _State,
    _width_error,
)
from polars_mlkit.scalers._statistics import _lane_expr

if TYPE_CHECKING:
    from polars_mlkit.scalers._base import Scaler

#: Applies a function to every batch and yields its results.
MapBatches: TypeAlias = Callable[[Callable[[pl.DataFrame], pl.DataFrame]], Iterable[pl.DataFrame]]

#: Rows per batch when a LazyFrame is read in batches.
BATCH_ROWS = 1 << 20

_SORTED = ("count", "min", "max", "q_low", "median", "q_high")


def lazy_batches(lazy: pl.LazyFrame) -> MapBatches:
    """``map_batches`` over a LazyFrame, read with the streaming engine."""

    def run(fn: Callable[[pl.DataFrame], pl.DataFrame]) -> Iterator[pl.DataFrame]:
        seen = False
        for batch in lazy.collect_batches(chunk_size=BATCH_ROWS):
            seen = True
            yield fn(batch)
        if not seen:  # no rows at all: one empty batch, as a fit in memory sees
            yield fn(lazy.clear().collect())

    return run


# --------------------------------------------------------------------------- #
# the whole fit
# --------------------------------------------------------------------------- #
def fit_in_passes(
    scaler: Scaler, schema: pl.Schema, map_batches: MapBatches, function: str = "fit_in_passes"
) -> Scaler:
    """Fit ``scaler`` on data that is only reached batch by batch.

    ``map_batches(fn)`` must apply ``fn`` (DataFrame to DataFrame) to every
    batch of the data and yield the results; ``polars_mlkit.ray.fit`` passes
    one that runs ``fn`` on the blocks of a Ray Dataset. Min-max, standard
    and max-abs scalers fit each batch and merge; ``RobustScaler`` takes two
    passes (a census of order-key buckets, then a gather of the buckets that
    hold the wanted ranks; three when a ``List`` column's length must be
    found first). The parameters equal those of ``fit`` on all the data in
    memory (robust, min-max and max-abs bit for bit; standard to rounding).

    Parameters
    ----------
    scaler
        The scaler to fit (its options are checked first).
    schema
        The schema of the batches.
    map_batches
        Runs a function on every batch and yields its results.
    function
        The name errors give.

    Returns
    -------
    The fitted scaler (the same object).

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> from polars_mlkit.scalers import fit_in_passes
    >>> batches = [pl.DataFrame({"x": [1.0, 9.0, 2.0]}), pl.DataFrame({"x": [4.0, 3.0]})]
    >>> def map_batches(fn):
    ...     return (fn(batch) for batch in batches)
    >>> sc = fit_in_passes(pmk.RobustScaler(), batches[0].schema, map_batches)
    >>> sc.params_.equals(pmk.RobustScaler().fit(pl.concat(batches)).params_)
    True
    """
    from polars_mlkit.scalers._base import IncrementalScaler

    options = scaler._checked_options(function)
    by: list[str] = options["by"] or []
    for name in by:
        if name not in schema:
            msg = f"{function}: by column {name!r} is not in the data"
            raise pl.exceptions.ColumnNotFoundError(msg)
    columns = _select_columns(schema, options["columns"], by, function)
    if isinstance(scaler, IncrementalScaler):
        scaler._state = _incremental_state(scaler, map_batches, function)
        return scaler
    if hasattr(scaler, "_fit_batches"):  # QuantileTransformer, PowerTransformer
        list_widths(columns, map_batches, function)
        scaler._state = scaler._fit_batches(schema, columns, by, options, map_batches, function)
        return scaler
    list_widths(columns, map_batches, function)
    stats, groups, rows = sorted_statistics(
        map_batches, columns, by, tuple(options["quantile_range"]), function
    )
    scaler._state = _fitted_state(options, schema, columns, by, groups, stats, rows)
    return scaler


def _incremental_state(scaler: Scaler, map_batches: MapBatches, function: str) -> _State:
    """Each batch fitted on its own (travelling as its JSON text), merged in order."""
    from polars_mlkit.scalers._base import merge_fitted
    from polars_mlkit.scalers._json import load_scaler

    cls, params = type(scaler), scaler.get_params()

    def partial(batch: pl.DataFrame) -> pl.DataFrame:
        if batch.height == 0:
            return pl.DataFrame({"state": pl.Series([], dtype=pl.String)})
        return pl.DataFrame({"state": [cls(**params).fit(batch).to_json()]})

    parts = (load_scaler(text) for result in map_batches(partial) for text in result["state"])
    return merge_fitted(cls(**params), parts, function)._fitted(function)


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
# exact order statistics in two passes
# --------------------------------------------------------------------------- #
def _part(i: int, j: int) -> str:
    return f"{i}_{j}"


def census_frame(batch: pl.DataFrame, columns: list[_Column], by: list[str]) -> pl.DataFrame:
    """Pass 1 on one batch: per group and ``part`` (column ``i``, lane ``j``)
    the sparse census (``buckets``, ``counts``), the extent, whether it holds
    infinity, and the group's rows (``rows``)."""
    exprs = [
        call_plugin(
            "order_census",
            [_lane_expr(column, j)],
            {"function": "RobustScaler.fit"},
            is_elementwise=False,
            returns_scalar=True,
        ).alias(_part(i, j))
        for i, column in enumerate(columns)
        for j in range(column.lanes)
    ]
    rows = pl.len().cast(pl.UInt64).alias("rows")
    if by:
        result = batch.group_by(by).agg(rows, *exprs).with_columns(_key_expr(by).alias("key"))
    else:
        result = batch.select(rows, *exprs).with_columns(key=pl.lit(""))
    parts = [_part(i, j) for i, column in enumerate(columns) for j in range(column.lanes)]
    if not parts:
        return result.with_columns(part=pl.lit(None, dtype=pl.String))
    return result.unpivot(
        index=[*by, "key", "rows"], on=parts, variable_name="part", value_name="census"
    ).unnest("census")


def merge_census(a: pl.DataFrame | None, b: pl.DataFrame) -> pl.DataFrame:
    """Two censuses (each one row per group and part) as one: counts added
    per bucket, extents widened, rows added."""
    if a is None:
        return b
    both = pl.concat([a, b], how="vertical_relaxed")
    index = [
        c for c in both.columns if c not in ("rows", "buckets", "counts", "min", "max", "infinite")
    ]
    counts = (
        both.select(*index, "buckets", "counts")
        .explode(["buckets", "counts"])
        .drop_nulls("buckets")
        .group_by([*index, "buckets"])
        .agg(pl.col("counts").sum())
        .group_by(index)
        .agg("buckets", "counts")
    )
    extent = both.group_by(index).agg(
        pl.col("rows").sum(),
        pl.col("min").min(),
        pl.col("max").max(),
        pl.col("infinite").any(),
    )
    merged = extent.join(counts, on=index, how="left", nulls_equal=True).with_columns(
        pl.col("buckets").fill_null(pl.lit([], dtype=pl.List(pl.UInt32))),
        pl.col("counts").fill_null(pl.lit([], dtype=pl.List(pl.UInt64))),
    )
    return merged.select(b.columns)


def _sparse(row: dict[str, Any]) -> tuple[Any, Any]:
    buckets = np.asarray(row["buckets"] or [], dtype=np.uint32)
    counts = np.asarray(row["counts"] or [], dtype=np.uint64)
    return buckets, counts


def sorted_statistics(
    map_batches: MapBatches,
    columns: list[_Column],
    by: list[str],
    quantile_range: tuple[float, float],
    function: str,
) -> tuple[dict[str, dict[str, FloatArray]], pl.DataFrame, int]:
    """RobustScaler's statistics of every group, column and lane in two
    passes: (stats, groups frame, rows seen)."""
    census: pl.DataFrame | None = None
    for part in map_batches(lambda batch: census_frame(batch, columns, by)):
        census = merge_census(census, part)
    if census is None or census.height == 0:
        msg = f"{function}: no data to fit"
        raise ValueError(msg)
    bad = census.filter(pl.col("infinite"))
    if bad.height:
        i = int(str(bad["part"][0]).split("_")[0])
        msg = (
            f"{function}: column {columns[i].name!r} contains infinity; scikit-learn's "
            "RobustScaler rejects infinite values too"
        )
        raise ValueError(msg)

    # The groups, sorted as the in-memory statistics query sorts them.
    groups = census.select(*by, "key", "rows").unique("key", keep="first")
    if by:
        groups = groups.sort(by, nulls_last=True)
    keys = [str(k) for k in groups["key"]]
    rows = int(groups["rows"].sum())

    plans: dict[tuple[str, str], Any] = {}
    for row in census.iter_rows(named=True):
        buckets, counts = _sparse(row)
        plans[(row["key"], row["part"])] = _internal.census_plan(buckets, counts, quantile_range)

    def gather(batch: pl.DataFrame) -> pl.DataFrame:
        exprs = []
        for i, column in enumerate(columns):
            for j in range(column.lanes):
                part = _part(i, j)
                args = [_lane_expr(column, j)] + ([_key_expr(by)] if by else [])
                exprs.append(
                    call_plugin(
                        "order_gather",
                        args,
                        {
                            "function": function,
                            "keys": keys if by else [],
                            "buckets": [
                                [int(b) for b in plans.get((k, part), [])]
                                for k in (keys if by else [""])
                            ],
                        },
                        is_elementwise=False,
                        returns_scalar=True,
                    ).alias(part)
                )
        if by:
            return batch.group_by(by).agg(*exprs).with_columns(_key_expr(by).alias("key"))
        return batch.select(*exprs).with_columns(key=pl.lit(""))

    gathered: dict[tuple[str, str], list[Any]] = {}
    for result in map_batches(gather):
        for row in result.iter_rows(named=True):
            for name, values in row.items():
                if name in by or name == "key" or values is None:
                    continue
                gathered.setdefault((row["key"], name), []).append(
                    np.asarray(values, dtype=np.float64)
                )

    index = {k: g for g, k in enumerate(keys)}
    stats = {c.name: {s: np.full((len(keys), c.lanes), np.nan) for s in _SORTED} for c in columns}
    for c in columns:
        stats[c.name]["count"][:] = 0.0
    for row in census.iter_rows(named=True):
        i, j = (int(v) for v in str(row["part"]).split("_"))
        buckets, counts = _sparse(row)
        values = gathered.get((row["key"], row["part"]), [])
        flat = np.concatenate(values) if values else np.empty(0)
        low = np.nan if row["min"] is None else float(row["min"])
        high = np.nan if row["max"] is None else float(row["max"])
        found = _internal.census_statistics(buckets, counts, low, high, flat, quantile_range)
        for name in _SORTED:
            stats[columns[i].name][name][index[row["key"]], j] = float(found[name][0])
    return stats, groups.select(*by, "key") if by else pl.DataFrame(), rows
