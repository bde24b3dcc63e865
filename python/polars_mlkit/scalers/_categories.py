"""Categories: what the encoders learn and the code tables they apply.

- :func:`category_counts` counts every column's values in one pass over the
  batches (a DataFrame is one batch; a LazyFrame is read in batches, so the
  memory is one batch plus the distinct values), and :func:`merge_counts`
  adds two such counts exactly (``partial_fit``, Ray blocks).
- :class:`FittedColumn` holds one column's categories, sorted as
  scikit-learn sorts them, with their training counts; a missing value
  (null, or NaN in a float column) is its own category, last.
- :func:`infrequent` finds the infrequent categories (``min_frequency``,
  ``max_categories``) as scikit-learn's ``_identify_infrequent`` does;
  :func:`one_hot_table` and :func:`ordinal_table` turn a fitted column and
  the options into the code table the extension's lookup applies
  (``kernels/categories.rs``), with the output names of scikit-learn's
  ``get_feature_names_out``.

Everything here returns values; nothing writes an encoder's state.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from polars_mlkit._batches import MapBatches
from polars_mlkit._encode import (
    MISSING_IS_UNKNOWN,
    NULL_CODE,
    UNKNOWN_IS_ERROR,
    CodeTable,
    category_dtype,
)
from polars_mlkit._plugin import call_plugin

#: The name scikit-learn gives the group of infrequent categories.
INFREQUENT = "infrequent_sklearn"

#: Kinds of columns, by how their values compare.
KINDS = ("text", "integer", "float", "boolean")


def kind_of(dtype: pl.DataType) -> str | None:
    """How a column's values compare: ``"text"``, ``"integer"``, ``"float"``,
    ``"boolean"``, or ``None`` for a dtype the encoders do not take."""
    if dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "text"
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_float():
        return "float"
    if dtype.is_integer():
        return "integer"
    return None


def encoded_kinds(
    schema: pl.Schema,
    options: dict[str, Any],
    function: str,
    skip: Sequence[str] = (),
) -> dict[str, str]:
    """The columns an encoder takes (``options["columns"]``, or every column
    but ``skip``) and their kinds, with a clear error for a missing column, a
    skipped one named (a target or fold column), a dtype no encoder takes, or
    ``categories`` of another length."""
    wanted = options["columns"]
    names = [n for n in schema.names() if n not in skip] if wanted is None else wanted
    kinds = {}
    for name in names:
        if name not in schema:
            msg = f"{function}: column {name!r} is not in the frame"
            raise pl.exceptions.ColumnNotFoundError(msg)
        if name in skip:
            msg = f"{function}: column {name!r} is the target or the fold column"
            raise ValueError(msg)
        kind = kind_of(schema[name])
        if kind is None:
            msg = (
                f"{function}: column {name!r} has dtype {schema[name]}; expected String, "
                "Categorical, Enum, integer, Boolean or float (choose columns with columns=)"
            )
            raise TypeError(msg)
        kinds[name] = kind
    given = options["categories"]
    if given != "auto" and len(given) != len(kinds):
        msg = (
            f"{function}: categories has {len(given)} lists but {len(kinds)} columns are "
            "encoded (shape mismatch: one list per column)"
        )
        raise ValueError(msg)
    return kinds


def value_expr(name: str, kind: str) -> pl.Expr:
    """A column's values as they are counted: one dtype per kind; in float
    columns NaN becomes null (both are the missing category) and -0.0 is 0.0
    (``numpy.unique`` has them as one)."""
    col = pl.col(name)
    if kind == "float":
        return (col.cast(pl.Float64) + 0.0).fill_nan(None)
    return col.cast(category_dtype(kind))


# --------------------------------------------------------------------------- #
# counting
# --------------------------------------------------------------------------- #
def _count_frame(batch: pl.DataFrame, kinds: dict[str, str]) -> pl.DataFrame:
    """One batch's counts: one row, the batch's rows in ``__rows`` and per
    column a list of ``{value, count}``."""
    exprs = [
        _counts_expr(name, kind, batch.schema[name]).implode().alias(name)
        for name, kind in kinds.items()
    ]
    return batch.select(pl.len().cast(pl.UInt64).alias("__rows"), *exprs)


def _counts_expr(name: str, kind: str, dtype: pl.DataType) -> pl.Expr:
    """A column's ``{value, count}`` rows (null: the missing values). A
    String column is counted by the extension, which reads each row's
    16-byte Arrow view instead of hashing its string; a Categorical or Enum
    column by ``value_counts`` of its own (by id; the distinct values become
    strings afterwards, in :func:`category_counts`); other kinds by
    ``value_counts`` of their values."""
    if dtype == pl.String:
        values = pl.col(name).alias("value")
        return call_plugin(
            "category_counts", [values], {}, is_elementwise=False, changes_length=True
        )
    if kind == "text":
        return pl.col(name).alias("value").value_counts(name="count")
    return value_expr(name, kind).alias("value").value_counts(name="count")


def merge_counts(
    a: dict[str, pl.DataFrame] | None, b: dict[str, pl.DataFrame]
) -> dict[str, pl.DataFrame]:
    """Two counts (per column a frame of ``value``, ``count``) as one: the
    counts of equal values added (exact; nulls are one value)."""
    if a is None:
        return b
    out = {}
    for name, counts in b.items():
        both = pl.concat([a[name], counts], how="vertical_relaxed")
        out[name] = both.group_by("value").agg(pl.col("count").sum())
    return out


def category_counts(
    map_batches: MapBatches, kinds: dict[str, str]
) -> tuple[dict[str, pl.DataFrame], int]:
    """Every column's value counts over all batches, in one pass: per column
    a frame of ``value`` (null: missing) and ``count`` (UInt64), and the rows."""
    total: dict[str, pl.DataFrame] | None = None
    rows = 0
    for found in map_batches(lambda batch: _count_frame(batch, kinds)):
        for i in range(found.height):
            rows += int(found["__rows"][i])
            part = {
                name: found.slice(i, 1)
                .select(pl.col(name).explode())
                .unnest(name)
                .drop_nulls("count")
                .select(
                    pl.col("value").cast(category_dtype(kinds[name])),
                    pl.col("count").cast(pl.UInt64),
                )
                for name in kinds
            }
            total = merge_counts(total, part)
    if total is None:
        total = {
            name: pl.DataFrame(schema={"value": category_dtype(kind), "count": pl.UInt64})
            for name, kind in kinds.items()
        }
    return total, rows


# --------------------------------------------------------------------------- #
# a fitted column
# --------------------------------------------------------------------------- #
@dataclass
class FittedColumn:
    """One encoded column: its categories (sorted as scikit-learn sorts
    them, no missing value among them) and their training counts; whether a
    missing value is a category (then last) and how often it was seen."""

    name: str
    dtype: str  # str() of the Polars dtype at fit time
    kind: str  # see KINDS
    values: list[Any]
    counts: list[int]
    missing: bool
    missing_count: int

    @property
    def n_categories(self) -> int:
        return len(self.values) + int(self.missing)

    def all_counts(self) -> list[int]:
        """Counts of every category, missing last."""
        return self.counts + ([self.missing_count] if self.missing else [])

    def label(self, value: Any) -> str:
        """A category as scikit-learn's feature names render it."""
        if value is None:
            return "nan" if self.kind == "float" else "None"
        if self.kind == "float" and self.dtype == "Float32":
            return str(np.float32(value))
        return str(value)

    def labels(self) -> list[str]:
        """Every category rendered, missing last."""
        return [self.label(v) for v in self.values] + ([self.label(None)] if self.missing else [])

    def categories_array(self) -> np.ndarray[Any, Any]:
        """``categories_[i]`` as scikit-learn has it: object for text,
        float64 for floats (missing as NaN), int64 or bool otherwise."""
        if self.kind == "text":
            return np.array([*self.values, *([None] if self.missing else [])], dtype=object)
        if self.kind == "float":
            return np.array([*self.values, *([np.nan] if self.missing else [])], dtype=np.float64)
        dtype: Any = bool if self.kind == "boolean" else np.int64
        if self.missing:
            return np.array([*self.values, None], dtype=object)
        return np.array(self.values, dtype=dtype)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _sorted_values(counts: pl.DataFrame) -> tuple[list[Any], list[int], int]:
    """Values sorted (as ``numpy.unique`` sorts them), their counts, and the
    missing count."""
    present = counts.filter(pl.col("value").is_not_null()).sort("value")
    missing = counts.filter(pl.col("value").is_null())["count"].sum()
    return present["value"].to_list(), [int(c) for c in present["count"]], int(missing or 0)


