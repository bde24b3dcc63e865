"""What a target encoder learns, as plain functions: the target (its type,
classes and the numbers that are summed), the cross-fitting folds
(scikit-learn's ``KFold``/``StratifiedKFold`` drawn the same way, a
splitter, explicit splits or a fold column), the per-category statistics of
one ``group_by`` pass, and the encodings scikit-learn's
``_target_encoder_fast`` computes from them.

Statistics are counts, sums and sums of squares per category and fold, so
the encoding fitted on "every fold but ``k``" is the totals minus fold
``k``'s share: the folds are counted once, never refitted. Continuous
targets are summed minus their mean (the sums of squares then lose no
digits); class indicators are summed exactly.

Everything here returns values; nothing writes an encoder's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit._encode import MISSING_IS_UNKNOWN, CodeTable
from polars_mlkit.scalers._categories import FittedColumn, value_expr
from polars_mlkit.scalers._inputs import Frame

#: The target and fold columns a fit adds to the frame it reads.
TARGET = "__pmk_target"
FOLD = "__pmk_fold"
#: The prefix of the encoded columns' values as the statistics read them.
CODE = "__pmk_code"

TARGET_TYPES = ("auto", "binary", "continuous", "multiclass")

FloatArray = npt.NDArray[np.float64]


# --------------------------------------------------------------------------- #
# the target
# --------------------------------------------------------------------------- #
def target_series(y: Any, function: str) -> pl.Series:
    """``y`` given as data (Series, numpy array, list, pandas Series) as a Series."""
    if isinstance(y, pl.Series):
        return y.alias(TARGET)
    if isinstance(y, (pl.DataFrame, pl.LazyFrame)):
        msg = f"{function}: y must be a Series, a 1-D array or the name of a column, got a frame"
        raise TypeError(msg)
    if type(y).__module__.startswith("pandas"):
        return pl.Series(TARGET, y.to_numpy())
    array = np.asarray(y)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        msg = (
            f"{function}: y must be 1-D (one target per row), got shape {array.shape}; "
            "multi-output targets are not supported"
        )
        raise ValueError(msg)
    if array.dtype.kind in "OUS":
        values = array.tolist()
        if any(isinstance(v, float) and v != v for v in values):
            msg = f"{function}: the target y holds NaN; a target needs a value in every row"
            raise ValueError(msg)
        return pl.Series(TARGET, values, strict=False)
    return pl.Series(TARGET, array)


@dataclass
class Target:
    """The target as a fit uses it: its type, its classes (binary and
    multiclass, sorted as ``numpy.unique`` sorts them) and the mean that
    continuous targets are summed around."""

    target_type: str
    classes: list[Any] | None
    center: float
    text: bool = False

    def columns(self) -> int:
        """How many numbers are summed per row (one per class if multiclass)."""
        return len(self.classes) if self.target_type == "multiclass" and self.classes else 1

    def exprs(self) -> list[pl.Expr]:
        """The summed numbers of each row, from the target column."""
        y = pl.col(TARGET)
        if self.target_type == "continuous":
            return [(y.cast(pl.Float64) - self.center).alias("y0")]
        classes = self.classes or []
        if self.text:
            y = y.cast(pl.String)
        code = y.replace_strict(classes, list(range(len(classes))), return_dtype=pl.Int64)
        if self.target_type == "binary":
            return [code.cast(pl.Float64).alias("y0")]
        return [(code == j).cast(pl.Float64).alias(f"y{j}") for j in range(len(classes))]


def _type_error(function: str, target_type: str, found: str) -> ValueError:
    return ValueError(f"{function}: target_type={target_type!r} but {found}")


def resolve_target(data: Frame, target_type: str, function: str) -> Target:
    """The target's type and classes (scikit-learn's ``type_of_target`` for
    ``"auto"``), after checking it has no missing value."""
    dtype = data.collect_schema()[TARGET]
    y = pl.col(TARGET)
    numeric = dtype.is_numeric() or dtype == pl.Boolean
    text = dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))
    if not (numeric or text):
        msg = f"{function}: the target y has dtype {dtype}; expected numbers, Booleans or strings"
        raise TypeError(msg)
    checks = [y.null_count().alias("nulls")]
    if dtype.is_float():
        yf = y.cast(pl.Float64)
        checks += [
            yf.is_nan().sum().alias("nan"),
            yf.is_infinite().sum().alias("inf"),
            (yf != yf.floor()).fill_null(False).any().alias("fraction"),
        ]
    if numeric:
        checks.append(y.cast(pl.Float64).mean().alias("mean"))
    found = _collect(data.select(checks)).row(0, named=True)
    if found["nulls"]:
        msg = (
            f"{function}: the target y has {found['nulls']} null value(s); a target needs a "
            "value in every row"
        )
        raise ValueError(msg)
    if found.get("nan") or found.get("inf"):
        msg = f"{function}: the target y holds NaN or infinity; a target must be finite"
        raise ValueError(msg)
    if target_type == "continuous" or (target_type == "auto" and found.get("fraction")):
        if not numeric:
            raise _type_error(function, target_type, f"the target y holds strings ({dtype})")
        mean = found["mean"]
        return Target("continuous", None, 0.0 if mean is None else float(mean), text)
    values = y.cast(pl.String) if text else y
    classes = _collect(data.select(values.unique().sort()))[TARGET].to_list()
    kind = "binary" if len(classes) <= 2 else "multiclass"
    if target_type == "binary" and kind != "binary":
        raise _type_error(function, target_type, f"the target y has {len(classes)} classes")
    if target_type == "multiclass" and kind != "multiclass":
        raise _type_error(
            function, target_type, f"the target y has {len(classes)} classes (needs 3 or more)"
        )
    return Target(kind, classes, 0.0, text)


def _collect(frame: Frame) -> pl.DataFrame:
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame


# --------------------------------------------------------------------------- #
# statistics
# --------------------------------------------------------------------------- #
def statistics(
    data: Frame, kinds: dict[str, str], target: Target
) -> tuple[list[pl.DataFrame], pl.DataFrame]:
    """One ``group_by`` per encoded column over (value, fold) and one over
    the folds, run together: counts ``n``, sums ``s{j}`` and, for a
    continuous target, sums of squares ``q`` of the summed target numbers
    (for class indicators the squares are the sums). The frame must hold
    the target and fold columns.

    The squares are columns before the ``group_by``: an expression inside
    ``agg`` is evaluated group by group, several times slower."""
    n_y = target.columns()
    squares = [(pl.col("y0") ** 2).alias("q")] if target.target_type == "continuous" else []
    summed = (
        data.lazy()
        .select(
            *[
                value_expr(name, kind).alias(f"{CODE}{i}")
                for i, (name, kind) in enumerate(kinds.items())
            ],
            pl.col(FOLD).cast(pl.Int64),
            *target.exprs(),
        )
        .with_columns(squares)
    )
    aggs = [pl.len().alias("n"), *[pl.col(f"y{j}").sum().alias(f"s{j}") for j in range(n_y)]]
    if squares:
        aggs.append(pl.col("q").sum())
    queries = [
        summed.group_by(pl.col(f"{CODE}{i}").alias("value"), FOLD).agg(aggs)
        for i in range(len(kinds))
    ]
    queries.append(summed.group_by(FOLD).agg(aggs))
    found = pl.collect_all(queries)
    return found[:-1], found[-1]


def code_table(column: FittedColumn) -> CodeTable:
    """Codes 0..C-1 for the categories (missing last), C for anything else."""
    n = len(column.values)
    missing = n if column.missing else MISSING_IS_UNKNOWN
    return CodeTable(column.values, list(range(n)), missing, column.n_categories, [])


def positions(column: FittedColumn, values: pl.Series) -> pl.Series:
    """Each value's category position (missing: the last), null where it is none."""
    keys = pl.DataFrame(
        {
            "value": pl.Series(column.values, dtype=values.dtype),
            "position": pl.Series(range(len(column.values)), dtype=pl.Int64),
        }
    )
    found = values.to_frame("value").join(keys, on="value", how="left", maintain_order="left")
    missing = len(column.values) if column.missing else None
    return found.select(
        pl.when(pl.col("value").is_null())
        .then(pl.lit(missing, dtype=pl.Int64))
        .otherwise(pl.col("position"))
    ).to_series()


