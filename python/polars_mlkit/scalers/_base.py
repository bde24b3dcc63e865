"""The scikit-learn estimator protocol the four scalers share.

:class:`Scaler` holds everything but the statistics and parameters of a
particular scaler: argument checks, ``fit`` (one statistics query),
``transform`` and the expressions, the fitted properties, ``set_output`` and
``to_json``. :class:`IncrementalScaler` adds ``partial_fit``, and
:func:`merge_fitted` merges scalers fitted on parts of the data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit import _checks
from polars_mlkit._batches import MapBatches
from polars_mlkit._reserved import GROUP_KEY, ROWS
from polars_mlkit.scalers._expressions import COEFFICIENTS, column_expr, fitted_parameters
from polars_mlkit.scalers._fitted import FittedTransformer
from polars_mlkit.scalers._inputs import Frame, _from_polars, _to_polars
from polars_mlkit.scalers._json import FORMAT, _to_json, load_scaler
from polars_mlkit.scalers._state import (
    FloatArray,
    _Column,
    _dtype_from_string,
    _fitted_state,
    _key_expr,
    _merge_states,
    _resolve_list_widths,
    _select_columns,
    _State,
)
from polars_mlkit.scalers._statistics import _extract, _stats_query

UnknownGroup: TypeAlias = Literal["error", "null"]

# The constructor arguments every scaler has (the others are its method's options).
_COMMON_PARAMS = ("columns", "by", "unknown_group")


class Scaler(FittedTransformer):
    """The base class of the fitted scalers: what the four share.

    The methods and fitted properties documented here are those of
    :class:`MinMaxScaler`, :class:`StandardScaler`, :class:`RobustScaler` and
    :class:`MaxAbsScaler`; ``partial_fit`` is on the three whose statistics
    merge (:class:`IncrementalScaler`, not ``RobustScaler``). It is not
    constructed itself: ``isinstance(obj, Scaler)`` tells a polars-mlkit
    scaler.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> from polars_mlkit.scalers import Scaler
    >>> sc = pmk.MinMaxScaler().fit(pl.DataFrame({"x": [0.0, 4.0]}))
    >>> isinstance(sc, Scaler), isinstance(pmk.RobustScaler(), Scaler)
    (True, True)
    >>> scaled = sc.transform(pl.DataFrame({"x": [1.0, 2.0]}))
    >>> scaled["x"].to_list(), sc.inverse_transform(scaled)["x"].to_list()
    ([0.25, 0.5], [1.0, 2.0])
    """

    _json_format: ClassVar[str] = FORMAT
    _method: ClassVar[str]
    _param_names: ClassVar[tuple[str, ...]]
    _stat_names: ClassVar[tuple[str, ...]]
    # Whether the statistics stream (Polars' own aggregations): a LazyFrame
    # is then collected with the streaming engine, out of core. A whole-column
    # aggregation of the extension (moments) gathers its column under either
    # engine, and the in-memory engine does it without a copy (2.7x faster).
    _streams: ClassVar[bool] = True
    _param_columns: ClassVar[tuple[str, ...]]

    columns: Sequence[str] | str | None
    by: Sequence[str] | str | None
    unknown_group: UnknownGroup

    def _checked_options(self, function: str) -> dict[str, Any]:
        """Every argument checked; builtin-typed options for this fit."""
        method_options = {k: getattr(self, k) for k in self._param_names if k not in _COMMON_PARAMS}
        kwargs = _checks.scale_kwargs(function, self._method, method_options)
        options = {k: kwargs[k] for k in method_options}
        options["columns"] = _checks.names(self.columns, "columns", function)
        options["by"] = _checks.by_names(self.by, function)
        _checks.unknown_group(self.unknown_group, function)
        options["unknown_group"] = self.unknown_group
        return options

    def _fitted(self, function: str) -> _State:
        state: _State = super()._fitted(function)
        return state

    def _fit_from_batches(
        self, schema: pl.Schema, map_batches: MapBatches, function: str
    ) -> _State:
        options = self._checked_options(function)
        by: list[str] = options["by"] or []
        for name in by:
            if name not in schema:
                msg = f"{function}: by column {name!r} is not in the data"
                raise pl.exceptions.ColumnNotFoundError(msg)
        columns = _select_columns(schema, options["columns"], by, function)
        return self._batches_state(schema, columns, by, options, map_batches, function)

    def _batches_state(
        self,
        schema: pl.Schema,
        columns: list[_Column],
        by: list[str],
        options: dict[str, Any],
        map_batches: MapBatches,
        function: str,
    ) -> _State:
        """The fitted state from passes over the batches (each scaler says how)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> Scaler:
        """Learn the parameters from ``X`` (one pass; a LazyFrame is collected once).

        Parameters
        ----------
        X
            A DataFrame or LazyFrame (or a 2-D numpy array, whose columns are
            named ``x0``, ``x1``, ...).
        y
            Ignored (scikit-learn compatibility).

        Returns
        -------
        The fitted scaler (the same object).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> import numpy as np
        >>> train = pl.DataFrame({"x": [1.0, 2.0, 3.0], "label": ["a", "b", "c"]})
        >>> sc = pmk.StandardScaler().fit(train)  # columns=None: the numeric columns
        >>> sc.columns_, sc.params_["mean"].to_list()
        (['x'], [2.0])
        >>> pmk.MinMaxScaler().fit(train.lazy()).params_["data_max"].to_list()
        [3.0]
        >>> pmk.MaxAbsScaler().fit(np.array([[1.0, -4.0], [2.0, 2.0]])).params_["max_abs"].to_list()
        [2.0, 4.0]
        """
        self._state = self._compute_state(X, "fit")
        return self

    def _compute_state(self, X: Any, what: str) -> _State:
        function = self._name(what)
        options = self._checked_options(function)
        frame, _ = _to_polars(X, function, fitting=True)
        lazy = frame.lazy()
        schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
        by: list[str] = options["by"] or []
        for name in by:
            if name not in schema:
                msg = f"{function}: by column {name!r} is not in the frame"
                raise pl.exceptions.ColumnNotFoundError(msg)
        columns = _select_columns(schema, options["columns"], by, function)
        _resolve_list_widths(frame, columns, function)
        streaming = isinstance(frame, pl.LazyFrame)
        return self._statistics(lazy, schema, columns, by, options, function, streaming)

    def _stat_exprs(self, x: pl.Expr, options: dict[str, Any]) -> dict[str, pl.Expr]:
        raise NotImplementedError

    def _statistics(
        self,
        lazy: pl.LazyFrame,
        schema: pl.Schema,
        columns: list[_Column],
        by: list[str],
        options: dict[str, Any],
        function: str,
        streaming: bool,
    ) -> _State:
        result = _stats_query(
            lazy, columns, by, self._stat_exprs, options, streaming and self._streams
        )
        groups = result.select(*by, _key_expr(by).alias(GROUP_KEY)) if by else pl.DataFrame()
        stats = {
            column.name: _extract(result, i, column, self._stat_names)
            for i, column in enumerate(columns)
        }
        for column in columns:
            self._check_finite(stats[column.name], column, function)
        rows = int(result[ROWS].sum()) if result.height else 0
        return _fitted_state(options, schema, columns, by, groups, stats, rows)

    def _check_finite(self, per: dict[str, FloatArray], column: _Column, function: str) -> None:
        with np.errstate(invalid="ignore"):
            # (A part without values may hold an empty extent, +inf..-inf.)
            present = per["count"] > 0
            bad = (present & (np.isinf(per["min"]) | np.isinf(per["max"]))).any()
        if bad:
            msg = (
                f"{function}: column {column.name!r} contains infinity; scikit-learn's "
                f"{type(self).__name__} rejects infinite values too"
            )
            # (Every scaler's statistics hold the extent; the extension's
            # aggregations report infinity as an infinite extent.)
            raise ValueError(msg)

    # ------------------------------------------------------- fitted params
    def _fitted_parameters(self, state: _State, column: _Column) -> dict[str, FloatArray]:
        """scikit-learn's parameters and the transform coefficients of one
        column, from the extension (the rules of the ``ml`` expressions)."""
        return fitted_parameters(state, column, self._method, self._name("fit"))

    @property
    def params_(self) -> pl.DataFrame:
        """The fitted parameters, one row per column (and group).

        A String ``column``, the ``by`` columns, then one column per parameter
        (``List(Float64)`` when a vector column was fitted).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> train = pl.DataFrame({"x": [0.0, 2.0, 4.0], "y": [1, 2, 3]})
        >>> pmk.MinMaxScaler(columns="x").fit(train).params_
        shape: (1, 5)
        ┌────────┬──────────┬──────────┬───────┬─────┐
        │ column ┆ data_min ┆ data_max ┆ scale ┆ min │
        │ ---    ┆ ---      ┆ ---      ┆ ---   ┆ --- │
        │ str    ┆ f64      ┆ f64      ┆ f64   ┆ f64 │
        ╞════════╪══════════╪══════════╪═══════╪═════╡
        │ x      ┆ 0.0      ┆ 4.0      ┆ 0.25  ┆ 0.0 │
        └────────┴──────────┴──────────┴───────┴─────┘
        >>> vectors = pl.DataFrame({"e": [[1.0, -4.0], [2.0, 2.0]]})
        >>> pmk.MaxAbsScaler().fit(vectors).params_["max_abs"].to_list()
        [[2.0, 4.0]]
        """
        state = self._fitted("params_")
        vector = any(c.width for c in state.columns)
        dtype: pl.DataType = pl.List(pl.Float64) if vector else pl.Float64()
        frames = []
        for column in state.columns:
            fitted = self._fitted_parameters(state, column)
            params = {name: fitted[name] for name in self._param_columns}
            groups = max(len(state.keys), 0) if state.by else 1
            data: dict[str, Any] = {"column": pl.Series([column.name] * groups, dtype=pl.String)}
            frame = pl.DataFrame(data)
            if state.by:
                frame = frame.hstack(state.groups.drop(GROUP_KEY))
            values = {
                name: pl.Series(name, arr.tolist() if vector else arr[:, 0], dtype=dtype)
                for name, arr in params.items()
            }
            frames.append(frame.with_columns(**values))
        if not frames:
            schema: dict[str, Any] = {"column": pl.String}
            schema.update(
                {
                    b: _dtype_from_string(t) or pl.String
                    for b, t in zip(state.by, state.by_dtypes, strict=True)
                }
            )
            schema.update({p: dtype for p in self._param_columns})
            return pl.DataFrame(schema=schema)
        return pl.concat(frames, how="vertical")

    @property
    def columns_(self) -> list[str]:
        """The scaled columns (``columns=None`` resolved at fit time).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> train = pl.DataFrame({"x": [0.0, 4.0], "e": [[1.0, 2.0], [3.0, 4.0]], "s": ["a", "b"]})
        >>> pmk.MinMaxScaler().fit(train).columns_
        ['x', 'e']
        """
        return [c.name for c in self._fitted("columns_").columns]

    @property
    def n_samples_seen_(self) -> int:
        """How many rows ``fit`` (and every ``partial_fit``) saw.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> sc = pmk.MinMaxScaler().fit(pl.DataFrame({"x": [0.0, 4.0, 5.0]}))
        >>> sc.partial_fit(pl.DataFrame({"x": [1.0, 2.0]})).n_samples_seen_
        5
        """
        return self._fitted("n_samples_seen_").n_samples_seen

    # ------------------------------------------------------------ transform
    def expressions(self) -> list[pl.Expr]:
        """Elementwise expressions that scale the fitted columns.

        Each keeps its column's name, so ``frame.with_columns(sc.expressions())``
        is :meth:`transform`; they stream and serialize with the plan.

        Returns
        -------
        list of pl.Expr
            One expression per fitted column, in :attr:`columns_` order.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> sc = pmk.MinMaxScaler().fit(pl.DataFrame({"x": [0.0, 4.0]}))
        >>> len(sc.expressions())
        1
        >>> lazy = pl.LazyFrame({"x": [1.0, 2.0], "y": ["a", "b"]})
        >>> lazy.with_columns(sc.expressions()).collect()["x"].to_list()
        [0.25, 0.5]
        """
        return self._expressions(inverse=False, function=self._name("transform"))

    def inverse_expressions(self) -> list[pl.Expr]:
        """Elementwise expressions that undo :meth:`expressions`.

        Returns
        -------
        list of pl.Expr
            One expression per fitted column; ``frame.with_columns(...)`` of
            them is :meth:`inverse_transform`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> sc = pmk.MinMaxScaler().fit(pl.DataFrame({"x": [0.0, 4.0]}))
        >>> scaled = pl.DataFrame({"x": [0.25, 1.0]})
        >>> scaled.with_columns(sc.inverse_expressions())["x"].to_list()
        [1.0, 4.0]
        """
        return self._expressions(inverse=True, function=self._name("inverse_transform"))

    def _expressions(self, inverse: bool, function: str) -> list[pl.Expr]:
        state = self._fitted(function)
        out = []
        for column in state.columns:
            fitted = self._fitted_parameters(state, column)
            coefficients = {name: fitted[name] for name in COEFFICIENTS}
            clip = None if inverse else self._clip(state)
            out.append(column_expr(state, column, coefficients, clip, inverse, function))
        return out

    def _clip(self, state: _State) -> tuple[float, float] | None:
        return None

    def transform(self, X: Any) -> Any:
        """Scale the fitted columns of ``X``; other columns pass through.

        DataFrame in, DataFrame out; LazyFrame in, LazyFrame out (nothing
        runs until it is collected); a numpy array or pandas DataFrame gives
        the same kind back unless :meth:`set_output` chose another.

        Parameters
        ----------
        X
            Data with the fitted columns (DataFrame, LazyFrame, 2-D numpy
            array or pandas DataFrame).

        Returns
        -------
        ``X`` with the fitted columns scaled.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> sc = pmk.MinMaxScaler(columns="x").fit(pl.DataFrame({"x": [0.0, 4.0]}))
        >>> sc.transform(pl.DataFrame({"x": [1.0, 8.0], "y": [7, 8]})).rows()
        [(0.25, 7), (2.0, 8)]
        >>> out = sc.transform(pl.LazyFrame({"x": [2.0]}))
        >>> type(out).__name__, out.collect()["x"].to_list()
        ('LazyFrame', [0.5])
        """
        return self._apply(X, self.expressions(), "transform")

    def inverse_transform(self, X: Any) -> Any:
        """Undo :meth:`transform` (same kinds in and out).

        Parameters
        ----------
        X
            Scaled data with the fitted columns.

        Returns
        -------
        ``X`` with the fitted columns mapped back to the original units.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> sc = pmk.StandardScaler().fit(pl.DataFrame({"x": [1.0, 3.0]}))
        >>> sc.inverse_transform(pl.DataFrame({"x": [-1.0, 0.0, 2.0]}))["x"].to_list()
        [1.0, 2.0, 4.0]
        """
        return self._apply(X, self.inverse_expressions(), "inverse_transform")

    def _apply(self, X: Any, exprs: list[pl.Expr], what: str) -> Any:
        function = self._name(what)
        frame, kind = _to_polars(X, function)
        self._check_n_features(frame, kind, self._fitted(what), function)
        out = frame.with_columns(exprs) if exprs else frame
        return _from_polars(out, kind, self._output(), function)

    def _check_n_features(self, frame: Frame, kind: str, state: _State, function: str) -> None:
        """An array must have the fitted number of columns (scikit-learn's rule);
        frames are matched by column name instead."""
        if kind != "numpy":
            return
        got = len(frame.collect_schema())
        if got != state.n_features_in:
            msg = (
                f"{function}: X has {got} features, but {type(self).__name__} is expecting "
                f"{state.n_features_in} features as input."
            )
            raise ValueError(msg)

    # ---------------------------------------------------------- sklearn API
    def get_feature_names_out(self, input_features: Any = None) -> npt.NDArray[np.object_]:
        """Output column names: the input's (scaled columns keep their names).

        Parameters
        ----------
        input_features
            Optional input names, as scikit-learn's; they must equal
            :attr:`feature_names_in_` when the scaler was fitted on named
            columns.

        Returns
        -------
        numpy.ndarray
            The names, as an object array.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> import numpy as np
        >>> train = pl.DataFrame({"x": [0.0, 4.0], "label": ["a", "b"]})
        >>> pmk.MinMaxScaler().fit(train).get_feature_names_out().tolist()
        ['x', 'label']
        >>> sc = pmk.MinMaxScaler().fit(np.array([[0.0, 1.0], [2.0, 3.0]]))
        >>> sc.get_feature_names_out().tolist()
        ['x0', 'x1']
        """
        state = self._fitted("get_feature_names_out")
        names = state.feature_names_in or [f"x{j}" for j in range(state.n_features_in)]
        if input_features is not None:
            given = [str(v) for v in input_features]
            if state.feature_names_in is not None and given != names:
                msg = (
                    f"{self._name('get_feature_names_out')}: input_features is not equal to "
                    "feature_names_in_"
                )
                raise ValueError(msg)
            if len(given) != state.n_features_in:
                msg = (
                    f"{self._name('get_feature_names_out')}: expected {state.n_features_in} "
                    f"input features, got {len(given)}"
                )
                raise ValueError(msg)
            names = given
        return np.asarray(names, dtype=object)

    # ----------------------------------------------------------------- JSON
    def to_json(self) -> str:
        """The fitted scaler as plain, versioned JSON (see ``docs/scaler-json.md``).

        :func:`load_scaler` gives back a scaler of the same class whose
        transforms are identical, bit for bit, and which can go on with
        ``partial_fit``.

        Returns
        -------
        str
            The JSON text (format ``polars-mlkit/scaler``).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> import json
        >>> sc = pmk.MinMaxScaler().fit(pl.DataFrame({"x": [0.0, 4.0]}))
        >>> document = json.loads(sc.to_json())
        >>> document["format"], document["version"], document["kind"]
        ('polars-mlkit/scaler', 2, 'MinMaxScaler')
        >>> document["statistics"]
        {'x': {'count': [[2.0]], 'min': [[0.0]], 'max': [[4.0]]}}
        >>> pmk.load_scaler(sc.to_json()).transform(pl.DataFrame({"x": [1.0]}))["x"].to_list()
        [0.25]
        """
        return _to_json(type(self).__name__, self._fitted("to_json"))


