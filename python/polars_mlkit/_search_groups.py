"""Which corpus rows each query may match: ``filter=`` and ``by=`` of
:func:`~polars_mlkit.nearest` and :func:`~polars_mlkit.knn_join`.

Both become one thing for the search engine: a group per corpus row
(null: never matched) and a group per query; ``by=`` numbers the left
frame's distinct keys and gives each corpus row the number of its key. A
filter alone is the special case of one group, passed as the predicate's
Boolean mask. The groups
of a batch are computed from the batch alone (the predicate evaluated by
Polars, the keys matched by a join), so in-memory frames, LazyFrame batches
and Ray blocks share this code, and the engine searches each group's rows
alone: the result of searching the filtered or grouped frame, bit for bit,
with positions in the whole corpus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

#: The column of a batch holding each row's group.
GROUP = "__pmk_group"
#: A query in this group matches nothing (a null key, or a key no corpus row has).
NO_GROUP = 2**32 - 1


@dataclass(frozen=True)
class SearchGroups:
    """The groups of one search: how to compute a batch's row groups, and the queries' groups."""

    #: Each query's group (``NO_GROUP``: none), as ``uint32``.
    query_groups: npt.NDArray[np.uint32]
    #: The corpus predicate, or ``None``.
    predicate: pl.Expr | None
    #: The key columns of the corpus (``by=``), and the left frame's distinct
    #: keys with their group number in :data:`GROUP`.
    keys: list[str]
    key_table: pl.DataFrame | None

    def with_row_groups(self, batch: pl.DataFrame) -> pl.DataFrame:
        """``batch`` with :data:`GROUP`: each row's group, null where the row
        fails the predicate or its key is not a query's key; for a filter
        alone, the predicate's mask (a null predicate fails, as in
        ``DataFrame.filter``)."""
        if self.key_table is None:
            mask = pl.lit(True) if self.predicate is None else self.predicate.fill_null(False)
            return batch.with_columns(mask.alias(GROUP))
        group = batch.select(self.keys).join(
            self.key_table, on=self.keys, how="left", maintain_order="left"
        )[GROUP]
        frame = batch.with_columns(group.alias(GROUP))
        if self.predicate is not None:
            frame = frame.with_columns(
                pl.when(self.predicate.fill_null(False)).then(pl.col(GROUP)).alias(GROUP)
            )
        return frame

    def inputs(self) -> list[pl.Expr]:
        """The plugin's extra inputs: the rows' groups (or the filter's mask)
        and, for groups, the queries' groups as a Binary constant."""
        if self.key_table is None:
            return [pl.col(GROUP)]
        raw = self.query_groups.astype("<u4").tobytes()
        return [pl.col(GROUP), pl.lit(pl.Series("", [raw], dtype=pl.Binary))]


def check_filter(schema: pl.Schema, predicate: object, function: str) -> pl.Expr:
    """``predicate`` as a Boolean expression on a frame of ``schema``, or a
    clear error (a missing column, a result that is not Boolean)."""
    if not isinstance(predicate, pl.Expr):
        msg = f"{function}: filter must be a polars expression, got {type(predicate).__name__}"
        raise TypeError(msg)
    try:
        dtype = pl.LazyFrame(schema=schema).select(predicate.alias("_f")).collect_schema()["_f"]
    except pl.exceptions.ColumnNotFoundError as error:
        msg = f"{function}: filter names a column the corpus does not have: {error}"
        raise pl.exceptions.ColumnNotFoundError(msg) from None
    if dtype != pl.Boolean:
        msg = f"{function}: filter must be a Boolean predicate, got {dtype}"
        raise TypeError(msg)
    return predicate


def key_names(by: str | Sequence[str], function: str) -> list[str]:
    names = [by] if isinstance(by, str) else list(by)
    if not names or not all(isinstance(name, str) for name in names):
        msg = f"{function}: by must name one or more key columns, got {by!r}"
        raise TypeError(msg)
    return names


def filtered(count: int, predicate: pl.Expr) -> SearchGroups:
    """Every query searched among the corpus rows that pass ``predicate``."""
    return SearchGroups(np.zeros(count, dtype=np.uint32), predicate, [], None)


def grouped(
    left_keys: pl.DataFrame,
    right_schema: pl.Schema,
    predicate: pl.Expr | None,
    function: str,
    sides: tuple[str, str] = ("the left frame", "the right frame"),
) -> SearchGroups:
    """Each query (one row of ``left_keys``) searched among the corpus rows
    with equal keys (and passing ``predicate``); null keys match nothing.
    ``sides`` names the queries' keys and the corpus in error messages."""
    names = left_keys.columns
    for name in names:
        if name not in right_schema:
            msg = f"{function}: key column {name!r} is not in {sides[1]}"
            raise pl.exceptions.ColumnNotFoundError(msg)
        left_dtype, right_dtype = left_keys.schema[name], right_schema[name]
        if left_dtype != right_dtype:
            msg = (
                f"{function}: key column {name!r} is {left_dtype} in {sides[0]} and "
                f"{right_dtype} in {sides[1]}; cast one side so both have one dtype"
            )
            raise TypeError(msg)
    table = (
        left_keys.drop_nulls()
        .unique(maintain_order=True)
        .with_row_index(GROUP)
        .with_columns(pl.col(GROUP).cast(pl.UInt32))
    )
    ids = left_keys.join(table, on=names, how="left", maintain_order="left")[GROUP]
    query_groups = ids.fill_null(NO_GROUP).cast(pl.UInt32).to_numpy().astype(np.uint32)
    return SearchGroups(query_groups, predicate, names, table)


#: What ``by=`` of :func:`~polars_mlkit.nearest` accepts.
QueryKeys = pl.DataFrame | pl.Series | Mapping[str, Any]


def query_keys(by: object, schema: pl.Schema, count: int, function: str) -> pl.DataFrame:
    """The keys of ``nearest``'s ``count`` queries, one row per query: ``by``
    as a DataFrame or Series (its dtypes are kept, and must be the corpus
    key columns' dtypes) or as a dict of column name to per-query values
    (plain values are read as the corpus column's dtype). A clear error
    names a key column the corpus does not have, values that do not fit
    its dtype, or a number of rows that is not the number of queries."""
    if isinstance(by, pl.Series):
        by = by.to_frame()
    if isinstance(by, pl.DataFrame):
        # A column of nulls only (e.g. built from [None, None]) has no dtype
        # of its own: it takes the corpus column's (and matches nothing).
        by = by.with_columns(
            by[name].cast(schema[name])
            for name in by.columns
            if by.schema[name] == pl.Null and name in schema
        )
    if isinstance(by, Mapping):
        columns = []
        for name, values in by.items():
            if not isinstance(name, str):
                msg = f"{function}: by's keys must be column names, got {name!r}"
                raise TypeError(msg)
            if name not in schema:
                msg = f"{function}: key column {name!r} is not in the corpus"
                raise pl.exceptions.ColumnNotFoundError(msg)
            if isinstance(values, pl.Series):
                columns.append(values.alias(name))
                continue
            if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
                msg = (
                    f"{function}: by[{name!r}] must be a sequence of one key per query, "
                    f"got {type(values).__name__}"
                )
                raise TypeError(msg)
            try:
                columns.append(pl.Series(name, values, dtype=schema[name], strict=True))
            except (TypeError, ValueError, pl.exceptions.PolarsError) as error:
                msg = (
                    f"{function}: the keys in by[{name!r}] do not fit the corpus column's "
                    f"dtype {schema[name]}: {error}"
                )
                raise TypeError(msg) from None
        lengths = {column.name: column.len() for column in columns}
        wrong = [name for name, length in lengths.items() if length != count]
        if wrong:
            msg = (
                f"{function}: by[{wrong[0]!r}] has {lengths[wrong[0]]} keys for {count} "
                "queries; give one key per query"
            )
            raise ValueError(msg)
        by = pl.DataFrame(columns)
    if not isinstance(by, pl.DataFrame):
        msg = (
            f"{function}: by must be a DataFrame (or a Series, or a dict of column -> values) "
            f"with one row of keys per query, got {type(by).__name__}"
        )
        raise TypeError(msg)
    if by.width == 0:
        msg = f"{function}: by must name one or more key columns of the corpus"
        raise TypeError(msg)
    if by.height != count:
        msg = (
            f"{function}: by has {by.height} rows of keys for {count} queries; "
            "give one row per query"
        )
        raise ValueError(msg)
    return by
