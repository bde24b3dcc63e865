"""The four estimators: what each learns (its statistics), what it makes of
them (its fitted parameters) and how it applies them (its transform steps).
Everything else is the base class's."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import polars as pl

from polars_mlkit._plugin import call_plugin
from polars_mlkit.scalers._base import IncrementalScaler, Scaler, UnknownGroup
from polars_mlkit.scalers._expressions import _EPS64, _center_scale_ops, _handle_zeros
from polars_mlkit.scalers._state import FloatArray, _Column, _State


# --------------------------------------------------------------------------- #
# MinMaxScaler
# --------------------------------------------------------------------------- #
class MinMaxScaler(IncrementalScaler):
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
class StandardScaler(IncrementalScaler):
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


# --------------------------------------------------------------------------- #
# RobustScaler
# --------------------------------------------------------------------------- #
class RobustScaler(Scaler):
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
class MaxAbsScaler(IncrementalScaler):
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
