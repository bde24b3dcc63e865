"""The folds of a cross-fitted target encoding: each row's test fold, as
scikit-learn's ``check_cv`` splits (``KFold`` for a continuous target,
``StratifiedKFold`` otherwise, drawn with the same random numbers), from a
splitter, from explicit ``(train, test)`` splits, or from a fold column.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit.scalers._target_stats import TARGET, Target


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
    order = np.arange(n, dtype=np.int32 if n < (1 << 31) else np.int64)
    if shuffle:
        _random_state(random_state, function).shuffle(order)
    sizes = np.full(k, n // k, dtype=np.int64)
    sizes[: n % k] += 1
    folds = np.empty(n, dtype=np.int64)
    folds[order] = np.repeat(np.arange(k), sizes)
    return folds


def stratified_kfold(
    labels: pl.Series, k: int, shuffle: bool, random_state: Any, function: str
) -> npt.NDArray[Any]:
    """Each row's test fold under scikit-learn's ``StratifiedKFold(k, shuffle,
    random_state)`` (its ``_make_test_folds``: classes numbered in order of
    first appearance, the same draws), without sorting the rows."""
    rng = _random_state(random_state, function)
    first = labels.arg_unique()
    appearance = labels.gather(first)
    n_classes = len(appearance)
    encoded = labels.replace_strict(appearance, range(n_classes), return_dtype=pl.Int64).to_numpy()
    counts = np.bincount(encoded, minlength=n_classes)
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
    ordered = np.repeat(np.arange(n_classes), counts)  # np.sort(encoded)
    allocation = np.asarray([np.bincount(ordered[i::k], minlength=n_classes) for i in range(k)])
    parts = []
    for c in range(n_classes):
        for_class = np.arange(k).repeat(allocation[:, c])
        if shuffle:
            rng.shuffle(for_class)
        parts.append(for_class)
    # The rows of each class in order: a stable sort by class.
    small = encoded.astype(np.int16) if n_classes < (1 << 15) else encoded
    folds = np.empty(len(labels), dtype=np.int64)
    folds[np.argsort(small, kind="stable")] = np.concatenate(parts)
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


def row_folds(
    data: pl.DataFrame,
    options: dict[str, Any],
    target: Target,
    fold_column: str | None,
    function: str,
) -> npt.NDArray[Any]:
    """Each row's test fold, as scikit-learn's ``check_cv`` would split
    (``options``: the encoder's checked ``cv``, ``shuffle``, ``random_state``)."""
    cv = options["cv"]
    n = data.height
    if fold_column is not None:
        return folds_from_column(data[fold_column], fold_column, function)
    labels = data[TARGET]
    if isinstance(cv, int):
        shuffle, seed = options["shuffle"], options["random_state"]
        if not shuffle and seed is not None:
            msg = (
                f"{function}: Setting a random_state has no effect since shuffle is False. "
                "You should leave random_state to its default (None), or set shuffle=True."
            )
            raise ValueError(msg)
        if target.target_type == "continuous":
            return kfold(n, cv, shuffle, seed, function)
        return stratified_kfold(labels, cv, shuffle, seed, function)
    if hasattr(cv, "split"):
        splits = cv.split(np.zeros((n, 1)), labels.to_numpy())
    elif hasattr(cv, "__iter__"):
        splits = cv
    else:
        msg = (
            f"{function}: cv must be an int, a splitter, an iterable of (train, test) "
            f"index arrays or a fold column's name, got {cv!r}"
        )
        raise TypeError(msg)
    return folds_from_splits(splits, n, function)
