"""The fitted gaussianizing transformers: :class:`QuantileTransformer` and
:class:`PowerTransformer`.

Their fit is one query of the extension's ``gaussian_fit`` aggregation per
column, dimension and group (the kernels the ``ml.quantile_transform`` and
``ml.power_transform`` expressions run), and their transforms are the
extension's elementwise ``fitted_gaussianize`` with the fitted quantiles or
lambdas, so they stream and agree with the expressions bit for bit.
Everything else (``by=`` groups, numpy/pandas in and out, ``set_output``,
JSON) is the scalers' base class's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import polars as pl

from polars_mlkit import _checks
from polars_mlkit._batches import MapBatches, lazy_batches
from polars_mlkit._plugin import call_plugin
from polars_mlkit._reserved import GROUP_KEY, ROWS, internal
from polars_mlkit.gaussian import OutputDistribution, PowerMethod
from polars_mlkit.scalers._base import _COMMON_PARAMS, Scaler, UnknownGroup
from polars_mlkit.scalers._passes import (
    census_groups,
    first_census,
    list_widths,
    order_statistics,
    part_name,
)
from polars_mlkit.scalers._registry import register
from polars_mlkit.scalers._state import FloatArray, _Column, _fitted_state, _key_expr, _State

#: The statistics a fitted PowerTransformer keeps per column, group and lane.
POWER_STATISTICS = ("lambda", "mean", "var", "scale", "mul", "sub", "div", "add")


def _lane(column: _Column, j: int) -> pl.Expr:
    """Lane ``j`` of a fitted column, in its computing dtype (Float32 stays)."""
    dtype = pl.Float32 if column.float32 else pl.Float64
    x = pl.col(column.name)
    if column.container == "scalar":
        return x.cast(dtype)
    return x.cast(pl.Array(dtype, column.width)).arr.get(j)


def _fit_name(i: int, j: int) -> str:
    return internal(i, j, "fit")


def _check_subsample(options: dict[str, Any], seen: int, function: str) -> None:
    subsample = options.get("subsample")
    if subsample is not None and seen > subsample:
        msg = (
            f"{function}: subsample={subsample} is smaller than the {seen} rows; "
            "polars-mlkit computes exact quantiles of all rows (scikit-learn's "
            "subsample=None), so pass subsample=None"
        )
        raise ValueError(msg)


class _Gaussianizer(Scaler):
    """What the two transformers share: options, the fit query, the
    transform expressions."""

    _transform: ClassVar[str]
    _streams = False

    # ------------------------------------------------------------- options
    def _gaussian_options(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._param_names if k not in _COMMON_PARAMS}

    def _checked_options(self, function: str) -> dict[str, Any]:
        given = self._gaussian_options()
        kwargs = _checks.gaussian_kwargs(function, self._transform, given)
        options: dict[str, Any] = {k: kwargs[k] for k in given if k in kwargs}
        if "subsample" in given:
            subsample = given["subsample"]
            if subsample is not None and (
                isinstance(subsample, bool) or not isinstance(subsample, (int, np.integer))
            ):
                msg = f"{function}: subsample must be None or an integer, got {subsample!r}"
                raise TypeError(msg)
            if subsample is not None and subsample < 1:
                msg = f"{function}: subsample must be None or >= 1, got {subsample}"
                raise ValueError(msg)
            if subsample is not None and kwargs["n_quantiles"] > subsample:
                msg = (
                    f"{function}: The number of quantiles cannot be greater than the number "
                    f"of samples used. Got {kwargs['n_quantiles']} quantiles and {subsample} "
                    "samples."
                )
                raise ValueError(msg)
            options["subsample"] = None if subsample is None else int(subsample)
        options["columns"] = _checks.names(self.columns, "columns", function)
        options["by"] = _checks.by_names(self.by, function)
        _checks.unknown_group(self.unknown_group, function)
        options["unknown_group"] = self.unknown_group
        return options

    def _kwargs(self, options: dict[str, Any], function: str) -> dict[str, Any]:
        given = {k: v for k, v in options.items() if k in self._gaussian_options()}
        given.pop("subsample", None)
        return _checks.gaussian_kwargs(function, self._transform, given)

    # ------------------------------------------------------------------ fit
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
        kwargs = self._kwargs(options, function)
        exprs = [
            call_plugin(
                "gaussian_fit",
                [_lane(column, j)],
                kwargs,
                is_elementwise=False,
                returns_scalar=True,
            ).alias(_fit_name(i, j))
            for i, column in enumerate(columns)
            for j in range(column.lanes)
        ]
        rows = pl.len().alias(ROWS)
        if by:
            query = lazy.group_by(by).agg(rows, *exprs).sort(by, nulls_last=True)
        else:
            query = lazy.select(rows, *exprs)
        try:
            # The fit needs whole columns either way; the in-memory engine
            # reads them without a copy.
            result = query.collect(engine="in-memory")
        except pl.exceptions.ComputeError as err:
            # Bad data (infinity, Box-Cox on non-positive values) is a
            # ValueError, as in scikit-learn.
            raise ValueError(str(err)) from err
        groups = result.select(*by, _key_expr(by).alias(GROUP_KEY)) if by else pl.DataFrame()
        stats = {column.name: self._extract(result, i, column) for i, column in enumerate(columns)}
        seen = int(result[ROWS].sum()) if result.height else 0
        _check_subsample(options, seen, function)
        return _fitted_state(options, schema, columns, by, groups, stats, seen)

    def _extract(self, result: pl.DataFrame, i: int, column: _Column) -> dict[str, FloatArray]:
        raise NotImplementedError

    def _batches_state(
        self,
        schema: pl.Schema,
        columns: list[_Column],
        by: list[str],
        options: dict[str, Any],
        map_batches: MapBatches,
        function: str,
    ) -> _State:
        """The fit from data reached batch by batch (``polars_mlkit.ray.fit``):
        the fitted columns (and ``by`` columns) of every batch are gathered
        and fitted as in memory, so the parameters are the in-memory fit's,
        bit for bit. Memory: the fitted columns, not the other columns.
        (PowerTransformer's maximum-likelihood lambda reads every value at
        each step of its search; QuantileTransformer overrides this with
        exact quantiles in passes.)"""
        list_widths(columns, map_batches, function)
        keep = [*by, *(c.name for c in columns)]
        parts = list(map_batches(lambda batch: batch.select(keep)))
        if parts:
            frame = pl.concat(parts, how="vertical_relaxed")
        else:
            frame = pl.DataFrame(schema={k: schema[k] for k in keep})
        state = self._statistics(frame.lazy(), schema, columns, by, options, function, False)
        return state

    # ------------------------------------------------------------ transform
    def _maps(self, state: _State, column: _Column) -> tuple[list[float], list[int]]:
        """The fitted maps of one column for ``fitted_gaussianize``: the
        parameters and sizes, group-major then lane."""
        raise NotImplementedError

    def _expressions(self, inverse: bool, function: str) -> list[pl.Expr]:
        state = self._fitted(function)
        out = []
        for column in state.columns:
            params, sizes = self._maps(state, column)
            x = pl.col(column.name)
            if column.width:
                x = x.cast(pl.Array(pl.Float32 if column.float32 else pl.Float64, column.width))
            elif column.dtype not in ("Float32", "Float64"):
                x = x.cast(pl.Float64)
            args = [x, _key_expr(state.by)] if state.by else [x]
            options = state.options
            expr = call_plugin(
                "fitted_gaussianize",
                args,
                {
                    "function": function,
                    "width": column.width,
                    "keys": state.keys if state.by else [],
                    "transform": self._transform,
                    "normal": options.get("output_distribution") == "normal",
                    "method": str(options.get("method", "yeo-johnson")),
                    "params": params,
                    "sizes": sizes,
                    "inverse": inverse,
                    "float32": column.float32,
                    "unknown": options["unknown_group"],
                },
                is_elementwise=True,
            )
            if column.container == "list":
                expr = expr.cast(pl.List(pl.Float32 if column.float32 else pl.Float64))
            out.append(expr.alias(column.name))
        return out


# --------------------------------------------------------------------------- #
# QuantileTransformer
# --------------------------------------------------------------------------- #
def _quantile_stats(rows: FloatArray, found: list[list[list[float]]]) -> dict[str, FloatArray]:
    """A fitted column's state: ``rows`` (groups x lanes) and the quantiles
    ``found[lane][group]`` (their own lengths), packed lane-major."""
    groups, lanes = rows.shape
    counts = np.zeros((groups, lanes))
    for j in range(lanes):
        counts[:, j] = [len(q) for q in found[j]]
    width = int(counts.max()) if counts.size else 0
    quantiles = np.full((groups, lanes * width), np.nan)
    for j in range(lanes):
        for g, q in enumerate(found[j]):
            quantiles[g, j * width : j * width + len(q)] = q
    return {"rows": rows, "n_quantiles": counts, "quantiles": quantiles}


@register
class QuantileTransformer(_Gaussianizer):
    """Map columns through their fitted quantiles, as scikit-learn's ``QuantileTransformer``.

    ``n_quantiles`` quantiles at evenly spaced levels (capped at the rows of
    the column or group, as scikit-learn caps them at its samples), numpy's
    linearly interpolated percentiles of the non-null, non-NaN values, found
    by selection; the transform interpolates them onto [0, 1] (forwards and
    backwards, averaged), then for ``"normal"`` output applies the normal
    quantile function, clipped at about ±5.2. The numbers equal
    scikit-learn's with ``subsample=None`` (or a ``subsample`` at least the
    rows): quantiles bit for bit, transforms to the last bits of the normal
    quantile function. Exact quantiles do not merge, so there is no
    ``partial_fit``.

    Parameters
    ----------
    n_quantiles
        Number of quantiles (>= 1).
    output_distribution
        ``"uniform"`` or ``"normal"``.
    subsample
        ``None`` (exact quantiles of every row). scikit-learn's default
        random subsample of 10,000 rows is not drawn: an integer smaller
        than the rows fitted on is an error.
    columns
        Columns to transform; ``None`` means every numeric and
        numeric-vector column except the ``by`` columns.
    by
        Fit one set of quantiles per group of these columns.
    unknown_group
        ``"error"`` (naming the group) or ``"null"`` for groups unseen at fit time.

    Attributes
    ----------
    params_
        ``column``, the ``by`` columns, ``n_quantiles`` (scikit-learn's
        ``n_quantiles_``) and ``quantiles`` (``List(Float64)``; one list per
        dimension, ``List(List(Float64))``, when a vector column was fitted).

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> train = pl.DataFrame({"x": [1.0, 10.0, 100.0, 1000.0, 10000.0]})
    >>> qt = pmk.QuantileTransformer(n_quantiles=5).fit(train)
    >>> qt.params_["quantiles"].to_list()
    [[1.0, 10.0, 100.0, 1000.0, 10000.0]]
    >>> qt.transform(pl.DataFrame({"x": [55.0, 100.0, 1e6]}))["x"].to_list()
    [0.375, 0.5, 1.0]
    >>> qt.inverse_transform(pl.DataFrame({"x": [0.375]}))["x"].to_list()
    [55.0]
    """

    _transform = "quantile"
    _method = "quantile"
    _param_names = (
        "columns",
        "by",
        "n_quantiles",
        "output_distribution",
        "subsample",
        "unknown_group",
    )
    _stat_names = ("rows", "n_quantiles", "quantiles")
    _param_columns = ("n_quantiles", "quantiles")

    def __init__(
        self,
        n_quantiles: int = 1000,
        output_distribution: OutputDistribution = "uniform",
        subsample: int | None = None,
        columns: Sequence[str] | str | None = None,
        by: Sequence[str] | str | None = None,
        unknown_group: UnknownGroup = "error",
    ) -> None:
        self.n_quantiles = n_quantiles
        self.output_distribution = output_distribution
        self.subsample = subsample
        self.columns = columns
        self.by = by
        self.unknown_group = unknown_group

    def _extract(self, result: pl.DataFrame, i: int, column: _Column) -> dict[str, FloatArray]:
        rows = np.zeros((result.height, column.lanes))
        found: list[list[list[float]]] = []
        for j in range(column.lanes):
            fit = result[_fit_name(i, j)]
            rows[:, j] = fit.struct.field("rows").to_numpy()
            lists = fit.struct.field("quantiles").to_list()
            found.append([[np.nan if v is None else float(v) for v in q] for q in lists])
        return _quantile_stats(rows, found)

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
        # A LazyFrame may not fit in memory: exact quantiles in passes.
        return self._quantiles_in_passes(schema, columns, by, options, lazy_batches(lazy), function)

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
        return self._quantiles_in_passes(schema, columns, by, options, map_batches, function)

    def _quantiles_in_passes(
        self,
        schema: pl.Schema,
        columns: list[_Column],
        by: list[str],
        options: dict[str, Any],
        map_batches: MapBatches,
        function: str,
    ) -> _State:
        """The fit from data reached batch by batch (a LazyFrame,
        ``polars_mlkit.ray.fit``): the exact quantiles in passes over the
        batches (a census of order-key buckets, refined while needed, then a
        gather of the wanted buckets; see ``fit_in_passes``), never holding
        the columns whole. The quantiles equal the in-memory fit's, bit for
        bit."""
        census = first_census(map_batches, columns, by, "QuantileTransformer", function)
        groups, keys, seen = census_groups(census, by)
        _check_subsample(options, seen, function)
        target = {
            "target": "quantiles",
            "n_quantiles": self._kwargs(options, function)["n_quantiles"],
        }
        found = order_statistics(map_batches, columns, by, census, keys, target, function)
        group_rows = [float(r) for r in groups[ROWS]]
        stats = {}
        for i, column in enumerate(columns):
            lanes = [
                [found[(key, part_name(i, j))]["quantiles"].tolist() for key in keys]
                for j in range(column.lanes)
            ]
            rows = np.repeat(np.asarray(group_rows).reshape(-1, 1), column.lanes, axis=1)
            stats[column.name] = _quantile_stats(rows, lanes)
        groups = groups.select(*by, GROUP_KEY) if by else pl.DataFrame()
        return _fitted_state(options, schema, columns, by, groups, stats, seen)

    def _split(self, state: _State, column: _Column) -> list[list[np.ndarray[Any, Any]]]:
        """The quantiles of each group and lane (their own lengths)."""
        per = state.stats[column.name]
        counts = per["n_quantiles"]
        quantiles = per["quantiles"]
        width = quantiles.shape[1] // column.lanes if column.lanes else 0
        return [
            [quantiles[g, j * width : j * width + int(counts[g, j])] for j in range(column.lanes)]
            for g in range(counts.shape[0])
        ]

    def _maps(self, state: _State, column: _Column) -> tuple[list[float], list[int]]:
        params: list[float] = []
        sizes: list[int] = []
        for lanes in self._split(state, column):
            for q in lanes:
                params.extend(float(v) for v in q)
                sizes.append(len(q))
        return params, sizes

    @property
    def params_(self) -> pl.DataFrame:
        """The fitted quantiles, one row per column (and group).

        ``column``, the ``by`` columns, ``n_quantiles`` (Int64) and
        ``quantiles`` (``List(Float64)``, or ``List(List(Float64))``, one
        list per dimension, when a vector column was fitted).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> train = pl.DataFrame({"g": ["a", "a", "b"], "x": [1.0, 3.0, 7.0]})
        >>> pmk.QuantileTransformer(n_quantiles=3, by="g").fit(train).params_
        shape: (2, 4)
        ┌────────┬─────┬─────────────┬────────────┐
        │ column ┆ g   ┆ n_quantiles ┆ quantiles  │
        │ ---    ┆ --- ┆ ---         ┆ ---        │
        │ str    ┆ str ┆ i64         ┆ list[f64]  │
        ╞════════╪═════╪═════════════╪════════════╡
        │ x      ┆ a   ┆ 2           ┆ [1.0, 3.0] │
        │ x      ┆ b   ┆ 1           ┆ [7.0]      │
        └────────┴─────┴─────────────┴────────────┘
        """
        state = self._fitted("params_")
        vector = any(c.width for c in state.columns)
        dtype: pl.DataType = pl.List(pl.List(pl.Float64)) if vector else pl.List(pl.Float64)
        frames = []
        for column in state.columns:
            split = self._split(state, column)
            counts = state.stats[column.name]["n_quantiles"][:, 0].astype(np.int64)
            values = [
                [q.tolist() for q in lanes] if vector else lanes[0].tolist() for lanes in split
            ]
            frame = pl.DataFrame({"column": pl.Series([column.name] * len(split), dtype=pl.String)})
            if state.by:
                frame = frame.hstack(state.groups.drop(GROUP_KEY))
            frames.append(
                frame.with_columns(
                    n_quantiles=pl.Series(counts.tolist(), dtype=pl.Int64),
                    quantiles=pl.Series(values, dtype=dtype),
                )
            )
        if not frames:
            return pl.DataFrame(
                schema={"column": pl.String, "n_quantiles": pl.Int64, "quantiles": dtype}
            )
        return pl.concat(frames, how="vertical")


# --------------------------------------------------------------------------- #
# PowerTransformer
# --------------------------------------------------------------------------- #
@register
class PowerTransformer(_Gaussianizer):
    """Gaussianize columns with fitted power transforms, as scikit-learn's ``PowerTransformer``.

    The lambda of each column maximises the normal log-likelihood of the
    transformed column as SciPy finds it (Yeo-Johnson: bounded Brent search
    between SciPy's overflow-safe bounds; Box-Cox: Brent's method from the
    bracket (-2, 2)); ``standardize`` then centers and scales as
    scikit-learn's ``StandardScaler`` fitted on the transformed column.
    Lambdas agree with scikit-learn's to about 1e-8 (the optimizer's
    tolerance) and the likelihood at ours is as high. A constant column keeps
    lambda 1 (Yeo-Johnson); Box-Cox on values <= 0 (at fit or transform
    time) or on a constant column is an error naming the column.

    Parameters
    ----------
    method
        ``"yeo-johnson"`` or ``"box-cox"``.
    standardize
        Center and scale the transformed values to zero mean, unit variance.
    columns
        Columns to transform; ``None`` means every numeric and
        numeric-vector column except the ``by`` columns.
    by
        Fit one lambda (and standardization) per group of these columns.
    unknown_group
        ``"error"`` (naming the group) or ``"null"`` for groups unseen at fit time.

    Attributes
    ----------
    params_
        ``column``, the ``by`` columns, ``lambda`` (scikit-learn's
        ``lambdas_``), and StandardScaler's ``mean``, ``var``, ``scale`` of
        the transformed values (NaN without ``standardize``).

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> train = pl.DataFrame({"x": [1.0, 2.0, 4.0, 8.0]})
    >>> pt = pmk.PowerTransformer(method="box-cox").fit(train)
    >>> abs(pt.params_["lambda"][0]) < 1e-5  # log-normal data: lambda about 0
    True
    >>> pt.transform(train)["x"].round(3).to_list()
    [-1.342, -0.447, 0.447, 1.342]
    >>> pt.inverse_transform(pt.transform(train))["x"].round(9).to_list()
    [1.0, 2.0, 4.0, 8.0]
    """

    _transform = "power"
    _method = "power"
    _param_names = ("columns", "by", "method", "standardize", "unknown_group")
    _stat_names = POWER_STATISTICS
    _param_columns = ("lambda", "mean", "var", "scale")

    def __init__(
        self,
        method: PowerMethod = "yeo-johnson",
        standardize: bool = True,
        columns: Sequence[str] | str | None = None,
        by: Sequence[str] | str | None = None,
        unknown_group: UnknownGroup = "error",
    ) -> None:
        self.method = method
        self.standardize = standardize
        self.columns = columns
        self.by = by
        self.unknown_group = unknown_group

    def _extract(self, result: pl.DataFrame, i: int, column: _Column) -> dict[str, FloatArray]:
        per = {name: np.zeros((result.height, column.lanes)) for name in POWER_STATISTICS}
        for j in range(column.lanes):
            fit = result[_fit_name(i, j)]
            for name in POWER_STATISTICS:
                per[name][:, j] = fit.struct.field(name).cast(pl.Float64).to_numpy()
        return per

    def _maps(self, state: _State, column: _Column) -> tuple[list[float], list[int]]:
        per = state.stats[column.name]
        stacked = np.stack([per[n] for n in ("lambda", "mul", "sub", "div", "add")], axis=-1)
        return [float(v) for v in stacked.ravel()], []

    def _fitted_parameters(self, state: _State, column: _Column) -> dict[str, FloatArray]:
        per = state.stats[column.name]
        return {name: per[name] for name in self._param_columns}
