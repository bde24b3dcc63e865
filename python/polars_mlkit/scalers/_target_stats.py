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

import numbers
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit.scalers._categories import value_expr
from polars_mlkit.scalers._inputs import Frame

#: The target and fold columns a fit adds to the frame it reads.
TARGET = "__pmk_target"
FOLD = "__pmk_fold"

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
# folds
# --------------------------------------------------------------------------- #
def _random_state(seed: Any, function: str) -> np.random.RandomState:
    """scikit-learn's ``check_random_state``."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.RandomState(int(seed))
    if isinstance(seed, np.random.RandomState):
        return seed
    msg = f"{function}: random_state must be None, an int or a numpy RandomState, got {seed!r}"
    raise ValueError(msg)


def kfold(n: int, k: int, shuffle: bool, random_state: Any, function: str) -> npt.NDArray[Any]:
    """Each row's test fold under scikit-learn's ``KFold(k, shuffle, random_state)``."""
    if k > n:
        msg = (
            f"{function}: Cannot have number of splits n_splits={k} greater than the number "
            f"of samples: n_samples={n}."
        )
        raise ValueError(msg)
    order = np.arange(n)
    if shuffle:
        _random_state(random_state, function).shuffle(order)
    sizes = np.full(k, n // k, dtype=np.int64)
    sizes[: n % k] += 1
    folds = np.empty(n, dtype=np.int64)
    folds[order] = np.repeat(np.arange(k), sizes)
    return folds


def stratified_kfold(
    labels: npt.NDArray[Any], k: int, shuffle: bool, random_state: Any, function: str
) -> npt.NDArray[Any]:
    """Each row's test fold under scikit-learn's ``StratifiedKFold(k, shuffle,
    random_state)`` (its ``_make_test_folds``, same draws)."""
    rng = _random_state(random_state, function)
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    _, by_appearance = np.unique(first, return_inverse=True)
    encoded = by_appearance[inverse.ravel()]
    n_classes = len(first)
    counts = np.bincount(encoded)
    if np.all(k > counts):
        msg = (
            f"{function}: n_splits={k} cannot be greater than the number of members in each class."
        )
        raise ValueError(msg)
    if k > counts.min():
        warnings.warn(
            f"The least populated class in y has only {counts.min()} members, which is less "
            f"than n_splits={k}.",
            UserWarning,
            stacklevel=4,
        )
    ordered = np.sort(encoded)
    allocation = np.asarray([np.bincount(ordered[i::k], minlength=n_classes) for i in range(k)])
    folds = np.empty(len(labels), dtype=np.int64)
    for c in range(n_classes):
        for_class = np.arange(k).repeat(allocation[:, c])
        if shuffle:
            rng.shuffle(for_class)
        folds[encoded == c] = for_class
    return folds


def _cover_error(function: str) -> ValueError:
    return ValueError(
        f"{function}: Validation indices from `cv` must cover each sample index exactly once "
        "with no overlap. Pass a splitter with non-overlapping validation folds as `cv`."
    )


def folds_from_splits(splits: Iterable[Any], n: int, function: str) -> npt.NDArray[Any]:
    """Each row's test fold from ``(train, test)`` index pairs; every row in
    exactly one test fold, and each train part every other row."""
    folds = np.full(n, -1, dtype=np.int64)
    trains = []
    for k, pair in enumerate(splits):
        try:
            train, test = pair
        except (TypeError, ValueError) as err:
            msg = f"{function}: cv must yield (train, test) index pairs, got {pair!r}"
            raise TypeError(msg) from err
        test = np.asarray(test)
        if test.dtype == bool:
            test = np.flatnonzero(test)
        test = test.astype(np.int64, copy=False)
        if test.size and (test.min() < -n or test.max() >= n):
            msg = f"{function}: the test indices of split {k} are out of range for {n} rows"
            raise ValueError(msg)
        if np.any(folds[test] != -1):
            raise _cover_error(function)
        folds[test] = k
        trains.append(np.asarray(train))
    if np.any(folds == -1):
        raise _cover_error(function)
    for k, train in enumerate(trains):
        mask = np.zeros(n, dtype=bool)
        mask[train] = True
        if not np.array_equal(mask, folds != k):
            msg = (
                f"{function}: the train indices of split {k} must be every row outside its test "
                "fold (the encodings are fitted on all the other folds)"
            )
            raise ValueError(msg)
    if len(trains) < 2:
        msg = f"{function}: cv must give at least 2 folds, got {len(trains)}"
        raise ValueError(msg)
    return folds


def folds_from_column(values: pl.Series, name: str, function: str) -> npt.NDArray[Any]:
    """Each row's fold from a fold column: integers covering 0..K-1, no nulls."""
    if not values.dtype.is_integer():
        msg = f"{function}: the fold column {name!r} has dtype {values.dtype}; expected integers"
        raise TypeError(msg)
    if values.null_count():
        msg = f"{function}: the fold column {name!r} has {values.null_count()} null value(s)"
        raise ValueError(msg)
    present = set(values.unique().to_list())
    k = (max(present) + 1) if present else 0
    missing = sorted(set(range(k)) - present)
    if min(present, default=0) < 0 or missing or k < 2:
        msg = (
            f"{function}: the fold column {name!r} must hold the fold numbers 0..cv-1, each at "
            f"least once, with cv >= 2; it holds {sorted(present)[:20]}"
            + (f" (missing {missing[:20]})" if missing else "")
        )
        raise ValueError(msg)
    folds: npt.NDArray[Any] = values.cast(pl.Int64).to_numpy()
    return folds


