"""What :class:`~polars_mlkit.SimpleImputer` learns, and how.

- :func:`select_columns` picks the imputed columns and their kinds;
  :func:`masked_expr` and :func:`missing_expr` say what is missing
  (``missing_values``), the same at fit and transform time.
- :func:`partial_frame` is one batch's sufficient statistics, one row per
  group: rows, rows with a missing value, values present per lane, their
  moments (``mean``) and value counts (``most_frequent``); :func:`merge_partials`
  adds two of them exactly (batches, ``partial_fit``, Ray blocks).
The fill values and the fitted state are in ``_imputer_fit``.

Everything here returns values; nothing writes an imputer's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from polars_mlkit import _internal
from polars_mlkit._batches import MapBatches
from polars_mlkit._plugin import call_plugin
from polars_mlkit._reserved import GROUP_KEY, ROWS, internal
from polars_mlkit.scalers._state import _Column, _key_expr

STRATEGIES = ("mean", "median", "most_frequent", "constant")

#: The column of the statistics frames that holds each group's key (the
#: ``by`` values rendered as one string; ``""`` without ``by``).
KEY = GROUP_KEY

#: The fields of the extension's moments (``mean`` is in units of ``unit``).
MOMENTS = ("count", "mean", "m2", "min", "max", "unit")
_EMPTY_MOMENTS = {"count": 0.0, "mean": 0.0, "m2": 0.0, "min": np.inf, "max": -np.inf, "unit": 1.0}

#: Kinds of columns: how their values are read and which strategies take them.
KINDS = ("float", "number", "text", "boolean", "vector")


@dataclass
class ImputedColumn:
    """One imputed column: its kind, its dtype at fit time (the inner dtype
    for vectors), the vector container and width, Enum categories."""

    name: str
    kind: str
    dtype: str
    container: str = "scalar"  # "scalar" | "array" | "list"
    width: int = 0
    categories: list[str] | None = None

    @property
    def lanes(self) -> int:
        return max(self.width, 1)

    def as_scaler_column(self) -> _Column:
        """The scalers' description of a numeric column (for the passes)."""
        return _Column(self.name, self.dtype, self.container, self.width)

    def input_dtype(self) -> pl.DataType:
        """The column's dtype at fit time."""
        if self.categories is not None:
            return pl.Enum(self.categories)
        inner = _simple_dtype(self.dtype)
        if self.container == "array":
            return pl.Array(inner, self.width)
        if self.container == "list":
            return pl.List(inner)
        return inner

    def output_dtype(self, strategy: str) -> pl.DataType:
        """The dtype of the imputed column: ``mean``/``median`` give Float32
        for Float32 and Float64 otherwise (vectors keep their container);
        ``most_frequent``/``constant`` keep the dtype (Decimal reads as
        Float64)."""
        if self.kind == "vector" or strategy in ("mean", "median"):
            inner: pl.DataType = pl.Float32() if self.dtype == "Float32" else pl.Float64()
            if self.container == "array":
                return pl.Array(inner, self.width)
            if self.container == "list":
                return pl.List(inner)
            return inner
        if self.dtype.startswith("Decimal"):
            return pl.Float64()
        return self.input_dtype()

    def value_dtype(self, strategy: str) -> pl.DataType:
        """The dtype of one fill value (a vector's is its Array)."""
        out = self.output_dtype(strategy)
        if self.container == "list":
            return pl.Array(out.inner, self.width)  # type: ignore[attr-defined]
        return out


def _simple_dtype(text: str) -> pl.DataType:
    if text.startswith("Decimal"):
        return pl.Float64()
    found = getattr(pl, text, None)
    if found is None or not isinstance(found, type) or not issubclass(found, pl.DataType):
        msg = f"unknown dtype {text!r}"
        raise ValueError(msg)
    return found()


def kind_of(dtype: pl.DataType) -> str | None:
    """The kind of a column dtype, or ``None`` for one the imputer does not take."""
    if dtype.is_float() or dtype == pl.Null:
        # (An all-null column may come as Null: it reads as Float64.)
        return "float"
    if dtype.is_integer() or isinstance(dtype, pl.Decimal):
        return "number"
    if dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "text"
    if dtype == pl.Boolean:
        return "boolean"
    if isinstance(dtype, (pl.Array, pl.List)):
        inner = dtype.inner
        if inner is not None and inner.is_numeric() and not isinstance(dtype.inner, pl.Array):
            return "vector"
    return None


