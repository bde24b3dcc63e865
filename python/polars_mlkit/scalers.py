"""Fitted scalers: learn parameters once, apply them anywhere.

:class:`MinMaxScaler`, :class:`StandardScaler`, :class:`RobustScaler` and
:class:`MaxAbsScaler` learn their parameters from training data with one
Polars query and turn them into *elementwise* expressions with the fitted
constants. So a fitted scaler runs lazily, under the streaming engine and out
of core (``scan_parquet(...).with_columns(sc.expressions()).sink_parquet(...)``),
saves to a documented, versioned JSON text (:meth:`~MinMaxScaler.to_json`,
:func:`load_scaler`; see ``docs/scaler-json.md``) and gives the numbers of the
scikit-learn scaler of the same name fitted on the same training data.

The estimators follow scikit-learn's conventions without depending on it: the
constructor only stores its arguments (checked by ``fit``), ``fit`` returns
the scaler, fitted attributes end in ``_``, ``get_params``/``set_params``,
``get_feature_names_out`` and ``set_output`` work, so they can sit in a
``sklearn.pipeline.Pipeline`` or a ``ColumnTransformer`` and be ``clone``-d.

Decisions (where scikit-learn or the design is silent):

- Statistics skip nulls and NaN, as in the ``ml`` scaling expressions;
  nulls stay null and NaN stays NaN. An infinite value is an error naming
  the scaler and the column.
- A column (or group) with no value to learn from gets NaN parameters, as
  scikit-learn learns NaN from an all-NaN column: its transform gives NaN
  (nulls stay null).
- Output dtype: Float32 when the column was Float32 at fit time, Float64
  otherwise (integers and Decimal included). Vector columns keep their
  container (``Array`` stays ``Array``, ``List`` stays ``List``).
- The options in force are those of the last ``fit``/``partial_fit``;
  ``set_params`` takes effect at the next fit, as the parameters are fitted
  values.
- With ``by=``, parameters are looked up per row by a string key rendered
  from the ``by`` columns (``cast(pl.String)``, nulls as their own group).
- ``params_`` has one parameter column per parameter; if any fitted column is
  a vector column, every parameter column is ``List(Float64)`` (scalar
  columns get one-element lists) so that the frame has one schema.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, ClassVar, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit._plugin import call_plugin
from polars_mlkit.scaling import _scale_kwargs

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MaxAbsScaler",
    "MinMaxScaler",
    "NotFittedError",
    "RobustScaler",
    "StandardScaler",
    "load_scaler",
]

#: The ``format`` field of the JSON text written by ``to_json``.
FORMAT = "polars-mlkit/scaler"
#: The newest JSON format version this package reads and the one it writes.
FORMAT_VERSION = 1

UnknownGroup: TypeAlias = Literal["error", "null"]
Frame: TypeAlias = "pl.DataFrame | pl.LazyFrame"
FloatArray: TypeAlias = "npt.NDArray[np.float64]"

_EPS64 = float(np.finfo(np.float64).eps)
_EPS32 = float(np.finfo(np.float32).eps)
# Separates the parts of a multi-column group key, and stands for a null part.
_KEY_SEPARATOR = "\x1f"
_NULL_PART = "\x00null"


class NotFittedError(ValueError, AttributeError):
    """A scaler was used before ``fit``.

    Like scikit-learn's ``NotFittedError`` it is both a ``ValueError`` and an
    ``AttributeError`` (scikit-learn is not a dependency, so it is not that
    very class).

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> pmk.MinMaxScaler().transform(pl.DataFrame({"x": [1.0]}))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    polars_mlkit.scalers.NotFittedError: This MinMaxScaler instance is not fitted yet. ...
    >>> issubclass(pmk.scalers.NotFittedError, ValueError)
    True
    """


# --------------------------------------------------------------------------- #
# fitted state
# --------------------------------------------------------------------------- #
@dataclass
class _Column:
    """One fitted column: its name, (inner) dtype, container and width."""

    name: str
    dtype: str  # str() of the (inner, for vectors) Polars dtype at fit time
    container: str  # "scalar" | "array" | "list"
    width: int  # 0 for scalar columns

    @property
    def float32(self) -> bool:
        return self.dtype == "Float32"

    @property
    def lanes(self) -> int:
        return max(self.width, 1)


@dataclass
class _State:
    """What a fit learned: enough to resume ``partial_fit`` and to rebuild
    identical transforms (this is what the JSON text holds)."""

    options: dict[str, Any]
    columns: list[_Column]
    by: list[str]
    by_dtypes: list[str]
    # one row per group: the by columns (typed) and their rendered "key"
    groups: pl.DataFrame
    # column name -> statistic name -> array (groups, lanes)
    stats: dict[str, dict[str, FloatArray]]
    feature_names_in: list[str] | None
    n_features_in: int
    n_samples_seen: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        if not self.by:
            return [""]
        return [str(k) for k in self.groups["key"].to_list()]


def _key_expr(by: Sequence[str]) -> pl.Expr:
    """The string key of each row's group (the same expression at fit and
    transform time, so rendered keys match)."""
    parts = [pl.col(b).cast(pl.String).fill_null(_NULL_PART) for b in by]
    if len(parts) == 1:
        return parts[0]
    return pl.concat_str(parts, separator=_KEY_SEPARATOR)


def _is_numeric(dtype: pl.DataType) -> bool:
    return bool(dtype.is_numeric())


def _vector_inner(dtype: pl.DataType) -> pl.DataType | None:
    if isinstance(dtype, (pl.Array, pl.List)):
        inner = dtype.inner
        if inner is not None and inner.is_numeric():
            return inner if isinstance(inner, pl.DataType) else inner()
    return None


# --------------------------------------------------------------------------- #
# input and output kinds (Polars, numpy, pandas)
# --------------------------------------------------------------------------- #
def _to_polars(x: Any, function: str, fitting: bool = False) -> tuple[Frame, str]:
    """The Polars frame for ``x`` and the kind it came as.

    Arrays follow scikit-learn's ``check_array``: array-likes go through
    ``np.asarray``, object arrays must convert to float64, complex and
    sparse data are refused, a 1-D array asks to be reshaped, and ``fit``
    refuses arrays without samples or features.
    """
    if isinstance(x, pl.LazyFrame):
        return x, "lazy"
    if isinstance(x, pl.DataFrame):
        return x, "polars"
    if type(x).__module__.startswith("pandas"):
        return pl.from_pandas(x), "pandas"
    if type(x).__module__.startswith("scipy.sparse"):
        msg = (
            f"{function}: sparse data was passed, but dense data is required. "
            "Use '.toarray()' to convert to a dense numpy array."
        )
        raise TypeError(msg)
    if not isinstance(x, np.ndarray):
        if not (hasattr(x, "__array__") or isinstance(x, (list, tuple))):
            msg = (
                f"{function}: expected a polars DataFrame or LazyFrame (or a 2-D numpy array / "
                f"pandas DataFrame), got {type(x).__name__}"
            )
            raise TypeError(msg)
        x = np.asarray(x)
    x = _checked_array(x, function, fitting)
    frame = pl.DataFrame({f"x{j}": x[:, j] for j in range(x.shape[1])}, height=x.shape[0])
    return frame, "numpy"


def _checked_array(x: npt.NDArray[Any], function: str, fitting: bool) -> npt.NDArray[Any]:
    """A 2-D numeric array, or scikit-learn's error for what it is instead."""
    if np.iscomplexobj(x):
        msg = f"{function}: Complex data not supported\n{x!r}"
        raise ValueError(msg)
    if x.dtype.kind not in "biuf":
        try:
            x = x.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{function}: {err}") from err
    if x.ndim == 1:
        msg = (
            f"{function}: Expected 2D array, got 1D array instead:\narray={x!r}.\n"
            "Reshape your data either using array.reshape(-1, 1) if your data has a single "
            "feature or array.reshape(1, -1) if it contains a single sample."
        )
        raise ValueError(msg)
    if x.ndim != 2:
        msg = f"{function}: expected a 2-D array (rows are samples), got {x.ndim} dimensions"
        raise ValueError(msg)
    if fitting:
        for axis, what in ((0, "sample(s)"), (1, "feature(s)")):
            if x.shape[axis] == 0:
                msg = (
                    f"{function}: Found array with 0 {what} (shape={x.shape}) while a "
                    "minimum of 1 is required."
                )
                raise ValueError(msg)
    return x


