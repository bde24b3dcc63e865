"""The Python side of the extension's one category lookup
(``src/kernels/categories.rs``): the code table a column is encoded with and
the two expressions that apply it, ``category_codes`` (UInt32 or Float64
codes) and ``one_hot`` (a Struct). The ``ml`` expressions (``encoding``) and the fitted
encoders (``scalers``) both build their expressions here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from polars_mlkit._plugin import call_plugin

#: kwargs values of the extension's lookup that are not codes.
NULL_CODE = -1
MISSING_IS_UNKNOWN = -2
UNKNOWN_IS_ERROR = -3
#: A category of the union that a group does not have (per-group codes).
NOT_A_CATEGORY = -4


def category_dtype(kind: str) -> pl.DataType:
    """The dtype categories of a kind travel as (to JSON and to the extension)."""
    return {
        "text": pl.String(),
        "integer": pl.Int64(),
        "float": pl.Float64(),
        "boolean": pl.Boolean(),
    }[kind]


@dataclass
class GroupCodes:
    """Per-group code tables over one list of categories (the union of
    the groups'): each fitted group's rendered key, and per group the code
    of each category (``NOT_A_CATEGORY`` for one the group does not have),
    of a missing value and of an unknown value (as in :class:`CodeTable`)."""

    keys: list[str]
    codes: list[list[int]]
    missing: list[int]
    unknown: list[int]


@dataclass
class CodeTable:
    """What the extension's lookup applies to one column: the categories
    (missing excluded), each one's code, the missing value's and an unknown
    value's code (or the policies ``MISSING_IS_UNKNOWN``,
    ``UNKNOWN_IS_ERROR``), and the output labels (one-hot fields)."""

    values: list[Any]
    codes: list[int]
    missing: int
    unknown: int
    labels: list[str]
    #: Per group codes (``OneHotEncoder(by=...)``); then ``codes``,
    #: ``missing`` and ``unknown`` are unused.
    groups: GroupCodes | None = None


#: The dtypes a one-hot field may have.
ONE_HOT_DTYPES = (
    "Boolean",
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "Float32",
    "Float64",
)


def dtype_name(dtype: Any, function: str) -> str:
    """The name of a one-hot output dtype (a Polars dtype or its class)."""
    name = str(dtype() if isinstance(dtype, type) else dtype)
    if name not in ONE_HOT_DTYPES:
        msg = f"{function}: dtype must be a numeric or Boolean Polars dtype, got {dtype!r}"
        raise TypeError(msg)
    return name


def _literal(values: list[Any], kind: str) -> pl.Expr:
    """The categories as one constant (a List scalar, broadcast per row)."""
    dtype = category_dtype(kind)
    return pl.lit(pl.Series(values, dtype=dtype).to_list(), dtype=pl.List(dtype))


def enum_ids(dtype: pl.DataType | None) -> list[str] | None:
    """The categories of an Enum ``dtype`` (else ``None``): with them, the
    lookup takes the column as its ids (``to_physical``). Polars hands an
    Enum column to an extension by rebuilding it from its strings, which
    costs about as much as the lookup. The categories travel in the kwargs:
    an input of an Enum dtype (a literal, or ``first()`` of the column)
    would keep Polars from computing the lookup once for all the fields of
    ``struct.unnest()`` in the streaming engine, and ``pl.col(c).ml.one_hot()``
    (no dtype known) therefore takes the column as it is."""
    return list(dtype.categories) if isinstance(dtype, pl.Enum) else None


def lookup_args(
    expr: pl.Expr, categories: list[str] | None, rest: list[pl.Expr], kwargs: dict[str, Any]
) -> list[pl.Expr]:
    """The lookup's inputs: the column (its ids when its Enum
    ``categories`` are given, see :func:`enum_ids`) and ``rest``; sets
    ``kwargs["enum_categories"]``."""
    kwargs["enum_categories"] = categories
    if categories is None:
        return [expr, *rest]
    return [expr.to_physical(), *rest]


def codes_expr(
    expr: pl.Expr,
    table: CodeTable,
    kind: str,
    function: str,
    enum_categories: list[str] | None = None,
    dtype: str = "UInt32",
) -> pl.Expr:
    """The lookup's code of every row of ``expr`` (the column keeps its
    name), as ``dtype`` (``"UInt32"`` or ``"Float64"``).
    ``enum_categories``: see :func:`enum_ids`."""
    kwargs: dict[str, Any] = {
        "function": function,
        "codes": list(table.codes),
        "missing": table.missing,
        "unknown": table.unknown,
        "labels": None,
        "dtype": dtype,
    }
    args = lookup_args(expr, enum_categories, [_literal(table.values, kind)], kwargs)
    return call_plugin("category_codes", args, kwargs, is_elementwise=True)


def one_hot_expr(
    expr: pl.Expr,
    table: CodeTable | None,
    kind: str | None,
    dtype: str,
    function: str,
    unknown: int = UNKNOWN_IS_ERROR,
    key: pl.Expr | None = None,
    enum_categories: list[str] | None = None,
) -> pl.Expr:
    """A Struct with one field per label of ``table`` (``None``: every
    category of the Enum column ``expr``, with ``unknown`` for a value that
    is none of them), named ``{column}_{label}``. A table with ``groups``
    encodes each row with its group's codes; ``key`` gives each row's
    rendered group key; ``enum_categories``: see :func:`enum_ids`."""
    if table is None:
        kwargs: dict[str, Any] = {
            "function": function,
            "codes": None,
            "missing": NULL_CODE,
            "unknown": unknown,
            "labels": None,
            "dtype": dtype,
        }
        return call_plugin("one_hot", [expr], kwargs, is_elementwise=True)
    assert kind is not None
    kwargs = {
        "function": function,
        "codes": list(table.codes),
        "missing": table.missing,
        "unknown": table.unknown,
        "labels": list(table.labels),
        "dtype": dtype,
    }
    rest = [_literal(table.values, kind)]
    if table.groups is not None:
        assert key is not None
        rest.append(key)
        kwargs.update(
            codes=None,
            keys=list(table.groups.keys),
            group_codes=[list(c) for c in table.groups.codes],
            group_missing=list(table.groups.missing),
            group_unknown=list(table.groups.unknown),
        )
    args = lookup_args(expr, enum_categories, rest, kwargs)
    return call_plugin("one_hot", args, kwargs, is_elementwise=True)