class IncrementalScaler(Scaler):
    """The base class of the scalers whose statistics merge exactly.

    :class:`MinMaxScaler`, :class:`StandardScaler` and :class:`MaxAbsScaler`
    can learn batch by batch (``partial_fit``), and scalers fitted on parts
    of the data merge into one (:func:`merge_fitted`, as
    ``polars_mlkit.ray.fit`` does). :class:`RobustScaler` is not one: exact
    quantiles do not merge from partial statistics, so it has no
    ``partial_fit`` attribute at all (as scikit-learn's).

    Examples
    --------
    >>> import polars_mlkit as pmk
    >>> from polars_mlkit.scalers import IncrementalScaler
    >>> isinstance(pmk.StandardScaler(), IncrementalScaler)
    True
    >>> isinstance(pmk.RobustScaler(), IncrementalScaler)
    False
    >>> hasattr(pmk.RobustScaler(), "partial_fit")
    False
    """

    def partial_fit(self, X: Any, y: Any = None) -> IncrementalScaler:
        """Merge the statistics of one more batch into the fitted ones.

        The merge is exact (count, mean and M2 as in Chan et al.; minimum and
        maximum), so fitting batch by batch equals fitting on all of them.

        Parameters
        ----------
        X
            The next batch (DataFrame, LazyFrame or 2-D numpy array).
        y
            Ignored (scikit-learn compatibility).

        Returns
        -------
        The updated scaler (the same object).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> sc = pmk.StandardScaler()
        >>> sc = sc.partial_fit(pl.DataFrame({"x": [1.0, 2.0]}))
        >>> sc = sc.partial_fit(pl.DataFrame({"x": [3.0, 6.0]}))
        >>> sc.n_samples_seen_, sc.params_["mean"].to_list(), sc.params_["var"].to_list()
        (4, [3.0], [3.5])
        """
        function = self._name("partial_fit")
        frame, kind = _to_polars(X, function, fitting=True)
        previous: _State | None = getattr(self, "_state", None)
        if previous is not None:
            self._check_n_features(frame, kind, previous, function)
        batch = self._compute_state(frame, "partial_fit")
        self._state = (
            batch if previous is None else _merge_states(previous, batch, self._method, function)
        )
        return self

    def _batches_state(
        self,
        schema: pl.Schema,
        columns: list[_Column],
        by: list[str],
        options: dict[str, Any],
        map_batches: MapBatches,
        function: str,
    ) -> _State:
        """Each batch fitted on its own (travelling as its JSON text), merged in order."""
        cls, params = type(self), self.get_params()

        def partial(batch: pl.DataFrame) -> pl.DataFrame:
            if batch.height == 0:
                return pl.DataFrame({"state": pl.Series([], dtype=pl.String)})
            return pl.DataFrame({"state": [cls(**params).fit(batch).to_json()]})

        parts = (load_scaler(text) for result in map_batches(partial) for text in result["state"])
        return merge_fitted(cls(**params), parts, function)._fitted(function)