def _require_pandas(function: str) -> None:
    if importlib.util.find_spec("pandas") is None:
        msg = f'{function}: output "pandas" needs pandas, which is not installed'
        raise ImportError(msg)


def _from_polars(frame: Frame, kind: str, output: str | None, function: str) -> Any:
    if output == "pandas" or (output in (None, "default") and kind == "pandas"):
        _require_pandas(function)
        return (frame.collect() if isinstance(frame, pl.LazyFrame) else frame).to_pandas()
    if output in (None, "default") and kind == "numpy":
        assert isinstance(frame, pl.DataFrame)
        return frame.to_numpy()
    return frame


# --------------------------------------------------------------------------- #
# statistics: one query, then an exact merge
# --------------------------------------------------------------------------- #
def _stat_name(i: int, j: int, stat: str) -> str:
    return f"__pmk_{i}_{j}_{stat}"


def _lane_expr(column: _Column, j: int, skip_nan: bool) -> pl.Expr:
    """Lane ``j`` of a column, as Float64 (with NaN turned into null if ``skip_nan``)."""
    x = pl.col(column.name)
    if column.container == "scalar":
        x = x.cast(pl.Float64)
    else:
        x = x.cast(pl.Array(pl.Float64, column.width)).arr.get(j)
    return x.fill_nan(None) if skip_nan else x


def _stats_query(
    lazy: pl.LazyFrame,
    columns: Sequence[_Column],
    by: list[str],
    skip_nan: bool,
    stat_exprs: Callable[[pl.Expr, dict[str, Any]], dict[str, pl.Expr]],
    options: dict[str, Any],
    streaming: bool,
) -> pl.DataFrame:
    """One query (one collect, streaming engine) for every statistic of
    every lane of every column, per group with ``by`` (groups sorted)."""
    exprs: list[pl.Expr] = []
    for i, column in enumerate(columns):
        for j in range(column.lanes):
            for stat, expr in stat_exprs(_lane_expr(column, j, skip_nan), options).items():
                exprs.append(expr.alias(_stat_name(i, j, stat)))
    rows = pl.len().alias("__pmk_rows")
    if by:
        query = lazy.group_by(by).agg(rows, *exprs).sort(by, nulls_last=True)
    else:
        query = lazy.select(rows, *exprs)
    # A LazyFrame is collected with the streaming engine (out of core); data
    # already in memory with the in-memory engine, whose grouped sums are
    # reproducible bit for bit (the streaming engine's may differ in the
    # last bits from run to run, as morsels arrive in any order).
    result = query.collect(engine="streaming" if streaming else "in-memory")
    # A statistic that is a struct (one kernel pass giving several numbers)
    # is spread into one column per field, named like the other statistics.
    structs = [name for name, dtype in result.schema.items() if isinstance(dtype, pl.Struct)]
    for name in structs:
        prefix = name.rsplit("_", 1)[0]
        fields = [field.name for field in result.schema[name].fields]  # type: ignore[attr-defined]
        result = result.with_columns(
            pl.col(name).struct.field(f).alias(f"{prefix}_{f}") for f in fields
        ).drop(name)
    return result


def _extract(
    result: pl.DataFrame, i: int, column: _Column, names: Sequence[str]
) -> dict[str, FloatArray]:
    """Column ``i``'s statistics from a query result, as (groups, lanes) arrays."""
    per: dict[str, FloatArray] = {}
    for stat in names:
        lanes = [
            result[_stat_name(i, j, stat)].cast(pl.Float64).fill_null(np.nan).to_numpy()
            for j in range(column.lanes)
        ]
        per[stat] = np.ascontiguousarray(
            np.stack(lanes, axis=1).reshape(result.height, column.lanes), dtype=np.float64
        )
    return per


def _empty_stats(names: Sequence[str], groups: int, lanes: int) -> dict[str, FloatArray]:
    return {s: np.full((groups, lanes), np.nan) for s in names}


def _merge_stats(
    a: dict[str, FloatArray], b: dict[str, FloatArray], standard: bool
) -> dict[str, FloatArray]:
    """Exact merge of two partial statistics (count/mean/M2 by Chan et al.)."""
    na, nb = a["count"], b["count"]
    n = na + nb
    out = {"count": n}
    with np.errstate(all="ignore"):
        for name, pick in (("min", np.fmin), ("max", np.fmax)):
            if name in a:
                out[name] = pick(a[name], b[name])
        if standard:
            delta = b["mean"] - a["mean"]
            mean = a["mean"] + delta * (nb / n)
            m2 = a["m2"] + b["m2"] + delta * delta * (na * nb / n)
            out["mean"] = np.where(nb == 0, a["mean"], np.where(na == 0, b["mean"], mean))
            out["m2"] = np.where(nb == 0, a["m2"], np.where(na == 0, b["m2"], m2))
    return out


def _dtype_from_string(text: str) -> pl.DataType | None:
    simple: dict[str, pl.DataType] = {
        str(t): t()
        for t in (
            pl.Int8,
            pl.Int16,
            pl.Int32,
            pl.Int64,
            pl.UInt8,
            pl.UInt16,
            pl.UInt32,
            pl.UInt64,
            pl.Float32,
            pl.Float64,
            pl.String,
            pl.Boolean,
            pl.Date,
            pl.Categorical,
        )
    }
    if text in simple:
        return simple[text]
    match = re.fullmatch(r"Datetime\(time_unit='(ns|us|ms)', time_zone=(None|'[^']*')\)", text)
    if match:
        zone = None if match.group(2) == "None" else match.group(2)[1:-1]
        return pl.Datetime(match.group(1), zone)  # type: ignore[arg-type]
    return None


