"""The ``ml`` namespace on ``pl.Expr`` and ``pl.Series``.

Every method is written out (no ``__getattr__``) so that tab completion and
``?`` in IPython show the real signature; each delegates to the free
function of the same name, which holds the docstring and the checks.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from polars_mlkit import scaling
from polars_mlkit.scaling import ScaleMethod


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
