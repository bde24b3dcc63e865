"""Category encoding as expressions: :func:`one_hot` and :func:`ordinal_encode`.

Both run the extension's one category lookup (``kernels/categories.rs``),
which the fitted ``OneHotEncoder`` and ``OrdinalEncoder`` use too. They are
elementwise: every row is encoded on its own from constant categories, so
they stream, and their output schema is known at plan time (the categories
are given, or come from an ``Enum`` column's dtype).

Decisions: with ``categories`` given, the codes follow the order given (a
``None`` among them makes a missing value a category of its own);
otherwise a missing value (null, or NaN in a float column) encodes as null
(``ordinal_encode``) or a row of zeros (``one_hot``). The one-hot fields
are named ``{column}_{category}``, as scikit-learn's ``get_feature_names_out``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

import polars as pl

from polars_mlkit._data import is_expression_input, to_expr
from polars_mlkit._encode import (
    NULL_CODE,
    UNKNOWN_IS_ERROR,
    CodeTable,
    codes_expr,
    dtype_name,
    one_hot_expr,
)
from polars_mlkit._plugin import call_plugin

HandleUnknown: TypeAlias = Literal["error", "ignore"]


# --------------------------------------------------------------------------- #
# the free functions
# --------------------------------------------------------------------------- #
def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _given(categories: Any, function: str) -> tuple[list[Any], str, bool]:
    """A category list: its values (missing excluded), their kind, and
    whether a missing value is one of them (it must then be last)."""
    if isinstance(categories, (str, bytes)) or not isinstance(categories, Sequence):
        if hasattr(categories, "to_list"):
            categories = categories.to_list()
        elif hasattr(categories, "tolist"):
            categories = categories.tolist()
        else:
            msg = f"{function}: categories must be a list of values or None, got {categories!r}"
            raise TypeError(msg)
    cats = list(categories)
    missing = [i for i, v in enumerate(cats) if _is_missing(v)]
    if len(missing) > 1 or (missing and missing[0] != len(cats) - 1):
        msg = f"{function}: a missing value (None/NaN) may be one category, the last"
        raise ValueError(msg)
    values = [v for v in cats if not _is_missing(v)]
    if not values:
        msg = f"{function}: categories must hold at least one value"
        raise ValueError(msg)
    if all(isinstance(v, str) for v in values):
        kind = "text"
    elif all(isinstance(v, bool) for v in values):
        kind = "boolean"
    elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        kind = "integer"
    elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        kind, values = "float", [float(v) for v in values]
    else:
        msg = (
            f"{function}: categories must be all strings, all integers, all numbers or all "
            f"Booleans, got {categories!r}"
        )
        raise TypeError(msg)
    if len(set(values)) != len(values):
        msg = f"{function}: categories hold a value twice: {categories!r}"
        raise ValueError(msg)
    return values, kind, bool(missing)


def _label(value: Any, kind: str) -> str:
    if value is None:
        return "nan" if kind == "float" else "None"
    return str(value)


def ordinal_encode(
    x: str | pl.Expr,
    categories: Sequence[Any] | None = None,
    handle_unknown: HandleUnknown = "error",
) -> pl.Expr:
    """Each row's position among ``categories`` (UInt32), as ordinal codes.

    Parameters
    ----------
    x
        Column name or expression: String, Categorical, Enum, integer,
        Boolean or float values.
    categories
        The categories, in code order; a trailing ``None`` makes a missing
        value (null, or NaN in a float column) a category of its own. ``None``
        for an Enum column: its categories, in the dtype's order.
    handle_unknown
        ``"error"``: a value that is no category is an error naming the
        column and the value; ``"ignore"``: it encodes as null.

    Returns
    -------
    pl.Expr
        UInt32 codes (null for a missing value that is no category).

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> df = pl.DataFrame({"c": ["b", "a", None, "b"]})
    >>> df.select(pmk.ordinal_encode("c", ["a", "b"]))["c"].to_list()
    [1, 0, None, 1]
    >>> colour = pl.Enum(["red", "green"])
    >>> pl.Series("c", ["green", "red"], dtype=colour).to_frame().select(
    ...     pl.col("c").ml.ordinal_encode()
    ... )["c"].to_list()
    [1, 0]
    """
    function = "ordinal_encode"
    if not is_expression_input(x):
        msg = f"{function}: x must be a column name or an expression, got {type(x).__name__}"
        raise TypeError(msg)
    _check_handle_unknown(handle_unknown, function)
    unknown = UNKNOWN_IS_ERROR if handle_unknown == "error" else NULL_CODE
    expr = to_expr(x)
    if categories is None:
        kwargs = {
            "function": function,
            "codes": None,
            "missing": NULL_CODE,
            "unknown": unknown,
            "labels": None,
            "dtype": None,
        }
        return call_plugin("category_codes", [expr], kwargs, is_elementwise=True)
    values, kind, missing = _given(categories, function)
    table = CodeTable(
        values,
        list(range(len(values))),
        len(values) if missing else NULL_CODE,
        unknown,
        [],
    )
    return codes_expr(expr, table, kind, function)


def _check_handle_unknown(value: Any, function: str) -> None:
    if value not in ("error", "ignore"):
        msg = f"{function}: handle_unknown must be 'error' or 'ignore', got {value!r}"
        raise ValueError(msg)


def one_hot(
    x: str | pl.Expr,
    categories: Sequence[Any] | None = None,
    drop: Any = None,
    handle_unknown: HandleUnknown = "error",
    dtype: Any = pl.UInt8,
) -> pl.Expr:
    """One-hot encode a column into a Struct with one field per category.

    The field names are ``{column}_{category}`` (as scikit-learn's
    ``get_feature_names_out``), known at plan time; ``.struct.unnest()``
    makes them columns.

    Parameters
    ----------
    x
        Column name or expression: String, Categorical, Enum, integer,
        Boolean or float values.
    categories
        The categories, in field order; a trailing ``None`` makes a missing
        value a category of its own (field ``{column}_None``, or
        ``{column}_nan`` for float categories). ``None`` for an Enum column:
        its categories, in the dtype's order.
    drop
        ``None``; ``"first"`` (no field for the first category);
        ``"if_binary"`` (that, when there are two categories); or a category
        value whose field is left out. Its rows become all zeros. Needs
        ``categories``.
    handle_unknown
        ``"error"``: a value that is no category is an error naming the
        column and the value; ``"ignore"``: its row is all zeros.
    dtype
        The fields' dtype (numeric or Boolean), ``pl.UInt8`` by default.

    Returns
    -------
    pl.Expr
        A Struct column named as the input.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> df = pl.DataFrame({"c": ["b", "a", "b"]})
    >>> df.select(pmk.one_hot("c", ["a", "b"])).unnest("c")
    shape: (3, 2)
    ┌─────┬─────┐
    │ c_a ┆ c_b │
    │ --- ┆ --- │
    │ u8  ┆ u8  │
    ╞═════╪═════╡
    │ 0   ┆ 1   │
    │ 1   ┆ 0   │
    │ 0   ┆ 1   │
    └─────┴─────┘
    >>> size = pl.Enum(["S", "M", "L"])
    >>> sizes = pl.DataFrame({"size": pl.Series(["M", "L"], dtype=size)})
    >>> sizes.select(pl.col("size").ml.one_hot().struct.unnest()).columns
    ['size_S', 'size_M', 'size_L']
    """
    function = "one_hot"
    if not is_expression_input(x):
        msg = f"{function}: x must be a column name or an expression, got {type(x).__name__}"
        raise TypeError(msg)
    _check_handle_unknown(handle_unknown, function)
    name = dtype_name(dtype, function)
    expr = to_expr(x)
    unknown = UNKNOWN_IS_ERROR if handle_unknown == "error" else NULL_CODE
    if categories is None:
        if drop is not None:
            msg = f"{function}: drop needs categories= (the categories it drops from)"
            raise ValueError(msg)
        return one_hot_expr(expr, None, None, name, function, unknown)
    values, kind, missing = _given(categories, function)
    n = len(values) + int(missing)
    labels = [_label(v, kind) for v in values] + ([_label(None, kind)] if missing else [])
    dropped: int | None = None
    if drop == "first":
        dropped = 0
    elif drop == "if_binary":
        dropped = 0 if n == 2 else None
    elif drop is not None:
        matches = [i for i, v in enumerate(values) if v == drop and type(v) is type(drop)]
        if _is_missing(drop) and missing:
            matches = [n - 1]
        if kind == "float" and not matches and isinstance(drop, (int, float)):
            matches = [i for i, v in enumerate(values) if v == drop]
        if not matches:
            msg = f"{function}: drop={drop!r} is not one of the categories {list(categories)!r}"
            raise ValueError(msg)
        dropped = matches[0]
    codes = list(range(n))
    if dropped is not None:
        codes = [NULL_CODE if c == dropped else c - (c > dropped) for c in codes]
        del labels[dropped]
    table = CodeTable(
        values, codes[: len(values)], codes[-1] if missing else NULL_CODE, unknown, labels
    )
    return one_hot_expr(expr, table, kind, name, function)


__all__ = ["one_hot", "ordinal_encode"]
