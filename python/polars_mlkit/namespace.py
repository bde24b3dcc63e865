"""The ``ml`` namespace on ``pl.Expr`` and ``pl.Series``.

Every method is written out (no ``__getattr__``) so that tab completion and
``?`` in IPython show the real signature; each delegates to the free
function of the same name, which holds the docstring and the checks.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from polars_mlkit import scaling, vectors
from polars_mlkit.scaling import ScaleMethod
from polars_mlkit.vectors import Metric, Other, SearchMetric, UnitNorm, VectorLike


@pl.api.register_expr_namespace("ml")
class MlExprNamespace:
    """ML preprocessing on an expression: ``pl.col("x").ml.normalize()``."""

    def __init__(self, expr: pl.Expr) -> None:
        self._expr = expr

    def normalize(self, method: ScaleMethod = "minmax", **options: Any) -> pl.Expr:
        """Scale the column; see :func:`polars_mlkit.normalize`."""
        return scaling.normalize(self._expr, method, **options)

    def minmax_scale(
        self, feature_range: tuple[float, float] = (0.0, 1.0), clip: bool = False
    ) -> pl.Expr:
        """Min-max scaling; see :func:`polars_mlkit.minmax_scale`."""
        return scaling.minmax_scale(self._expr, feature_range, clip)

    def standard_scale(
        self, with_mean: bool = True, with_std: bool = True, ddof: int = 0
    ) -> pl.Expr:
        """Standard scaling; see :func:`polars_mlkit.standard_scale`."""
        return scaling.standard_scale(self._expr, with_mean, with_std, ddof)

    def robust_scale(
        self,
        with_centering: bool = True,
        with_scaling: bool = True,
        quantile_range: tuple[float, float] = (25.0, 75.0),
        unit_variance: bool = False,
    ) -> pl.Expr:
        """Robust scaling; see :func:`polars_mlkit.robust_scale`."""
        return scaling.robust_scale(
            self._expr, with_centering, with_scaling, quantile_range, unit_variance
        )

    def maxabs_scale(self) -> pl.Expr:
        """Max-abs scaling; see :func:`polars_mlkit.maxabs_scale`."""
        return scaling.maxabs_scale(self._expr)

    def dot(self, other: Other) -> pl.Expr:
        """Row-wise dot product; see :func:`polars_mlkit.dot`."""
        return vectors.dot(self._expr, other)  # type: ignore[no-any-return]

    def cosine_similarity(self, other: Other) -> pl.Expr:
        """Row-wise cosine similarity; see :func:`polars_mlkit.cosine_similarity`."""
        return vectors.cosine_similarity(self._expr, other)  # type: ignore[no-any-return]

    def norm(self, ord: float = 2) -> pl.Expr:
        """Row-wise vector norm; see :func:`polars_mlkit.norm`."""
        return vectors.norm(self._expr, ord)  # type: ignore[no-any-return]

    def distance(self, other: Other, metric: Metric = "euclidean") -> pl.Expr:
        """Row-wise distance; see :func:`polars_mlkit.distance`."""
        return vectors.distance(self._expr, other, metric)  # type: ignore[no-any-return]

    def unit_normalize(self, norm: UnitNorm = "l2") -> pl.Expr:
        """Scale each vector to unit norm; see :func:`polars_mlkit.unit_normalize`."""
        return vectors.unit_normalize(self._expr, norm)  # type: ignore[no-any-return]

    def project(self, matrix: Any, bias: VectorLike | None = None) -> pl.Expr:
        """``row @ matrix + bias``; see :func:`polars_mlkit.project`."""
        return vectors.project(self._expr, matrix, bias)  # type: ignore[no-any-return]

    def top_k_similar(self, query: VectorLike, k: int, metric: SearchMetric = "cosine") -> pl.Expr:
        """Positions of the k most similar rows; see :func:`polars_mlkit.top_k_similar`."""
        return vectors.top_k_similar(self._expr, query, k, metric)


@pl.api.register_series_namespace("ml")
class MlSeriesNamespace:
    """ML preprocessing on a Series, computed now: ``s.ml.normalize()``."""

    def __init__(self, series: pl.Series) -> None:
        self._series = series

    def normalize(self, method: ScaleMethod = "minmax", **options: Any) -> pl.Series:
        """Scale the Series; see :func:`polars_mlkit.normalize`."""
        return scaling.normalize(self._series, method, **options)

    def minmax_scale(
        self, feature_range: tuple[float, float] = (0.0, 1.0), clip: bool = False
    ) -> pl.Series:
        """Min-max scaling; see :func:`polars_mlkit.minmax_scale`."""
        return scaling.minmax_scale(self._series, feature_range, clip)

    def standard_scale(
        self, with_mean: bool = True, with_std: bool = True, ddof: int = 0
    ) -> pl.Series:
        """Standard scaling; see :func:`polars_mlkit.standard_scale`."""
        return scaling.standard_scale(self._series, with_mean, with_std, ddof)

    def robust_scale(
        self,
        with_centering: bool = True,
        with_scaling: bool = True,
        quantile_range: tuple[float, float] = (25.0, 75.0),
        unit_variance: bool = False,
    ) -> pl.Series:
        """Robust scaling; see :func:`polars_mlkit.robust_scale`."""
        return scaling.robust_scale(
            self._series, with_centering, with_scaling, quantile_range, unit_variance
        )

    def maxabs_scale(self) -> pl.Series:
        """Max-abs scaling; see :func:`polars_mlkit.maxabs_scale`."""
        return scaling.maxabs_scale(self._series)

    def dot(self, other: Other) -> pl.Series:
        """Row-wise dot product; see :func:`polars_mlkit.dot`."""
        return vectors.dot(self._series, other)  # type: ignore[no-any-return]

    def cosine_similarity(self, other: Other) -> pl.Series:
        """Row-wise cosine similarity; see :func:`polars_mlkit.cosine_similarity`."""
        return vectors.cosine_similarity(self._series, other)  # type: ignore[no-any-return]

    def norm(self, ord: float = 2) -> pl.Series:
        """Row-wise vector norm; see :func:`polars_mlkit.norm`."""
        return vectors.norm(self._series, ord)  # type: ignore[no-any-return]

    def distance(self, other: Other, metric: Metric = "euclidean") -> pl.Series:
        """Row-wise distance; see :func:`polars_mlkit.distance`."""
        return vectors.distance(self._series, other, metric)  # type: ignore[no-any-return]

    def unit_normalize(self, norm: UnitNorm = "l2") -> pl.Series:
        """Scale each vector to unit norm; see :func:`polars_mlkit.unit_normalize`."""
        return vectors.unit_normalize(self._series, norm)  # type: ignore[no-any-return]

    def project(self, matrix: Any, bias: VectorLike | None = None) -> pl.Series:
        """``row @ matrix + bias``; see :func:`polars_mlkit.project`."""
        return vectors.project(self._series, matrix, bias)  # type: ignore[no-any-return]

    def top_k_similar(
        self, query: VectorLike, k: int, metric: SearchMetric = "cosine"
    ) -> pl.Series:
        """Positions of the k most similar rows; see :func:`polars_mlkit.top_k_similar`."""
        expr = vectors.top_k_similar(pl.col(self._series.name), query, k, metric)
        return self._series.to_frame().select(expr).to_series()
