"""KBinsDiscretizer's fit from data reached batch by batch (a DataFrame is
one batch, a LazyFrame is read in batches, Ray gives its blocks): the
statistics each strategy needs, then the edges by the rules of
``_binning``.

- ``uniform``: one pass (count, min, max per group and column);
- ``quantile``: the exact passes of ``_passes`` (a census of order-key
  buckets, then a gather of the buckets holding numpy's ranks): memory is
  one batch and the census, never a column. A DataFrame already in memory
  (without ``by``) has its ranks selected in one query instead
  (``values_at_ranks``); both give the same values, bit for bit;
- ``kmeans``: Lloyd's algorithm reads every value at each iteration, so the
  binned columns (and ``by`` columns) are gathered in memory, in row order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from polars_mlkit._batches import MapBatches
from polars_mlkit._plugin import call_plugin
from polars_mlkit._reserved import GROUP_KEY, ROWS, internal
from polars_mlkit.scalers import _binning
from polars_mlkit.scalers._passes import (
    census_groups,
    extents,
    first_census,
    order_statistics,
    part_index,
    part_name,
)
from polars_mlkit.scalers._state import FloatArray, _Column, _key_expr


@dataclass
class KBinsState:
    """What a KBinsDiscretizer fit learned (what its JSON text holds)."""

    options: dict[str, Any]
    columns: list[str]
    dtypes: list[str]  # str() of each binned column's dtype at fit time
    by: list[str]
    by_dtypes: list[str]
    groups: pl.DataFrame  # the by columns (typed) and their GROUP_KEY, one row per group
    edges: list[list[FloatArray]]  # [column][group] -> bin edges
    feature_names_in: list[str] | None
    n_features_in: int
    n_samples_seen: int

    @property
    def keys(self) -> list[str]:
        return [str(k) for k in self.groups[GROUP_KEY]] if self.by else [""]


def _value(x: pl.Expr) -> pl.Expr:
    """A binned column as Float64 with NaN as null (every statistic skips both)."""
    return x.cast(pl.Float64).fill_nan(None)


def _grouped(batch: pl.DataFrame, by: list[str], exprs: list[pl.Expr]) -> pl.DataFrame:
    rows = pl.len().cast(pl.UInt64).alias(ROWS)
    if by:
        return batch.group_by(by).agg(rows, *exprs).with_columns(_key_expr(by).alias(GROUP_KEY))
    return batch.select(rows, *exprs).with_columns(pl.lit("").alias(GROUP_KEY))


def _n(i: int) -> str:
    return internal("n", i)


def _lo(i: int) -> str:
    return internal("lo", i)


def _hi(i: int) -> str:
    return internal("hi", i)


def _infinite(name: str, function: str) -> ValueError:
    return ValueError(
        f"{function}: column {name!r} contains infinity; scikit-learn's KBinsDiscretizer "
        "rejects infinite values too"
    )


def _no_data(function: str) -> ValueError:
    return ValueError(f"{function}: no data to fit (the frame has no rows)")


def _label(name: str, key: str, by: list[str]) -> str:
    return repr(name) if not by else f"{name!r} (group {key!r})"


def _edges(
    strategy: str,
    n: int,
    low: float,
    high: float,
    n_bins: int,
    label: str,
    compute: Any,
) -> FloatArray:
    """One column's (or group's) edges, with scikit-learn's constant-column
    and tiny-bin rules; ``compute()`` gives the edges of a varying column."""
    import warnings

    if n == 0:
        warnings.warn(
            f"Feature {label} has no values (all null or NaN) and will be replaced with 0.",
            UserWarning,
            stacklevel=5,
        )
        return _binning.constant_edges()
    if low == high:
        warnings.warn(
            f"Feature {label} is constant and will be replaced with 0.", UserWarning, stacklevel=5
        )
        return _binning.constant_edges()
    edges: FloatArray = compute()
    if strategy in ("quantile", "kmeans"):
        edges = _binning.drop_tiny_bins(edges, n_bins, label)
    return edges


def fit_edges(
    columns: list[str],
    by: list[str],
    options: dict[str, Any],
    map_batches: MapBatches,
    function: str,
    memory: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, list[list[FloatArray]], int]:
    """The groups (by columns and ``GROUP_KEY``, sorted), the edges per column and
    group, and the rows seen. ``memory``: the data, when it is a DataFrame
    in memory (quantiles without groups are then selected from it in one
    query rather than found in passes; the edges are the same)."""
    strategy = options["strategy"]
    if strategy == "quantile" and memory is not None and not by and memory.height:
        return _quantile_in_memory(memory, columns, options, function)
    if strategy == "quantile":
        return _quantile_fit(columns, by, options, map_batches, function)
    if strategy == "uniform":
        return _uniform_fit(columns, by, options, map_batches, function)
    return _kmeans_fit(columns, by, options, map_batches, function)


def _sorted_groups(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    return frame.sort(by, nulls_last=True) if by else frame


def _uniform_fit(
    columns: list[str],
    by: list[str],
    options: dict[str, Any],
    map_batches: MapBatches,
    function: str,
) -> tuple[pl.DataFrame, list[list[FloatArray]], int]:
    exprs = []
    for i, name in enumerate(columns):
        x = _value(pl.col(name))
        exprs += [x.count().alias(_n(i)), x.min().alias(_lo(i)), x.max().alias(_hi(i))]
    parts = list(map_batches(lambda batch: _grouped(batch, by, exprs)))
    both = pl.concat(parts, how="vertical_relaxed")
    merged = both.group_by(GROUP_KEY, maintain_order=True).agg(
        *(pl.col(b).first() for b in by),
        pl.col(ROWS).sum(),
        *(pl.col(_n(i)).sum() for i in range(len(columns))),
        *(pl.col(_lo(i)).min() for i in range(len(columns))),
        *(pl.col(_hi(i)).max() for i in range(len(columns))),
    )
    merged = _sorted_groups(merged, by)
    rows = int(merged[ROWS].sum()) if merged.height else 0
    if rows == 0:
        raise _no_data(function)
    edges: list[list[FloatArray]] = []
    for i, name in enumerate(columns):
        per = []
        for key, n, low, high in merged.select(GROUP_KEY, _n(i), _lo(i), _hi(i)).iter_rows():
            if n and (np.isinf(low) or np.isinf(high)):
                raise _infinite(name, function)
            nb = options["n_bins"][i]
            per.append(
                _edges(
                    "uniform",
                    int(n),
                    low,
                    high,
                    nb,
                    _label(name, key, by),
                    lambda lo=low, hi=high, nb=nb: _binning.uniform_edges(lo, hi, nb),
                )
            )
        edges.append(per)
    return merged.select(*by, GROUP_KEY) if by else pl.DataFrame(), edges, rows


def _quantile_fit(
    columns: list[str],
    by: list[str],
    options: dict[str, Any],
    map_batches: MapBatches,
    function: str,
) -> tuple[pl.DataFrame, list[list[FloatArray]], int]:
    fitted = [_Column(name, "Float64", "scalar", 0) for name in columns]
    census = first_census(map_batches, fitted, by, "KBinsDiscretizer", function)
    groups, keys, rows = census_groups(census, by)
    if rows == 0:
        raise _no_data(function)
    extent = extents(census)
    method = options["quantile_method"]
    counts: dict[tuple[str, str], int] = {}

    def target(key: str, part: str, n: int) -> dict[str, Any]:
        counts[(key, part)] = n
        low, high = extent[(key, part)]
        nb = options["n_bins"][part_index(part)[0]]
        if n == 0 or low == high:
            return {"target": "ranks", "ranks": []}
        previous, following, _ = _binning.percentile_ranks(n, nb, method)
        return {"target": "ranks", "ranks": sorted({int(r) for r in (*previous, *following)})}

    found = order_statistics(map_batches, fitted, by, census, keys, target, function)
    edges: list[list[FloatArray]] = []
    for i, name in enumerate(columns):
        per = []
        nb = options["n_bins"][i]
        for key in keys:
            place = (key, part_name(i, 0))
            low, high = extent[place]
            named = found[place]
            at = dict(
                zip(named["ranks"].astype(int).tolist(), named["values"].tolist(), strict=True)
            )
            n = counts[place]
            per.append(
                _edges(
                    "quantile",
                    n,
                    low,
                    high,
                    nb,
                    _label(name, key, by),
                    lambda at=at, n=n, nb=nb: _binning.quantile_edges(at, n, nb, method),
                )
            )
        edges.append(per)
    return groups.select(*by, GROUP_KEY) if by else pl.DataFrame(), edges, rows


def _quantile_in_memory(
    frame: pl.DataFrame, columns: list[str], options: dict[str, Any], function: str
) -> tuple[pl.DataFrame, list[list[FloatArray]], int]:
    """numpy's percentile ranks of every column, selected by the
    extension's ``values_at_ranks`` in one query (no sort, no passes)."""
    exprs = []
    for i, name in enumerate(columns):
        x = _value(pl.col(name))
        exprs += [x.count().alias(_n(i)), x.min().alias(_lo(i)), x.max().alias(_hi(i))]
    extent = frame.select(exprs).row(0, named=True)
    method = options["quantile_method"]
    wanted: dict[int, list[int]] = {}
    for i, name in enumerate(columns):
        n, low, high = extent[_n(i)], extent[_lo(i)], extent[_hi(i)]
        if n and (np.isinf(low) or np.isinf(high)):
            raise _infinite(name, function)
        if n and low != high:
            previous, following, _ = _binning.percentile_ranks(n, options["n_bins"][i], method)
            wanted[i] = sorted({int(r) for r in (*previous, *following)})
    found = frame.select(
        call_plugin(
            "values_at_ranks",
            [pl.col(columns[i])],
            {"function": function, "ranks": ranks},
            is_elementwise=False,
            returns_scalar=True,
        ).alias(f"v{i}")
        for i, ranks in wanted.items()
    )
    edges: list[list[FloatArray]] = []
    for i, name in enumerate(columns):
        nb, n = options["n_bins"][i], int(extent[_n(i)])
        at = dict(zip(wanted.get(i, []), found[f"v{i}"][0] if i in wanted else [], strict=True))
        edges.append(
            [
                _edges(
                    "quantile",
                    n,
                    extent[_lo(i)],
                    extent[_hi(i)],
                    nb,
                    _label(name, "", []),
                    lambda at=at, n=n, nb=nb: _binning.quantile_edges(at, n, nb, method),
                )
            ]
        )
    return pl.DataFrame(), edges, frame.height