def fitted_column(
    name: str,
    dtype: pl.DataType,
    kind: str,
    counts: pl.DataFrame,
    given: list[Any] | None,
    handle_unknown: str,
    function: str,
) -> FittedColumn:
    """A column's categories from its counts: every value seen (``given is
    None``, categories ``"auto"``), or the ``given`` list, checked as
    scikit-learn checks it."""
    values, seen, missing_count = _sorted_values(counts)
    if given is None:
        return FittedColumn(name, str(dtype), kind, values, seen, missing_count > 0, missing_count)
    cats = _checked_given(name, kind, given, function)
    has_missing = bool(cats) and _is_missing(cats[-1])
    plain = cats[:-1] if has_missing else cats
    by_value = dict(zip(values, seen, strict=True))
    if handle_unknown == "error":
        unknown = [v for v in values if v not in set(plain)]
        if missing_count and not has_missing:
            unknown.append(None)
        if unknown:
            msg = (
                f"{function}: found unknown categories {unknown[:10]} in column {name!r} "
                "during fit (they are not in its categories; handle_unknown='error')"
            )
            raise ValueError(msg)
    return FittedColumn(
        name,
        str(dtype),
        kind,
        plain,
        [by_value.get(v, 0) for v in plain],
        has_missing,
        missing_count if has_missing else 0,
    )