def _allowed(strategy: str) -> tuple[str, ...]:
    if strategy in ("mean", "median"):
        return ("float", "number", "vector")
    return ("float", "number", "text", "boolean")


def missing_kinds(missing_values: Any) -> tuple[str, ...]:
    """The column kinds a ``missing_values`` applies to."""
    if missing_values is None:
        return KINDS
    if isinstance(missing_values, str):
        return ("text",)
    return ("float", "number")


def _column(name: str, dtype: pl.DataType, kind: str) -> ImputedColumn:
    if kind == "vector":
        inner = dtype.inner  # type: ignore[attr-defined]
        inner_name = str(inner if isinstance(inner, pl.DataType) else inner())
        if isinstance(dtype, pl.Array):
            return ImputedColumn(name, kind, inner_name, "array", int(dtype.size))
        return ImputedColumn(name, kind, inner_name, "list", -1)
    if dtype == pl.Null:
        return ImputedColumn(name, kind, "Float64")
    categories = [str(c) for c in dtype.categories] if isinstance(dtype, pl.Enum) else None
    text = "Categorical" if isinstance(dtype, pl.Categorical) else str(dtype)
    if isinstance(dtype, pl.Enum):
        text = "Enum"
    return ImputedColumn(name, kind, text, categories=categories)


def select_columns(
    schema: pl.Schema,
    wanted: list[str] | None,
    by: list[str],
    strategy: str,
    missing_values: Any,
    function: str,
) -> list[ImputedColumn]:
    """The imputed columns: the ``wanted`` ones (each checked), or every
    column (except ``by``) whose dtype the strategy and ``missing_values``
    take."""
    allowed = [k for k in _allowed(strategy) if k in missing_kinds(missing_values)]
    names = [n for n in schema.names() if n not in by] if wanted is None else wanted
    columns = []
    for name in names:
        if name not in schema:
            msg = f"{function}: column {name!r} is not in the frame"
            raise pl.exceptions.ColumnNotFoundError(msg)
        if name in by:
            msg = f"{function}: column {name!r} is also a by column"
            raise ValueError(msg)
        dtype = schema[name]
        kind = kind_of(dtype)
        if kind in allowed:
            columns.append(_column(name, dtype, str(kind)))
        elif wanted is not None:
            if kind is not None and kind in _allowed(strategy):
                msg = (
                    f"{function}: missing_values={missing_values!r} does not apply to column "
                    f"{name!r} of dtype {dtype} (a number applies to numeric columns, a "
                    "string to String/Categorical/Enum columns; vectors take only None)"
                )
                raise ValueError(msg)
            takes = (
                "numeric or numeric Array/List columns"
                if strategy in ("mean", "median")
                else "numeric, String, Categorical, Enum or Boolean columns"
            )
            msg = (
                f"{function}: column {name!r} has dtype {dtype}; strategy={strategy!r} "
                f"takes {takes}"
            )
            raise TypeError(msg)
    return columns


# --------------------------------------------------------------------------- #
# what is missing
# --------------------------------------------------------------------------- #
def _vector_eval(column: ImputedColumn, x: pl.Expr, inner: pl.Expr) -> pl.Expr:
    return x.arr.eval(inner) if column.container == "array" else x.list.eval(inner)


def _vector_any(column: ImputedColumn, x: pl.Expr) -> pl.Expr:
    return x.arr.any() if column.container == "array" else x.list.any()


def masked_expr(column: ImputedColumn, missing_values: Any) -> pl.Expr:
    """The column with every missing value as null (NaN in floats and in
    float vectors when ``missing_values`` is None; the value itself when it
    is given)."""
    x = pl.col(column.name)
    if missing_values is None:
        if column.kind == "float":
            return x.fill_nan(None)
        if column.kind == "vector" and column.dtype.startswith("Float"):
            return _vector_eval(column, x, pl.element().fill_nan(None))
        return x
    compared = x.cast(pl.String) if column.kind == "text" else x
    return pl.when(compared == missing_values).then(None).otherwise(x).alias(column.name)


