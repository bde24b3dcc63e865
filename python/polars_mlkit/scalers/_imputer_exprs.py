"""The transform expressions of ``SimpleImputer``: elementwise, with the
fitted fill values as constants (``fill_null``/``fill_nan``/``when``), so a
LazyFrame stays lazy and streams; with ``by=`` each row's fill is looked up
by its group key (``replace_strict``)."""

from __future__ import annotations

import polars as pl

from polars_mlkit._reserved import GROUP_KEY
from polars_mlkit.scalers._imputer_fit import ImputerState
from polars_mlkit.scalers._imputer_state import ImputedColumn, kind_of, masked_expr, missing_expr
from polars_mlkit.scalers._inputs import Frame
from polars_mlkit.scalers._state import _NULL_PART, _key_expr


# --------------------------------------------------------------------------- #
# the transform expressions
# --------------------------------------------------------------------------- #
def checked_frame(
    frame: Frame, schema: pl.Schema, state: ImputerState, numpy: bool, function: str
) -> Frame:
    """Each fitted column present with its fitted dtype (array input: a
    number may come as another numeric dtype and is cast)."""
    casts = []
    for b in state.by:
        if b not in schema:
            msg = f"{function}: the by column {b!r} is not in the frame"
            raise pl.exceptions.ColumnNotFoundError(msg)
    for c in state.columns:
        if c.name not in schema:
            msg = f"{function}: the fitted column {c.name!r} is not in the frame"
            raise pl.exceptions.ColumnNotFoundError(msg)
        got = schema[c.name]
        want = c.input_dtype()
        if c.kind == "vector" and kind_of(got) == "vector":
            inner = got.inner  # type: ignore[attr-defined]
            same = str(inner if isinstance(inner, pl.DataType) else inner()) == c.dtype
            same = same and (c.container == "list") == isinstance(got, pl.List)
            same = same and (c.container == "list" or got.size == c.width)  # type: ignore[attr-defined]
        elif c.dtype == "Categorical":
            same = isinstance(got, pl.Categorical)
        elif c.dtype.startswith("Decimal"):
            same = isinstance(got, pl.Decimal)
        else:
            same = got == want
        if same:
            continue
        if got == pl.Null or (
            numpy and c.kind in ("float", "number") and kind_of(got) in ("float", "number")
        ):
            # (An all-null column may come as Null.)
            casts.append(pl.col(c.name).cast(want))
            continue
        msg = (
            f"{function}: column {c.name!r} has dtype {got}, but the imputer was fitted on "
            f"{want}; transform a frame with the fitted dtypes (or fit again)"
        )
        raise TypeError(msg)
    return frame.with_columns(casts) if casts else frame


def _group_values(state: ImputerState, values: pl.Series) -> pl.Expr:
    """Each row's value of its group (an unseen group is an error, but for
    a null group: its value is null)."""
    keys = state.keys
    if _NULL_PART not in keys:
        # The null group's key is always mapped: inside when/then, Polars
        # 2.1 also applies replace_strict to fill_null's literal (the key
        # of a null group) and fails on a mapping without it, even where
        # no group is null.
        keys = [*keys, _NULL_PART]
        values = pl.concat([values, pl.Series(values.name, [None], dtype=values.dtype)])
    return _key_expr(state.by).replace_strict(
        pl.Series(keys, dtype=pl.String), values, return_dtype=values.dtype
    )


def impute_expr(state: ImputerState, column: ImputedColumn) -> pl.Expr:
    strategy = state.options["strategy"]
    missing = state.options["missing_values"]
    out = column.output_dtype(strategy)
    fill = state.fills[column.name]
    if column.kind == "vector":
        return _vector_expr(state, column, fill, out)
    if state.by:
        value: pl.Expr = _group_values(state, fill.cast(out))
    else:
        value = pl.lit(fill[0], dtype=out)
    if missing is None and column.kind == "float":
        # (fill_nan with the value is cheaper than turning NaN into null.)
        x = pl.col(column.name).cast(out)
        return x.fill_nan(value).fill_null(value)
    if missing is None:
        return masked_expr(column, None).cast(out).fill_null(value)
    x = pl.col(column.name).cast(out)
    return pl.when(missing_expr(column, missing)).then(value).otherwise(x)


def _vector_expr(
    state: ImputerState, column: ImputedColumn, fill: pl.Series, out: pl.DataType
) -> pl.Expr:
    inner: pl.DataType = out.inner  # type: ignore[attr-defined]
    x = masked_expr(column, None).cast(out)
    if not state.by:
        lanes = fill[0]
        if lanes is None:
            return x
        lanes = pl.Series(list(lanes), dtype=inner)
        if column.container == "array":
            filled = x.arr.eval(pl.element().fill_null(pl.lit(lanes)))
        else:
            filled = x.list.eval(pl.element().fill_null(pl.lit(lanes)))
        return filled.fill_null(pl.lit(lanes.to_list(), dtype=out))
    array = x.cast(pl.Array(inner, column.width))
    parts = [
        array.arr.get(j).fill_null(_group_values(state, fill.arr.get(j)))
        for j in range(column.width)
    ]
    joined = pl.concat_arr(parts)
    return joined if column.container == "array" else joined.cast(out)


def indicator_exprs(state: ImputerState) -> list[pl.Expr]:
    """The ``missingindicator_{column}`` columns (Boolean)."""
    missing = state.options["missing_values"]
    return [missing_expr(c, missing).alias(f"missingindicator_{c.name}") for c in state.indicated()]


def unseen_groups(frame: pl.DataFrame, state: ImputerState) -> list[tuple[object, ...]]:
    """The groups of ``frame`` (``by`` values) that the fit did not see."""
    if not state.by:
        return []
    found = frame.select(*state.by, _key_expr(state.by).alias(GROUP_KEY)).unique(
        GROUP_KEY, maintain_order=True
    )
    new = found.filter(~pl.col(GROUP_KEY).is_in(pl.Series(state.keys, dtype=pl.String)))
    return new.select(state.by).rows()
