"""The statistics query: every statistic of every lane of every column (per
group with ``by``) in one collect, then read back as (groups, lanes) arrays."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl

from polars_mlkit._reserved import ROWS, internal
from polars_mlkit.scalers._state import FloatArray, _Column


def _stat_name(i: int, j: int, stat: str) -> str:
    return internal(i, j, stat)


def _lane_expr(column: _Column, j: int) -> pl.Expr:
    """Lane ``j`` of a column, as Float64 (every statistic skips NaN)."""
    x = pl.col(column.name)
    if column.container == "scalar":
        return x.cast(pl.Float64)
    return x.cast(pl.Array(pl.Float64, column.width)).arr.get(j)


def _stats_query(
    lazy: pl.LazyFrame,
    columns: Sequence[_Column],
    by: list[str],
    stat_exprs: Callable[[pl.Expr, dict[str, Any]], dict[str, pl.Expr]],
    options: dict[str, Any],
    streaming: bool,
) -> pl.DataFrame:
    """One query (one collect, streaming engine) for every statistic of
    every lane of every column, per group with ``by`` (groups sorted)."""
    exprs: list[pl.Expr] = []
    for i, column in enumerate(columns):
        for j in range(column.lanes):
            for stat, expr in stat_exprs(_lane_expr(column, j), options).items():
                exprs.append(expr.alias(_stat_name(i, j, stat)))
    rows = pl.len().alias(ROWS)
    if by:
        query = lazy.group_by(by).agg(rows, *exprs).sort(by, nulls_last=True)
    else:
        query = lazy.select(rows, *exprs)
    # A LazyFrame is collected with the streaming engine (out of core); data
    # already in memory with the in-memory engine, whose grouped sums are
    # reproducible bit for bit (the streaming engine's may differ in the
    # last bits from run to run, as morsels arrive in any order).
    result = query.collect(engine="streaming" if streaming else "in-memory")
    # A statistic that is a struct (one kernel pass giving several numbers)
    # is spread into one column per field, named like the other statistics.
    structs = [name for name, dtype in result.schema.items() if isinstance(dtype, pl.Struct)]
    for name in structs:
        prefix = name.rsplit("_", 1)[0]
        fields = [field.name for field in result.schema[name].fields]  # type: ignore[attr-defined]
        result = result.with_columns(
            pl.col(name).struct.field(f).alias(f"{prefix}_{f}") for f in fields
        ).drop(name)
    return result


def _extract(
    result: pl.DataFrame, i: int, column: _Column, names: Sequence[str]
) -> dict[str, FloatArray]:
    """Column ``i``'s statistics from a query result, as (groups, lanes) arrays."""
    per: dict[str, FloatArray] = {}
    for stat in names:
        lanes = [
            result[_stat_name(i, j, stat)].cast(pl.Float64).fill_null(np.nan).to_numpy()
            for j in range(column.lanes)
        ]
        per[stat] = np.ascontiguousarray(
            np.stack(lanes, axis=1).reshape(result.height, column.lanes), dtype=np.float64
        )
    return per