def _kmeans_fit(
    columns: list[str],
    by: list[str],
    options: dict[str, Any],
    map_batches: MapBatches,
    function: str,
) -> tuple[pl.DataFrame, list[list[FloatArray]], int]:
    keep = [*by, *columns]
    frame = pl.concat(list(map_batches(lambda batch: batch.select(keep))), how="vertical_relaxed")
    if frame.height == 0:
        raise _no_data(function)
    frame = frame.with_columns((_key_expr(by) if by else pl.lit("")).alias(GROUP_KEY))
    if by:
        groups = _sorted_groups(
            frame.group_by(GROUP_KEY, maintain_order=True).agg(pl.col(b).first() for b in by), by
        ).select(*by, GROUP_KEY)
        keys = [str(k) for k in groups[GROUP_KEY]]
    else:
        groups, keys = pl.DataFrame(), [""]
    edges: list[list[FloatArray]] = []
    for i, name in enumerate(columns):
        per = []
        nb = options["n_bins"][i]
        for key in keys:
            part = frame.filter(pl.col(GROUP_KEY) == key) if by else frame
            values = part.select(_value(pl.col(name)).drop_nulls())[name].to_numpy()
            values = np.ascontiguousarray(values, dtype=np.float64)
            if values.size and np.isinf(values).any():
                raise _infinite(name, function)
            low = float(values.min()) if values.size else np.nan
            high = float(values.max()) if values.size else np.nan
            per.append(
                _edges(
                    "kmeans",
                    values.size,
                    low,
                    high,
                    nb,
                    _label(name, key, by),
                    lambda v=values, nb=nb: _binning.kmeans_edges(v, nb, function),
                )
            )
        edges.append(per)
    return groups, edges, frame.height