def _rebuild_groups(
    by: Sequence[str], by_dtypes: Sequence[str], parts: Sequence[Sequence[str | None]]
) -> pl.DataFrame:
    """The typed ``by`` columns from their rendered parts (JSON). A dtype this
    function cannot rebuild stays String; transforms only use the keys."""
    columns: dict[str, pl.Series] = {}
    for i, (name, text) in enumerate(zip(by, by_dtypes, strict=True)):
        rendered = pl.Series(name, [p[i] for p in parts], dtype=pl.String)
        dtype = _dtype_from_string(text)
        if dtype is None or dtype == pl.String:
            columns[name] = rendered
        elif dtype == pl.Boolean:
            columns[name] = rendered.replace_strict(
                {"true": True, "false": False}, default=None, return_dtype=pl.Boolean
            )
        else:
            try:
                columns[name] = rendered.cast(dtype)
            except pl.exceptions.PolarsError:
                columns[name] = rendered
    frame = pl.DataFrame(list(columns.values()), schema=list(by)) if by else pl.DataFrame()
    keys = frame.select(_key_expr(by).alias("key"))["key"] if by else pl.Series("key", [])
    return frame.with_columns(keys.alias("key")) if by else frame


# --------------------------------------------------------------------------- #
# the estimators
# --------------------------------------------------------------------------- #
class _Scaler:
    """What the four scalers share; see :class:`StandardScaler`.

    The methods and fitted properties documented here are those of
    :class:`MinMaxScaler`, :class:`StandardScaler`, :class:`RobustScaler` and
    :class:`MaxAbsScaler`; ``partial_fit`` is on the three whose statistics
    merge (not ``RobustScaler``).

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> sc = pmk.MinMaxScaler().fit(pl.DataFrame({"x": [0.0, 4.0]}))
    >>> isinstance(sc, pmk.scalers._Scaler)
    True
    >>> scaled = sc.transform(pl.DataFrame({"x": [1.0, 2.0]}))
    >>> scaled["x"].to_list(), sc.inverse_transform(scaled)["x"].to_list()
    ([0.25, 0.5], [1.0, 2.0])
    """

    _method: ClassVar[str]
    _param_names: ClassVar[tuple[str, ...]]
    _stat_names: ClassVar[tuple[str, ...]]
    _param_columns: ClassVar[tuple[str, ...]]
    # Whether the statistics query must turn NaN into null (Polars' min and
    # max already skip NaN).
    _skip_nan: ClassVar[bool] = False

    columns: Sequence[str] | str | None
    by: Sequence[str] | str | None
    unknown_group: UnknownGroup

    # ----------------------------------------------------------------- params
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments, as scikit-learn's ``get_params``.

        Parameters
        ----------
        deep
            Accepted for scikit-learn compatibility (a scaler has no
            sub-estimators).

        Returns
        -------
        dict
            Each constructor argument's name and value, in constructor order.

        Examples
        --------
        >>> import polars_mlkit as pmk
        >>> pmk.MaxAbsScaler(columns=["x"]).get_params()
        {'columns': ['x'], 'by': None, 'unknown_group': 'error'}
        >>> pmk.StandardScaler(ddof=1).get_params()["ddof"]
        1
        """
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self, **params: Any) -> _Scaler:
        """Set constructor arguments (checked by the next ``fit``); returns the scaler.

        As scikit-learn's ``set_params``. A fitted scaler keeps transforming
        with its fitted parameters until it is fitted again.

        Parameters
        ----------
        **params
            Constructor arguments by name; an unknown name is a ``ValueError``.

        Returns
        -------
        The scaler (the same object).

        Examples
        --------
        >>> import polars_mlkit as pmk
        >>> pmk.StandardScaler().set_params(with_mean=False, ddof=1)
        StandardScaler(with_mean=False, ddof=1)
        >>> pmk.StandardScaler().set_params(colour="red")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: StandardScaler.set_params: invalid parameter 'colour'; valid parameters are ...
        """
        for name, value in params.items():
            if name not in self._param_names:
                msg = (
                    f"{type(self).__name__}.set_params: invalid parameter {name!r}; "
                    f"valid parameters are {', '.join(self._param_names)}"
                )
                raise ValueError(msg)
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = type(self)().get_params()
        shown = [f"{k}={v!r}" for k, v in self.get_params().items() if _differs(v, defaults[k])]
        return f"{type(self).__name__}({', '.join(shown)})"

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's estimator tags (only called by scikit-learn)."""
        utils = importlib.import_module("sklearn.utils")
        Tags, InputTags = utils.Tags, utils.InputTags
        TargetTags, TransformerTags = utils.TargetTags, utils.TransformerTags
        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(preserves_dtype=["float64", "float32"]),
            input_tags=InputTags(allow_nan=True, two_d_array=True),
            requires_fit=True,
        )

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, "_state", None) is not None

    # ------------------------------------------------------------- checking
    def _name(self, what: str) -> str:
        return f"{type(self).__name__}.{what}"

    def _checked_options(self, function: str) -> dict[str, Any]:
        """Every argument checked; builtin-typed options for this fit."""
        method_options = {k: getattr(self, k) for k in self._param_names if k not in _COMMON_PARAMS}
        kwargs = _scale_kwargs(function, self._method, method_options)
        options = {k: kwargs[k] for k in method_options}
        options["columns"] = _names(self.columns, "columns", function)
        options["by"] = _names(self.by, "by", function)
        if self.unknown_group not in ("error", "null"):
            msg = f'{function}: unknown_group must be "error" or "null", got {self.unknown_group!r}'
            raise ValueError(msg)
        options["unknown_group"] = self.unknown_group
        return options

    def _fitted(self, function: str) -> _State:
        state: _State | None = getattr(self, "_state", None)
        if state is None:
            msg = (
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' "
                f"with appropriate arguments before using {function!r}."
            )
            raise NotFittedError(msg)
        return state

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> _Scaler:
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

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        """``fit(X)`` then ``transform(X)``.

        Parameters
        ----------
        X
            The training data, which is also scaled (see :meth:`fit`).
        y
            Ignored (scikit-learn compatibility).
        **fit_params
            Ignored (scikit-learn compatibility).

        Returns
        -------
        ``X`` scaled, of the kind :meth:`transform` gives.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> import numpy as np
        >>> pmk.StandardScaler().fit_transform(pl.DataFrame({"x": [1.0, 3.0]}))["x"].to_list()
        [-1.0, 1.0]
        >>> pmk.MaxAbsScaler().fit_transform(np.array([[1.0, -2.0], [2.0, 4.0]])).tolist()
        [[0.5, -0.5], [1.0, 1.0]]
        """
        return self.fit(X, y).transform(X)

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
            lazy, columns, by, self._skip_nan, self._stat_exprs, options, streaming
        )
        groups = result.select(*by, _key_expr(by).alias("key")) if by else pl.DataFrame()
        stats = {
            column.name: _extract(result, i, column, self._stat_names)
            for i, column in enumerate(columns)
        }
        # Standard scaling reads the column once without skipping NaN (NaN
        # skipping costs as much as the statistics): a column whose moments
        # come back non-finite holds NaN (or infinity) and is read again,
        # NaN skipped. Data without NaN is read once.
        again = [
            (i, column)
            for i, column in enumerate(columns)
            if not self._skip_nan and self._needs_nan_pass(stats[column.name])
        ]
        if again:
            redo = _stats_query(
                lazy, [c for _, c in again], by, True, self._stat_exprs, options, streaming
            )
            for k, (_, column) in enumerate(again):
                stats[column.name] = _extract(redo, k, column, self._stat_names)
        for column in columns:
            self._check_finite(stats[column.name], column, function)
        names = list(schema.names())
        return _State(
            options=options,
            columns=columns,
            by=by,
            by_dtypes=[str(schema[b]) for b in by],
            groups=groups,
            stats=stats,
            feature_names_in=names,
            n_features_in=len(names),
            n_samples_seen=int(result["__pmk_rows"].sum()) if result.height else 0,
        )

    def _needs_nan_pass(self, per: dict[str, FloatArray]) -> bool:
        return False

    def _check_finite(self, per: dict[str, FloatArray], column: _Column, function: str) -> None:
        with np.errstate(invalid="ignore"):
            bad = np.isinf(per["min"]).any() or np.isinf(per["max"]).any()
        if bad:
            msg = (
                f"{function}: column {column.name!r} contains infinity; scikit-learn's "
                f"{type(self).__name__} rejects infinite values too"
            )
            raise ValueError(msg)

    # ------------------------------------------------------- fitted params
    def _transform_ops(
        self, state: _State, column: _Column, inverse: bool
    ) -> list[tuple[str, FloatArray]]:
        raise NotImplementedError

    def _params(self, state: _State, column: _Column) -> dict[str, FloatArray]:
        raise NotImplementedError

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
            params = self._params(state, column)
            groups = max(len(state.keys), 0) if state.by else 1
            data: dict[str, Any] = {"column": pl.Series([column.name] * groups, dtype=pl.String)}
            frame = pl.DataFrame(data)
            if state.by:
                frame = frame.hstack(state.groups.drop("key"))
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
    def n_features_in_(self) -> int:
        """How many columns the frame passed to ``fit`` had.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> train = pl.DataFrame({"x": [0.0, 4.0], "y": [1, 2], "label": ["a", "b"]})
        >>> pmk.MinMaxScaler(columns="x").fit(train).n_features_in_
        3
        """
        return self._fitted("n_features_in_").n_features_in

    @property
    def feature_names_in_(self) -> npt.NDArray[np.object_]:
        """The column names of the frame passed to ``fit`` (a numpy object array).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> train = pl.DataFrame({"x": [0.0, 4.0], "label": ["a", "b"]})
        >>> pmk.MinMaxScaler().fit(train).feature_names_in_.tolist()
        ['x', 'label']
        """
        names = self._fitted("feature_names_in_").feature_names_in
        if names is None:
            msg = f"{type(self).__name__} has no feature_names_in_"
            raise AttributeError(msg)
        return np.asarray(names, dtype=object)

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
            ops = self._transform_ops(state, column, inverse)
            clip = None if inverse else self._clip(state)
            out.append(_column_expr(state, column, ops, clip, function))
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

    def set_output(self, *, transform: str | None = None) -> _Scaler:
        """Choose the output container, as scikit-learn's ``set_output``.

        ``"polars"`` always gives Polars frames (a LazyFrame stays lazy),
        ``"default"`` gives back the kind that came in, ``"pandas"`` gives a
        pandas DataFrame (pandas must be installed); ``None`` changes nothing.

        Parameters
        ----------
        transform
            ``"default"``, ``"polars"``, ``"pandas"`` or ``None``.

        Returns
        -------
        The scaler (the same object).

        Examples
        --------
        >>> import polars_mlkit as pmk
        >>> import numpy as np
        >>> X = np.array([[1.0, -2.0], [2.0, 4.0]])
        >>> type(pmk.MaxAbsScaler().fit_transform(X)).__name__
        'ndarray'
        >>> pmk.MaxAbsScaler().set_output(transform="polars").fit_transform(X)
        shape: (2, 2)
        ┌─────┬──────┐
        │ x0  ┆ x1   │
        │ --- ┆ ---  │
        │ f64 ┆ f64  │
        ╞═════╪══════╡
        │ 0.5 ┆ -0.5 │
        │ 1.0 ┆ 1.0  │
        └─────┴──────┘
        """
        if transform is None:
            return self
        if transform not in ("default", "polars", "pandas"):
            msg = (
                f"{self._name('set_output')}: transform must be 'default', 'polars', "
                f"'pandas' or None, got {transform!r}"
            )
            raise ValueError(msg)
        if transform == "pandas":
            _require_pandas(self._name("set_output"))
        self._sklearn_output_config = {"transform": transform}
        return self

    def _output(self) -> str | None:
        config: dict[str, str] = getattr(self, "_sklearn_output_config", {})
        return config.get("transform")

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
        ('polars-mlkit/scaler', 1, 'MinMaxScaler')
        >>> document["statistics"]
        {'x': {'count': [[2.0]], 'min': [[0.0]], 'max': [[4.0]]}}
        >>> pmk.load_scaler(sc.to_json()).transform(pl.DataFrame({"x": [1.0]}))["x"].to_list()
        [0.25]
        """
        state = self._fitted("to_json")
        document = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "kind": type(self).__name__,
            "options": state.options,
            "columns": [
                {"name": c.name, "dtype": c.dtype, "container": c.container, "width": c.width}
                for c in state.columns
            ],
            "by": [{"name": b, "dtype": d} for b, d in zip(state.by, state.by_dtypes, strict=True)],
            "groups": _groups_to_json(state),
            "statistics": {
                name: {stat: _array_to_json(arr) for stat, arr in per.items()}
                for name, per in state.stats.items()
            },
            "feature_names_in": state.feature_names_in,
            "n_features_in": state.n_features_in,
            "n_samples_seen": state.n_samples_seen,
        }
        return json.dumps(document, allow_nan=False)


_COMMON_PARAMS = ("columns", "by", "unknown_group")


def _differs(a: Any, b: Any) -> bool:
    try:
        return bool(a != b)
    except (TypeError, ValueError):
        return True


def _names(value: object, name: str, function: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (Sequence, np.ndarray)) and all(isinstance(v, str) for v in value):
        names = [str(v) for v in value]
        if len(set(names)) != len(names):
            msg = f"{function}: {name} has repeated column names: {names!r}"
            raise ValueError(msg)
        return names
    msg = f"{function}: {name} must be a column name or a list of column names, got {value!r}"
    raise TypeError(msg)


def _select_columns(
    schema: pl.Schema, wanted: list[str] | None, by: list[str], function: str
) -> list[_Column]:
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
        inner = _vector_inner(dtype)
        if isinstance(dtype, pl.Array) and inner is not None:
            columns.append(_Column(name, str(inner), "array", int(dtype.size)))
        elif isinstance(dtype, pl.List) and inner is not None:
            columns.append(_Column(name, str(inner), "list", -1))
        elif _is_numeric(dtype):
            columns.append(_Column(name, str(dtype), "scalar", 0))
        elif wanted is not None:
            msg = (
                f"{function}: column {name!r} has dtype {dtype}; expected a numeric column "
                "or a numeric Array/List (vector) column"
            )
            raise TypeError(msg)
    return columns


def _resolve_list_widths(frame: Frame, columns: list[_Column], function: str) -> None:
    """List columns need their (single) length before the statistics query."""
    lists = [c for c in columns if c.container == "list"]
    if not lists:
        return
    exprs = []
    for c in lists:
        length = pl.col(c.name).list.len()
        exprs += [length.min().alias(f"{c.name}\x00min"), length.max().alias(f"{c.name}\x00max")]
    lengths = frame.lazy().select(exprs).collect()
    for c in lists:
        low, high = lengths[f"{c.name}\x00min"][0], lengths[f"{c.name}\x00max"][0]
        if low is None:
            msg = (
                f"{function}: list column {c.name!r} has no non-null row, so its vector "
                "length is unknown"
            )
            raise ValueError(msg)
        if low != high:
            msg = (
                f"{function}: list column {c.name!r} holds vectors of different lengths "
                f"({low} and {high}); a vector column needs one length"
            )
            raise ValueError(msg)
        if low == 0:
            msg = f"{function}: list column {c.name!r} holds empty lists"
            raise ValueError(msg)
        c.width = int(low)


def _merge_states(old: _State, new: _State, function: str) -> _State:
    if [(c.name, c.container, c.width, c.dtype) for c in old.columns] != [
        (c.name, c.container, c.width, c.dtype) for c in new.columns
    ]:
        msg = (
            f"{function}: the batch's columns {[(c.name, c.dtype, c.width) for c in new.columns]}"
            f" differ from the fitted ones {[(c.name, c.dtype, c.width) for c in old.columns]}"
        )
        raise ValueError(msg)
    if old.by != new.by:
        msg = f"{function}: the batch is grouped by {new.by}, the scaler by {old.by}"
        raise ValueError(msg)
    standard = "m2" in next(iter(old.stats.values()), {})
    if old.by:
        groups = (
            pl.concat([old.groups, new.groups], how="vertical_relaxed")
            .unique("key", keep="first", maintain_order=True)
            .sort(old.by, nulls_last=True, maintain_order=True)
        )
        keys = [str(k) for k in groups["key"].to_list()]
        old_index = {k: i for i, k in enumerate(old.keys)}
        new_index = {k: i for i, k in enumerate(new.keys)}
    else:
        groups, keys = old.groups, [""]
        old_index = new_index = {"": 0}
    stats = {}
    for column in old.columns:
        parts = []
        for state, index in ((old, old_index), (new, new_index)):
            per = state.stats[column.name]
            aligned = _empty_stats(list(per), len(keys), column.lanes)
            aligned["count"][:] = 0.0
            rows = [index.get(k, -1) for k in keys]
            for r, source in enumerate(rows):
                if source >= 0:
                    for stat, arr in per.items():
                        aligned[stat][r] = arr[source]
            parts.append(aligned)
        stats[column.name] = _merge_stats(parts[0], parts[1], standard)
    return _State(
        options=new.options,
        columns=old.columns,
        by=old.by,
        by_dtypes=old.by_dtypes,
        groups=groups,
        stats=stats,
        feature_names_in=new.feature_names_in,
        n_features_in=new.n_features_in,
        n_samples_seen=old.n_samples_seen + new.n_samples_seen,
    )


def _constant(state: _State, column: _Column, values: FloatArray, function: str) -> pl.Expr:
    """The per-row constant: a literal, or a per-group lookup with ``by``."""
    if state.by:
        return call_plugin(
            "group_lookup",
            [_key_expr(state.by)],
            {
                "function": function,
                "keys": state.keys,
                "values": [float(v) for v in values.ravel()],
                "width": column.width,
                "unknown": state.options["unknown_group"],
            },
            is_elementwise=True,
        )
    if column.width:
        row = [float(v) for v in values[0]]
        return pl.lit(pl.Series([row], dtype=pl.Array(pl.Float64, column.width)))
    return pl.lit(float(values[0, 0]), dtype=pl.Float64)


def _column_expr(
    state: _State,
    column: _Column,
    ops: list[tuple[str, FloatArray]],
    clip: tuple[float, float] | None,
    function: str,
) -> pl.Expr:
    x = pl.col(column.name)
    x = x.cast(pl.Array(pl.Float64, column.width) if column.width else pl.Float64)
    for op, values in ops:
        const = _constant(state, column, values, function)
        if op == "sub":
            x = x - const
        elif op == "add":
            x = x + const
        elif op == "mul":
            x = x * const
        else:
            x = x / const
    if clip is not None:
        low, high = clip
        x = x.arr.eval(pl.element().clip(low, high)) if column.width else x.clip(low, high)
    inner: pl.DataType = pl.Float32() if column.float32 else pl.Float64()
    if column.container == "list":
        x = x.cast(pl.List(inner))
    elif column.container == "array":
        x = x.cast(pl.Array(inner, column.width))
    elif column.float32:
        x = x.cast(pl.Float32)
    return x.alias(column.name)


def _handle_zeros(scale: FloatArray, column: _Column) -> FloatArray:
    """scikit-learn's ``_handle_zeros_in_scale`` with the column dtype's eps."""
    eps = _EPS32 if column.float32 else _EPS64
    with np.errstate(invalid="ignore"):
        return np.where(scale < 10.0 * eps, 1.0, scale)


# --------------------------------------------------------------------------- #
# MinMaxScaler
# --------------------------------------------------------------------------- #
class _IncrementalScaler(_Scaler):
    """A scaler whose statistics merge exactly, so it can learn batch by
    batch (``partial_fit``). :class:`RobustScaler` is not one: exact
    quantiles do not merge from partial statistics, so it has no
    ``partial_fit`` attribute at all (as scikit-learn's)."""

    def partial_fit(self, X: Any, y: Any = None) -> _IncrementalScaler:
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
        self._state = batch if previous is None else _merge_states(previous, batch, function)
        return self


class MinMaxScaler(_IncrementalScaler):
    """Scale to ``feature_range`` with fitted minima and maxima, as scikit-learn's.

    ``x * scale + min`` where ``scale = (high - low) / (data_max - data_min)``
    and ``min = low - data_min * scale`` (a range below ``10 * eps`` of the
    column dtype counts as 1, so a constant column maps to ``low``).

    Parameters
    ----------
    columns
        Columns to scale; ``None`` means every numeric and numeric-vector
        (``Array``/``List``) column except the ``by`` columns.
    by
        Fit one set of parameters per group of these columns.
    feature_range
        ``(low, high)`` with ``low < high``.
    clip
        Clip transformed values to ``feature_range``.
    unknown_group
        What a group not seen at fit time gives: ``"error"`` (naming the
        group) or ``"null"``.

    Attributes
    ----------
    params_
        ``column``, the ``by`` columns, ``data_min``, ``data_max``, ``scale``, ``min``.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> train = pl.DataFrame({"x": [0.0, 5.0, 10.0], "y": [1, 2, 3]})
    >>> sc = pmk.MinMaxScaler(columns=["x"]).fit(train)
    >>> sc.transform(pl.DataFrame({"x": [2.5, 20.0], "y": [7, 8]}))
    shape: (2, 2)
    ┌──────┬─────┐
    │ x    ┆ y   │
    │ ---  ┆ --- │
    │ f64  ┆ i64 │
    ╞══════╪═════╡
    │ 0.25 ┆ 7   │
    │ 2.0  ┆ 8   │
    └──────┴─────┘
    """

    _method = "minmax"
    _param_names = ("columns", "by", "feature_range", "clip", "unknown_group")
    _stat_names = ("count", "min", "max")
    _param_columns = ("data_min", "data_max", "scale", "min")

    def __init__(
        self,
        columns: Sequence[str] | str | None = None,
        by: Sequence[str] | str | None = None,
        feature_range: tuple[float, float] = (0.0, 1.0),
        clip: bool = False,
        unknown_group: UnknownGroup = "error",
    ) -> None:
        self.columns = columns
        self.by = by
        self.feature_range = feature_range
        self.clip = clip
        self.unknown_group = unknown_group

    def _stat_exprs(self, x: pl.Expr, options: dict[str, Any]) -> dict[str, pl.Expr]:
        return {"count": x.count(), "min": x.min(), "max": x.max()}

    def _params(self, state: _State, column: _Column) -> dict[str, FloatArray]:
        low, high = state.options["feature_range"]
        per = state.stats[column.name]
        data_min, data_max = per["min"], per["max"]
        with np.errstate(invalid="ignore"):
            scale = (high - low) / _handle_zeros(data_max - data_min, column)
            offset = low - data_min * scale
        return {"data_min": data_min, "data_max": data_max, "scale": scale, "min": offset}

    def _transform_ops(
        self, state: _State, column: _Column, inverse: bool
    ) -> list[tuple[str, FloatArray]]:
        p = self._params(state, column)
        if inverse:
            return [("sub", p["min"]), ("div", p["scale"])]
        return [("mul", p["scale"]), ("add", p["min"])]

    def _clip(self, state: _State) -> tuple[float, float] | None:
        if state.options["clip"]:
            low, high = state.options["feature_range"]
            return float(low), float(high)
        return None


# --------------------------------------------------------------------------- #
# StandardScaler
# --------------------------------------------------------------------------- #
class StandardScaler(_IncrementalScaler):
    """Center and scale to unit variance with fitted moments, as scikit-learn's.

    ``(x - mean) / std``; a near-constant column (scikit-learn's
    ``_is_constant_feature`` test) gets scale 1, as does a column with fewer
    than ``ddof + 1`` values. ``ddof=0`` is scikit-learn's population standard
    deviation.

    Parameters
    ----------
    columns
        Columns to scale; ``None`` means every numeric and numeric-vector
        column except the ``by`` columns.
    by
        Fit one set of parameters per group of these columns.
    with_mean
        Subtract the mean.
    with_std
        Divide by the standard deviation.
    ddof
        Delta degrees of freedom of the standard deviation (>= 0).
    unknown_group
        ``"error"`` (naming the group) or ``"null"`` for groups unseen at fit time.

    Attributes
    ----------
    params_
        ``column``, the ``by`` columns, ``n_samples``, ``mean``, ``var``, ``scale``.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> train = pl.DataFrame({"g": ["a", "a", "b", "b"], "x": [1.0, 3.0, 10.0, 30.0]})
    >>> sc = pmk.StandardScaler(by="g").fit(train)
    >>> sc.params_
    shape: (2, 6)
    ┌────────┬─────┬───────────┬──────┬───────┬───────┐
    │ column ┆ g   ┆ n_samples ┆ mean ┆ var   ┆ scale │
    │ ---    ┆ --- ┆ ---       ┆ ---  ┆ ---   ┆ ---   │
    │ str    ┆ str ┆ f64       ┆ f64  ┆ f64   ┆ f64   │
    ╞════════╪═════╪═══════════╪══════╪═══════╪═══════╡
    │ x      ┆ a   ┆ 2.0       ┆ 2.0  ┆ 1.0   ┆ 1.0   │
    │ x      ┆ b   ┆ 2.0       ┆ 20.0 ┆ 100.0 ┆ 10.0  │
    └────────┴─────┴───────────┴──────┴───────┴───────┘
    >>> sc.transform(pl.DataFrame({"g": ["b", "a"], "x": [40.0, 2.0]}))["x"].to_list()
    [2.0, 0.0]
    """

    _method = "standard"
    _param_names = ("columns", "by", "with_mean", "with_std", "ddof", "unknown_group")
    _stat_names = ("count", "mean", "m2")
    _param_columns = ("n_samples", "mean", "var", "scale")

    def __init__(
        self,
        columns: Sequence[str] | str | None = None,
        by: Sequence[str] | str | None = None,
        with_mean: bool = True,
        with_std: bool = True,
        ddof: int = 0,
        unknown_group: UnknownGroup = "error",
    ) -> None:
        self.columns = columns
        self.by = by
        self.with_mean = with_mean
        self.with_std = with_std
        self.ddof = ddof
        self.unknown_group = unknown_group

    def _stat_exprs(self, x: pl.Expr, options: dict[str, Any]) -> dict[str, pl.Expr]:
        # One pass of the extension's moments kernel: count, mean and M2 with
        # NaN skipped, overflow-safe and deterministic; M2 merges exactly.
        moments = call_plugin(
            "moments",
            [x],
            {"function": "StandardScaler.fit"},
            is_elementwise=False,
            returns_scalar=True,
        )
        return {"moments": moments}

    def _check_finite(self, per: dict[str, FloatArray], column: _Column, function: str) -> None:
        # An infinity makes the mean or M2 infinite or NaN; so does an overflow
        # of finite values near the float64 limit, which scikit-learn cannot
        # scale either.
        with np.errstate(invalid="ignore"):
            present = per["count"] > 0
            bad = present & ~(np.isfinite(per["mean"]) & np.isfinite(per["m2"]))
        if bad.any():
            msg = (
                f"{function}: column {column.name!r} contains infinity, or values so large "
                "that its variance overflows float64; scikit-learn's StandardScaler "
                "rejects infinite values too"
            )
            raise ValueError(msg)

    def _params(self, state: _State, column: _Column) -> dict[str, FloatArray]:
        per = state.stats[column.name]
        n, mean, m2 = per["count"], per["mean"], per["m2"]
        ddof = state.options["ddof"]
        with np.errstate(all="ignore"):
            dof = n - ddof
            var = np.where(dof > 0, m2 / np.where(dof > 0, dof, 1.0), 0.0)
            var = np.where(n > 0, var, np.nan)
            # scikit-learn's _is_constant_feature, on the variance in use.
            bound = n * _EPS64 * var + (n * mean * _EPS64) ** 2
            scale = np.where(var <= bound, 1.0, np.sqrt(var))
        return {"n_samples": n, "mean": mean, "var": var, "scale": scale}

    def _transform_ops(
        self, state: _State, column: _Column, inverse: bool
    ) -> list[tuple[str, FloatArray]]:
        p = self._params(state, column)
        center = p["mean"] if state.options["with_mean"] else None
        scale = p["scale"] if state.options["with_std"] else None
        return _center_scale_ops(center, scale, inverse)


def _center_scale_ops(
    center: FloatArray | None, scale: FloatArray | None, inverse: bool
) -> list[tuple[str, FloatArray]]:
    """``(x - center) / scale`` as transform steps (either part optional);
    the inverse undoes them in reverse order."""
    ops: list[tuple[str, FloatArray]] = []
    if center is not None:
        ops.append(("add" if inverse else "sub", center))
    if scale is not None:
        ops.append(("mul" if inverse else "div", scale))
    return ops[::-1] if inverse else ops


# --------------------------------------------------------------------------- #
# RobustScaler
# --------------------------------------------------------------------------- #
class RobustScaler(_Scaler):
    """Center on the median and scale by a quantile range, as scikit-learn's.

    ``(x - median) / (q_high - q_low)`` with exact, linearly interpolated
    quantiles (numpy's ``percentile`` rule). Exact quantiles do not merge, so
    there is no ``partial_fit`` (and no fit on Ray): fit on all the data at
    once, a LazyFrame is fine.

    Parameters
    ----------
    columns
        Columns to scale; ``None`` means every numeric and numeric-vector
        column except the ``by`` columns.
    by
        Fit one set of parameters per group of these columns.
    with_centering
        Subtract the median.
    with_scaling
        Divide by the quantile range.
    quantile_range
        ``(q_low, q_high)`` percentiles, ``0 <= q_low <= q_high <= 100``.
    unit_variance
        Divide by the same quantile range of a standard normal as well.
    unknown_group
        ``"error"`` (naming the group) or ``"null"`` for groups unseen at fit time.

    Attributes
    ----------
    params_
        ``column``, the ``by`` columns, ``center``, ``scale``.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> train = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 100.0]})
    >>> sc = pmk.RobustScaler().fit(train)
    >>> sc.transform(pl.DataFrame({"x": [3.0, 5.0]}))["x"].to_list()
    [0.0, 1.0]
    """

    _method = "robust"
    _param_names = (
        "columns",
        "by",
        "with_centering",
        "with_scaling",
        "quantile_range",
        "unit_variance",
        "unknown_group",
    )
    _stat_names = ("count", "median", "q_low", "q_high", "absmax")
    _param_columns = ("center", "scale")
    _skip_nan = True  # Polars' quantiles would count NaN as the largest value

    def __init__(
        self,
        columns: Sequence[str] | str | None = None,
        by: Sequence[str] | str | None = None,
        with_centering: bool = True,
        with_scaling: bool = True,
        quantile_range: tuple[float, float] = (25.0, 75.0),
        unit_variance: bool = False,
        unknown_group: UnknownGroup = "error",
    ) -> None:
        self.columns = columns
        self.by = by
        self.with_centering = with_centering
        self.with_scaling = with_scaling
        self.quantile_range = quantile_range
        self.unit_variance = unit_variance
        self.unknown_group = unknown_group

    def _stat_exprs(self, x: pl.Expr, options: dict[str, Any]) -> dict[str, pl.Expr]:
        q_low, q_high = options["quantile_range"]
        return {
            "count": x.count(),
            "median": x.median(),
            "q_low": x.quantile(q_low / 100.0, "linear"),
            "q_high": x.quantile(q_high / 100.0, "linear"),
            "absmax": x.abs().max(),
        }

    def _check_finite(self, per: dict[str, FloatArray], column: _Column, function: str) -> None:
        if np.isinf(per["absmax"]).any():
            msg = (
                f"{function}: column {column.name!r} contains infinity; scikit-learn's "
                "RobustScaler rejects infinite values too"
            )
            raise ValueError(msg)

    def _params(self, state: _State, column: _Column) -> dict[str, FloatArray]:
        per = state.stats[column.name]
        options = state.options
        center = per["median"] if options["with_centering"] else np.zeros_like(per["median"])
        if options["with_scaling"]:
            with np.errstate(invalid="ignore"):
                scale = _handle_zeros(per["q_high"] - per["q_low"], column)
            if options["unit_variance"]:
                q_low, q_high = options["quantile_range"]
                normal = NormalDist()
                adjust = normal.inv_cdf(q_high / 100.0) - normal.inv_cdf(q_low / 100.0)
                scale = scale / adjust
        else:
            scale = np.ones_like(per["median"])
        return {"center": center, "scale": scale}

    def _transform_ops(
        self, state: _State, column: _Column, inverse: bool
    ) -> list[tuple[str, FloatArray]]:
        p = self._params(state, column)
        center = p["center"] if state.options["with_centering"] else None
        scale = p["scale"] if state.options["with_scaling"] else None
        return _center_scale_ops(center, scale, inverse)


# --------------------------------------------------------------------------- #
# MaxAbsScaler
# --------------------------------------------------------------------------- #
class MaxAbsScaler(_IncrementalScaler):
    """Divide by the fitted largest absolute value, as scikit-learn's ``MaxAbsScaler``.

    Keeps zeros and signs; a maximum below ``10 * eps`` of the column dtype
    counts as 1.

    Parameters
    ----------
    columns
        Columns to scale; ``None`` means every numeric and numeric-vector
        column except the ``by`` columns.
    by
        Fit one set of parameters per group of these columns.
    unknown_group
        ``"error"`` (naming the group) or ``"null"`` for groups unseen at fit time.

    Attributes
    ----------
    params_
        ``column``, the ``by`` columns, ``max_abs``, ``scale``.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> sc = pmk.MaxAbsScaler().fit(pl.DataFrame({"x": [-4.0, 2.0]}))
    >>> sc.transform(pl.DataFrame({"x": [1.0, -8.0]}))["x"].to_list()
    [0.25, -2.0]
    """

    _method = "maxabs"
    _param_names = ("columns", "by", "unknown_group")
    _stat_names = ("count", "min", "max")
    _param_columns = ("max_abs", "scale")

    def __init__(
        self,
        columns: Sequence[str] | str | None = None,
        by: Sequence[str] | str | None = None,
        unknown_group: UnknownGroup = "error",
    ) -> None:
        self.columns = columns
        self.by = by
        self.unknown_group = unknown_group

    def _stat_exprs(self, x: pl.Expr, options: dict[str, Any]) -> dict[str, pl.Expr]:
        return {"count": x.count(), "min": x.min(), "max": x.max()}

    def _params(self, state: _State, column: _Column) -> dict[str, FloatArray]:
        per = state.stats[column.name]
        max_abs = np.fmax(np.abs(per["min"]), np.abs(per["max"]))
        return {"max_abs": max_abs, "scale": _handle_zeros(max_abs, column)}

    def _transform_ops(
        self, state: _State, column: _Column, inverse: bool
    ) -> list[tuple[str, FloatArray]]:
        return [("mul" if inverse else "div", self._params(state, column)["scale"])]


_KINDS: dict[str, type[_Scaler]] = {
    cls.__name__: cls for cls in (MinMaxScaler, StandardScaler, RobustScaler, MaxAbsScaler)
}


# --------------------------------------------------------------------------- #
# JSON
# --------------------------------------------------------------------------- #
def _array_to_json(arr: FloatArray) -> list[list[float | None]]:
    return [[float(v) if math.isfinite(v) else None for v in row] for row in arr.tolist()]


def _groups_to_json(state: _State) -> list[dict[str, Any]]:
    if not state.by:
        return []
    rendered = state.groups.select(pl.col(b).cast(pl.String).alias(b) for b in state.by).rows()
    return [
        {"key": key, "values": list(values)}
        for key, values in zip(state.keys, rendered, strict=True)
    ]


def _bad(problem: str) -> ValueError:
    return ValueError(f"load_scaler: {problem}")


def _expect(value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind):
        raise _bad(f"{what} must be a JSON {kind.__name__}, got {value!r}")
    return value


def load_scaler(text: str | bytes) -> _Scaler:
    """Rebuild a fitted scaler from the JSON text of its ``to_json``.

    Gives back the same class with identical transforms (bit for bit); a
    :class:`MinMaxScaler`, :class:`StandardScaler` or :class:`MaxAbsScaler`
    can go on with ``partial_fit``.

    Parameters
    ----------
    text
        The JSON text (format ``polars-mlkit/scaler``, see ``docs/scaler-json.md``).

    Raises
    ------
    ValueError
        Malformed text, another format, or a version this package does not read.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> sc = pmk.MinMaxScaler().fit(pl.DataFrame({"x": [0.0, 4.0]}))
    >>> again = pmk.load_scaler(sc.to_json())
    >>> type(again).__name__, again.transform(pl.DataFrame({"x": [1.0]}))["x"].to_list()
    ('MinMaxScaler', [0.25])
    """
    if not isinstance(text, (str, bytes, bytearray)):
        msg = f"load_scaler: expected the JSON text (str or bytes), got {type(text).__name__}"
        raise TypeError(msg)
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _bad(f"the text is not valid JSON ({exc})") from exc
    _expect(document, dict, "the document")
    if document.get("format") != FORMAT:
        raise _bad(f"format must be {FORMAT!r}, got {document.get('format')!r}")
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _bad(f"version must be an integer, got {version!r}")
    if version > FORMAT_VERSION or version < 1:
        raise _bad(
            f"format version {version} is not supported; this polars-mlkit reads versions "
            f"1 to {FORMAT_VERSION} (a newer polars-mlkit wrote it?)"
        )
    kind = document.get("kind")
    if kind not in _KINDS:
        raise _bad(f"unknown kind {kind!r}; expected one of {', '.join(_KINDS)}")
    cls = _KINDS[kind]
    try:
        return _load_v1(cls, document)
    except (KeyError, TypeError, IndexError) as exc:
        raise _bad(f"malformed {kind} document ({type(exc).__name__}: {exc})") from exc


def _load_v1(cls: type[_Scaler], document: Mapping[str, Any]) -> _Scaler:
    options = dict(_expect(document["options"], dict, "options"))
    constructor = {k: options[k] for k in cls._param_names}
    for pair in ("feature_range", "quantile_range"):
        if pair in constructor:
            constructor[pair] = tuple(constructor[pair])
    scaler = cls(**constructor)
    checked = scaler._checked_options("load_scaler")
    columns = []
    for entry in _expect(document["columns"], list, "columns"):
        container = entry["container"]
        width = entry["width"]
        if container not in ("scalar", "array", "list") or not isinstance(width, int):
            raise _bad(f"bad column entry {entry!r}")
        if (container == "scalar") != (width == 0) or width < 0:
            raise _bad(f"bad column entry {entry!r}")
        columns.append(_Column(str(entry["name"]), str(entry["dtype"]), container, width))
    by_entries = _expect(document["by"], list, "by")
    by = [str(e["name"]) for e in by_entries]
    by_dtypes = [str(e["dtype"]) for e in by_entries]
    group_entries = _expect(document["groups"], list, "groups")
    if by:
        parts = [list(g["values"]) for g in group_entries]
        if any(len(p) != len(by) for p in parts):
            raise _bad("every group needs one value per by column")
        groups = _rebuild_groups(by, by_dtypes, parts)
        keys = [str(g["key"]) for g in group_entries]
        if groups["key"].to_list() != keys:
            raise _bad("group keys do not match their values")
    else:
        groups = pl.DataFrame()
    n_groups = len(group_entries) if by else 1
    statistics = _expect(document["statistics"], dict, "statistics")
    stats: dict[str, dict[str, FloatArray]] = {}
    for column in columns:
        per = statistics[column.name]
        stats[column.name] = {}
        for stat in cls._stat_names:
            raw = per[stat]
            arr = (
                np.array(
                    [[np.nan if v is None else float(v) for v in row] for row in raw],
                    dtype=np.float64,
                ).reshape(-1, column.lanes)
                if raw
                else np.empty((0, column.lanes))
            )
            if arr.shape != (n_groups, column.lanes):
                raise _bad(
                    f"statistic {stat!r} of column {column.name!r} has shape {arr.shape}, "
                    f"expected {(n_groups, column.lanes)}"
                )
            stats[column.name][stat] = arr
        if "count" in stats[column.name]:
            stats[column.name]["count"] = np.nan_to_num(stats[column.name]["count"])
    names = document.get("feature_names_in")
    scaler._state = _State(
        options=checked,
        columns=columns,
        by=by,
        by_dtypes=by_dtypes,
        groups=groups,
        stats=stats,
        feature_names_in=None if names is None else [str(n) for n in names],
        n_features_in=int(document.get("n_features_in", len(columns))),
        n_samples_seen=int(document.get("n_samples_seen", 0)),
    )
    return scaler


def _merge_scalers(scaler: _Scaler, parts: Sequence[_Scaler], function: str) -> _Scaler:
    """Merge fitted partial scalers into ``scaler`` (exact, in order)."""
    state: _State | None = None
    for part in parts:
        piece = part._fitted(function)
        state = piece if state is None else _merge_states(state, piece, function)
    if state is None:
        msg = f"{function}: no data to fit"
        raise ValueError(msg)
    scaler._state = state
    return scaler
