""":class:`PCA`: principal components of scalar columns or of one vector
column, fitted from one pass of exact f64 co-moments, applied by ``project``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit import _checks, _internal
from polars_mlkit._batches import MapBatches, frame_batches, lazy_batches
from polars_mlkit._plugin import call_plugin
from polars_mlkit.decomposition._spectrum import Spectrum, check_n_components, spectrum
from polars_mlkit.scalers._fitted import FittedTransformer
from polars_mlkit.scalers._inputs import Frame, _from_polars, _to_polars
from polars_mlkit.scalers._registry import bad, document_version, register, register_reader
from polars_mlkit.vectors import project

#: The ``format`` field of a PCA's JSON text.
PCA_FORMAT = "polars-mlkit/decomposition"
#: The newest version this package reads and the one it writes.
PCA_FORMAT_VERSION = 1

FloatArray = npt.NDArray[np.float64]


@dataclass
class Moments:
    """Count, mean and centred cross products (d x d, flattened) of the rows seen."""

    count: int
    mean: FloatArray
    m2: FloatArray

    def merged(self, other: Moments) -> Moments:
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        count, mean, m2 = _internal.merge_comoments(
            self.count, self.mean, self.m2, other.count, other.mean, other.m2
        )
        return Moments(count, mean, m2)


@dataclass
class PCAState:
    """What a fitted PCA keeps."""

    columns: list[str]
    vector: bool  # one Array/List column (else scalar columns)
    float32: bool  # every fitted input was Float32
    feature_names_in: list[str] | None
    n_features_in: int
    options: dict[str, Any]
    fitted: Spectrum
    moments: Moments | None  # None when converted from scikit-learn


def comoments_expr(columns: list[str], function: str) -> pl.Expr:
    """The aggregation giving ``count``, ``mean`` and ``m2`` of the columns."""
    return call_plugin(
        "comoments",
        [pl.col(c) for c in columns],
        {"function": function},
        is_elementwise=False,
        returns_scalar=True,
    ).alias("comoments")


def _is_number(dtype: Any) -> bool:
    return bool(dtype.is_numeric() or dtype.is_decimal())


def _layout(schema: pl.Schema, wanted: list[str] | None, function: str) -> tuple[list[str], bool]:
    """The fitted columns and whether they are one vector column."""
    for name in wanted or []:
        if name not in schema:
            msg = f"{function}: column {name!r} is not in the frame"
            raise pl.exceptions.ColumnNotFoundError(msg)
    names = list(schema.names()) if wanted is None else wanted
    vectors = [n for n in names if isinstance(schema[n], (pl.Array, pl.List))]
    scalars = [n for n in names if _is_number(schema[n])]
    if wanted is None and not vectors:
        names = scalars
    elif wanted is None and len(vectors) == 1 and not scalars:
        names = vectors
    if len(names) == 1 and names[0] in vectors:
        dtype = schema[names[0]]
        assert isinstance(dtype, (pl.Array, pl.List))
        inner = dtype.inner
        if not _is_number(inner):
            msg = f"{function}: column {names[0]!r} has dtype {schema[names[0]]}; expected numbers"
            raise TypeError(msg)
        return names, True
    for name in names:
        if name in vectors:
            msg = (
                f"{function}: PCA takes one vector column or several scalar columns, got "
                f"{names!r} (choose with columns=)"
            )
            raise ValueError(msg)
        if name not in scalars:
            msg = f"{function}: column {name!r} has dtype {schema[name]}; expected a numeric column"
            raise TypeError(msg)
    if not names:
        msg = f"{function}: the frame has no numeric column to fit"
        raise ValueError(msg)
    return names, False


def _all_float32(schema: pl.Schema, columns: list[str], vector: bool) -> bool:
    dtypes = [schema[c] for c in columns]
    inners = [d.inner if isinstance(d, (pl.Array, pl.List)) else d for d in dtypes]
    return all(d == pl.Float32 for d in inners)


@register
class PCA(FittedTransformer):
    """Principal component analysis of scalar columns or of one vector column.

    Fitted from one pass of exact f64 sums — the count, the mean and the
    centred cross products, merged block by block (Chan et al.), so a
    LazyFrame fitted in batches, ``partial_fit`` and
    ``polars_mlkit.ray.fit`` give the components of a fit in memory (to
    rounding) — then ``numpy.linalg.eigh`` of the d x d covariance. Every
    attribute is as scikit-learn's ``PCA(svd_solver="covariance_eigh")``
    gives it: ``components_`` (signs by ``svd_flip``), ``explained_variance_``,
    ``explained_variance_ratio_``, ``singular_values_``, ``noise_variance_``,
    ``mean_``, ``n_components_``, ``n_samples_``.

    The transform is one :func:`~polars_mlkit.project` per row
    (``(x - mean_) @ components_.T``, divided by the component scales when
    ``whiten``): lazy, streaming, elementwise; its schema is known without
    reading data. On an ``Array`` (or ``List``) column the output is a
    vector column of ``n_components_`` under the same name; on scalar
    columns it is ``pca0 … pca{k-1}`` (as scikit-learn's
    ``get_feature_names_out``), standing where the first fitted column stood.

    Parameters
    ----------
    n_components
        ``None`` (all: ``min(n_samples, n_features)``), an int, a float in
        (0, 1) (the fewest components explaining more than that fraction of
        the variance) or ``"mle"`` (Minka's estimate, as scikit-learn).
    columns
        One vector column, or scalar numeric columns. ``None``: every numeric
        column, or the frame's only vector column.
    whiten
        Divide each component by its standard deviation (scikit-learn's
        rule: a scale below float eps counts as eps).

    Notes
    -----
    Decisions where scikit-learn is silent: a row holding a null (a null
    row, a null element of a vector, a null in any fitted scalar column) is
    left out of the fit, and its transform is null; NaN or infinity at fit
    time is an error; a NaN in a Polars frame at transform time gives NaN
    (numpy input with NaN is an error, as in scikit-learn). Float32 rows are
    centred in f64 and multiplied in f32 per block of 256 rows (sums in
    f64); the attributes are float64; the transform of Float32 input is
    Float32. Columns of other dtypes pass through the transform.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> df = pl.DataFrame(
    ...     {"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 4.1, 5.9, 8.0], "id": [1, 2, 3, 4]}
    ... )
    >>> pca = pmk.PCA(n_components=1, columns=["a", "b"]).fit(df)
    >>> pca.transform(df).columns
    ['pca0', 'id']
    >>> round(float(pca.explained_variance_ratio_[0]), 4)
    0.9999
    >>> emb = pl.DataFrame({"e": [[1.0, 0.0, 2.0], [0.0, 1.0, 1.0], [2.0, 2.0, 0.0]]},
    ...                    schema={"e": pl.Array(pl.Float32, 3)})
    >>> pmk.PCA(n_components=2).fit(emb).transform(emb).schema["e"]
    Array(Float32, shape=(2,))
    """

    _param_names: ClassVar[tuple[str, ...]] = ("n_components", "columns", "whiten")
    _json_format: ClassVar[str] = PCA_FORMAT

    def __init__(
        self,
        n_components: int | float | str | None = None,
        columns: Sequence[str] | str | None = None,
        whiten: bool = False,
    ) -> None:
        self.n_components = n_components
        self.columns = columns
        self.whiten = whiten

    _input_tags: ClassVar[dict[str, bool]] = {"allow_nan": False}

    def _checked_options(self, function: str) -> dict[str, Any]:
        if not isinstance(self.whiten, (bool, np.bool_)):
            msg = f"{function}: whiten must be True or False, got {self.whiten!r}"
            raise TypeError(msg)
        return {
            "n_components": check_n_components(self.n_components, function),
            "columns": _checks.names(self.columns, "columns", function),
            "whiten": bool(self.whiten),
        }

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> PCA:
        """Learn the components from ``X`` (one pass; a LazyFrame in batches).

        Parameters
        ----------
        X
            A DataFrame or LazyFrame, or a 2-D numpy array / pandas DataFrame.
        y
            Ignored.

        Returns
        -------
        The fitted PCA (the same object).
        """
        function = self._name("fit")
        options = self._checked_options(function)
        frame, _ = _to_polars(X, function, fitting=True)
        self._state = self._state_from(*_batches_of(frame), options, None, function)
        return self

    def partial_fit(self, X: Any, y: Any = None) -> PCA:
        """Add one more batch's co-moments (an exact merge) and refit the components.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"a": [1.0, 2.0, 4.0, 3.0], "b": [0.0, 1.0, 3.0, 1.0]})
        >>> pca = pmk.PCA().partial_fit(df.head(2)).partial_fit(df.tail(2))
        >>> bool(abs(pca.components_ - pmk.PCA().fit(df).components_).max() < 1e-12)
        True
        """
        function = self._name("partial_fit")
        options = self._checked_options(function)
        frame, kind = _to_polars(X, function, fitting=True)
        previous: PCAState | None = getattr(self, "_state", None)
        if previous is not None and kind == "numpy":
            _check_numpy(X, frame, previous.n_features_in, type(self).__name__, function)
        if previous is not None and previous.moments is None:
            msg = f"{function}: this PCA was converted from scikit-learn and keeps no co-moments"
            raise ValueError(msg)
        self._state = self._state_from(*_batches_of(frame), options, previous, function)
        return self

    def _fit_from_batches(self, schema: pl.Schema, map_batches: MapBatches, function: str) -> Any:
        return self._state_from(
            schema, map_batches, self._checked_options(function), None, function
        )

    def _state_from(
        self,
        schema: pl.Schema,
        map_batches: MapBatches,
        options: dict[str, Any],
        previous: PCAState | None,
        function: str,
    ) -> PCAState:
        columns, vector = _layout(schema, options["columns"], function)
        if previous is not None and (previous.columns, previous.vector) != (columns, vector):
            msg = f"{function}: the batch has other columns than the fit ({previous.columns})"
            raise ValueError(msg)
        expr = comoments_expr(columns, function)
        moments = previous.moments if previous is not None else None
        try:
            for out in map_batches(lambda batch: batch.select(expr)):
                part = _read_moments(out.get_column("comoments"))
                moments = part if moments is None else moments.merged(part)
        except pl.exceptions.ComputeError as err:
            raise ValueError(str(err).splitlines()[0]) from err
        assert moments is not None
        if not (np.isfinite(moments.mean).all() and np.isfinite(moments.m2).all()):
            msg = f"{function}: the data hold NaN or inf (or overflow a covariance)"
            raise ValueError(msg)
        if moments.count and moments.mean.shape[0] == 0:
            msg = f"{function}: the vectors have no dimension"
            raise ValueError(msg)
        names = list(schema.names())
        float32 = _all_float32(schema, columns, vector)
        if previous is not None:
            float32 = float32 and previous.float32
        fitted = spectrum(
            moments.count, moments.mean, moments.m2, options["n_components"], function
        )
        return PCAState(columns, vector, float32, names, len(names), options, fitted, moments)

    # ------------------------------------------------------- fitted params
    def _spectrum(self, what: str) -> Spectrum:
        state: PCAState = self._fitted(what)
        return state.fitted

    @property
    def components_(self) -> FloatArray:
        """The principal axes, ``(n_components_, n_features)``, by decreasing variance."""
        return np.array(self._spectrum("components_").components, dtype=np.float64)

    @property
    def explained_variance_(self) -> FloatArray:
        """The variance (ddof=1) along each component."""
        return np.array(self._spectrum("explained_variance_").explained_variance, dtype=np.float64)

    @property
    def explained_variance_ratio_(self) -> FloatArray:
        """Each component's fraction of the total variance."""
        return np.array(
            self._spectrum("explained_variance_ratio_").explained_variance_ratio, dtype=np.float64
        )

    @property
    def singular_values_(self) -> FloatArray:
        """The singular values of the centred data for each component."""
        return np.array(self._spectrum("singular_values_").singular_values, dtype=np.float64)

    @property
    def noise_variance_(self) -> float:
        """The mean of the variances left out (probabilistic PCA's noise)."""
        return self._spectrum("noise_variance_").noise_variance

    @property
    def mean_(self) -> FloatArray:
        """The per-feature mean of the training rows."""
        return np.array(self._spectrum("mean_").mean, dtype=np.float64)

    @property
    def n_components_(self) -> int:
        """The number of components kept."""
        return self._spectrum("n_components_").n_components

    @property
    def n_samples_(self) -> int:
        """The training rows (those without a null)."""
        return self._spectrum("n_samples_").n_samples

    @property
    def columns_(self) -> list[str]:
        """The fitted columns (``columns=None`` resolved at fit time)."""
        state: PCAState = self._fitted("columns_")
        return list(state.columns)

    def get_feature_names_out(self, input_features: Any = None) -> npt.NDArray[np.object_]:
        """``pca0 … pca{k-1}`` for scalar columns; the column's name for a vector column."""
        state: PCAState = self._fitted("get_feature_names_out")
        if state.vector:
            return np.asarray(state.columns, dtype=object)
        k = state.fitted.n_components
        return np.asarray([f"pca{i}" for i in range(k)], dtype=object)

    # ------------------------------------------------------------ transform
    def _scale(self, state: PCAState) -> FloatArray:
        fitted = state.fitted
        if not state.options["whiten"]:
            return np.ones(fitted.n_components)
        scale = np.sqrt(fitted.explained_variance)
        eps = float(np.finfo(np.float32 if state.float32 else np.float64).eps)
        return np.where(scale < eps, eps, scale)

    def expressions(self) -> list[pl.Expr]:
        """The transform as expressions: one ``project`` (for scalar columns,
        unnested into ``pca0 … pca{k-1}``)."""
        state: PCAState = self._fitted("expressions")
        return [self._transform_expr(state)]

    def _transform_expr(self, state: PCAState) -> pl.Expr:
        fitted = state.fitted
        scale = self._scale(state)
        matrix = fitted.components.T / scale
        bias = -(fitted.mean @ fitted.components.T) / scale
        if state.vector:
            out: pl.Expr = project(pl.col(state.columns[0]), matrix, bias)
            return out
        stacked = _stacked([pl.col(c) for c in state.columns], state.float32)
        names = [f"pca{i}" for i in range(fitted.n_components)]
        projected: pl.Expr = project(stacked, matrix, bias)
        # Field by field, a null row made null explicitly: Polars 2.0's
        # `arr.get` / `arr.to_struct` read a null row's slots as values.
        present = projected.is_not_null()
        fields = [
            pl.when(present).then(projected.arr.get(i)).alias(name) for i, name in enumerate(names)
        ]
        return pl.struct(fields).struct.unnest()

    def transform(self, X: Any) -> Any:
        """Project ``X`` on the components; other columns pass through.

        DataFrame in, DataFrame out; LazyFrame in, LazyFrame out.
        """
        function = self._name("transform")
        state: PCAState = self._fitted("transform")
        frame, kind = _to_polars(X, function)
        if kind == "numpy":
            _check_numpy(X, frame, state.n_features_in, type(self).__name__, function)
        expr = self._transform_expr(state)
        out = _replace(frame, state.columns, expr, function)
        return _from_polars(out, kind, self._output(), function)

    def inverse_transform(self, X: Any) -> Any:
        """Map projected data back to the fitted columns (``X @ components_ + mean_``,
        undoing the whitening), as scikit-learn.
        """
        function = self._name("inverse_transform")
        state: PCAState = self._fitted("inverse_transform")
        fitted = state.fitted
        frame, kind = _to_polars(X, function)
        names = list(self.get_feature_names_out())
        if kind == "numpy":
            _check_numpy(X, frame, len(names), type(self).__name__, function)
            frame = frame.rename(dict(zip(frame.columns, names, strict=True)))
        matrix = fitted.components * self._scale(state)[:, np.newaxis]
        if state.vector:
            expr = project(pl.col(names[0]), matrix, fitted.mean)
        else:
            schema = frame.collect_schema()
            float32 = all(schema.get(n) == pl.Float32 for n in names)
            stacked = _stacked([pl.col(n) for n in names], float32)
            expr = project(stacked, matrix, fitted.mean).arr.to_struct(state.columns)
            expr = expr.struct.unnest()
        out = _replace(frame, names, expr, function)
        return _from_polars(out, kind, self._output(), function)

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> str:
        """The fitted PCA as plain, versioned JSON (format
        ``polars-mlkit/decomposition``); :func:`polars_mlkit.load` gives it back.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"a": [1.0, 2.0, 4.0], "b": [0.0, 1.0, 3.5]})
        >>> pca = pmk.PCA().fit(df)
        >>> pmk.load(pca.to_json()).transform(df).equals(pca.transform(df))
        True
        """
        state: PCAState = self._fitted("to_json")
        fitted = state.fitted
        moments = state.moments
        document = {
            "format": PCA_FORMAT,
            "version": PCA_FORMAT_VERSION,
            "kind": type(self).__name__,
            "params": {
                "n_components": self.n_components,
                "columns": None if self.columns is None else _checks.names(self.columns, "", ""),
                "whiten": bool(self.whiten),
            },
            "options": state.options,
            "columns": state.columns,
            "vector": state.vector,
            "float32": state.float32,
            "feature_names_in": state.feature_names_in,
            "n_features_in": state.n_features_in,
            "mean": fitted.mean.tolist(),
            "components": fitted.components.tolist(),
            "explained_variance": fitted.explained_variance.tolist(),
            "explained_variance_ratio": fitted.explained_variance_ratio.tolist(),
            "singular_values": fitted.singular_values.tolist(),
            "noise_variance": fitted.noise_variance,
            "n_components": fitted.n_components,
            "n_samples": fitted.n_samples,
            "moments": None
            if moments is None
            else {"count": moments.count, "m2": moments.m2.tolist(), "mean": moments.mean.tolist()},
        }
        return json.dumps(document, allow_nan=False)

    @classmethod
    def _from_sklearn(cls, fitted: Any) -> PCA:
        """The pmk PCA equal to a fitted scikit-learn ``PCA`` (any solver):
        its attributes as they are, columns from ``feature_names_in_`` (else
        ``x0 …``); ``partial_fit`` is then unavailable (no co-moments)."""
        function = "from_sklearn"
        if not hasattr(fitted, "components_"):
            msg = f"{function}: the {type(fitted).__name__} is not fitted"
            raise ValueError(msg)
        names = getattr(fitted, "feature_names_in_", None)
        d = int(fitted.n_features_in_)
        columns = [str(n) for n in names] if names is not None else [f"x{j}" for j in range(d)]
        pca = cls(n_components=fitted.n_components, whiten=bool(fitted.whiten))
        components = np.asarray(fitted.components_, dtype=np.float64)
        spectrum_ = Spectrum(
            mean=np.asarray(fitted.mean_, dtype=np.float64),
            components=components,
            explained_variance=np.asarray(fitted.explained_variance_, dtype=np.float64),
            explained_variance_ratio=np.asarray(fitted.explained_variance_ratio_, np.float64),
            singular_values=np.asarray(fitted.singular_values_, dtype=np.float64),
            noise_variance=float(fitted.noise_variance_),
            n_components=int(fitted.n_components_),
            n_samples=int(fitted.n_samples_),
        )
        float32 = np.asarray(fitted.components_).dtype == np.float32
        options = {"n_components": fitted.n_components, "columns": None, "whiten": pca.whiten}
        pca._state = PCAState(
            columns,
            False,
            float32,
            columns if names is not None else None,
            d,
            options,
            spectrum_,
            None,
        )
        return pca


def _read_moments(found: pl.Series) -> Moments:
    """The co-moments of one batch from the ``comoments`` aggregation."""
    count = int(found.struct.field("count")[0])
    if count == 0:
        return Moments(0, np.zeros(0), np.zeros(0))
    mean = found.struct.field("mean").explode().to_numpy().astype(np.float64, copy=False)
    m2 = found.struct.field("m2").explode().to_numpy().astype(np.float64, copy=False)
    return Moments(count, mean, m2)


def _batches_of(frame: Frame) -> tuple[pl.Schema, MapBatches]:
    if isinstance(frame, pl.LazyFrame):
        return frame.collect_schema(), lazy_batches(frame)
    return frame.schema, frame_batches(frame)


def _stacked(columns: list[pl.Expr], float32: bool) -> pl.Expr:
    """Scalar columns as one Array column of their common float type."""
    dtype = pl.Float32 if float32 else pl.Float64
    return pl.concat_arr([c.cast(dtype) for c in columns])


def _replace(frame: Frame, columns: list[str], expr: pl.Expr, function: str) -> Frame:
    """``frame`` with ``columns`` replaced by ``expr``'s output where the first stood."""
    schema = frame.collect_schema()
    for name in columns:
        if name not in schema:
            msg = f"{function}: the fitted column {name!r} is not in the frame"
            raise pl.exceptions.ColumnNotFoundError(msg)
    selected = []
    for name in schema.names():
        if name == columns[0]:
            selected.append(expr)
        elif name not in columns:
            selected.append(pl.col(name))
    return frame.select(selected)


def _check_numpy(x: Any, frame: Frame, expected: int, cls: str, function: str) -> None:
    width = len(frame.collect_schema())
    if width != expected:
        msg = (
            f"{function}: X has {width} features, but {cls} is expecting {expected} "
            "features as input."
        )
        raise ValueError(msg)
    values = np.asarray(x)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        msg = f"{function}: Input X contains NaN or infinity."
        raise ValueError(msg)


def _read(document: Mapping[str, Any], function: str) -> Any:
    """A parsed ``polars-mlkit/decomposition`` document as its fitted PCA."""
    document_version(document, PCA_FORMAT_VERSION, "decomposition ", function)
    if document.get("kind") != "PCA":
        raise bad(function, f"unknown kind {document.get('kind')!r}; expected 'PCA'")
    try:
        pca = PCA(**dict(document["params"]))
        options = pca._checked_options(function)
        f64 = np.float64
        fitted = Spectrum(
            mean=np.asarray(document["mean"], dtype=f64),
            components=np.asarray(document["components"], dtype=f64).reshape(
                int(document["n_components"]), len(document["mean"])
            ),
            explained_variance=np.asarray(document["explained_variance"], dtype=f64),
            explained_variance_ratio=np.asarray(document["explained_variance_ratio"], dtype=f64),
            singular_values=np.asarray(document["singular_values"], dtype=f64),
            noise_variance=float(document["noise_variance"]),
            n_components=int(document["n_components"]),
            n_samples=int(document["n_samples"]),
        )
        raw = document["moments"]
        moments = None
        if raw is not None:
            moments = Moments(
                int(raw["count"]), np.asarray(raw["mean"], f64), np.asarray(raw["m2"], f64)
            )
        names = document["feature_names_in"]
        state = PCAState(
            columns=[str(c) for c in document["columns"]],
            vector=bool(document["vector"]),
            float32=bool(document["float32"]),
            feature_names_in=None if names is None else [str(n) for n in names],
            n_features_in=int(document["n_features_in"]),
            options=options,
            fitted=fitted,
            moments=moments,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(function, f"malformed PCA document ({type(exc).__name__}: {exc})") from exc
    pca._state = state
    return pca


register_reader(PCA_FORMAT, _read)