def _checked_given(name: str, kind: str, given: list[Any], function: str) -> list[Any]:
    """A user's category list for one column, as scikit-learn checks it."""
    cats = [None if _is_missing(v) else v for v in given]
    if not cats:
        msg = f"{function}: the categories of column {name!r} are empty"
        raise ValueError(msg)
    for v in cats[:-1]:
        if v is None:
            msg = (
                f"{function}: a missing value (None/NaN) must be the last of the categories "
                f"of column {name!r}"
            )
            raise ValueError(msg)
    plain = [v for v in cats if v is not None]
    wanted = {
        "text": (str,),
        "integer": (numbers.Integral,),
        "float": (numbers.Real,),
        "boolean": (bool, np.bool_),
    }[kind]
    for v in plain:
        bad_bool = kind == "integer" and isinstance(v, (bool, np.bool_))
        if not isinstance(v, wanted) or bad_bool:
            msg = (
                f"{function}: the categories of column {name!r} must be {kind} values like "
                f"the column, got {v!r}"
            )
            raise TypeError(msg)
    converted: list[Any] = [
        float(v) if kind == "float" else int(v) if kind == "integer" else v for v in plain
    ]
    if kind == "boolean":
        converted = [bool(v) for v in plain]
    if len(set(converted)) != len(converted):
        msg = f"{function}: the categories of column {name!r} contain duplicate elements"
        raise ValueError(msg)
    if kind != "text" and converted != sorted(converted):
        msg = (
            f"{function}: the categories of column {name!r} are not sorted; unsorted "
            "categories are not supported for numerical categories"
        )
        raise ValueError(msg)
    return converted + ([None] if len(plain) < len(cats) else [])


def merge_columns(a: FittedColumn, b: FittedColumn, given: bool, function: str) -> FittedColumn:
    """Two fits of one column as one (``partial_fit``): counts added;
    categories united and re-sorted (``given``: the user's, in their order)."""
    if a.kind != b.kind:
        msg = f"{function}: column {a.name!r} was fitted on {a.dtype} and now has {b.dtype}"
        raise TypeError(msg)
    counts = dict(zip(a.values, a.counts, strict=True))
    for v, c in zip(b.values, b.counts, strict=True):
        counts[v] = counts.get(v, 0) + c
    values = list(a.values) if given else sorted(counts)
    return FittedColumn(
        a.name,
        a.dtype,
        a.kind,
        values,
        [counts[v] for v in values],
        a.missing or b.missing,
        a.missing_count + b.missing_count,
    )


@dataclass
class EncoderGroups:
    """What a fit with ``by`` learned per group (``_encoder_groups``): the
    groups (one row each: the by columns, typed, and their rendered key,
    ``GROUP_KEY``; sorted by the by columns, nulls last), their rows, and
    per group each encoded column as a fit on the group's rows alone has it."""

    by: list[str]
    by_dtypes: list[str]
    frame: pl.DataFrame
    rows: list[int]
    columns: list[list[FittedColumn]]  # [group][encoded column]


@dataclass
class EncoderState:
    """What an encoder's fit learned (this is what the JSON text holds).
    With ``by``, ``columns`` are fitted on every row (the union of the
    groups' categories) and ``groups`` holds each group's own fit."""

    options: dict[str, Any]
    columns: list[FittedColumn]
    feature_names_in: list[str] | None
    n_features_in: int
    n_samples_seen: int
    groups: EncoderGroups | None = None


# --------------------------------------------------------------------------- #
# infrequent categories
# --------------------------------------------------------------------------- #
def infrequent(
    counts: list[int], n_samples: int, min_frequency: Any, max_categories: int | None
) -> list[int] | None:
    """The positions of the infrequent categories (scikit-learn's
    ``_identify_infrequent``), or ``None``."""
    count = np.asarray(counts, dtype=np.int64)
    if isinstance(min_frequency, numbers.Integral) and not isinstance(min_frequency, bool):
        mask = count < int(min_frequency)
    elif isinstance(min_frequency, numbers.Real) and not isinstance(min_frequency, bool):
        mask = count < n_samples * float(min_frequency)
    else:
        mask = np.zeros(count.shape[0], dtype=bool)
    n_current = count.size - int(mask.sum()) + 1
    if max_categories is not None and max_categories < n_current:
        frequent = max_categories - 1
        if frequent == 0:
            mask[:] = True
        else:
            smallest = np.argsort(count, kind="mergesort")[:-frequent]
            mask[smallest] = True
    found = np.flatnonzero(mask)
    return [int(i) for i in found] if found.size else None