def missing_expr(column: ImputedColumn, missing_values: Any) -> pl.Expr:
    """Whether a row's value is missing (a vector: the row is null or one
    of its elements is missing); False for a null when ``missing_values``
    is a value (such nulls are neither counted nor imputed)."""
    if missing_values is not None:
        x = pl.col(column.name)
        compared = x.cast(pl.String) if column.kind == "text" else x
        found: pl.Expr = (compared == missing_values).fill_null(False)
        return found
    if column.kind == "float":
        x = pl.col(column.name)
        return x.is_null() | x.is_nan()
    masked = masked_expr(column, None)
    if column.kind == "vector":
        inner = _vector_eval(column, masked, pl.element().is_null())
        return masked.is_null() | _vector_any(column, inner).fill_null(True)
    return masked.is_null()


def _floats(column: ImputedColumn) -> bool:
    return column.kind == "float" or (column.kind == "vector" and column.dtype.startswith("Float"))


def lane_expr(column: ImputedColumn, missing_values: Any, j: int) -> pl.Expr:
    """Lane ``j`` of the column (the column itself for scalars), a given
    ``missing_values`` as null. NaN stays: the statistics skip it, and
    turning it into null would copy the column."""
    x = pl.col(column.name) if missing_values is None else masked_expr(column, missing_values)
    if column.kind != "vector":
        return x
    return x.cast(pl.Array(pl.Float64, column.width)).arr.get(j)


def present_expr(column: ImputedColumn, lane: pl.Expr) -> pl.Expr:
    """How many values of a lane are present (neither null nor NaN)."""
    count = lane.count().cast(pl.UInt64)
    if _floats(column):
        return count - lane.is_nan().sum().cast(pl.UInt64)
    return count


def count_expr(column: ImputedColumn, missing_values: Any) -> pl.Expr:
    """The values as they are counted (``most_frequent``): text as String,
    -0.0 as 0.0 (one value, as ``numpy.unique`` has it)."""
    x = masked_expr(column, missing_values)
    if column.kind == "text":
        return x.cast(pl.String)
    if column.kind == "float":
        return x + 0.0
    if column.dtype.startswith("Decimal"):
        return x.cast(pl.Float64)
    return x


def null_casts(columns: list[ImputedColumn]) -> list[pl.Expr]:
    """Scalar columns as their recorded dtype (a Null column as Float64)."""
    return [
        pl.col(c.name).cast(c.input_dtype())
        for c in columns
        if c.kind in ("float", "number") and not c.dtype.startswith("Decimal")
    ]


def cast_batches(map_batches: MapBatches, columns: list[ImputedColumn]) -> MapBatches:
    """``map_batches`` over batches whose scalar columns have their recorded
    dtype (a Null column read as Float64)."""
    exprs = null_casts(columns)

    def run(fn: Any) -> Any:
        return map_batches(lambda batch: fn(batch.with_columns(exprs) if exprs else batch))

    return run


def mask_batches(
    map_batches: MapBatches, columns: list[ImputedColumn], missing_values: Any
) -> MapBatches:
    """``map_batches`` over batches whose missing values are nulls."""
    exprs = [masked_expr(c, missing_values).alias(c.name) for c in columns]

    def run(fn: Any) -> Any:
        return map_batches(lambda batch: fn(batch.with_columns(exprs) if exprs else batch))

    return run


# --------------------------------------------------------------------------- #
# one batch's statistics, and their exact merge
# --------------------------------------------------------------------------- #
def stat_name(what: str, i: int, j: int | None = None) -> str:
    return internal(what, i) if j is None else internal(what, i, j)