# --------------------------------------------------------------------------- #
# statistics
# --------------------------------------------------------------------------- #
def _aggs(target: Target) -> list[pl.Expr]:
    n_y = target.columns()
    sums = [pl.col(f"y{j}").sum().alias(f"s{j}") for j in range(n_y)]
    squares = [(pl.col(f"y{j}") ** 2).sum().alias(f"q{j}") for j in range(n_y)]
    return [pl.len().alias("n"), *sums, *squares]


def statistics(
    data: Frame, kinds: dict[str, str], target: Target
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """One ``group_by`` per encoded column over (category, fold) and one over
    the folds, run together: counts ``n``, sums ``s{j}`` and sums of squares
    ``q{j}`` of the summed target numbers. The frame must hold the target
    and fold columns."""
    summed = data.lazy().select(
        *[value_expr(name, kind).alias(name) for name, kind in kinds.items()],
        pl.col(FOLD).cast(pl.Int64),
        *target.exprs(),
    )
    aggs = _aggs(target)
    queries = [summed.group_by(pl.col(name).alias("value"), FOLD).agg(aggs) for name in kinds]
    queries.append(summed.group_by(FOLD).agg(aggs))
    found = pl.collect_all(queries)
    return dict(zip(kinds, found[:-1], strict=True)), found[-1]


@dataclass
class Sums:
    """Counts (``[..., category]``), sums and sums of squares
    (``[..., category, y]``) of one encoded column; the leading axis is the
    fold when there is one."""

    n: FloatArray
    s: FloatArray
    q: FloatArray


def fold_arrays(
    stats: pl.DataFrame, positions: pl.Series, n_categories: int, n_folds: int, n_y: int
) -> Sums:
    """The statistics as arrays by fold and category (``positions``: each
    statistics row's category position, null where it is no category)."""
    keep = positions.is_not_null().to_numpy()
    cat = positions.to_numpy()[keep].astype(np.int64)
    fold = stats[FOLD].to_numpy()[keep].astype(np.int64)
    n = np.zeros((n_folds, n_categories))
    s = np.zeros((n_folds, n_categories, n_y))
    q = np.zeros((n_folds, n_categories, n_y))
    np.add.at(n, (fold, cat), stats["n"].to_numpy()[keep].astype(np.float64))
    for j in range(n_y):
        np.add.at(s[:, :, j], (fold, cat), stats[f"s{j}"].to_numpy()[keep])
        np.add.at(q[:, :, j], (fold, cat), stats[f"q{j}"].to_numpy()[keep])
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
        q[fold, j] = totals[f"q{j}"].to_numpy()
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
