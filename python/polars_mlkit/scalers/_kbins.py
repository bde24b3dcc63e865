"""KBinsDiscretizer: scikit-learn's binning of continuous columns on Polars.

The fit learns bin edges (``_kbins_fit``, by the rules of ``_binning``);
the transform is the extension's elementwise ``fitted_bins`` with the
fitted edges (a binary search per value), so a LazyFrame stays lazy, its
schema is known without reading data and the streaming engine gives the
same frame. Bins are intervals, not categories, so the one-hot columns come
from the bin search directly rather than through the OneHotEncoder's
category lookup (which would need the bin computed first).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit import _checks
from polars_mlkit._batches import MapBatches, frame_batches, lazy_batches
from polars_mlkit._plugin import call_plugin
from polars_mlkit._reserved import GROUP_KEY
from polars_mlkit.scalers._binning import QUANTILE_METHODS
from polars_mlkit.scalers._fitted import FittedTransformer
from polars_mlkit.scalers._inputs import Frame, _from_polars, _to_polars
from polars_mlkit.scalers._kbins_fit import KBinsState, fit_edges
from polars_mlkit.scalers._kbins_json import KBINS_FORMAT, kbins_to_json
from polars_mlkit.scalers._registry import register
from polars_mlkit.scalers._state import FloatArray, _key_expr

Encode: TypeAlias = Literal["onehot", "onehot-dense", "ordinal"]
Strategy: TypeAlias = Literal["uniform", "quantile", "kmeans"]

ENCODES = ("onehot", "onehot-dense", "ordinal")
STRATEGIES = ("uniform", "quantile", "kmeans")


def _out_dtype(dtype: str) -> pl.DataType:
    return pl.Float32() if dtype == "Float32" else pl.Float64()


def _bin_name(column: str, b: int) -> str:
    """A one-hot column's name, as scikit-learn's ``get_feature_names_out``
    (its bins are float categories: ``x_0.0``)."""
    return f"{column}_{float(b)!r}"


@register
class KBinsDiscretizer(FittedTransformer):
    """Bin continuous columns into intervals, as scikit-learn's ``KBinsDiscretizer``.

    Bin edges equal scikit-learn 1.9's with ``subsample=None``: ``uniform``
    (equal widths), ``quantile`` (``np.percentile`` with
    ``quantile_method``, exact: bit for bit) and ``kmeans`` (scikit-learn's
    one-dimensional k-means from uniform midpoints; to about 1e-14). Bins
    narrower than 1e-8 are removed with scikit-learn's warning; a constant
    column gets one bin (edges ``[-inf, inf]``) and a warning.

    Decisions (where scikit-learn or the design is silent):

    - Output dtype: Float64, or Float32 for a column that was Float32 at
      fit time (scikit-learn keeps the input's float dtype). ``"onehot"``
      and ``"onehot-dense"`` both give dense Polars columns (no sparse
      matrix), one per bin named ``{column}_{bin}.0``, replacing the source
      column where it stood; other columns pass through.
    - Missing values: the fit skips nulls and NaN (scikit-learn rejects
      NaN). A null stays null (in every one-hot column of its row), NaN
      stays NaN. Infinity is an error at fit time, as in scikit-learn; at
      transform time it falls in the first or last bin.
    - A column (or group) without values gets one bin, as a constant one.
    - Inputs: integer, float and Decimal columns (``columns=None``: every
      numeric column except the ``by`` columns); other dtypes are an error
      naming the column.
    - ``by=``: edges per group; an unseen group at transform time is an
      error. ``bin_edges_`` and ``n_bins_`` then raise (see ``params_``).
    - ``strategy="kmeans"`` holds the binned columns in memory during the
      fit (Lloyd's algorithm reads every value at each step); ``uniform``
      (one pass) and ``quantile`` (exact passes) read a LazyFrame in
      bounded memory. There is no ``partial_fit`` (edges do not merge).
    - ``inverse_transform`` gives each bin's centre (NaN for a constant
      column's bin, as scikit-learn); a code that is not a bin is an error.

    Parameters
    ----------
    columns
        The columns to bin; ``None``: every numeric column except ``by``.
    n_bins
        Bins per column (>= 2): an int, or one per binned column.
    encode
        ``"onehot"``, ``"onehot-dense"`` (one 0/1 column per bin) or
        ``"ordinal"`` (the bin index).
    strategy
        ``"quantile"``, ``"uniform"`` or ``"kmeans"``.
    quantile_method
        numpy's percentile method for ``strategy="quantile"`` (any of the
        nine scikit-learn accepts).
    subsample
        ``None`` only: the edges are computed from every row, exactly.
    by
        Fit one set of edges per group of these columns.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> train = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "n": [1, 2, 3, 4, 5, 6]})
    >>> kb = pmk.KBinsDiscretizer(columns="x", n_bins=3, encode="ordinal").fit(train)
    >>> kb.bin_edges_[0].tolist()
    [1.0, 2.5, 4.5, 6.0]
    >>> kb.transform(pl.DataFrame({"x": [0.0, 3.0, None], "n": [7, 8, 9]}))["x"].to_list()
    [0.0, 1.0, None]
    >>> pmk.KBinsDiscretizer(columns="x", n_bins=2).fit(train).transform(train).columns
    ['x_0.0', 'x_1.0', 'n']
    """

    _json_format = KBINS_FORMAT
    _param_names = ("columns", "n_bins", "encode", "strategy", "quantile_method", "subsample", "by")

    def __init__(
        self,
        columns: Sequence[str] | str | None = None,
        n_bins: int | Sequence[int] = 5,
        encode: Encode = "onehot",
        strategy: Strategy = "quantile",
        quantile_method: str = "averaged_inverted_cdf",
        subsample: int | None = None,
        by: Sequence[str] | str | None = None,
    ) -> None:
        self.columns = columns
        self.n_bins = n_bins
        self.encode = encode
        self.strategy = strategy
        self.quantile_method = quantile_method
        self.subsample = subsample
        self.by = by

    # ------------------------------------------------------------- checking
    def _checked_options(self, function: str) -> dict[str, Any]:
        """Every argument checked (scikit-learn's rules); builtin-typed options."""
        options: dict[str, Any] = {
            "columns": _checks.names(self.columns, "columns", function),
            "by": _checks.by_names(self.by, function) or [],
        }
        for name, value, allowed in (
            ("encode", self.encode, ENCODES),
            ("strategy", self.strategy, STRATEGIES),
            ("quantile_method", self.quantile_method, QUANTILE_METHODS),
        ):
            if not isinstance(value, str) or value not in allowed:
                choices = ", ".join(repr(a) for a in allowed)
                msg = f"{function}: {name} must be one of {choices}, got {value!r}"
                raise ValueError(msg)
            options[name] = value
        if self.subsample is not None:
            msg = (
                f"{function}: subsample must be None, got {self.subsample!r}; polars-mlkit "
                "computes the bin edges exactly from every row (scikit-learn's "
                "subsample=None), so there is nothing to subsample"
            )
            raise ValueError(msg)
        options["n_bins"] = self._n_bins_option(function)
        return options

    def _n_bins_option(self, function: str) -> int | list[int]:
        n_bins = self.n_bins
        if isinstance(n_bins, numbers.Integral) and not isinstance(n_bins, bool):
            if int(n_bins) < 2:
                msg = f"{function}: n_bins must be an int >= 2 (or one per column), got {n_bins}"
                raise ValueError(msg)
            return int(n_bins)
        if isinstance(n_bins, (str, bytes, bool)) or not hasattr(n_bins, "__len__"):
            msg = f"{function}: n_bins must be an int >= 2 or one int per column, got {n_bins!r}"
            raise TypeError(msg)
        given: Any = n_bins
        values: list[Any] = (
            list(np.asarray(given).ravel().tolist()) if hasattr(given, "tolist") else list(given)
        )
        bad = [
            i
            for i, v in enumerate(values)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or v < 2
        ]
        if bad:
            msg = (
                f"{function}: KBinsDiscretizer received an invalid number of bins at indices "
                f"{', '.join(map(str, bad))}. Number of bins must be at least 2, and must be "
                "an int."
            )
            raise ValueError(msg)
        return [int(v) for v in values]

    def _selected(self, schema: pl.Schema, options: dict[str, Any], function: str) -> list[str]:
        by = options["by"]
        for name in by:
            if name not in schema:
                msg = f"{function}: by column {name!r} is not in the frame"
                raise pl.exceptions.ColumnNotFoundError(msg)
        wanted = options["columns"]
        if wanted is None:
            names = [n for n, d in schema.items() if n not in by and d.is_numeric()]
        else:
            names = list(wanted)
        for name in names:
            if name not in schema:
                msg = f"{function}: column {name!r} is not in the frame"
                raise pl.exceptions.ColumnNotFoundError(msg)
            if not schema[name].is_numeric():
                msg = (
                    f"{function}: column {name!r} has dtype {schema[name]}; expected a numeric "
                    "column (integer, float or Decimal; choose columns with columns=)"
                )
                raise TypeError(msg)
        n_bins = options["n_bins"]
        if isinstance(n_bins, list) and len(n_bins) != len(names):
            msg = (
                f"{function}: n_bins must be a scalar or array of shape (n_features,): got "
                f"{len(n_bins)} values for {len(names)} binned columns"
            )
            raise ValueError(msg)
        return names

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> Any:
        """Learn each column's bin edges from ``X``.

        Parameters
        ----------
        X
            A DataFrame or LazyFrame (read in batches: ``uniform`` in one
            pass, ``quantile`` in the exact passes), or a 2-D numpy array /
            pandas DataFrame.
        y
            Ignored (scikit-learn compatibility).

        Returns
        -------
        The fitted discretizer (the same object).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> kb = pmk.KBinsDiscretizer(n_bins=2, strategy="uniform")
        >>> kb.fit(pl.DataFrame({"x": [0.0, 10.0]})).bin_edges_[0].tolist()
        [0.0, 5.0, 10.0]
        """
        function = self._name("fit")
        options = self._checked_options(function)
        frame, _ = _to_polars(X, function, fitting=True)
        if isinstance(frame, pl.LazyFrame):
            schema, map_batches = frame.collect_schema(), lazy_batches(frame)
            memory = None
        else:
            schema, map_batches, memory = frame.schema, frame_batches(frame), frame
        self._state = self._state_from(schema, map_batches, options, function, memory)
        return self

    def _fit_from_batches(
        self, schema: pl.Schema, map_batches: MapBatches, function: str
    ) -> KBinsState:
        return self._state_from(schema, map_batches, self._checked_options(function), function)

    def _state_from(
        self,
        schema: pl.Schema,
        map_batches: MapBatches,
        options: dict[str, Any],
        function: str,
        memory: pl.DataFrame | None = None,
    ) -> KBinsState:
        columns = self._selected(schema, options, function)
        n_bins = options["n_bins"]
        options = {
            **options,
            "n_bins": n_bins if isinstance(n_bins, list) else [n_bins] * len(columns),
        }
        by = options["by"]
        groups, edges, rows = fit_edges(columns, by, options, map_batches, function, memory)
        names = list(schema.names())
        return KBinsState(
            options=options,
            columns=columns,
            dtypes=[str(schema[c]) for c in columns],
            by=by,
            by_dtypes=[str(schema[b]) for b in by],
            groups=groups,
            edges=edges,
            feature_names_in=names,
            n_features_in=len(names),
            n_samples_seen=rows,
        )

    # ------------------------------------------------------- fitted params
    def _no_by(self, what: str) -> KBinsState:
        state: KBinsState = self._fitted(what)
        if state.by:
            msg = f"{type(self).__name__}.{what}: fitted per group (by=); read params_ instead"
            raise AttributeError(msg)
        return state

    @property
    def bin_edges_(self) -> npt.NDArray[np.object_]:
        """Each binned column's edges, as scikit-learn's ``bin_edges_``."""
        state = self._no_by("bin_edges_")
        out = np.empty(len(state.columns), dtype=object)
        for i, per in enumerate(state.edges):
            out[i] = per[0].copy()
        return out

    @property
    def n_bins_(self) -> npt.NDArray[np.int64]:
        """Bins per binned column, after tiny bins were removed."""
        state = self._no_by("n_bins_")
        return np.array([per[0].size - 1 for per in state.edges], dtype=np.int64)

    @property
    def columns_(self) -> list[str]:
        """The binned columns (``columns=None`` resolved at fit time)."""
        return list(self._fitted("columns_").columns)

    @property
    def params_(self) -> pl.DataFrame:
        """The fitted edges: ``column``, the ``by`` columns, ``n_bins``
        (Int64) and ``bin_edges`` (``List(Float64)``), one row per column
        and group.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"g": ["a", "a", "b", "b"], "x": [0.0, 2.0, 0.0, 4.0]})
        >>> kb = pmk.KBinsDiscretizer(n_bins=2, strategy="uniform", by="g").fit(df)
        >>> kb.params_["bin_edges"].to_list()
        [[0.0, 1.0, 2.0], [0.0, 2.0, 4.0]]
        """
        state: KBinsState = self._fitted("params_")
        frames = []
        for name, per in zip(state.columns, state.edges, strict=True):
            frame = pl.DataFrame({"column": pl.Series([name] * len(per), dtype=pl.String)})
            if state.by:
                frame = frame.hstack(state.groups.drop(GROUP_KEY))
            frames.append(
                frame.with_columns(
                    n_bins=pl.Series([e.size - 1 for e in per], dtype=pl.Int64),
                    bin_edges=pl.Series([e.tolist() for e in per], dtype=pl.List(pl.Float64)),
                )
            )
        if not frames:
            return pl.DataFrame(
                schema={"column": pl.String, "n_bins": pl.Int64, "bin_edges": pl.List(pl.Float64)}
            )
        return pl.concat(frames, how="vertical")

    # ------------------------------------------------------------ transform
    def _widest(self, state: KBinsState, i: int) -> int:
        return max(e.size - 1 for e in state.edges[i])

    def _column_exprs(self, state: KBinsState, function: str) -> dict[str, list[pl.Expr]]:
        """Per binned column, its output expressions: the extension's
        elementwise ``fitted_bins`` with the fitted inner edges."""
        out: dict[str, list[pl.Expr]] = {}
        onehot = state.options["encode"] != "ordinal"
        for i, (name, dtype) in enumerate(zip(state.columns, state.dtypes, strict=True)):
            inner = [e[1:-1] for e in state.edges[i]]
            fields = [_bin_name(name, b) for b in range(self._widest(state, i))]
            args = [pl.col(name), _key_expr(state.by)] if state.by else [pl.col(name)]
            expr = call_plugin(
                "fitted_bins",
                args,
                {
                    "function": function,
                    "keys": state.keys if state.by else [],
                    "edges": [float(v) for e in inner for v in e],
                    "counts": [int(e.size) for e in inner],
                    "fields": fields if onehot else None,
                    "float32": dtype == "Float32",
                },
                is_elementwise=True,
            )
            out[name] = [expr.struct.unnest()] if onehot else [expr.alias(name)]
        return out

    def expressions(self) -> list[pl.Expr]:
        """Elementwise expressions that bin the fitted columns (one per
        output column: a column's bins for one-hot, its codes for ordinal).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> kb = pmk.KBinsDiscretizer(n_bins=2).fit(pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}))
        >>> pl.LazyFrame({"x": [3.5]}).select(kb.expressions()).collect().rows()
        [(0.0, 1.0)]
        """
        state: KBinsState = self._fitted("expressions")
        exprs = self._column_exprs(state, self._name("transform"))
        return [e for per in exprs.values() for e in per]

    def _frame(self, X: Any, state: KBinsState, function: str) -> tuple[Frame, str, pl.Schema]:
        frame, kind = _to_polars(X, function)
        schema = frame.collect_schema()
        if kind == "numpy" and len(schema) != state.n_features_in:
            msg = (
                f"{function}: X has {len(schema)} features, but {type(self).__name__} is "
                f"expecting {state.n_features_in} features as input."
            )
            raise ValueError(msg)
        return frame, kind, schema

    def transform(self, X: Any) -> Any:
        """Bin the fitted columns of ``X``; other columns pass through.

        DataFrame in, DataFrame out; LazyFrame in, LazyFrame out (nothing
        runs until it is collected, and its schema is known at once); a
        numpy array or pandas DataFrame gives the same kind back unless
        :meth:`set_output` chose another.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> kb = pmk.KBinsDiscretizer(n_bins=2, encode="ordinal")
        >>> kb = kb.fit(pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}))
        >>> kb.transform(pl.LazyFrame({"x": [0.0, 9.0]})).collect()["x"].to_list()
        [0.0, 1.0]
        """
        function = self._name("transform")
        state: KBinsState = self._fitted("transform")
        frame, kind, schema = self._frame(X, state, function)
        for name in state.columns:
            if name not in schema:
                msg = f"{function}: the fitted column {name!r} is not in the frame"
                raise pl.exceptions.ColumnNotFoundError(msg)
            if not schema[name].is_numeric():
                msg = f"{function}: column {name!r} has dtype {schema[name]}; expected numeric"
                raise TypeError(msg)
        exprs = self._column_exprs(state, function)
        selected = [e for name in schema.names() for e in exprs.get(name, [pl.col(name)])]
        out: Frame = frame.select(selected)
        return _from_polars(out, kind, self._output(), function)

    def inverse_transform(self, X: Any) -> Any:
        """Each bin's centre: the midpoint of its two edges (scikit-learn's
        ``inverse_transform``). One-hot input needs the bin columns (a row
        without a 1 is an error); ordinal codes are truncated to integers
        as scikit-learn does; a code that is not a bin is an error.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> kb = pmk.KBinsDiscretizer(n_bins=2, strategy="uniform")
        >>> kb = kb.fit(pl.DataFrame({"x": [0.0, 4.0]}))
        >>> kb.inverse_transform(kb.transform(pl.DataFrame({"x": [1.0, 3.0]})))["x"].to_list()
        [1.0, 3.0]
        """
        function = self._name("inverse_transform")
        state: KBinsState = self._fitted("inverse_transform")
        frame, kind = _to_polars(X, function)
        schema = frame.collect_schema()
        onehot = state.options["encode"] != "ordinal"
        replaced: dict[str, pl.Expr] = {}
        dropped: set[str] = set()
        for i, (name, dtype) in enumerate(zip(state.columns, state.dtypes, strict=True)):
            bins = self._widest(state, i)
            sources = [_bin_name(name, b) for b in range(bins)] if onehot else [name]
            for source in sources:
                if source not in schema:
                    msg = f"{function}: the binned column {source!r} is not in the frame"
                    raise pl.exceptions.ColumnNotFoundError(msg)
            first = pl.col(sources[0]).cast(pl.Float64)
            if onehot:
                chain: Any = pl
                for b, source in enumerate(sources):
                    chain = chain.when(pl.col(source) == 1).then(pl.lit(b, dtype=pl.Int64))
                code: pl.Expr = pl.when(first.is_not_nan()).then(
                    chain.otherwise(pl.lit(-1, dtype=pl.Int64))
                )
            else:
                code = first.cast(pl.Int64, strict=False)
            expr = pl.when(first.is_not_nan()).then(self._centre(state, i, code)).otherwise(first)
            replaced[sources[0]] = expr.cast(_out_dtype(dtype)).alias(name)
            dropped.update(sources[1:])
        selected = [replaced.get(c, pl.col(c)) for c in schema.names() if c not in dropped]
        out: Frame = frame.select(selected)
        return _from_polars(out, kind, self._output(), function)

    def _centre(self, state: KBinsState, i: int, code: pl.Expr) -> pl.Expr:
        """The centre of bin ``code`` (per row's group); an unknown code or
        group is an error."""
        with np.errstate(invalid="ignore"):  # a constant column's centre is NaN
            centres = [((e[1:] + e[:-1]) * 0.5).tolist() for e in state.edges[i]]
        if not state.by:
            return code.replace_strict(
                list(range(len(centres[0]))), centres[0], return_dtype=pl.Float64
            )
        keys, values = [], []
        for key, per in zip(state.keys, centres, strict=True):
            keys += [f"{key}\x1e{b}" for b in range(len(per))]
            values += per
        place = pl.concat_str([_key_expr(state.by), pl.lit("\x1e"), code.cast(pl.String)])
        return place.replace_strict(keys, values, return_dtype=pl.Float64)

    # ---------------------------------------------------------- sklearn API
    def get_feature_names_out(self, input_features: Any = None) -> npt.NDArray[np.object_]:
        """Output column names: ``{column}_{bin}.0`` for one-hot binned
        columns, the input's name otherwise, in the input's order.

        Examples
        --------
        >>> import numpy as np
        >>> import polars_mlkit as pmk
        >>> kb = pmk.KBinsDiscretizer(n_bins=2).fit(np.array([[1.0], [2.0], [3.0]]))
        >>> kb.get_feature_names_out().tolist()
        ['x0_0.0', 'x0_1.0']
        """
        function = self._name("get_feature_names_out")
        state: KBinsState = self._fitted("get_feature_names_out")
        fitted = state.feature_names_in or [f"x{j}" for j in range(state.n_features_in)]
        if input_features is None:
            names = fitted
        else:
            names = [str(v) for v in input_features]
            if len(names) != state.n_features_in:
                msg = f"{function}: expected {state.n_features_in} input features, got {len(names)}"
                raise ValueError(msg)
            if state.feature_names_in is not None and names != fitted:
                msg = f"{function}: input_features is not equal to feature_names_in_"
                raise ValueError(msg)
        widths = {c: self._widest(state, i) for i, c in enumerate(state.columns)}
        onehot = state.options["encode"] != "ordinal"
        out: list[str] = []
        for given, name in zip(names, fitted, strict=True):
            if onehot and name in widths:
                out.extend(_bin_name(given, b) for b in range(widths[name]))
            else:
                out.append(given)
        return np.asarray(out, dtype=object)

    def to_json(self) -> str:
        """The fitted discretizer as plain, versioned JSON (format
        ``polars-mlkit/kbins``, see ``docs/kbins-json.md``);
        :func:`polars_mlkit.load` gives it back.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> kb = pmk.KBinsDiscretizer(n_bins=2).fit(pl.DataFrame({"x": [1.0, 2.0, 3.0]}))
        >>> pmk.load(kb.to_json()).bin_edges_[0].tolist()
        [1.0, 2.0, 3.0]
        """
        state: KBinsState = self._fitted("to_json")
        return kbins_to_json(type(self).__name__, self.get_params(), state)

    @classmethod
    def _from_sklearn(cls, fitted: Any) -> KBinsDiscretizer:
        """The fitted discretizer of a fitted scikit-learn
        ``KBinsDiscretizer`` (its edges; columns named by
        ``feature_names_in_``, else ``x0``, ``x1``, ...)."""
        function = f"{cls.__name__}._from_sklearn"
        if not hasattr(fitted, "bin_edges_"):
            msg = f"{function}: expected a fitted sklearn KBinsDiscretizer, got {fitted!r}"
            raise TypeError(msg)
        n = int(fitted.n_features_in_)
        names = getattr(fitted, "feature_names_in_", None)
        columns = [str(c) for c in names] if names is not None else [f"x{j}" for j in range(n)]
        edges: list[FloatArray] = [np.asarray(e, dtype=np.float64) for e in fitted.bin_edges_]
        dtype = "Float32" if getattr(fitted, "dtype", None) is np.float32 else "Float64"
        out = cls(
            n_bins=[max(int(e.size) - 1, 2) for e in edges],
            encode=fitted.encode,
            strategy=fitted.strategy,
            quantile_method=fitted.quantile_method,
        )
        options = out._checked_options(function)
        options["columns"] = None
        options["n_bins"] = [int(e.size) - 1 for e in edges]
        out._state = KBinsState(
            options=options,
            columns=columns,
            dtypes=[dtype] * n,
            by=[],
            by_dtypes=[],
            groups=pl.DataFrame(),
            edges=[[e] for e in edges],
            feature_names_in=columns if names is not None else None,
            n_features_in=n,
            n_samples_seen=0,
        )
        return out
