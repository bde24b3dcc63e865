"""The ``ml`` namespace on ``pl.Expr`` and ``pl.Series``.

The Expr namespace is written out (no ``__getattr__``), so that tab
completion and ``?`` in IPython show the real signature and a short example;
each method builds the expression of the free function of the same name,
which holds the full reference and the argument checks.

The Series namespace repeats none of that. As Polars' own ``expr_dispatch``
does for its namespaces, each Series method runs the Expr method of the same
name on the Series (``s.to_frame().select(pl.col(...).ml.<method>(...))``)
and returns a Series of the Series' name. The methods are generated when the
class is created (:func:`_dispatch_to_expr`), not looked up by
``__getattr__``, so they are real attributes: tab completion lists them and
``?`` shows the Expr method's signature (returning ``pl.Series``) and a
docstring made of the Expr method's summary and a pointer to it. Polars
starts from a stub with an empty body for each method instead; generating
the methods spares repeating every signature. The generated docstrings leave
the Expr examples out, so doctest does not run them a second time; the class
docstring shows the Series namespace at work. Type checkers do not see the
generated methods, but they do not see ``pl.Series.ml`` at all: Polars
registers namespaces at runtime.

``dot``, ``cosine_similarity``, ``distance`` and ``hamming`` stay written out, because
``other`` means something else on a Series: a vector Series (``Array`` or
``List``) or a 2-D array is a second column, compared row by row, where the
Expr methods read any Series as one constant vector; and a column name or an
expression, which names nothing next to a lone Series, is refused.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import polars as pl

from polars_mlkit import encoding, gaussian, multivector, scaling, vectors
from polars_mlkit.encoding import HandleUnknown
from polars_mlkit.gaussian import OutputDistribution, PowerMethod
from polars_mlkit.scaling import ScaleMethod
from polars_mlkit.vectors import Metric, Other, Precision, SearchMetric, UnitNorm, VectorLike

_T = TypeVar("_T")


@pl.api.register_expr_namespace("ml")
class MlExprNamespace:
    """ML preprocessing on an expression: ``pl.col("x").ml.normalize()``.

    Registered as ``pl.Expr.ml`` when :mod:`polars_mlkit` is imported; each
    method builds the expression of the free function of the same name.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> df = pl.DataFrame({"x": [1.0, 2.0, 3.0], "e": [[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]]})
    >>> out = df.with_columns(pl.col("x").ml.normalize(), pl.col("e").ml.norm().alias("n"))
    >>> out["x"].to_list(), out["n"].to_list()
    ([0.0, 0.5, 1.0], [5.0, 1.0, 2.0])
    """

    def __init__(self, expr: pl.Expr) -> None:
        self._expr = expr

    def normalize(self, method: ScaleMethod = "minmax", **options: Any) -> pl.Expr:
        """Scale the column with one of scikit-learn's scalers (min-max by default).

        See :func:`polars_mlkit.normalize` for ``method`` and ``options``.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"x": [1.0, 2.0, 3.0]})
        >>> df.select(pl.col("x").ml.normalize())["x"].to_list()
        [0.0, 0.5, 1.0]
        >>> df.select(pl.col("x").ml.normalize("standard", ddof=1))["x"].to_list()
        [-1.0, 0.0, 1.0]
        """
        return scaling.normalize(self._expr, method, **options)

    def minmax_scale(
        self, feature_range: tuple[float, float] = (0.0, 1.0), clip: bool = False
    ) -> pl.Expr:
        """Min-max scaling to ``feature_range``.

        See :func:`polars_mlkit.minmax_scale` for the parameters.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"x": [0.0, 5.0, 10.0]})
        >>> df.with_columns(pl.col("x").ml.minmax_scale(feature_range=(-1.0, 1.0)))["x"].to_list()
        [-1.0, 0.0, 1.0]
        """
        return scaling.minmax_scale(self._expr, feature_range, clip)

    def standard_scale(
        self, with_mean: bool = True, with_std: bool = True, ddof: int = 0
    ) -> pl.Expr:
        """Standard scaling: center and scale to unit variance.

        See :func:`polars_mlkit.standard_scale` for the parameters.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"x": [1.0, 2.0, 3.0]})
        >>> df.select(pl.col("x").ml.standard_scale(ddof=1))["x"].to_list()
        [-1.0, 0.0, 1.0]
        >>> df.select(pl.col("x").ml.standard_scale(with_std=False))["x"].to_list()
        [-1.0, 0.0, 1.0]
        """
        return scaling.standard_scale(self._expr, with_mean, with_std, ddof)

    def robust_scale(
        self,
        with_centering: bool = True,
        with_scaling: bool = True,
        quantile_range: tuple[float, float] = (25.0, 75.0),
        unit_variance: bool = False,
    ) -> pl.Expr:
        """Robust scaling: center on the median, scale by a quantile range.

        See :func:`polars_mlkit.robust_scale` for the parameters.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 100.0]})
        >>> df.select(pl.col("x").ml.robust_scale())["x"].to_list()
        [-1.0, -0.5, 0.0, 0.5, 48.5]
        """
        return scaling.robust_scale(
            self._expr, with_centering, with_scaling, quantile_range, unit_variance
        )

    def maxabs_scale(self) -> pl.Expr:
        """Max-abs scaling: divide by the largest absolute value.

        See :func:`polars_mlkit.maxabs_scale`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"x": [-4.0, 2.0, 1.0]})
        >>> df.select(pl.col("x").ml.maxabs_scale())["x"].to_list()
        [-1.0, 0.5, 0.25]
        """
        return scaling.maxabs_scale(self._expr)

    # -- gaussianizing transforms ------------------------------------------
    def quantile_transform(
        self, n_quantiles: int = 1000, output_distribution: OutputDistribution = "uniform"
    ) -> pl.Expr:
        """Map the column through its quantiles to a uniform or normal distribution.

        See :func:`polars_mlkit.quantile_transform` for the parameters.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"x": [1.0, 10.0, 100.0, 1000.0, 10000.0]})
        >>> df.select(pl.col("x").ml.quantile_transform())["x"].to_list()
        [0.0, 0.25, 0.5, 0.75, 1.0]
        >>> normal = pl.col("x").ml.quantile_transform(output_distribution="normal")
        >>> df.select(normal)["x"].round(4).to_list()
        [-5.1993, -0.6745, 0.0, 0.6745, 5.1993]
        """
        return gaussian.quantile_transform(self._expr, n_quantiles, output_distribution)

    def power_transform(
        self, method: PowerMethod = "yeo-johnson", standardize: bool = True
    ) -> pl.Expr:
        """Make the column more normal with a Yeo-Johnson or Box-Cox power transform.

        See :func:`polars_mlkit.power_transform` for the parameters.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"x": [1.0, 2.0, 4.0, 8.0]})
        >>> df.select(pl.col("x").ml.power_transform("box-cox"))["x"].round(3).to_list()
        [-1.342, -0.447, 0.447, 1.342]
        """
        return gaussian.power_transform(self._expr, method, standardize)

    def dot(self, other: Other) -> pl.Expr:
        """Row-wise dot product with another vector column or a constant vector.

        See :func:`polars_mlkit.dot`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"a": [[1.0, 2.0], [3.0, 4.0]], "b": [[1.0, 1.0], [0.0, 2.0]]})
        >>> df.select(pl.col("a").ml.dot("b"))["a"].to_list()
        [3.0, 8.0]
        >>> df.select(pl.col("a").ml.dot([1.0, 1.0]))["a"].to_list()
        [3.0, 7.0]
        """
        return vectors.dot(self._expr, other)  # type: ignore[no-any-return]

    def cosine_similarity(self, other: Other) -> pl.Expr:
        """Row-wise cosine similarity (a zero vector gives 0.0).

        See :func:`polars_mlkit.cosine_similarity`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"a": [[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]]})
        >>> df.select(pl.col("a").ml.cosine_similarity([1.0, 0.0]))["a"].to_list()
        [1.0, 0.0, 0.0]
        """
        return vectors.cosine_similarity(self._expr, other)  # type: ignore[no-any-return]

    def vector_mean(self) -> pl.Expr:
        """Mean of every dimension over the rows (the centroid): an aggregation.

        See :func:`polars_mlkit.vector_mean`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"g": [1, 1, 2], "e": [[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]]})
        >>> df.group_by("g", maintain_order=True).agg(pl.col("e").ml.vector_mean())["e"].to_list()
        [[2.0, 1.0], [5.0, 5.0]]
        """
        return vectors.vector_aggregate_expr(self._expr, "mean")

    def vector_sum(self) -> pl.Expr:
        """Sum of every dimension over the rows: an aggregation.

        See :func:`polars_mlkit.vector_sum`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"e": [[1.0, 0.0], [3.0, 2.0]]})
        >>> df.select(pl.col("e").ml.vector_sum())["e"].to_list()
        [[4.0, 2.0]]
        """
        return vectors.vector_aggregate_expr(self._expr, "sum")

    def vector_min(self) -> pl.Expr:
        """Minimum of every dimension over the rows: an aggregation.

        See :func:`polars_mlkit.vector_min`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"e": [[1.0, 0.0], [3.0, 2.0]]})
        >>> df.select(pl.col("e").ml.vector_min())["e"].to_list()
        [[1.0, 0.0]]
        """
        return vectors.vector_aggregate_expr(self._expr, "min")

    def vector_max(self) -> pl.Expr:
        """Maximum of every dimension over the rows: an aggregation.

        See :func:`polars_mlkit.vector_max`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"e": [[1.0, 0.0], [3.0, 2.0]]})
        >>> df.select(pl.col("e").ml.vector_max())["e"].to_list()
        [[3.0, 2.0]]
        """
        return vectors.vector_aggregate_expr(self._expr, "max")

    def norm(self, ord: float = 2) -> pl.Expr:
        """Row-wise vector norm (``ord`` 1, 2 or ``float("inf")``).

        See :func:`polars_mlkit.norm`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"a": [[3.0, -4.0], [1.0, 0.0]]})
        >>> df.select(pl.col("a").ml.norm())["a"].to_list()
        [5.0, 1.0]
        >>> df.select(pl.col("a").ml.norm(ord=1))["a"].to_list()
        [7.0, 1.0]
        """
        return vectors.norm(self._expr, ord)  # type: ignore[no-any-return]

    def distance(self, other: Other, metric: Metric = "euclidean") -> pl.Expr:
        """Row-wise distance to another vector column or a constant vector.

        See :func:`polars_mlkit.distance` for the metrics.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"a": [[3.0, 4.0], [0.0, 0.0]]})
        >>> df.select(pl.col("a").ml.distance([0.0, 0.0]))["a"].to_list()
        [5.0, 0.0]
        >>> df.select(pl.col("a").ml.distance([0.0, 0.0], metric="manhattan"))["a"].to_list()
        [7.0, 0.0]
        """
        return vectors.distance(self._expr, other, metric)  # type: ignore[no-any-return]

    def unit_normalize(self, norm: UnitNorm = "l2") -> pl.Expr:
        """Scale each vector to unit norm.

        See :func:`polars_mlkit.unit_normalize`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"a": [[3.0, 4.0], [0.0, 2.0]]})
        >>> df.with_columns(pl.col("a").ml.unit_normalize())["a"].to_list()
        [[0.6, 0.8], [0.0, 1.0]]
        >>> df.with_columns(pl.col("a").ml.unit_normalize("l1"))["a"].to_list()
        [[0.42857142857142855, 0.5714285714285714], [0.0, 1.0]]
        """
        return vectors.unit_normalize(self._expr, norm)  # type: ignore[no-any-return]

    def truncate_dim(self, n: int, renormalize: bool = True) -> pl.Expr:
        """Matryoshka truncation: the first ``n`` numbers of each vector, unit L2 norm.

        See :func:`polars_mlkit.truncate_dim`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"e": [[3.0, 4.0, 12.0], [0.0, 0.0, 1.0]]})
        >>> df.select(pl.col("e").ml.truncate_dim(2))["e"].to_list()
        [[0.6, 0.8], [0.0, 0.0]]
        """
        return vectors.truncate_dim(self._expr, n, renormalize)  # type: ignore[no-any-return]

    def maxsim(self, query_tokens: Any) -> pl.Expr:
        """The MaxSim (late-interaction) score of each row's token vectors.

        See :func:`polars_mlkit.maxsim`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit  # noqa: F401
        >>> docs = pl.DataFrame({"t": [[[1.0, 0.0], [0.0, 1.0]]]})
        >>> docs.select(pl.col("t").ml.maxsim([[0.0, 3.0]]))["t"].to_list()
        [3.0]
        """
        return multivector.maxsim(self._expr, query_tokens)  # type: ignore[no-any-return]

    def project(self, matrix: Any, bias: VectorLike | None = None) -> pl.Expr:
        """Project each vector: ``row @ matrix + bias``.

        See :func:`polars_mlkit.project`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"a": [[1.0, 2.0], [3.0, 4.0]]})
        >>> m = [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]
        >>> df.select(pl.col("a").ml.project(m, bias=[0.0, 0.0, 10.0]))["a"].to_list()
        [[1.0, 2.0, 13.0], [3.0, 4.0, 17.0]]
        """
        return vectors.project(self._expr, matrix, bias)  # type: ignore[no-any-return]

    def top_k_similar(self, query: VectorLike, k: int, metric: SearchMetric = "cosine") -> pl.Expr:
        """Positions of the ``k`` rows most similar to ``query`` (an aggregation).

        See :func:`polars_mlkit.top_k_similar`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"e": [[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]]})
        >>> df.select(pl.col("e").ml.top_k_similar([1.0, 0.1], k=2))["e"].to_list()
        [0, 2]
        >>> nearest = pl.col("e").ml.top_k_similar([0.0, 1.0], k=1, metric="euclidean")
        >>> df.select(nearest)["e"].to_list()
        [1]
        """
        expr: pl.Expr = vectors.top_k_similar(self._expr, query, k, metric)
        return expr

    def quantize(self, precision: Precision = "int8", ranges: Any = None) -> pl.Expr:
        """Quantize vectors to Int8 codes or packed sign bits (``"binary"``).

        See :func:`polars_mlkit.quantize`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> schema = {"e": pl.Array(pl.Float32, 2)}
        >>> df = pl.DataFrame({"e": [[0.5, -1.0], [-1.5, 1.0]]}, schema=schema)
        >>> df.select(pl.col("e").ml.quantize("binary"))["e"].to_list()
        [[128], [64]]
        >>> ranges = [[-2.0, -2.0], [2.0, 2.0]]
        >>> df.select(pl.col("e").ml.quantize("int8", ranges=ranges))["e"].to_list()
        [[31, -64], [-96, 63]]
        """
        expr: pl.Expr = vectors.quantize(self._expr, precision, ranges)
        return expr

    def hamming(self, other: Other) -> pl.Expr:
        """Row-wise number of differing bits between packed binary codes (UInt32).

        See :func:`polars_mlkit.hamming`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"e": [[0.5, -1.0], [-1.5, 1.0]]})
        >>> codes = df.select(pl.col("e").ml.quantize("binary"))
        >>> codes.select(pl.col("e").ml.hamming([0b1100_0000]))["e"].to_list()
        [1, 1]
        """
        return vectors.hamming(self._expr, other)  # type: ignore[no-any-return]

    def one_hot(
        self,
        categories: Sequence[Any] | None = None,
        drop: Any = None,
        handle_unknown: HandleUnknown = "error",
        dtype: Any = pl.UInt8,
    ) -> pl.Expr:
        """One-hot encode into a Struct with one field per category,
        named ``{column}_{category}`` (known at plan time).

        See :func:`polars_mlkit.one_hot`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"c": ["b", "a"]})
        >>> df.select(pl.col("c").ml.one_hot(["a", "b"])).unnest("c").rows()
        [(0, 1), (1, 0)]
        """
        return encoding.one_hot(self._expr, categories, drop, handle_unknown, dtype)

    def ordinal_encode(
        self, categories: Sequence[Any] | None = None, handle_unknown: HandleUnknown = "error"
    ) -> pl.Expr:
        """Each row's position among the categories (UInt32 codes).

        See :func:`polars_mlkit.ordinal_encode`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"c": ["b", "a"]})
        >>> df.select(pl.col("c").ml.ordinal_encode(["a", "b"]))["c"].to_list()
        [1, 0]
        """
        return encoding.ordinal_encode(self._expr, categories, handle_unknown)


def _dispatch_to_expr(expr_namespace: type) -> Callable[[type[_T]], type[_T]]:
    """Class decorator: give the Series namespace each public method of
    ``expr_namespace`` that it does not write out itself."""

    def decorate(cls: type[_T]) -> type[_T]:
        for name, expr_method in vars(expr_namespace).items():
            if name.startswith("_") or not callable(expr_method) or name in vars(cls):
                continue
            setattr(cls, name, _series_method(cls, expr_namespace, name, expr_method))
        return cls

    return decorate


def _series_method(
    cls: type, expr_namespace: type, name: str, expr_method: Callable[..., pl.Expr]
) -> Callable[..., pl.Series]:
    """The Series method ``name``: the Expr method of that name, run on the Series now."""

    def method(self: Any, *args: Any, **kwargs: Any) -> pl.Series:
        series: pl.Series = self._series
        # A fixed column name: the Series' own may be "" or be read by pl.col
        # as a pattern ("*", "^a.*$"). The result gets the Series' name back.
        expr = expr_method(expr_namespace(pl.col("x")), *args, **kwargs)
        return series.to_frame("x").select(expr).to_series().alias(series.name)

    summary = inspect.cleandoc(expr_method.__doc__ or "").split("\nExamples\n", 1)[0]
    method.__name__ = name
    method.__qualname__ = f"{cls.__qualname__}.{name}"
    method.__doc__ = (
        f"{summary.rstrip()}\n\n"
        f"On a Series: :meth:`{expr_namespace.__qualname__}.{name}` run on it now,\n"
        f"returned as a Series of the same name. Examples: ``pl.Expr.ml.{name}``.\n"
    )
    method.__signature__ = inspect.signature(expr_method).replace(  # type: ignore[attr-defined]
        return_annotation="pl.Series"
    )
    method.__annotations__ = {**expr_method.__annotations__, "return": "pl.Series"}
    return method


@pl.api.register_series_namespace("ml")
@_dispatch_to_expr(MlExprNamespace)
class MlSeriesNamespace:
    """ML preprocessing on a Series, computed now: ``s.ml.normalize()``.

    Registered as ``pl.Series.ml`` when :mod:`polars_mlkit` is imported. Each
    method runs the :class:`MlExprNamespace` method of the same name on the
    Series and returns a Series of the same name (the methods are generated
    from the Expr namespace; see the module docstring). ``dot``,
    ``cosine_similarity``, ``distance`` and ``hamming`` are written out: their ``other``
    may be a second vector Series, compared row by row.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> pl.Series("x", [1.0, 2.0, 4.0]).ml.normalize().to_list()
    [0.0, 0.3333333333333333, 1.0]
    >>> pl.Series("x", [1.0, 2.0, 3.0]).ml.standard_scale(ddof=1).to_list()
    [-1.0, 0.0, 1.0]
    >>> e = pl.Series("e", [[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]])
    >>> e.ml.norm().to_list()
    [5.0, 1.0, 2.0]
    >>> e.ml.top_k_similar([1.0, 0.1], k=2).to_list()
    [1, 0]
    >>> e.ml.dot(pl.Series([[1.0, 1.0], [2.0, 0.0], [0.0, 1.0]])).to_list()
    [7.0, 2.0, 2.0]
    """

    def one_hot(
        self,
        categories: Sequence[Any] | None = None,
        drop: Any = None,
        handle_unknown: HandleUnknown = "error",
        dtype: Any = pl.UInt8,
    ) -> pl.Series:
        """:meth:`MlExprNamespace.one_hot` run on the Series now; the fields
        are named ``{series name}_{category}``.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> pl.Series("c", ["b", "a"]).ml.one_hot(["a", "b"]).struct.fields
        ['c_a', 'c_b']
        """
        series: pl.Series = self._series
        expr = encoding.one_hot(pl.col("x"), categories, drop, handle_unknown, dtype)
        out = series.to_frame("x").select(expr).to_series()
        fields = [f"{series.name}_{f[2:]}" for f in out.struct.fields]
        return out.struct.rename_fields(fields).alias(series.name)

    def __init__(self, series: pl.Series) -> None:
        self._series = series

    # Written out: on a Series, `other` may be a second vector column (see the
    # module docstring); the free functions read a Series `x` that way.

    def dot(self, other: Other) -> pl.Series:
        """Row-wise dot product with another vector Series or a constant vector.

        ``other`` is a vector Series (``Array`` or ``List``) or a 2-D array of
        the same length, taken row by row, or one constant vector (a list, a
        1-D array or a numeric Series). See :func:`polars_mlkit.dot`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> s = pl.Series("a", [[1.0, 2.0], [3.0, 4.0]])
        >>> s.ml.dot([1.0, 1.0]).to_list()
        [3.0, 7.0]
        >>> s.ml.dot(pl.Series([[1.0, 1.0], [0.0, 2.0]])).to_list()
        [3.0, 8.0]
        """
        return vectors.dot(self._series, other)  # type: ignore[no-any-return]

    def cosine_similarity(self, other: Other) -> pl.Series:
        """Row-wise cosine similarity (a zero vector gives 0.0).

        ``other`` as in :meth:`dot`. See :func:`polars_mlkit.cosine_similarity`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> pl.Series("a", [[1.0, 0.0], [0.0, 2.0]]).ml.cosine_similarity([1.0, 0.0]).to_list()
        [1.0, 0.0]
        """
        return vectors.cosine_similarity(self._series, other)  # type: ignore[no-any-return]

    def distance(self, other: Other, metric: Metric = "euclidean") -> pl.Series:
        """Row-wise distance to another vector Series or a constant vector.

        ``other`` as in :meth:`dot`. See :func:`polars_mlkit.distance` for the metrics.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> s = pl.Series("a", [[3.0, 4.0], [0.0, 0.0]])
        >>> s.ml.distance([0.0, 0.0]).to_list()
        [5.0, 0.0]
        >>> s.ml.distance(pl.Series([[0.0, 0.0], [1.0, 1.0]]), metric="chebyshev").to_list()
        [4.0, 1.0]
        """
        return vectors.distance(self._series, other, metric)  # type: ignore[no-any-return]

    def hamming(self, other: Other) -> pl.Series:
        """Row-wise number of differing bits to another code Series or one constant code.

        ``other`` as in :meth:`dot`. See :func:`polars_mlkit.hamming`.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> b = pl.Series("b", [[3], [255]], dtype=pl.Array(pl.UInt8, 1))
        >>> b.ml.hamming([1]).to_list()
        [1, 7]
        >>> b.ml.hamming(pl.Series([[3], [0]], dtype=pl.Array(pl.UInt8, 1))).to_list()
        [0, 8]
        """
        return vectors.hamming(self._series, other)  # type: ignore[no-any-return]