def partial_frame(
    batch: pl.DataFrame,
    columns: list[ImputedColumn],
    by: list[str],
    strategy: str,
    missing_values: Any,
    inline_median: bool = False,
) -> pl.DataFrame:
    """One batch's statistics, one row per group (``KEY``): ``ROWS``,
    per column the rows with a missing value, whether it holds infinity (or
    NaN where ``missing_values`` is a value), per lane the values present
    and (``mean``) their moments, and (``most_frequent``) the value counts;
    with ``inline_median`` (data in memory, one batch) each lane's median
    from RobustScaler's in-memory selection (the numbers of its passes)."""
    exprs = [pl.len().cast(pl.UInt64).alias(ROWS)]
    for i, c in enumerate(columns):
        if c.kind == "float" and missing_values is None:
            # One pass for both: missing = nulls (known) + NaN, present = the rest.
            x = pl.col(c.name)
            missing = x.null_count().cast(pl.UInt64) + x.is_nan().sum().cast(pl.UInt64)
            exprs.append(missing.alias(stat_name("m", i)))
            exprs.append((pl.len().cast(pl.UInt64) - missing).alias(stat_name("n", i, 0)))
        else:
            missing = missing_expr(c, missing_values).sum().cast(pl.UInt64)
            exprs.append(missing.alias(stat_name("m", i)))
        for j in range(c.lanes):
            lane = lane_expr(c, missing_values, j)
            if not (c.kind == "float" and missing_values is None):
                exprs.append(present_expr(c, lane).alias(stat_name("n", i, j)))
            if strategy == "mean":
                # The extension's moments (those StandardScaler fits): the
                # same bits however the data is chunked, no overflow near
                # 1e308, and an exact merge (Chan et al.).
                moments = call_plugin(
                    "moments",
                    [lane.cast(pl.Float64)],
                    {"function": "SimpleImputer.fit"},
                    is_elementwise=False,
                    returns_scalar=True,
                )
                exprs.append(moments.alias(stat_name("s", i, j)))
            if strategy == "median" and inline_median:
                selected = call_plugin(
                    "robust_stats",
                    [lane.cast(pl.Float64)],
                    {"function": "SimpleImputer.fit", "quantile_range": [25.0, 75.0]},
                    is_elementwise=False,
                    returns_scalar=True,
                )
                exprs.append(selected.alias(stat_name("med", i, j)))
            if _floats(c):
                exprs.append(lane.is_infinite().any().alias(stat_name("inf", i, j)))
                if missing_values is not None:
                    exprs.append(pl.col(c.name).is_nan().any().alias(stat_name("nan", i, j)))
        if strategy == "most_frequent":
            counted = count_expr(c, missing_values).drop_nulls().value_counts(name="__pmk_count")
            exprs.append((counted if by else counted.implode()).alias(stat_name("vc", i)))
    if by:
        return batch.group_by(by).agg(exprs).with_columns(_key_expr(by).alias(KEY))
    return batch.select(exprs).with_columns(pl.lit("").alias(KEY))


@dataclass
class Partial:
    """Merged statistics: one row per group in ``frame`` (``by`` columns,
    ``key``, the numbers of :func:`partial_frame`), and per column the value
    counts (``key``, ``value``, ``count``) for ``most_frequent``."""

    frame: pl.DataFrame
    counts: dict[str, pl.DataFrame] = field(default_factory=dict)


def split_partial(
    found: pl.DataFrame, columns: list[ImputedColumn], by: list[str], strategy: str
) -> Partial:
    """A :func:`partial_frame` result as a :class:`Partial` (counts apart)."""
    counts = {}
    if strategy == "most_frequent":
        for i, c in enumerate(columns):
            pairs = (
                found.select(KEY, pl.col(stat_name("vc", i)).alias("vc"))
                .explode("vc")
                .drop_nulls("vc")
            )
            counts[c.name] = pairs.select(
                KEY,
                pl.col("vc").struct[0].alias("value"),
                pl.col("vc").struct.field("__pmk_count").cast(pl.UInt64).alias("count"),
            )
    frame = found.drop([stat_name("vc", i) for i in range(len(columns))], strict=False)
    medians = [n for n in frame.columns if n.startswith("__pmk_med_")]
    frame = frame.with_columns(pl.col(n).struct.field("median").alias(n) for n in medians)
    structs = [n for n, dtype in frame.schema.items() if isinstance(dtype, pl.Struct)]
    frame = frame.with_columns(
        pl.col(n).struct.field(f).cast(pl.Float64).alias(f"{n}_{f}")
        for n in structs
        for f in MOMENTS
    ).drop(structs)
    return Partial(frame, counts)


