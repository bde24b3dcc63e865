"""The four estimators: their options and what each learns (its statistics
query). Their parameters and transforms come from the extension (see
``_expressions``); everything else is the base class's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from polars_mlkit._batches import MapBatches, lazy_batches
from polars_mlkit._plugin import call_plugin
from polars_mlkit.scalers._base import IncrementalScaler, Scaler, UnknownGroup
from polars_mlkit.scalers._passes import list_widths, sorted_statistics
from polars_mlkit.scalers._registry import register
from polars_mlkit.scalers._state import _Column, _fitted_state, _State


# --------------------------------------------------------------------------- #
# MinMaxScaler
# --------------------------------------------------------------------------- #
@register
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

    def _clip(self, state: _State) -> tuple[float, float] | None:
        if state.options["clip"]:
            low, high = state.options["feature_range"]
            return float(low), float(high)
        return None


# --------------------------------------------------------------------------- #
# StandardScaler
# --------------------------------------------------------------------------- #
@register
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
    _stat_names = ("count", "mean", "m2", "min", "max", "unit")
    _streams = False
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
        # One pass of the extension's moments kernel (the one `standard_scale`
        # runs): count, mean, M2 and extent with NaN skipped, in a power-of-two
        # unit that keeps values near 1e308 from overflowing; merges exactly.
        moments = call_plugin(
            "moments",
            [x],
            {"function": "StandardScaler.fit"},
            is_elementwise=False,
            returns_scalar=True,
        )
        return {"moments": moments}


# --------------------------------------------------------------------------- #
# RobustScaler
# --------------------------------------------------------------------------- #
@register
class RobustScaler(Scaler):
    """Center on the median and scale by a quantile range, as scikit-learn's.

    ``(x - median) / (q_high - q_low)`` with exact, linearly interpolated
    quantiles (numpy's ``percentile`` rule). Exact quantiles do not merge from
    partial statistics, so there is no ``partial_fit``. A LazyFrame (which
    may be larger than memory) is read in batches twice: a census of fixed
    order-key buckets, then a gather of only the buckets holding the wanted
    ranks; ``polars_mlkit.ray.fit`` does the same on a Dataset's blocks. The
    parameters equal the in-memory fit's bit for bit.

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
    _stat_names = ("count", "min", "max", "q_low", "median", "q_high")
    _param_columns = ("center", "scale")

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
        if not streaming:
            return super()._statistics(lazy, schema, columns, by, options, function, streaming)
        # A LazyFrame may not fit in memory: passes over its batches
        # (a census of order-key buckets, then a gather of the wanted ones).
        stats, groups, rows = sorted_statistics(
            lazy_batches(lazy), columns, by, tuple(options["quantile_range"]), function
        )
        return _fitted_state(options, schema, columns, by, groups, stats, rows)

    def _batches_state(
        self,
        schema: pl.Schema,
        columns: list[_Column],
        by: list[str],
        options: dict[str, Any],
        map_batches: MapBatches,
        function: str,
    ) -> _State:
        list_widths(columns, map_batches, function)
        stats, groups, rows = sorted_statistics(
            map_batches, columns, by, tuple(options["quantile_range"]), function
        )
        return _fitted_state(options, schema, columns, by, groups, stats, rows)

    def _stat_exprs(self, x: pl.Expr, options: dict[str, Any]) -> dict[str, pl.Expr]:
        # The selection `robust_scale` runs (numpy's linear percentiles, NaN
        # skipped), on the whole column or group.
        stats = call_plugin(
            "robust_stats",
            [x],
            {"function": "RobustScaler.fit", "quantile_range": list(options["quantile_range"])},
            is_elementwise=False,
            returns_scalar=True,
        )
        return {"stats": stats}


# --------------------------------------------------------------------------- #
# MaxAbsScaler
# --------------------------------------------------------------------------- #
@register
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