def merge_fitted(scaler: Scaler, parts: Iterable[Scaler], function: str) -> Scaler:
    """Merge scalers fitted on parts of the data into ``scaler``, exactly.

    The parts' statistics merge in order as ``partial_fit`` merges batches
    (count, mean and M2 as in Chan et al.; minimum and maximum), so the
    result equals one fit on all the parts' data (minima and maxima bit for
    bit, means and variances to rounding). ``scaler`` takes the
    merged fitted state in place of any fit it had; the options in force are
    those of the last part, as after ``partial_fit``. ``polars_mlkit.ray.fit``
    merges the scalers fitted on each block this way (through
    :func:`fit_in_passes`).

    Parameters
    ----------
    scaler
        The scaler that receives the merged state: an
        :class:`IncrementalScaler` (not ``RobustScaler``).
    parts
        Fitted scalers of the same class as ``scaler``, fitted on the same
        columns and ``by`` columns.
    function
        The name error messages start with, e.g. ``"polars_mlkit.ray.fit"``.

    Returns
    -------
    Scaler
        ``scaler``, fitted (the same object).

    Raises
    ------
    NotFittedError
        A part is not fitted.
    TypeError
        ``scaler`` is not an :class:`IncrementalScaler`, or a part is not of
        its class.
    ValueError
        ``parts`` is empty, or the parts were fitted on different columns or
        ``by`` columns.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> from polars_mlkit.scalers import merge_fitted
    >>> parts = [
    ...     pmk.StandardScaler().fit(pl.DataFrame({"x": [1.0, 2.0]})),
    ...     pmk.StandardScaler().fit(pl.DataFrame({"x": [3.0, 6.0]})),
    ... ]
    >>> sc = merge_fitted(pmk.StandardScaler(), parts, "merge_fitted")
    >>> sc.n_samples_seen_, sc.params_["mean"].to_list(), sc.params_["var"].to_list()
    (4, [3.0], [3.5])
    >>> merge_fitted(pmk.StandardScaler(), [], "merge_fitted")
    Traceback (most recent call last):
    ...
    ValueError: merge_fitted: no data to fit
    """
    if not isinstance(scaler, IncrementalScaler):
        msg = (
            f"{function}: the statistics of a {type(scaler).__name__} do not merge "
            "(exact quantiles need two passes or more over the data: see fit_in_passes)"
        )
        raise TypeError(msg)
    state: _State | None = None
    for part in parts:
        if type(part) is not type(scaler):
            msg = f"{function}: cannot merge a {type(part).__name__} into a {type(scaler).__name__}"
            raise TypeError(msg)
        piece = part._fitted(function)
        state = piece if state is None else _merge_states(state, piece, scaler._method, function)
    if state is None:
        msg = f"{function}: no data to fit"
        raise ValueError(msg)
    scaler._state = state
    return scaler