def merge_partials(a: Partial | None, b: Partial, by: list[str]) -> Partial:
    """Two partial statistics as one, exactly: counts and counts of equal
    values added, flags or-ed, moments merged by the extension (Chan et al.,
    as ``StandardScaler.partial_fit`` merges them)."""
    if a is None:
        return b
    both = pl.concat([a.frame, b.frame], how="diagonal_relaxed")
    aggs = []
    moments = sorted({n.rsplit("_", 1)[0] for n in both.columns if n.startswith("__pmk_s_")})
    for name, dtype in both.schema.items():
        if name in by or name == KEY or name.startswith("__pmk_s_"):
            continue
        aggs.append(pl.col(name).any() if dtype == pl.Boolean else pl.col(name).sum())
    firsts = [pl.col(b_).first() for b_ in by]
    frame = both.group_by(KEY, maintain_order=True).agg(*firsts, *aggs)
    keys = [str(k) for k in frame[KEY].to_list()]
    merged = []
    for prefix in moments:
        found = _internal.merge_statistics(
            "standard", _aligned(a.frame, prefix, keys), _aligned(b.frame, prefix, keys)
        )
        merged += [
            pl.Series(f"{prefix}_{f}", np.asarray(found[f], dtype=np.float64)) for f in MOMENTS
        ]
    frame = frame.with_columns(merged)
    frame = frame.select(b.frame.columns + [n for n in a.frame.columns if n not in b.frame.columns])
    counts = {}
    for name, part in b.counts.items():
        added = pl.concat([a.counts[name], part], how="vertical_relaxed")
        counts[name] = added.group_by(KEY, "value").agg(pl.col("count").sum())
    return Partial(frame, counts)


def _aligned(frame: pl.DataFrame, prefix: str, keys: list[str]) -> dict[str, Any]:
    """One lane's moments in ``keys`` order (a group the frame lacks: none)."""
    index = {str(k): g for g, k in enumerate(frame[KEY].to_list())}
    rows = np.array([index.get(k, -1) for k in keys], dtype=np.int64)
    there = rows >= 0
    out = {}
    for f in MOMENTS:
        arr = np.full(len(keys), _EMPTY_MOMENTS[f], dtype=np.float64)
        if f"{prefix}_{f}" in frame.columns:
            arr[there] = frame[f"{prefix}_{f}"].to_numpy()[rows[there]]
        out[f] = arr
    return out


def batches_partial(
    map_batches: MapBatches,
    columns: list[ImputedColumn],
    by: list[str],
    strategy: str,
    missing_values: Any,
    inline_median: bool = False,
) -> Partial:
    """Every batch's statistics, merged (one pass)."""
    total: Partial | None = None
    for found in map_batches(
        lambda batch: partial_frame(batch, columns, by, strategy, missing_values, inline_median)
    ):
        total = merge_partials(total, split_partial(found, columns, by, strategy), by)
    if total is None:
        msg = "no batches to fit"
        raise ValueError(msg)
    return sorted_groups(total, by)


def sorted_groups(partial: Partial, by: list[str]) -> Partial:
    """The groups sorted by their ``by`` values (nulls last)."""
    if not by:
        return partial
    return Partial(partial.frame.sort(by, nulls_last=True, maintain_order=True), partial.counts)


def check_partial(
    partial: Partial, columns: list[ImputedColumn], missing_values: Any, function: str
) -> None:
    """Infinity (and NaN where ``missing_values`` is a value) is an error
    naming the column, as scikit-learn's input check has it."""
    frame = partial.frame
    for i, c in enumerate(columns):
        for j in range(c.lanes):
            inf = stat_name("inf", i, j)
            if inf in frame.columns and frame[inf].any():
                msg = (
                    f"{function}: column {c.name!r} contains infinity; scikit-learn's "
                    "SimpleImputer rejects infinite values too (Input X contains infinity)"
                )
                raise ValueError(msg)
            nan = stat_name("nan", i, j)
            if nan in frame.columns and frame[nan].any():
                msg = (
                    f"{function}: column {c.name!r} contains NaN while "
                    f"missing_values={missing_values!r}; scikit-learn's SimpleImputer "
                    "rejects NaN unless missing_values is NaN (use missing_values=None)"
                )
                raise ValueError(msg)


def present(partial: Partial, i: int, column: ImputedColumn) -> np.ndarray[Any, Any]:
    """Values present per group and lane, (groups, lanes)."""
    frame = partial.frame
    lanes = [frame[stat_name("n", i, j)].cast(pl.Int64).to_numpy() for j in range(column.lanes)]
    return np.stack(lanes, axis=1).reshape(frame.height, column.lanes)


def missing_rows(partial: Partial, i: int) -> int:
    """Rows with a missing value in column ``i`` over all groups."""
    return int(partial.frame[stat_name("m", i)].sum() or 0)
