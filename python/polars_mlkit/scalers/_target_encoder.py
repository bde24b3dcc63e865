"""TargetEncoder: scikit-learn's target encoding on Polars.

A fit reads the encoded columns and the target once: one ``group_by`` per
column over (category, fold) gives counts, sums and sums of squares
(``_target_stats``), and the encodings are scikit-learn's formulas on them.
``fit_transform`` is cross-fitted with scikit-learn's folds: the encoding
of a row in fold ``k`` is fitted on every other fold, found as the totals
minus fold ``k``'s statistics (no refit per fold). ``transform`` is one
elementwise expression per output column, the extension's category lookup
followed by a constant table, so a LazyFrame stays lazy and streams.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit import _checks
from polars_mlkit._encode import codes_expr
from polars_mlkit.scalers._categories import encoded_kinds, fitted_column, kind_of
from polars_mlkit.scalers._encoder_base import _plain_list
from polars_mlkit.scalers._encoder_inputs import encoder_input
from polars_mlkit.scalers._fitted import FittedTransformer
from polars_mlkit.scalers._inputs import Frame, _from_polars
from polars_mlkit.scalers._registry import register
from polars_mlkit.scalers._target_folds import row_folds
from polars_mlkit.scalers._target_json import (
    TARGET_FORMAT,
    TargetState,
    state_from_sklearn,
    target_to_json,
)
from polars_mlkit.scalers._target_stats import (
    FOLD,
    TARGET,
    TARGET_TYPES,
    code_table,
    cross_tables,
    encodings,
    fold_arrays,
    fold_totals,
    positions,
    resolve_target,
    statistics,
    target_moments,
    target_series,
)

TargetType: TypeAlias = Literal["auto", "binary", "continuous", "multiclass"]


@register
class TargetEncoder(FittedTransformer):
    """Each category as a shrunk mean of the target, as scikit-learn's
    ``TargetEncoder``.

    ``fit_transform`` is cross-fitted (each row encoded by a fit on the
    other folds) and gives scikit-learn's numbers on the same folds;
    ``fit(...).transform(...)`` encodes with the fit on all the data (use it
    for new data). An unseen category, or a missing value when none was seen
    at fit, becomes the target mean.

    Parameters
    ----------
    columns
        The columns to encode; ``None``: every column (but the target).
    target_type
        ``"auto"`` (scikit-learn's ``type_of_target``: non-integral floats
        are continuous, two classes binary, more multiclass), ``"binary"``,
        ``"continuous"`` or ``"multiclass"``.
    smooth
        ``"auto"`` (empirical Bayes shrinkage from each category's variance)
        or a float >= 0 (the weight of the target mean).
    cv
        The folds of ``fit_transform``: an int (scikit-learn's ``KFold`` for
        a continuous target, ``StratifiedKFold`` otherwise, with
        ``shuffle`` and ``random_state``), a scikit-learn splitter, an
        iterable of ``(train, test)`` index arrays, or the name of a column
        holding each row's fold number 0..cv-1 (it is not encoded, by
        ``fit`` either).
    categories
        ``"auto"`` (the values seen, sorted) or one list per encoded column,
        as scikit-learn's ``categories``; values outside it are unknown.
    shuffle, random_state
        How an int ``cv`` draws its folds, with scikit-learn's meaning
        (scikit-learn 1.9 deprecates them in favour of a splitter; here they
        stay, so that ``random_state=0`` gives the folds of
        ``KFold(cv, shuffle=True, random_state=0)``).

    Notes
    -----
    Decisions where scikit-learn is silent:

    - ``y`` is a Series, a 1-D array or the name of a column of ``X``. A
      named target column is not a feature: it is not encoded, not in
      ``feature_names_in_``, and passes through unchanged where it stood.
      A target with a null (or NaN) is an error naming it.
    - Encoded columns become Float64 and replace their source column where
      it stood; a multiclass target gives one column per class, named
      ``{column}_{class}`` (scikit-learn's ``get_feature_names_out``).
    - ``fit`` on a LazyFrame with a named target stays out of core: a pass
      for the target's type (and classes), then one for the statistics,
      counts, sums and sums of squares per category, all columns at once
      (memory: the distinct categories). ``fit_transform`` must give
      every row its fold, so it collects a LazyFrame and returns a
      LazyFrame over the result; ``y`` given as data with a LazyFrame also
      collects it.
    - With ``categories`` given, scikit-learn 1.9's arithmetic is kept so
      that the numbers are its numbers: at fit, a value outside the
      categories counts as the first category; in ``fit_transform`` every
      row of such a value gets the target mean of the last fold's training
      rows (``transform`` gives it ``target_mean_``).
    - The statistics are sums (a continuous target's around its mean), the
      cross-fitted ones the totals minus each fold's: the numbers equal
      scikit-learn's to rounding (about 1e-15), not bit for bit.
    - Explicit splits must be partitions: each row in one test fold and each
      train part every other row (the encodings of fold ``k`` are fitted on
      all the other folds).

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> df = pl.DataFrame({"city": ["a", "a", "b", "b", "b"], "y": [1.0, 3.0, 2.0, 4.0, 6.0]})
    >>> enc = pmk.TargetEncoder(target_type="continuous", smooth=0.0, cv=2, random_state=0)
    >>> enc.fit(df, "y").transform(pl.DataFrame({"city": ["a", "b", "zz"]}))["city"].to_list()
    [2.0, 4.0, 3.2]
    >>> enc.fit_transform(df, "y").columns
    ['city', 'y']
    """

    _param_names = (
        "columns",
        "target_type",
        "smooth",
        "cv",
        "categories",
        "shuffle",
        "random_state",
    )
    _json_format: ClassVar[str] = TARGET_FORMAT

    def __init__(
        self,
        columns: Sequence[str] | str | None = None,
        target_type: TargetType = "auto",
        smooth: Literal["auto"] | float = "auto",
        cv: Any = 5,
        categories: Any = "auto",
        shuffle: bool = True,
        random_state: Any = None,
    ) -> None:
        self.columns = columns
        self.target_type = target_type
        self.smooth = smooth
        self.cv = cv
        self.categories = categories
        self.shuffle = shuffle
        self.random_state = random_state

    _preserves: ClassVar[list[str]] = ["float64"]
    _input_tags: ClassVar[dict[str, bool]] = {
        "allow_nan": True,
        "string": True,
        "categorical": True,
    }
    _needs_target: ClassVar[bool] = True

    # ------------------------------------------------------------- checking
    def _checked_options(self, function: str) -> dict[str, Any]:
        """Every argument checked; builtin-typed options."""
        options: dict[str, Any] = {"columns": _checks.names(self.columns, "columns", function)}
        if self.target_type not in TARGET_TYPES:
            allowed = ", ".join(repr(t) for t in TARGET_TYPES)
            msg = f"{function}: target_type must be one of {allowed}, got {self.target_type!r}"
            raise ValueError(msg)
        options["target_type"] = self.target_type
        smooth = self.smooth
        if isinstance(smooth, str) and smooth == "auto":
            options["smooth"] = "auto"
        elif (
            isinstance(smooth, numbers.Real)
            and not isinstance(smooth, bool)
            and float(smooth) >= 0.0
            and np.isfinite(float(smooth))
        ):
            options["smooth"] = float(smooth)
        else:
            msg = f"{function}: smooth must be 'auto' or a float >= 0, got {smooth!r}"
            raise ValueError(msg)
        categories = self.categories
        if isinstance(categories, str):
            if categories != "auto":
                msg = (
                    f"{function}: categories must be 'auto' or a list of lists, got {categories!r}"
                )
                raise ValueError(msg)
            options["categories"] = "auto"
        elif isinstance(categories, (Sequence, np.ndarray)):
            options["categories"] = [_plain_list(c, function) for c in categories]
        else:
            msg = f"{function}: categories must be 'auto' or a list of lists, got {categories!r}"
            raise TypeError(msg)
        cv = 5 if self.cv is None else self.cv
        if isinstance(cv, bool) or (isinstance(cv, numbers.Integral) and int(cv) < 2):
            msg = f"{function}: cv as an int must be >= 2, got {self.cv!r}"
            raise ValueError(msg)
        options["cv"] = int(cv) if isinstance(cv, numbers.Integral) else cv
        if not isinstance(self.shuffle, (bool, np.bool_)):
            msg = f"{function}: shuffle must be True or False, got {self.shuffle!r}"
            raise TypeError(msg)
        options["shuffle"] = bool(self.shuffle)
        options["random_state"] = self.random_state
        return options

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> TargetEncoder:
        """Learn each category's encoding from ``X`` and the target ``y``.

        Parameters
        ----------
        X
            A DataFrame or LazyFrame, or a 2-D numpy array / pandas DataFrame.
        y
            The target: a Series, a 1-D array, or the name of a column of ``X``.

        Returns
        -------
        The fitted encoder (the same object).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"c": ["a", "b", "a", "b"], "y": [0, 1, 1, 1]})
        >>> enc = pmk.TargetEncoder(smooth=1.0).fit(df, "y")
        >>> enc.target_type_, enc.target_mean_, enc.encodings_[0].tolist()
        ('binary', 0.75, [0.5833333333333334, 0.9166666666666666])
        """
        self._state = self._learn(X, y, self._name("fit"), cross=False)[0]
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        """Fit on ``X`` and ``y`` and encode ``X`` cross-fitted: each row by
        the encodings fitted on the folds it is not in (scikit-learn's
        ``fit_transform`` with the same folds).

        Parameters
        ----------
        X
            The training data.
        y
            The target: a Series, a 1-D array, or the name of a column of ``X``.
        **fit_params
            Not supported (scikit-learn routes ``groups`` here; pass a
            splitter's splits as ``cv`` instead).

        Returns
        -------
        ``X`` encoded, of the kind :meth:`transform` gives.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"c": ["a", "a", "b", "b"], "y": [1.0, 3.0, 2.0, 6.0],
        ...                    "fold": [0, 1, 0, 1]})
        >>> enc = pmk.TargetEncoder(target_type="continuous", smooth=0.0, cv="fold")
        >>> out = enc.fit_transform(df, "y")
        >>> out["c"].to_list()
        [3.0, 1.0, 6.0, 2.0]
        """
        function = self._name("fit_transform")
        if fit_params:
            msg = f"{function}: unexpected arguments {sorted(fit_params)}"
            raise TypeError(msg)
        state, frame, kind, data, folds, cross = self._learn(X, y, function, cross=True)
        self._state = state
        out: dict[str, list[pl.Series]] = {}
        codes = data.select(
            [codes_expr(pl.col(c.name), code_table(c), c.kind, function) for c in state.columns]
        )
        for i, column in enumerate(state.columns):
            table = cross[i]  # [fold, category (+ unknown), y]
            found = table[folds, codes.to_series(i).to_numpy().astype(np.int64)]
            names = state.output_names(column.name)
            out[column.name] = [pl.Series(n, found[:, j]) for j, n in enumerate(names)]
        assert isinstance(frame, pl.DataFrame)
        selected: list[Any] = []
        for name in frame.columns:
            selected.extend(out.get(name, [pl.col(name)]))
        result: Frame = frame.select(selected)
        if kind == "lazy":
            result = result.lazy()
        return _from_polars(result, kind, self._output(), function)

    def _learn(self, X: Any, y: Any, function: str, cross: bool) -> Any:
        """The fitted state; with ``cross``, also the frame, its kind, the
        frame read, each row's fold and each column's table per fold."""
        options = self._checked_options(function)
        frame, kind = encoder_input(X, function, fitting=True)
        if y is None:
            msg = f"{function} requires y to be passed, but the target y is None."
            raise ValueError(msg)
        if cross and isinstance(frame, pl.LazyFrame):
            frame = frame.collect()
        target_name = None
        schema = frame.collect_schema()
        if isinstance(y, str) and kind != "numpy":
            if y not in schema:
                msg = f"{function}: the target column {y!r} is not in the frame"
                raise pl.exceptions.ColumnNotFoundError(msg)
            target_name = y
            data = frame.with_columns(pl.col(y).alias(TARGET))
        else:
            series = target_series(y, function)
            if isinstance(frame, pl.LazyFrame):
                frame = frame.collect()
            if len(series) != frame.height:
                msg = (
                    f"{function}: Found input variables with inconsistent numbers of samples: "
                    f"[{frame.height}, {len(series)}]"
                )
                raise ValueError(msg)
            data = frame.with_columns(series)
        fold_column = options["cv"] if isinstance(options["cv"], str) else None
        skip = [n for n in (target_name, fold_column) if n is not None and n in schema]
        if cross and fold_column is not None and fold_column not in schema:
            msg = f"{function}: the fold column {fold_column!r} is not in the frame"
            raise pl.exceptions.ColumnNotFoundError(msg)
        kinds = encoded_kinds(schema, options, function, skip)
        target = resolve_target(data, options["target_type"], function)
        rows = 0
        folds = np.zeros(0, dtype=np.int64)
        if cross:
            assert isinstance(data, pl.DataFrame)
            rows = data.height
            if rows:
                folds = row_folds(data, options, target, fold_column, function)
            data = data.with_columns(pl.Series(FOLD, folds))
        else:
            data = data.with_columns(pl.lit(0, dtype=pl.Int64).alias(FOLD))
        try:
            stats, totals = statistics(data, kinds, target)
        except pl.exceptions.InvalidOperationError as err:
            # Integer categories travel as Int64: UInt64 values above its range.
            first = str(err).splitlines()[0]
            msg = f"{function}: a column's values cannot be read as categories ({first})"
            raise ValueError(msg) from err
        rows = int(totals["n"].sum())
        if rows == 0:
            msg = f"{function}: Found array with 0 sample(s) while a minimum of 1 is required."
            raise ValueError(msg)
        n_folds = int(folds.max()) + 1 if cross else 1
        n_y = target.columns()
        given = options["categories"]
        columns, per_fold = [], []
        for i, (name, column_kind) in enumerate(kinds.items()):
            found = stats[i]
            counts = found.group_by("value").agg(pl.col("n").sum().cast(pl.UInt64).alias("count"))
            column = fitted_column(
                name,
                schema[name],
                column_kind,
                counts,
                None if given == "auto" else given[i],
                "ignore",
                function,
            )
            columns.append(column)
            # As scikit-learn's fit (its unknown codes are 0): a value outside
            # the given categories counts as the first category.
            where = positions(column, found["value"]).fill_null(0)
            per_fold.append(fold_arrays(found, where, column.n_categories, n_folds, n_y))
        by_fold = fold_totals(totals, n_folds, n_y)
        mean, variance = target_moments(by_fold.total(), target.center)
        smooth = None if options["smooth"] == "auto" else options["smooth"]
        fitted = [encodings(f.total(), mean, variance, target.center, smooth) for f in per_fold]
        features = [n for n in schema.names() if n not in skip]
        state = TargetState(
            options=options,
            columns=columns,
            encodings=fitted,
            target_type=target.target_type,
            classes=target.classes,
            target_mean=[float(m) for m in mean],
            target_name=target_name,
            feature_names_in=None if kind == "numpy" else features,
            n_features_in=len(features),
            n_samples_seen=rows,
        )
        if not cross:
            return state, frame, kind, data, folds, []
        tables = cross_tables(per_fold, by_fold, target.center, smooth)
        return state, frame, kind, data, folds, tables

    def _fit_from_batches(self, schema: pl.Schema, map_batches: Any, function: str) -> Any:
        msg = (
            f"{function}: a TargetEncoder needs a target y, which a fit from batches does not "
            "have; fit it on a DataFrame or LazyFrame (fit(frame, 'target')) and transform "
            "batches with the fitted encoder"
        )
        raise TypeError(msg)

    # ------------------------------------------------------- fitted params
    @property
    def categories_(self) -> list[npt.NDArray[Any]]:
        """Each encoded column's categories, as scikit-learn's ``categories_``."""
        return [c.categories_array() for c in self._fitted("categories_").columns]

    @property
    def encodings_(self) -> list[npt.NDArray[np.float64]]:
        """The encodings fitted on all the data, as scikit-learn's
        ``encodings_`` (multiclass: column ``i``, class ``j`` at ``i * n_classes + j``)."""
        state = self._fitted("encodings_")
        return [np.array(e[:, j]) for e in state.encodings for j in range(e.shape[1])]

    @property
    def target_mean_(self) -> Any:
        """The target's mean (a float; per class for a multiclass target)."""
        state = self._fitted("target_mean_")
        if state.target_type == "multiclass":
            return np.asarray(state.target_mean)
        return state.target_mean[0]

    @property
    def target_type_(self) -> str:
        """The target's type: ``"binary"``, ``"continuous"`` or ``"multiclass"``."""
        return str(self._fitted("target_type_").target_type)

    @property
    def classes_(self) -> npt.NDArray[Any] | None:
        """The classes of a binary or multiclass target (sorted), else ``None``."""
        state = self._fitted("classes_")
        return None if state.classes is None else np.asarray(state.classes)

    @property
    def columns_(self) -> list[str]:
        """The encoded columns (``columns=None`` resolved at fit time)."""
        return [c.name for c in self._fitted("columns_").columns]

    # ------------------------------------------------------------ transform
    def expressions(self) -> list[pl.Expr]:
        """Elementwise expressions giving the encoded columns (Float64).

        Returns
        -------
        list of pl.Expr
            One per output column (one per class of a multiclass target).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"c": ["a", "b", "a"], "y": [1.0, 2.0, 3.0]})
        >>> enc = pmk.TargetEncoder(target_type="continuous", smooth=0.0).fit(df, "y")
        >>> pl.LazyFrame({"c": ["b"]}).select(enc.expressions()).collect().item()
        2.0
        """
        state = self._fitted("expressions")
        return [e for exprs in self._column_exprs(state).values() for e in exprs]

    def _column_exprs(self, state: TargetState) -> dict[str, list[pl.Expr]]:
        function = self._name("transform")
        out = {}
        for column, table in zip(state.columns, state.encodings, strict=True):
            codes = codes_expr(pl.col(column.name), code_table(column), column.kind, function)
            old = list(range(column.n_categories + 1))
            out[column.name] = [
                codes.replace_strict(
                    old, [*table[:, j].tolist(), state.target_mean[j]], return_dtype=pl.Float64
                ).alias(name)
                for j, name in enumerate(state.output_names(column.name))
            ]
        return out

    def transform(self, X: Any) -> Any:
        """Encode the fitted columns of ``X`` with the encodings fitted on all
        the training data; other columns pass through.

        Parameters
        ----------
        X
            Data with the fitted columns (DataFrame in, DataFrame out;
            LazyFrame in, LazyFrame out).

        Returns
        -------
        ``X`` with the fitted columns encoded.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"c": ["a", "b", "c", "a", "c", "b"], "y": [0, 1, 2, 0, 2, 1]})
        >>> enc = pmk.TargetEncoder(columns="c").fit(df, "y")
        >>> enc.transform(df.lazy()).collect_schema().names()
        ['c_0', 'c_1', 'c_2', 'y']
        """
        function = self._name("transform")
        state = self._fitted("transform")
        frame, kind = encoder_input(X, function)
        schema = frame.collect_schema()
        if kind == "numpy" and len(schema) != state.n_features_in:
            msg = (
                f"{function}: X has {len(schema)} features, but {type(self).__name__} is "
                f"expecting {state.n_features_in} features as input."
            )
            raise ValueError(msg)
        exprs = self._column_exprs(state)
        for column in state.columns:
            name = column.name
            if name not in schema:
                msg = f"{function}: the fitted column {name!r} is not in the frame"
                raise pl.exceptions.ColumnNotFoundError(msg)
            if kind_of(schema[name]) != column.kind:
                msg = (
                    f"{function}: column {name!r} has dtype {schema[name]} but was fitted on "
                    f"{column.dtype} ({column.kind} values)"
                )
                raise TypeError(msg)
        selected: list[pl.Expr] = []
        for name in schema.names():
            selected.extend(exprs.get(name, [pl.col(name)]))
        out: Frame = frame.select(selected)
        return _from_polars(out, kind, self._output(), function)

    def get_feature_names_out(self, input_features: Any = None) -> npt.NDArray[np.object_]:
        """Output column names: the input's, with ``{column}_{class}`` for the
        encoded columns of a multiclass target.

        Parameters
        ----------
        input_features
            Optional input names (equal to ``feature_names_in_`` when fitted on
            named columns).

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> import numpy as np
        >>> import polars_mlkit as pmk
        >>> X = np.array([["a"], ["b"], ["a"]], dtype=object)
        >>> pmk.TargetEncoder().fit(X, [0, 1, 2]).get_feature_names_out().tolist()
        ['x0_0', 'x0_1', 'x0_2']
        """
        state = self._fitted("get_feature_names_out")
        fitted = state.feature_names_in or [f"x{j}" for j in range(state.n_features_in)]
        names = fitted
        if input_features is not None:
            names = [str(v) for v in input_features]
            if (state.feature_names_in is not None and names != fitted) or len(names) != len(
                fitted
            ):
                msg = (
                    f"{self._name('get_feature_names_out')}: input_features is not equal to "
                    "feature_names_in_"
                )
                raise ValueError(msg)
        encoded = {c.name for c in state.columns}
        out: list[str] = []
        for given, name in zip(names, fitted, strict=True):
            out.extend(state.output_names(given) if name in encoded else [given])
        return np.asarray(out, dtype=object)

    def to_json(self) -> str:
        """The fitted encoder as plain, versioned JSON (format
        ``polars-mlkit/target-encoder``); :func:`polars_mlkit.load` gives it back.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> enc = pmk.TargetEncoder(smooth=0.0).fit(pl.DataFrame({"c": ["a", "b"]}), [1.0, 2.5])
        >>> pmk.load(enc.to_json()).transform(pl.DataFrame({"c": ["b"]})).item()
        2.5
        """
        return target_to_json(self.get_params(), self._fitted("to_json"))

    @classmethod
    def _from_sklearn(cls, fitted: Any) -> TargetEncoder:
        """The fitted encoder equal to a fitted scikit-learn ``TargetEncoder``."""
        shuffle = fitted.shuffle if isinstance(fitted.shuffle, bool) else True
        seed = fitted.random_state
        encoder = cls(
            target_type=fitted.target_type,
            smooth=fitted.smooth,
            cv=fitted.cv if isinstance(fitted.cv, (int, str)) or fitted.cv is None else 5,
            categories=fitted.categories,
            shuffle=shuffle,
            random_state=None
            if isinstance(seed, str) or not isinstance(seed, (int, type(None)))
            else seed,
        )
        options = encoder._checked_options(f"{cls.__name__}._from_sklearn")
        encoder._state = state_from_sklearn(fitted, options)
        return encoder
