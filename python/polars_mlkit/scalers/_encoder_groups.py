"""``OneHotEncoder(by=...)``: one encoder per group, one set of output columns.

Fit: :func:`grouped_counts` counts every encoded column's values per group
in one pass over the batches (memory: one batch plus the distinct
(group, value) pairs); :func:`grouped_state` makes each group's
:class:`~polars_mlkit.scalers._categories.FittedColumn` from its own counts
and rows (what an encoder fitted on that group's rows alone learns), and
the union over the groups from the summed counts (what an un-grouped fit on
all the rows learns). :func:`merge_groups` adds two such fits exactly
(``partial_fit``, Ray blocks).

Transform: :func:`grouped_one_hot_table` builds each group's one-hot table
with the un-grouped rules (``one_hot_table``: infrequent grouping, ``drop``,
``handle_unknown``) and maps each group's output columns into one list: the
union of the groups' ``get_feature_names_out`` names, ordered as the
categories of the union (sorted, or the given ``categories``' order), the
missing category after them, the infrequent column last. The extension's
one-hot lookup then applies each row's group's codes (``group_codes`` in
``kernels/categories.rs``); a column the row's group does not have is 0.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from polars_mlkit._batches import MapBatches
from polars_mlkit._encode import (
    NOT_A_CATEGORY,
    NULL_CODE,
    CodeTable,
    GroupCodes,
    category_dtype,
)
from polars_mlkit._reserved import GROUP_KEY, ROWS, internal
from polars_mlkit.scalers._categories import (
    INFREQUENT,
    EncoderGroups,
    FittedColumn,
    fitted_column,
    merge_columns,
    one_hot_table,
    value_expr,
)
from polars_mlkit.scalers._state import _KEY_SEPARATOR, _NULL_PART, _key_expr, _rebuild_groups


def group_function(function: str, by: list[str], key: str) -> str:
    """``function`` with the group named, for errors about one group's fit."""
    parts = key.split(_KEY_SEPARATOR) if len(by) > 1 else [key]
    shown = ", ".join(
        f"{b}={None if p == _NULL_PART else p!r}" for b, p in zip(by, parts, strict=False)
    )
    return f"{function} (group {shown})"


# --------------------------------------------------------------------------- #
# counting per group
# --------------------------------------------------------------------------- #
def _counted(i: int) -> str:
    return internal("counts", i)