@dataclass
class Sums:
    """Counts (``[..., category]``), sums and sums of squares
    (``[..., category, y]``) of one encoded column; the leading axis is the
    fold when there is one."""

    n: FloatArray
    s: FloatArray
    q: FloatArray

    def total(self) -> Sums:
        """The sums over the folds (the leading axis)."""
        return Sums(self.n.sum(0), self.s.sum(0), self.q.sum(0))

    def without(self, k: int) -> Sums:
        """The sums over every fold but ``k``: the total minus fold ``k``."""
        total = self.total()
        return Sums(total.n - self.n[k], total.s - self.s[k], total.q - self.q[k])


def _squares(stats: pl.DataFrame, j: int) -> Any:
    return stats["q" if "q" in stats.columns else f"s{j}"].to_numpy()


def fold_arrays(
    stats: pl.DataFrame, positions: pl.Series, n_categories: int, n_folds: int, n_y: int
) -> Sums:
    """One column's statistics (of :func:`statistics`) as arrays by fold and
    category (``positions``: each statistics row's category position)."""
    cat = positions.to_numpy().astype(np.int64)
    fold = stats[FOLD].to_numpy().astype(np.int64)
    n = np.zeros((n_folds, n_categories))
    s = np.zeros((n_folds, n_categories, n_y))
    q = np.zeros((n_folds, n_categories, n_y))
    np.add.at(n, (fold, cat), stats["n"].to_numpy().astype(np.float64))
    for j in range(n_y):
        np.add.at(s[:, :, j], (fold, cat), stats[f"s{j}"].to_numpy())
        np.add.at(q[:, :, j], (fold, cat), _squares(stats, j))
    return Sums(n, s, q)


