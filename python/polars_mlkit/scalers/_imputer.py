"""``SimpleImputer``: fill missing values with a fitted statistic, as
scikit-learn's ``sklearn.impute.SimpleImputer``. Its statistics are in
``_imputer_state``, its JSON text in ``_imputer_json``."""

from __future__ import annotations

import math
import numbers
import types
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit import _checks
from polars_mlkit._batches import MapBatches, frame_batches, lazy_batches
from polars_mlkit.scalers._encoder_inputs import encoder_input
from polars_mlkit.scalers._fitted import FittedTransformer
from polars_mlkit.scalers._imputer_exprs import (
    checked_frame,
    impute_expr,
    indicator_exprs,
    unseen_groups,
)
from polars_mlkit.scalers._imputer_fit import ImputerState, merge_states, state_from_batches
from polars_mlkit.scalers._imputer_json import IMPUTER_FORMAT, imputer_to_json
from polars_mlkit.scalers._imputer_state import KEY, STRATEGIES
from polars_mlkit.scalers._inputs import Frame, _from_polars
from polars_mlkit.scalers._registry import register


def _missing_values(value: Any, function: str) -> Any:
    """``None`` for null/NaN, else the value (a number or a string)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str) or (
        isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ):
        return value
    msg = (
        f"{function}: missing_values must be None (null, and NaN in floats), NaN, a finite "
        f"number or a string, got {value!r}"
    )
    raise TypeError(msg)


class _unless_median:
    """A method that exists unless ``strategy="median"`` (as scikit-learn's
    ``available_if``): exact medians do not merge from partial statistics."""

    def __init__(self, method: Callable[..., Any]) -> None:
        self.method = method
        self.__doc__ = method.__doc__

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self.method
        if getattr(obj, "strategy", None) == "median":
            msg = (
                "SimpleImputer.partial_fit: strategy='median' has no exact merge of partial "
                "statistics, so there is no partial_fit; fit on all the data (a LazyFrame is "
                "read in batches, in bounded memory) or use polars_mlkit.ray.fit"
            )
            raise AttributeError(msg)
        return types.MethodType(self.method, obj)


@register
class SimpleImputer(FittedTransformer):
    """Replace missing values by a per-column statistic, as scikit-learn's
    ``SimpleImputer`` (same statistics, same output columns).

    Parameters
    ----------
    columns
        Columns to impute; ``None`` means every column (except ``by``) whose
        dtype the strategy takes: numeric and numeric Array/List (vector)
        columns for ``mean``/``median``; numeric, String, Categorical, Enum
        and Boolean columns for ``most_frequent``/``constant`` (with a
        ``missing_values`` given, only the columns it applies to).
    strategy
        ``"mean"``, ``"median"``, ``"most_frequent"`` (ties: the smallest
        value, as scikit-learn) or ``"constant"`` (``fill_value``).
    fill_value
        The constant; ``None`` means 0 for numbers, ``"missing_value"`` for
        text and False for Boolean columns. It must suit each column's dtype.
    missing_values
        ``None`` (or NaN): a null, and NaN in float columns and float
        vectors, is missing. A number (numeric columns) or a string (text
        columns): that value is missing; nulls are then neither counted nor
        filled, and NaN in a float column is an error, as scikit-learn's
        input check has it.
    add_indicator
        Add a Boolean ``missingindicator_{column}`` column, true where the
        value was missing, for each column that had a missing value at fit
        time (scikit-learn's ``features="missing-only"``).
    keep_empty_features
        Keep a column without any value at fit time and fill it with 0
        (``fill_value`` under ``constant``). By default such a column is
        dropped from the output, as scikit-learn drops it.
    by
        Fit one statistic per group of these columns. A group seen at
        transform time but not at fit time is an error: a ``ValueError``
        naming the groups for a DataFrame; for a LazyFrame, Polars'
        ``InvalidOperationError`` from ``replace_strict`` when it is
        collected, except that a null group unseen at fit time keeps its
        missing values (null).

    Notes
    -----
    Output: the imputed columns replace their source columns where they
    stood, other columns pass through, and the indicator columns come last
    (in the order of the fitted frame), so a frame of imputed columns gives
    scikit-learn's ``get_feature_names_out``. Dtypes: ``mean`` and
    ``median`` give Float32 for a Float32 column and Float64 otherwise
    (integers, Decimal); ``most_frequent`` and ``constant`` keep the dtype
    (Decimal reads as Float64); vectors keep their container.

    Vectors (``Array``/``List`` of numbers, one length): each dimension has
    its own statistic, as scikit-learn on the 2-D matrix: a null row is
    filled with the vector of statistics, and a null or NaN element inside
    a vector with its dimension's statistic (with ``by=``, the group's).
    The indicator of a vector column is true where the row is null or has a
    missing element. A dimension without any value stays missing (0 with
    ``keep_empty_features``); a vector column without any value is dropped.

    Infinity in a numeric column is an error at fit time, as scikit-learn's.
    A group without any value of a column keeps its missing values (null),
    unless ``keep_empty_features``. A kept empty text column stays missing
    (scikit-learn would put the number 0 in it).

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> df = pl.DataFrame({"x": [1, None, 3], "c": ["a", None, "a"]})
    >>> pmk.SimpleImputer(columns="x").fit_transform(df)["x"].to_list()
    [1.0, 2.0, 3.0]
    >>> imp = pmk.SimpleImputer(strategy="most_frequent", add_indicator=True)
    >>> imp.fit_transform(df).rows()
    [(1, 'a', False, False), (1, 'a', True, True), (3, 'a', False, False)]
    """

    _json_format = IMPUTER_FORMAT
    _param_names = (
        "columns",
        "strategy",
        "fill_value",
        "missing_values",
        "add_indicator",
        "keep_empty_features",
        "by",
    )

    def __init__(
        self,
        columns: Sequence[str] | str | None = None,
        strategy: str = "mean",
        fill_value: Any = None,
        missing_values: Any = None,
        add_indicator: bool = False,
        keep_empty_features: bool = False,
        by: Sequence[str] | str | None = None,
    ) -> None:
        self.columns = columns
        self.strategy = strategy
        self.fill_value = fill_value
        self.missing_values = missing_values
        self.add_indicator = add_indicator
        self.keep_empty_features = keep_empty_features
        self.by = by

    _input_tags: ClassVar[dict[str, bool]] = {"allow_nan": True, "string": True}

    # ------------------------------------------------------------- checking
    def _checked_options(self, function: str) -> dict[str, Any]:
        """Every argument checked; builtin-typed options for this fit."""
        if self.strategy not in STRATEGIES:
            allowed = ", ".join(repr(s) for s in STRATEGIES)
            msg = f"{function}: strategy must be one of {allowed}, got {self.strategy!r}"
            raise ValueError(msg)
        fill = (
            self.fill_value.item() if isinstance(self.fill_value, np.generic) else self.fill_value
        )
        if fill is not None and not isinstance(fill, (str, bool, numbers.Real)):
            msg = f"{function}: fill_value must be None, a number, a string or a bool, got {fill!r}"
            raise TypeError(msg)
        return {
            "columns": _checks.names(self.columns, "columns", function),
            "strategy": self.strategy,
            "fill_value": fill,
            "missing_values": _missing_values(self.missing_values, function),
            "add_indicator": _checks.flag(self.add_indicator, "add_indicator", function),
            "keep_empty_features": _checks.flag(
                self.keep_empty_features, "keep_empty_features", function
            ),
            "by": _checks.by_names(self.by, function),
        }

    def _fitted(self, function: str) -> ImputerState:
        state: ImputerState = super()._fitted(function)
        return state

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> SimpleImputer:
        """Learn each column's statistic from ``X``.

        ``mean``, ``most_frequent`` and ``constant`` read the data once
        (``mean`` with the moments kernel of ``StandardScaler``: the same
        bits however the data is chunked). ``median``: a DataFrame's
        medians are selected in that same query (``RobustScaler``'s
        in-memory selection); a LazyFrame's take ``RobustScaler``'s exact
        quantile passes (a census, then a gather), with the same numbers.
        A LazyFrame is read in batches, in bounded memory; a ``List``
        vector column's length takes one more pass first.

        Parameters
        ----------
        X
            A DataFrame or LazyFrame, or a 2-D numpy array / pandas DataFrame.
        y
            Ignored (scikit-learn compatibility).

        Returns
        -------
        The fitted imputer (the same object).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> lazy = pl.LazyFrame({"x": [1.0, None, 5.0, 2.0]})
        >>> imp = pmk.SimpleImputer(strategy="median").fit(lazy)
        >>> imp.statistics_.tolist()
        [2.0]
        """
        self._state = self._compute_state(X, "fit")
        return self

    @_unless_median
    def partial_fit(self, X: Any, y: Any = None) -> SimpleImputer:
        """Add one more batch to the fitted statistics (``mean``,
        ``most_frequent``, ``constant``: sums, counts and value counts add
        exactly). With ``strategy="median"`` there is no exact merge, so
        there is no ``partial_fit`` attribute (an ``AttributeError`` that
        says so), as ``RobustScaler`` has none.

        Parameters
        ----------
        X
            The next batch.
        y
            Ignored (scikit-learn compatibility).

        Returns
        -------
        The updated imputer (the same object).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> imp = pmk.SimpleImputer().partial_fit(pl.DataFrame({"x": [1.0, None]}))
        >>> imp.partial_fit(pl.DataFrame({"x": [5.0]})).statistics_.tolist()
        [3.0]
        """
        function = self._name("partial_fit")
        previous: ImputerState | None = getattr(self, "_state", None)
        frame, kind = encoder_input(X, function, fitting=True)
        width = len(frame.collect_schema())
        if previous is not None and kind == "numpy" and width != previous.n_features_in:
            msg = (
                f"{function}: X has {width} features, but SimpleImputer is expecting "
                f"{previous.n_features_in} features as input."
            )
            raise ValueError(msg)
        batch = self._compute_state(frame, "partial_fit")
        self._state = batch if previous is None else merge_states(previous, batch, function)
        return self

    def _compute_state(self, X: Any, what: str) -> ImputerState:
        function = self._name(what)
        options = self._checked_options(function)
        frame, _ = encoder_input(X, function, fitting=True)
        map_batches: MapBatches
        if isinstance(frame, pl.LazyFrame):
            schema, map_batches = frame.collect_schema(), lazy_batches(frame)
        else:
            schema, map_batches = frame.schema, frame_batches(frame)
        in_memory = isinstance(frame, pl.DataFrame)
        return state_from_batches(schema, map_batches, options, function, in_memory)

    def _fit_from_batches(
        self, schema: pl.Schema, map_batches: MapBatches, function: str
    ) -> ImputerState:
        return state_from_batches(schema, map_batches, self._checked_options(function), function)

    # ------------------------------------------------------- fitted params
    @property
    def columns_(self) -> list[str]:
        """The imputed columns (``columns=None`` resolved at fit time),
        those dropped as empty included."""
        return [c.name for c in self._fitted("columns_").columns]

    @property
    def statistics_(self) -> npt.NDArray[Any]:
        """Each imputed column's fill value, as scikit-learn's
        ``statistics_`` (NaN for a column without values; float64 when
        every column is numeric, object otherwise). Without ``by`` only.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> pmk.SimpleImputer().fit(pl.DataFrame({"x": [1.0, 3.0], "y": [None, None]})).statistics_
        array([ 2., nan])
        """
        state = self._fitted("statistics_")
        if state.by:
            msg = "SimpleImputer with by= has statistics per group: see group_statistics_"
            raise AttributeError(msg)
        values = [
            state.fills[c.name][0] if len(state.fills[c.name]) else None for c in state.columns
        ]
        values = [
            np.nan if v is None else (v.to_list() if isinstance(v, pl.Series) else v)
            for v in values
        ]
        if all(c.kind in ("float", "number") for c in state.columns):
            return np.asarray(values, dtype=np.float64)
        return np.asarray([*values, None], dtype=object)[:-1]

    @property
    def group_statistics_(self) -> pl.DataFrame:
        """The fill values: the ``by`` columns, then one column per imputed
        column (its fill per group, null where the group had no value).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"g": ["a", "b", "a"], "x": [1.0, 4.0, 3.0]})
        >>> pmk.SimpleImputer(by="g").fit(df).group_statistics_.rows()
        [('a', 2.0), ('b', 4.0)]
        """
        state = self._fitted("group_statistics_")
        groups = state.groups().drop(KEY)
        return groups.with_columns(state.fills[c.name].alias(c.name) for c in state.columns)

    @property
    def n_samples_seen_(self) -> int:
        """How many rows ``fit`` (and every ``partial_fit``) saw."""
        return int(self._fitted("n_samples_seen_").n_samples_seen)

    # ------------------------------------------------------------ transform
    def _column_exprs(self, state: ImputerState) -> dict[str, pl.Expr]:
        return {c.name: impute_expr(state, c).alias(c.name) for c in state.kept()}

    def expressions(self) -> list[pl.Expr]:
        """Elementwise expressions with the fitted constants: the imputed
        columns (those kept), then the indicator columns.

        ``frame.with_columns(imp.expressions())`` imputes in place but
        keeps a dropped empty column; :meth:`transform` drops it.

        Returns
        -------
        list of pl.Expr

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> imp = pmk.SimpleImputer().fit(pl.DataFrame({"x": [1.0, 3.0]}))
        >>> lazy = pl.LazyFrame({"x": [None, 5.0]}).with_columns(imp.expressions())
        >>> lazy.collect()["x"].to_list()
        [2.0, 5.0]
        """
        state = self._fitted("expressions")
        return [*self._column_exprs(state).values(), *indicator_exprs(state)]

    def transform(self, X: Any) -> Any:
        """Fill the missing values of the fitted columns of ``X``.

        The imputed columns replace their source column where it stood
        (an empty column is dropped unless ``keep_empty_features``), other
        columns pass through and the indicator columns come last. DataFrame
        in, DataFrame out; LazyFrame in, LazyFrame out (nothing runs until
        it is collected, and its schema is known at once); a numpy array or
        pandas DataFrame gives the same kind back unless :meth:`set_output`
        chose another.

        Parameters
        ----------
        X
            Data with the fitted columns, of their fitted dtypes.

        Returns
        -------
        ``X`` imputed.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> imp = pmk.SimpleImputer(strategy="constant", fill_value=-1, columns="n")
        >>> imp.fit(pl.DataFrame({"n": [1, None]})).transform(pl.DataFrame({"n": [None, 7]})).rows()
        [(-1,), (7,)]
        """
        function = self._name("transform")
        state = self._fitted("transform")
        frame, kind = encoder_input(X, function)
        schema = frame.collect_schema()
        if kind == "numpy" and len(schema) != state.n_features_in:
            msg = (
                f"{function}: X has {len(schema)} features, but SimpleImputer is expecting "
                f"{state.n_features_in} features as input."
            )
            raise ValueError(msg)
        frame = checked_frame(frame, schema, state, kind == "numpy", function)
        exprs = self._column_exprs(state)
        dropped = set(state.dropped())
        indicators = indicator_exprs(state)
        if kind == "numpy" and indicators:
            dtype = pl.Float32 if all(c.dtype == "Float32" for c in state.kept()) else pl.Float64
            indicators = [e.cast(dtype) for e in indicators]
        selected = [exprs.get(n, pl.col(n)) for n in schema.names() if n not in dropped]
        unseen = unseen_groups(frame, state) if isinstance(frame, pl.DataFrame) else []
        if unseen:
            msg = (
                f"{function}: groups of {state.by} not seen at fit time: {unseen[:10]} "
                "(each group's statistic is fitted; fit on data holding these groups)"
            )
            raise ValueError(msg)
        out: Frame = frame.select(*selected, *indicators)
        return _from_polars(out, kind, self._output(), function)

    # ---------------------------------------------------------- sklearn API
    def get_feature_names_out(self, input_features: Any = None) -> npt.NDArray[np.object_]:
        """The output column names, as scikit-learn's: the fitted frame's
        columns without the dropped empty ones, then
        ``missingindicator_{column}``.

        Parameters
        ----------
        input_features
            ``None``, or the input names (must equal ``feature_names_in_``).

        Returns
        -------
        numpy array of str (object dtype)

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> imp = pmk.SimpleImputer(add_indicator=True).fit(pl.DataFrame({"a": [1.0, None]}))
        >>> imp.get_feature_names_out().tolist()
        ['a', 'missingindicator_a']
        """
        function = self._name("get_feature_names_out")
        state = self._fitted("get_feature_names_out")
        names = state.feature_names_in or [f"x{j}" for j in range(state.n_features_in)]
        if input_features is not None:
            given = [str(v) for v in input_features]
            if state.feature_names_in is not None and given != names:
                msg = f"{function}: input_features is not equal to feature_names_in_"
                raise ValueError(msg)
            if len(given) != state.n_features_in:
                msg = f"{function}: expected {state.n_features_in} input features, got {len(given)}"
                raise ValueError(msg)
            names = given
        # Fitted names are the frame's; an array's x0, x1, ... map by position.
        fitted = state.feature_names_in or names
        rename = dict(zip(fitted, names, strict=True))
        dropped = set(state.dropped())
        out = [rename[n] for n in fitted if n not in dropped]
        out += [f"missingindicator_{rename[c.name]}" for c in state.indicated()]
        return np.asarray(out, dtype=object)

    def to_json(self) -> str:
        """The fitted imputer as plain, versioned JSON (format
        ``polars-mlkit/imputer``, see ``docs/imputer-json.md``);
        :func:`polars_mlkit.load` gives it back.

        Returns
        -------
        str

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> imp = pmk.SimpleImputer().fit(pl.DataFrame({"x": [1.0, 3.0]}))
        >>> pmk.load(imp.to_json()).transform(pl.DataFrame({"x": [None]}))["x"].to_list()
        [2.0]
        """
        state = self._fitted("to_json")
        return imputer_to_json(self.get_params(), state)

    @classmethod
    def _from_sklearn(cls, fitted: Any) -> SimpleImputer:
        """The fitted imputer of a fitted ``sklearn.impute.SimpleImputer``
        (column names from its ``feature_names_in_``, else x0, x1, ...)."""
        from polars_mlkit.scalers._imputer_json import state_from_sklearn

        imputer = cls(
            strategy=fitted.strategy,
            fill_value=fitted.fill_value,
            missing_values=fitted.missing_values,
            add_indicator=fitted.add_indicator,
            keep_empty_features=fitted.keep_empty_features,
        )
        options = imputer._checked_options("SimpleImputer._from_sklearn")
        imputer._state = state_from_sklearn(fitted, options)
        return imputer