def grouped_counts(
    map_batches: MapBatches, kinds: dict[str, str], by: list[str]
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Every column's value counts per group over all batches, in one pass:
    per column a frame of ``GROUP_KEY``, ``value`` (null: missing) and
    ``count`` (UInt64); and the groups (the by columns, ``GROUP_KEY``,
    ``ROWS``), sorted by the by columns, nulls last."""

    def count(batch: pl.DataFrame) -> pl.DataFrame:
        exprs = [
            value_expr(name, kind).alias("value").value_counts(name="count").alias(_counted(i))
            for i, (name, kind) in enumerate(kinds.items())
        ]
        rows = pl.len().cast(pl.UInt64).alias(ROWS)
        return batch.group_by(by).agg(rows, *exprs).with_columns(_key_expr(by).alias(GROUP_KEY))

    groups: pl.DataFrame | None = None
    counts: dict[str, pl.DataFrame] = {
        name: pl.DataFrame(
            schema={GROUP_KEY: pl.String, "value": category_dtype(kind), "count": pl.UInt64}
        )
        for name, kind in kinds.items()
    }
    for found in map_batches(count):
        found_groups = found.select(*by, GROUP_KEY, ROWS)
        if groups is None:
            groups = found_groups
        else:
            groups = (
                pl.concat([groups, found_groups], how="vertical_relaxed")
                .group_by(GROUP_KEY, maintain_order=True)
                .agg(*(pl.col(b).first() for b in by), pl.col(ROWS).sum())
                .select(*by, GROUP_KEY, ROWS)
            )
        for i, (name, kind) in enumerate(kinds.items()):
            part = (
                found.select(GROUP_KEY, pl.col(_counted(i)))
                .explode(_counted(i))
                .unnest(_counted(i))
                .drop_nulls("count")
                .select(
                    GROUP_KEY,
                    pl.col("value").cast(category_dtype(kind)),
                    pl.col("count").cast(pl.UInt64),
                )
            )
            counts[name] = (
                pl.concat([counts[name], part], how="vertical_relaxed")
                .group_by(GROUP_KEY, "value")
                .agg(pl.col("count").sum())
            )
    if groups is None:
        groups = pl.DataFrame(schema={GROUP_KEY: pl.String, ROWS: pl.UInt64})
    return counts, groups.sort(by, nulls_last=True) if groups.height else groups


def grouped_state(
    schema: pl.Schema,
    kinds: dict[str, str],
    counts: dict[str, pl.DataFrame],
    groups: pl.DataFrame,
    options: dict[str, Any],
    function: str,
) -> tuple[list[FittedColumn], EncoderGroups]:
    """The union columns (every row) and each group's own fitted columns,
    from :func:`grouped_counts`. Given ``categories`` apply to every group
    (an unknown one in a group's rows under ``handle_unknown="error"`` is an
    error naming the group)."""
    by: list[str] = options["by"]
    if groups.height == 0:
        msg = f"{function}: no data to fit (the frame has no rows)"
        raise ValueError(msg)
    keys = [str(k) for k in groups[GROUP_KEY]]
    given = options["categories"]
    handle = options["handle_unknown"]
    per_group: list[list[FittedColumn]] = [[] for _ in keys]
    union = []
    for i, (name, kind) in enumerate(kinds.items()):
        cats = None if given == "auto" else given[i]
        found = counts[name]
        parts = found.partition_by(GROUP_KEY, as_dict=True, include_key=False)
        empty = found.clear().drop(GROUP_KEY)
        for g, key in enumerate(keys):
            part = parts.get((key,), empty)
            where = group_function(function, by, key)
            per_group[g].append(fitted_column(name, schema[name], kind, part, cats, handle, where))
        total = found.group_by("value").agg(pl.col("count").sum())
        union.append(fitted_column(name, schema[name], kind, total, cats, handle, function))
    fitted = EncoderGroups(
        by=list(by),
        by_dtypes=[str(schema[b]) for b in by],
        frame=groups.select(*by, GROUP_KEY),
        rows=[int(r) for r in groups[ROWS]],
        columns=per_group,
    )
    return union, fitted


def merge_groups(a: EncoderGroups, b: EncoderGroups, given: bool, function: str) -> EncoderGroups:
    """Two grouped fits as one (``partial_fit``): per group the counts
    added (``merge_columns``), rows added; groups sorted as a fit sorts them."""
    if a.by != b.by:
        msg = f"{function}: the batch is grouped by {b.by}, the encoder by {a.by}"
        raise ValueError(msg)
    frame = (
        pl.concat([a.frame, b.frame], how="vertical_relaxed")
        .unique(GROUP_KEY, keep="first", maintain_order=True)
        .sort(a.by, nulls_last=True, maintain_order=True)
    )
    old = {str(k): g for g, k in enumerate(a.frame[GROUP_KEY])}
    new = {str(k): g for g, k in enumerate(b.frame[GROUP_KEY])}
    rows, columns = [], []
    for key in (str(k) for k in frame[GROUP_KEY]):
        if key in old and key in new:
            i, j = old[key], new[key]
            rows.append(a.rows[i] + b.rows[j])
            columns.append(
                [
                    merge_columns(x, y, given, function)
                    for x, y in zip(a.columns[i], b.columns[j], strict=True)
                ]
            )
        elif key in old:
            rows.append(a.rows[old[key]])
            columns.append(a.columns[old[key]])
        else:
            rows.append(b.rows[new[key]])
            columns.append(b.columns[new[key]])
    return EncoderGroups(a.by, a.by_dtypes, frame, rows, columns)


def rebuild_groups(
    by: list[str],
    by_dtypes: list[str],
    parts: list[list[str | None]],
    keys: list[str],
    rows: list[int],
    columns: list[list[FittedColumn]],
) -> EncoderGroups:
    """The groups of a JSON document, checked: the keys must render from
    the values."""
    frame = _rebuild_groups(by, by_dtypes, parts)
    if [str(k) for k in frame[GROUP_KEY]] != keys:
        msg = "the group keys do not match their values"
        raise ValueError(msg)
    return EncoderGroups(by, by_dtypes, frame, rows, columns)


# --------------------------------------------------------------------------- #
# the one-hot table of a column across groups
# --------------------------------------------------------------------------- #
#: Where an output column of a group stands among the union's: (0, rank of
#: its category), (1, 0) for the missing category, (2, 0) for the
#: infrequent column.
_MISSING, _INFREQUENT = (1, 0), (2, 0)


def grouped_one_hot_table(
    union: FittedColumn,
    groups: EncoderGroups,
    i: int,
    options: dict[str, Any],
    drop: Any,
    function: str,
) -> CodeTable:
    """Column ``i``'s one-hot table across the groups: the union's
    categories, the union of the groups' output labels, and each group's
    codes into them (:class:`GroupCodes`)."""
    rank = {v: r for r, v in enumerate(union.values)}
    keys = [str(k) for k in groups.frame[GROUP_KEY]]
    fitted: list[tuple[FittedColumn, CodeTable, dict[int, tuple[int, int]]]] = []
    for key, rows, columns in zip(keys, groups.rows, groups.columns, strict=True):
        column = columns[i]
        where = group_function(function, groups.by, key)
        table, rare, _ = one_hot_table(column, rows, options, drop, where)
        rare_set = set(rare or ())
        codes = [*table.codes, *([table.missing] if column.missing else [])]
        places: dict[int, tuple[int, int]] = {}
        for position, code in enumerate(codes):
            if code < 0:
                continue
            if position in rare_set:
                places[code] = _INFREQUENT
            elif position < len(column.values):
                places[code] = (0, rank[column.values[position]])
            else:
                places[code] = _MISSING
        fitted.append((column, table, places))
    order = sorted({place for _, _, places in fitted for place in places.values()})
    index = {place: k for k, place in enumerate(order)}

    def label(place: tuple[int, int]) -> str:
        if place == _INFREQUENT:
            return INFREQUENT
        return union.label(None if place == _MISSING else union.values[place[1]])

    def mapped(code: int, places: dict[int, tuple[int, int]]) -> int:
        return index[places[code]] if code >= 0 else code

    group_codes, missing, unknown = [], [], []
    for column, table, places in fitted:
        own = dict(zip(column.values, table.codes, strict=True))
        group_codes.append(
            [mapped(own[v], places) if v in own else NOT_A_CATEGORY for v in union.values]
        )
        missing.append(mapped(table.missing, places))
        unknown.append(mapped(table.unknown, places))
    return CodeTable(
        values=union.values,
        codes=[],
        missing=NULL_CODE,
        unknown=NULL_CODE,
        labels=[label(place) for place in order],
        groups=GroupCodes(keys, group_codes, missing, unknown),
    )