def fold_totals(totals: pl.DataFrame, n_folds: int, n_y: int) -> Sums:
    """The target's statistics per fold (every row, whatever its categories)."""
    fold = totals[FOLD].to_numpy().astype(np.int64)
    n = np.zeros(n_folds)
    s = np.zeros((n_folds, n_y))
    q = np.zeros((n_folds, n_y))
    n[fold] = totals["n"].to_numpy()
    for j in range(n_y):
        s[fold, j] = totals[f"s{j}"].to_numpy()
        q[fold, j] = _squares(totals, j)
    return Sums(n, s, q)


# --------------------------------------------------------------------------- #
# encodings
# --------------------------------------------------------------------------- #
def target_moments(total: Sums, center: float) -> tuple[FloatArray, FloatArray]:
    """The target's mean and variance (``numpy.var``) per summed number,
    from the statistics of the rows (a fold's complement or all)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        shifted = total.s / total.n
        variance = np.maximum(total.q / total.n - shifted * shifted, 0.0)
    return center + shifted, variance


def encodings(
    sums: Sums, mean: FloatArray, variance: FloatArray, center: float, smooth: float | None
) -> FloatArray:
    """Each category's encoding (``[category, y]``) as scikit-learn's
    ``_fit_encoding_fast`` (``smooth`` a float) or
    ``_fit_encoding_fast_auto_smooth`` (``smooth=None``, "auto") gives it.

    ``sums`` holds one column's counts (``[category]``) and sums
    (``[category, y]``) of the training rows; ``mean`` and ``variance``
    (``[y]``) are the training target's."""
    n = sums.n[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        if smooth is not None:
            shift = mean - center
            out = center + (smooth * shift + sums.s) / (smooth + n)
            return np.where(smooth + n == 0.0, mean, out)
        shifted = sums.s / n
        spread = np.maximum(sums.q - sums.s * shifted, 0.0)
        lam = variance * n / (variance * n + spread / n)
        out = lam * (center + shifted) + (1.0 - lam) * mean
        return np.where(np.isnan(lam), mean, out)


def cross_tables(
    per_fold: list[Sums], by_fold: Sums, center: float, smooth: float | None
) -> list[FloatArray]:
    """Per encoded column, the encodings fitted on every fold but ``k``
    (``[k, category, y]``), with one more category, the unknown one.

    As scikit-learn 1.9's ``fit_transform``, the unknown category's value is
    the target mean of the last fold's training rows, whatever the row's
    fold (scikit-learn overwrites every unknown row with each fold's mean)."""
    n_folds = by_fold.n.shape[0]
    unknown_mean = target_moments(by_fold.without(n_folds - 1), center)[0]
    moments = [target_moments(by_fold.without(k), center) for k in range(n_folds)]
    tables = []
    for sums in per_fold:
        table = np.empty((n_folds, sums.n.shape[1] + 1, sums.s.shape[2]))
        for k, (mean, variance) in enumerate(moments):
            table[k, :-1] = encodings(sums.without(k), mean, variance, center, smooth)
            table[k, -1] = unknown_mean
        tables.append(table)
    return tables
