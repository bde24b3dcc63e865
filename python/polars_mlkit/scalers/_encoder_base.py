"""The encoders' shared protocol: :class:`Encoder` (options, the one-pass
fit, ``partial_fit``, the fitted attributes, ``transform`` that puts the
encoded columns where their source stood, JSON). The two encoders are in
``_encoders``; their categories and code tables in ``_categories``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit import _checks
from polars_mlkit._batches import MapBatches, frame_batches, lazy_batches
from polars_mlkit.scalers._categories import (
    EncoderState,
    FittedColumn,
    category_counts,
    encoded_kinds,
    fitted_column,
    merge_columns,
)
from polars_mlkit.scalers._encoder_groups import grouped_counts, grouped_state, merge_groups
from polars_mlkit.scalers._encoder_inputs import encoder_input
from polars_mlkit.scalers._encoder_json import ENCODER_FORMAT, encoder_to_json
from polars_mlkit.scalers._fitted import FittedTransformer
from polars_mlkit.scalers._inputs import Frame, _from_polars


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


class Encoder(FittedTransformer):
    """The base class of :class:`OneHotEncoder` and :class:`OrdinalEncoder`.

    Examples
    --------
    >>> import polars_mlkit as pmk
    >>> from polars_mlkit.scalers import Encoder
    >>> isinstance(pmk.OneHotEncoder(), Encoder), isinstance(pmk.StandardScaler(), Encoder)
    (True, False)
    """

    _json_format: ClassVar[str] = ENCODER_FORMAT
    _unknown_options: ClassVar[tuple[str, ...]]
    _preserves: ClassVar[list[str]]

    columns: Sequence[str] | str | None
    categories: Any
    handle_unknown: str
    min_frequency: Any
    max_categories: Any

    _input_tags: ClassVar[dict[str, bool]] = {
        "allow_nan": True,
        "string": True,
        "categorical": True,
    }

    # ------------------------------------------------------------- checking
    def _checked_options(self, function: str) -> dict[str, Any]:
        """Every argument checked (scikit-learn's rules); builtin-typed options."""
        options: dict[str, Any] = {"columns": _checks.names(self.columns, "columns", function)}
        if self.handle_unknown not in self._unknown_options:
            allowed = ", ".join(repr(v) for v in self._unknown_options)
            msg = (
                f"{function}: handle_unknown must be one of {allowed}, got {self.handle_unknown!r}"
            )
            raise ValueError(msg)
        options["handle_unknown"] = self.handle_unknown
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
        options["min_frequency"] = _min_frequency(self.min_frequency, function)
        options["max_categories"] = _max_categories(self.max_categories, function)
        return options

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> Any:
        """Learn each column's categories from ``X`` (one pass).

        Parameters
        ----------
        X
            A DataFrame or LazyFrame (a LazyFrame is read in batches, in
            bounded memory), or a 2-D numpy array / pandas DataFrame.
        y
            Ignored (scikit-learn compatibility).

        Returns
        -------
        The fitted encoder (the same object).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> enc = pmk.OneHotEncoder().fit(pl.DataFrame({"c": ["b", "a", None]}))
        >>> [c.tolist() for c in enc.categories_]
        [['a', 'b', None]]
        """
        self._state = self._compute_state(X, "fit")
        return self

    def partial_fit(self, X: Any, y: Any = None) -> Any:
        """Add one more batch's category counts to the fitted ones.

        Counts add exactly, so fitting batch by batch equals one fit on all
        the batches (categories, infrequent groups and codes alike).

        Parameters
        ----------
        X
            The next batch.
        y
            Ignored (scikit-learn compatibility).

        Returns
        -------
        The updated encoder (the same object).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> enc = pmk.OrdinalEncoder().partial_fit(pl.DataFrame({"c": ["b"]}))
        >>> enc = enc.partial_fit(pl.DataFrame({"c": ["a", "c"]}))
        >>> enc.categories_[0].tolist(), enc.n_samples_seen_
        (['a', 'b', 'c'], 3)
        """
        function = self._name("partial_fit")
        previous: EncoderState | None = getattr(self, "_state", None)
        frame, kind = encoder_input(X, function, fitting=True)
        if previous is not None:
            self._check_n_features(frame.collect_schema(), kind, previous, function)
        batch = self._compute_state(frame, "partial_fit")
        if previous is None:
            self._state = batch
            return self
        names = [c.name for c in previous.columns]
        if [c.name for c in batch.columns] != names:
            msg = f"{function}: the batch has other encoded columns than the fit ({names})"
            raise ValueError(msg)
        given = batch.options["categories"] != "auto"
        merged = [
            merge_columns(a, b, given, function)
            for a, b in zip(previous.columns, batch.columns, strict=True)
        ]
        groups = None
        if previous.groups is not None or batch.groups is not None:
            if previous.groups is None or batch.groups is None:
                msg = f"{function}: the batch and the fit differ in by= (grouped and not)"
                raise ValueError(msg)
            groups = merge_groups(previous.groups, batch.groups, given, function)
        state = EncoderState(
            options=batch.options,
            columns=merged,
            feature_names_in=batch.feature_names_in,
            n_features_in=batch.n_features_in,
            n_samples_seen=previous.n_samples_seen + batch.n_samples_seen,
            groups=groups,
        )
        self._validate(state, function)
        self._state = state
        return self

    def _compute_state(self, X: Any, what: str) -> EncoderState:
        function = self._name(what)
        options = self._checked_options(function)
        frame, _ = encoder_input(X, function, fitting=True)
        if isinstance(frame, pl.LazyFrame):
            schema = frame.collect_schema()
            map_batches = lazy_batches(frame)
        else:
            schema, map_batches = frame.schema, frame_batches(frame)
        return self._state_from(schema, map_batches, options, function)

    def _fit_from_batches(
        self, schema: pl.Schema, map_batches: MapBatches, function: str
    ) -> EncoderState:
        return self._state_from(schema, map_batches, self._checked_options(function), function)

    def _state_from(
        self, schema: pl.Schema, map_batches: MapBatches, options: dict[str, Any], function: str
    ) -> EncoderState:
        by: list[str] = options.get("by") or []
        for name in by:
            if name not in schema:
                msg = f"{function}: by column {name!r} is not in the frame"
                raise pl.exceptions.ColumnNotFoundError(msg)
            if options["columns"] is not None and name in options["columns"]:
                msg = f"{function}: column {name!r} is also a by column"
                raise ValueError(msg)
        kinds = encoded_kinds(schema, options, function, skip=by)
        try:
            if by:
                return self._grouped_state_from(schema, kinds, map_batches, options, function)
            counts, rows = category_counts(map_batches, kinds)
        except pl.exceptions.InvalidOperationError as err:
            # Integer categories travel as Int64: UInt64 values above its range.
            first = str(err).splitlines()[0]
            msg = f"{function}: a column's values cannot be read as categories ({first})"
            raise ValueError(msg) from err
        given = options["categories"]
        columns = [
            fitted_column(
                name,
                schema[name],
                kind,
                counts[name],
                None if given == "auto" else given[i],
                options["handle_unknown"],
                function,
            )
            for i, (name, kind) in enumerate(kinds.items())
        ]
        names = list(schema.names())
        state = EncoderState(options, columns, names, len(names), rows)
        self._validate(state, function)
        return state

    def _grouped_state_from(
        self,
        schema: pl.Schema,
        kinds: dict[str, str],
        map_batches: MapBatches,
        options: dict[str, Any],
        function: str,
    ) -> EncoderState:
        """The fit with ``by``: each group's categories from its own rows,
        and their union (``_encoder_groups``)."""
        counts, groups = grouped_counts(map_batches, kinds, options["by"])
        columns, fitted = grouped_state(schema, kinds, counts, groups, options, function)
        names = list(schema.names())
        state = EncoderState(options, columns, names, len(names), sum(fitted.rows), fitted)
        self._validate(state, function)
        return state

    def _validate(self, state: EncoderState, function: str) -> None:
        """Fit-time checks of the options against the categories."""

    # ------------------------------------------------------- fitted params
    @property
    def categories_(self) -> list[npt.NDArray[Any]]:
        """Each encoded column's categories, as scikit-learn's ``categories_``
        (missing last: ``None`` for non-float columns, NaN for floats).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> enc = pmk.OrdinalEncoder().fit(pl.DataFrame({"x": [2.0, None, 1.0]}))
        >>> enc.categories_[0].tolist()
        [1.0, 2.0, nan]
        """
        return [c.categories_array() for c in self._fitted("categories_").columns]

    @property
    def columns_(self) -> list[str]:
        """The encoded columns (``columns=None`` resolved at fit time).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> pmk.OneHotEncoder(columns="c").fit(pl.DataFrame({"c": ["a"], "x": [1]})).columns_
        ['c']
        """
        return [c.name for c in self._fitted("columns_").columns]

    @property
    def n_samples_seen_(self) -> int:
        """How many rows ``fit`` (and every ``partial_fit``) saw."""
        return int(self._fitted("n_samples_seen_").n_samples_seen)

    @property
    def infrequent_categories_(self) -> list[npt.NDArray[Any] | None]:
        """Each column's infrequent categories (``None`` where there are
        none), when ``min_frequency`` or ``max_categories`` is set.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"c": ["a"] * 5 + ["b"] * 2 + ["c"]})
        >>> pmk.OneHotEncoder(min_frequency=3).fit(df).infrequent_categories_[0].tolist()
        ['b', 'c']
        """
        state = self._fitted("infrequent_categories_")
        options = state.options
        if options["min_frequency"] is None and options["max_categories"] is None:
            msg = f"{type(self).__name__} has no infrequent_categories_ (no infrequent grouping)"
            raise AttributeError(msg)
        out: list[npt.NDArray[Any] | None] = []
        for column in state.columns:
            rare = self._infrequent(state, column)
            out.append(None if rare is None else column.categories_array()[rare])
        return out

    def _infrequent(self, state: EncoderState, column: FittedColumn) -> list[int] | None:
        raise NotImplementedError

    # ------------------------------------------------------------ transform
    def _column_exprs(
        self, state: EncoderState, function: str, schema: pl.Schema | None = None
    ) -> dict[str, pl.Expr]:
        """Per encoded column, its expression; with the frame's ``schema``,
        an Enum column is looked up by its ids (see ``enum_ids``)."""
        raise NotImplementedError

    def expressions(self) -> list[pl.Expr]:
        """Elementwise expressions that encode the fitted columns.

        ``OneHotEncoder``'s expand into one column per output category
        (``frame.select(enc.expressions())`` gives just those);
        ``OrdinalEncoder``'s keep the column's name. They stream and
        serialize with the plan; :meth:`transform` also puts the encoded
        columns where their source columns stood.

        Returns
        -------
        list of pl.Expr
            One expression per encoded column, in :attr:`columns_` order.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> enc = pmk.OneHotEncoder().fit(pl.DataFrame({"c": ["b", "a"]}))
        >>> pl.LazyFrame({"c": ["a"]}).select(enc.expressions()).collect().rows()
        [(1, 0)]
        """
        state = self._fitted("expressions")
        return list(self._column_exprs(state, self._name("transform")).values())

    def transform(self, X: Any) -> Any:
        """Encode the fitted columns of ``X``; other columns pass through.

        The encoded columns replace their source column where it stood.
        DataFrame in, DataFrame out; LazyFrame in, LazyFrame out (nothing
        runs until it is collected, and its schema is known at once); a
        numpy array or pandas DataFrame gives the same kind back unless
        :meth:`set_output` chose another.

        Parameters
        ----------
        X
            Data with the fitted columns.

        Returns
        -------
        ``X`` with the fitted columns encoded.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> enc = pmk.OneHotEncoder(columns="c").fit(pl.DataFrame({"c": ["b", "a"]}))
        >>> enc.transform(pl.DataFrame({"x": [1, 2], "c": ["a", "b"], "y": [3, 4]})).columns
        ['x', 'c_a', 'c_b', 'y']
        """
        function = self._name("transform")
        state = self._fitted("transform")
        frame, kind = encoder_input(X, function)
        schema = frame.collect_schema()
        self._check_n_features(schema, kind, state, function)
        exprs = self._column_exprs(state, function, schema)
        for name in exprs:
            if name not in schema:
                msg = f"{function}: the fitted column {name!r} is not in the frame"
                raise pl.exceptions.ColumnNotFoundError(msg)
        for name in state.groups.by if state.groups is not None else []:
            if name not in schema:
                msg = f"{function}: by column {name!r} is not in the frame"
                raise pl.exceptions.ColumnNotFoundError(msg)
        selected = [exprs.get(name, pl.col(name)) for name in schema.names()]
        out: Frame = frame.select(selected)
        return _from_polars(out, kind, self._output(), function)

    def _check_n_features(
        self, schema: pl.Schema, kind: str, state: EncoderState, function: str
    ) -> None:
        if kind == "numpy" and len(schema) != state.n_features_in:
            msg = (
                f"{function}: X has {len(schema)} features, but {type(self).__name__} is "
                f"expecting {state.n_features_in} features as input."
            )
            raise ValueError(msg)

    # ---------------------------------------------------------- sklearn API
    def _input_names(self, state: EncoderState, input_features: Any) -> list[str]:
        names = state.feature_names_in or [f"x{j}" for j in range(state.n_features_in)]
        if input_features is None:
            return names
        given = [str(v) for v in input_features]
        if state.feature_names_in is not None and given != names:
            function = self._name("get_feature_names_out")
            msg = f"{function}: input_features is not equal to feature_names_in_"
            raise ValueError(msg)
        if len(given) != state.n_features_in:
            msg = (
                f"{self._name('get_feature_names_out')}: expected {state.n_features_in} "
                f"input features, got {len(given)}"
            )
            raise ValueError(msg)
        return given

    def to_json(self) -> str:
        """The fitted encoder as plain, versioned JSON (format
        ``polars-mlkit/encoder``); :func:`polars_mlkit.load` gives it back.

        Returns
        -------
        str

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> enc = pmk.OneHotEncoder().fit(pl.DataFrame({"c": ["b", "a"]}))
        >>> again = pmk.load(enc.to_json())
        >>> again.transform(pl.DataFrame({"c": ["a"]})).rows()
        [(1, 0)]
        """
        state = self._fitted("to_json")
        return encoder_to_json(type(self).__name__, self.get_params(), state)


def _plain_list(values: Any, function: str) -> list[Any]:
    if isinstance(values, (str, bytes)):
        msg = f"{function}: categories must be 'auto' or a list of lists, got a string {values!r}"
        raise TypeError(msg)
    if hasattr(values, "tolist"):
        values = values.tolist()
    if not isinstance(values, (list, tuple)):
        msg = f"{function}: categories must be 'auto' or a list of lists, got {values!r}"
        raise TypeError(msg)
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def _min_frequency(value: Any, function: str) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        pass
    elif isinstance(value, numbers.Integral) and int(value) >= 1:
        return int(value)
    elif (
        isinstance(value, numbers.Real)
        and not isinstance(value, numbers.Integral)
        and 0.0 < float(value) < 1.0
    ):
        return float(value)
    msg = (
        f"{function}: min_frequency must be None, an int >= 1 or a float in (0.0, 1.0), "
        f"got {value!r}"
    )
    raise ValueError(msg)


def _max_categories(value: Any, function: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 1:
        return int(value)
    msg = f"{function}: max_categories must be None or an int >= 1, got {value!r}"
    raise ValueError(msg)