def grouping(n: int, infrequent_at: list[int] | None) -> list[int]:
    """Each category's code after the infrequent ones are grouped: frequent
    categories keep their order, the infrequent share the last code."""
    if infrequent_at is None:
        return list(range(n))
    rare = set(infrequent_at)
    out, next_code = [0] * n, 0
    for i in range(n):
        if i not in rare:
            out[i] = next_code
            next_code += 1
    for i in rare:
        out[i] = next_code
    return out


# --------------------------------------------------------------------------- #
# code tables
# --------------------------------------------------------------------------- #
def one_hot_table(
    column: FittedColumn,
    n_samples: int,
    options: dict[str, Any],
    drop: Any,
    function: str,
) -> tuple[CodeTable, list[int] | None, int | None]:
    """The one-hot code table of a column, with the positions of its
    infrequent categories and the category index ``drop_idx_`` drops.

    ``drop`` is ``None``, ``"first"``, ``"if_binary"`` or ``("value", v)``,
    the category ``v`` of a ``drop`` list (``None``/NaN: the missing one)."""
    n = column.n_categories
    enabled = options["min_frequency"] is not None or options["max_categories"] is not None
    rare = (
        infrequent(
            column.all_counts(), n_samples, options["min_frequency"], options["max_categories"]
        )
        if enabled
        else None
    )
    grouped = grouping(n, rare)
    n_out = n - (len(rare) - 1 if rare else 0)
    drop_after: int | None = None
    drop_idx: int | None = None
    if drop == "first":
        drop_after = 0
    elif drop == "if_binary":
        drop_after = 0 if n_out == 2 else None
    elif drop is not None:
        value = drop[1]
        position = _position(column, value)
        if position is None:
            msg = (
                f"{function}: the category {value!r} of column {column.name!r} was supposed to "
                "be dropped, but was not found in the training data"
            )
            raise ValueError(msg)
        if rare is not None and position in rare:
            msg = (
                f"{function}: unable to drop category {value!r} from column {column.name!r} "
                "because it is infrequent"
            )
            raise ValueError(msg)
        drop_after = grouped[position]
    if drop_after is not None:
        drop_idx = grouped.index(drop_after)

    def final(code: int) -> int:
        if drop_after is None or code < drop_after:
            return code
        return NULL_CODE if code == drop_after else code - 1

    codes = [final(c) for c in grouped]
    labels_all = column.labels()
    out_labels = [labels_all[i] for i in range(n) if rare is None or i not in rare]
    if rare is not None:
        out_labels.append(INFREQUENT)
    if drop_after is not None:
        del out_labels[drop_after]
    handle = options["handle_unknown"]
    if handle == "error":
        unknown = UNKNOWN_IS_ERROR
    elif handle == "infrequent_if_exist" and rare is not None:
        unknown = final(n_out - 1)
    else:
        unknown = NULL_CODE
    missing = codes[-1] if column.missing else MISSING_IS_UNKNOWN
    table = CodeTable(column.values, codes[: len(column.values)], missing, unknown, out_labels)
    return table, rare, drop_idx


def _position(column: FittedColumn, value: Any) -> int | None:
    if _is_missing(value):
        return len(column.values) if column.missing else None
    for i, v in enumerate(column.values):
        if v == value and isinstance(v, bool) == isinstance(value, (bool, np.bool_)):
            return i
    return None


#: Codes of the ordinal lookup that stand for "missing" and "unknown"
#: (replaced by ``encoded_missing_value`` and ``unknown_value``).
ORDINAL_MISSING = 1 << 31
ORDINAL_UNKNOWN = (1 << 31) + 1


def ordinal_table(
    column: FittedColumn, n_samples: int, options: dict[str, Any]
) -> tuple[CodeTable, list[int] | None, int]:
    """The ordinal code table of a column, the positions of its infrequent
    categories (among the non-missing ones, as scikit-learn), and its
    cardinality (codes in use)."""
    enabled = options["min_frequency"] is not None or options["max_categories"] is not None
    rare = (
        infrequent(column.counts, n_samples, options["min_frequency"], options["max_categories"])
        if enabled
        else None
    )
    grouped = grouping(len(column.values), rare)
    cardinality = len(column.values) - (len(rare) - 1 if rare else 0)
    unknown = UNKNOWN_IS_ERROR if options["handle_unknown"] == "error" else ORDINAL_UNKNOWN
    missing = ORDINAL_MISSING if column.missing else MISSING_IS_UNKNOWN
    return CodeTable(column.values, grouped, missing, unknown, []), rare, cardinality
