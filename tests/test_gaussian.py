"""Gaussianizing transforms against scikit-learn (DESIGN.md, "Gaussianizing
transforms"; issue 13): ``ml.quantile_transform`` / ``ml.power_transform``
(expression, Series and data faces) and the fitted ``QuantileTransformer`` /
``PowerTransformer``.

References: scikit-learn's ``QuantileTransformer(subsample=None)`` and
``PowerTransformer`` on generated data (skewed, heavy-tailed, ties, NaN,
constant, tiny and huge values) and on scikit-learn's bundled datasets.
Quantiles must match bit for bit; the lambdas within 1e-6 of scikit-learn's
with a log-likelihood at least as good (1e-9 relative); the transform equal
to scikit-learn's formula at our lambda. Deterministic: the "ci" hypothesis
profile (conftest.py) and seeded generators.
"""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import hypothesis.strategies as st
import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from hypothesis import given
from polars.testing import assert_frame_equal, assert_series_equal
from scipy import stats
from sklearn import datasets
from sklearn.preprocessing import PowerTransformer, QuantileTransformer, StandardScaler

DISTRIBUTIONS = ("uniform", "normal")
METHODS = ("yeo-johnson", "box-cox")


def sk_quantile(x: np.ndarray, n_quantiles: int = 1000, dist: str = "uniform") -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_quantiles capped at n_samples
        return QuantileTransformer(
            n_quantiles=n_quantiles, output_distribution=dist, subsample=None
        ).fit(x)


def llf(method: str, lam: float, x: np.ndarray) -> float:
    """The log-likelihood, accurately: SciPy's ``yeojohnson_llf``, and for
    Box-Cox the variance of ``expm1(lam * (ln x - c)) / lam`` (SciPy's
    ``boxcox_llf`` cancels catastrophically for lambdas near 0, which would
    misjudge either lambda there)."""
    x = x[~np.isnan(x)]
    if method == "yeo-johnson":
        with np.errstate(all="ignore"):
            return float(stats.yeojohnson_llf(lam, x))
    logs = np.log(x)
    if lam == 0.0:
        logvar = np.log(np.var(logs))
    else:
        c = logs.max() if lam > 0 else logs.min()
        logvar = 2 * lam * c + np.log(np.var(np.expm1(lam * (logs - c)) / lam))
    return float((lam - 1) * logs.sum() - x.size / 2 * logvar)


def determinable(method: str, lam: float, x: np.ndarray) -> bool:
    """Whether the likelihood's curvature pins lambda down to 1e-6 (two
    points of a flat likelihood are equally good optima within rounding)."""
    h = 1e-3
    with np.errstate(all="ignore"):
        values = [llf(method, lam + d, x) for d in (-h, 0.0, h)]
    curvature = abs(values[0] + values[2] - 2 * values[1]) / h**2
    # A lambda off by 1e-6 costs curvature * 1e-12 / 2 in likelihood.
    return bool(curvature * 1e-12 > 1e-13 * abs(values[1]))


def transform_at(method: str, lam: float, x: np.ndarray, standardize: bool) -> np.ndarray:
    """scikit-learn's transform at a given lambda (its formula, its scaler)."""
    with np.errstate(all="ignore"):
        if method == "yeo-johnson":
            y = stats.yeojohnson(x, lmbda=lam)
        else:
            from scipy.special import boxcox

            y = boxcox(x, lam)
    y = np.asarray(y, dtype=np.float64).reshape(-1, 1)
    if standardize:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # overflow of huge transformed values
            y = StandardScaler().fit_transform(y)
    return y.ravel()


def lambdas(column: np.ndarray, method: str) -> float:
    pt = pmk.PowerTransformer(method=method).fit(pl.DataFrame({"x": column}))
    return float(pt.params_["lambda"][0])


# --------------------------------------------------------------------------- #
# generated data
# --------------------------------------------------------------------------- #
@st.composite
def columns(draw: st.DrawFn, positive: bool = False) -> np.ndarray:
    n = draw(st.integers(2, 300))
    kind = draw(
        st.sampled_from(["lognormal", "pareto", "normal", "ties", "exponential", "mixed-sign"])
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1e-200, 1e-8, 1.0, 1e6, 1e150]))
    if kind == "lognormal":
        x = rng.lognormal(0.0, draw(st.floats(0.1, 2.0)), n)
    elif kind == "pareto":
        x = rng.pareto(draw(st.floats(0.5, 3.0)), n) + 1.0
    elif kind == "normal":
        x = rng.normal(5.0, 1.0, n)
    elif kind == "ties":
        x = rng.integers(1, 5, n).astype(np.float64)
    elif kind == "exponential":
        x = rng.exponential(1.0, n)
    else:
        x = rng.normal(0.0, 3.0, n) ** 3
    x = x * scale if kind != "mixed-sign" else x
    if positive:
        x = np.abs(x) + scale * 1e-3
    if n > 5 and draw(st.booleans()):
        x[rng.integers(0, n, n // 5)] = np.nan
    return x


@given(columns(), st.sampled_from([5, 10, 100, 1000]), st.sampled_from(DISTRIBUTIONS))
def test_quantile_transform_equals_sklearn(x: np.ndarray, n_q: int, dist: str) -> None:
    ref = sk_quantile(x.reshape(-1, 1), n_q, dist)
    fitted = pmk.QuantileTransformer(n_quantiles=n_q, output_distribution=dist).fit(
        pl.DataFrame({"x": x})
    )
    # the quantiles bit for bit
    ours = np.asarray(fitted.params_["quantiles"][0].to_list(), dtype=np.float64)
    np.testing.assert_array_equal(ours, ref.quantiles_[:, 0])
    assert fitted.params_["n_quantiles"][0] == ref.n_quantiles_
    want = ref.transform(x.reshape(-1, 1)).ravel()
    got = pmk.quantile_transform(x, n_quantiles=n_q, output_distribution=dist)
    if dist == "uniform":
        np.testing.assert_array_equal(got, want)
    else:  # the normal quantile function to its last bits
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    # the fitted transform is the expression, bit for bit
    frame = pl.DataFrame({"x": x})
    expr = frame.select(pl.col("x").ml.quantile_transform(n_q, dist))
    assert_frame_equal(fitted.transform(frame), expr)
    back = ref.inverse_transform(want.reshape(-1, 1)).ravel()
    np.testing.assert_allclose(
        fitted.inverse_transform(expr)["x"].to_numpy(), back, rtol=1e-9, atol=1e-300
    )


@given(columns(), st.sampled_from(METHODS), st.booleans())
def test_power_transform_equals_sklearn(x: np.ndarray, method: str, standardize: bool) -> None:
    if method == "box-cox":
        x = np.where(np.isnan(x), x, np.abs(x) + 1e-3 * np.nanmax(np.abs(x)) + 1e-300)
    finite = x[~np.isnan(x)]
    if finite.size == 0 or (method == "box-cox" and np.all(finite == finite[0])):
        return
    frame = pl.DataFrame({"x": x})
    fitted = pmk.PowerTransformer(method=method, standardize=standardize).fit(frame)
    ours = float(fitted.params_["lambda"][0])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            ref = PowerTransformer(method=method, standardize=standardize).fit(x.reshape(-1, 1))
        except (ValueError, RuntimeError):
            return  # scikit-learn fails (e.g. no bracket found); nothing to compare
        theirs = float(ref.lambdas_[0])
        ll_ours, ll_theirs = llf(method, ours, x), llf(method, theirs, x)
    if not (math.isfinite(ll_theirs) and math.isfinite(theirs)):
        return
    at_theirs = transform_at(method, theirs, finite, False)
    if not np.isfinite(at_theirs).all() or np.ptp(at_theirs) <= 1e-6 * np.abs(at_theirs).max():
        # The transformed values all round to (nearly) one number: every
        # likelihood near this lambda is rounding noise, in SciPy as here.
        return
    # at least as good an optimum, and the same one
    assert ll_ours >= ll_theirs - 1e-9 * abs(ll_theirs), (
        ours,
        theirs,
        ll_ours,
        ll_theirs,
        x.tolist(),
    )
    if determinable(method, theirs, x):
        # the same lambda, unless SciPy stopped short on a flat likelihood
        # (then ours is strictly the better one)
        same = abs(ours - theirs) <= 1e-6 * max(1.0, abs(theirs))
        assert same or ll_ours > ll_theirs, (ours, theirs, ll_ours, ll_theirs)
    # the transform is scikit-learn's formula at our lambda
    got = pmk.power_transform(x, method=method, standardize=standardize)
    want = transform_at(method, ours, x, standardize)
    ok = np.isfinite(want)
    if ok.any() and np.nanmax(np.abs(want[ok])) < 1e150:
        scale = np.nanmax(np.abs(want[ok])) if not standardize else 1.0
        np.testing.assert_allclose(
            got[ok],
            want[ok],
            rtol=1e-7,
            atol=1e-9 * scale,
            err_msg=f"lambda={ours!r} x={x.tolist()!r}",
        )
    # the fitted transform is the expression, bit for bit, and inverts
    expr = frame.select(pl.col("x").ml.power_transform(method, standardize))
    assert_frame_equal(fitted.transform(frame), expr)
    back = fitted.inverse_transform(expr)["x"].to_numpy()
    keep = ok & np.isfinite(back)
    at_ours = transform_at(method, ours, x, False)[keep]
    spread = np.ptp(at_ours) if keep.any() else 0.0
    # (Transformed values that nearly coincide, relative to their size,
    # cannot be told apart again: the inverse is ill-conditioned there.)
    if spread > 1e-3 * np.max(np.abs(at_ours), initial=0.0):
        # (scikit-learn's inverse formulas, (1 + lambda y)^(1 / lambda) - 1,
        # lose digits for extreme lambdas; the same formulas here.)
        scale = np.nanmax(np.abs(x))
        np.testing.assert_allclose(back[keep], x[keep], rtol=1e-5, atol=1e-6 * scale)


# --------------------------------------------------------------------------- #
# scikit-learn's bundled datasets
# --------------------------------------------------------------------------- #
DATASETS = {
    "diabetes": datasets.load_diabetes,
    "breast_cancer": datasets.load_breast_cancer,
    "wine": datasets.load_wine,
}


@pytest.mark.parametrize("name", list(DATASETS))
def test_real_datasets(name: str) -> None:
    X = DATASETS[name]().data.astype(np.float64)
    for dist in DISTRIBUTIONS:
        ref = sk_quantile(X, 1000, dist)
        qt = pmk.QuantileTransformer(output_distribution=dist).fit(X)
        np.testing.assert_allclose(qt.transform(X), ref.transform(X), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(
            qt.inverse_transform(qt.transform(X)),
            ref.inverse_transform(ref.transform(X)),
            rtol=1e-12,
        )
    for method in METHODS:
        # (diabetes is centered: Box-Cox on its shifted columns instead)
        data = X if method == "yeo-johnson" else X - X.min(axis=0) + 1.0
        ref = PowerTransformer(method=method).fit(data)
        pt = pmk.PowerTransformer(method=method).fit(data)
        ours = pt.params_["lambda"].to_numpy()
        # within 1e-6 (relative beyond 1: the shifted columns give lambdas near -170)
        np.testing.assert_allclose(ours, ref.lambdas_, rtol=1e-6, atol=1e-6)
        for j in range(data.shape[1]):
            lo, lt = llf(method, ours[j], data[:, j]), llf(method, ref.lambdas_[j], data[:, j])
            assert lo >= lt - 1e-9 * abs(lt), (name, method, j)
        np.testing.assert_allclose(pt.transform(data), ref.transform(data), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(pt.inverse_transform(pt.transform(data)), data, rtol=1e-9)


# --------------------------------------------------------------------------- #
# conventions: nulls, NaN, dtypes, vectors, groups, faces
# --------------------------------------------------------------------------- #
def test_nulls_and_nan_are_skipped_and_kept() -> None:
    s = pl.Series("x", [4.0, None, 1.0, float("nan"), 2.0, 8.0])
    for op in (pmk.quantile_transform, pmk.power_transform):
        out = op(s)
        assert out.name == "x"
        assert out.len() == 6
        assert out[1] is None
        assert math.isnan(out[3])
        # the same numbers as without them (quantile: the rows still count)
        clean = op(pl.Series("x", [4.0, 1.0, 2.0, 8.0]))
        if op is pmk.power_transform:
            np.testing.assert_allclose(out.drop_nulls().drop_nans().to_numpy(), clean.to_numpy())
    # as scikit-learn on NaN
    x = np.array([4.0, np.nan, 1.0, np.nan, 2.0, 8.0]).reshape(-1, 1)
    np.testing.assert_array_equal(
        pmk.quantile_transform(x), sk_quantile(x, 1000, "uniform").transform(x)
    )


def test_all_null_and_empty() -> None:
    for op in (pmk.quantile_transform, pmk.power_transform):
        assert op(pl.Series("x", [None, None], dtype=pl.Float64)).to_list() == [None, None]
        assert op(pl.Series("x", [], dtype=pl.Float64)).len() == 0
        out = op(pl.Series("x", [float("nan")] * 3))
        assert out.is_nan().all()
    # fitted on a column with no value: NaN for new values (nulls stay null)
    empty = pl.DataFrame({"x": pl.Series([None, None], dtype=pl.Float64)})
    for cls in (pmk.QuantileTransformer, pmk.PowerTransformer):
        out = cls().fit(empty).transform(pl.DataFrame({"x": [1.0, None]}))["x"]
        assert math.isnan(out[0])
        assert out[1] is None


@pytest.mark.parametrize("op", ["quantile_transform", "power_transform"])
def test_float32_stays_float32(op: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.lognormal(size=500).astype(np.float32)
    frame = pl.DataFrame({"x": x})
    out = frame.select(getattr(pl.col("x").ml, op)())
    assert out.schema["x"] == pl.Float32
    column = x.reshape(-1, 1)
    ref = sk_quantile(column) if op == "quantile_transform" else PowerTransformer().fit(column)
    np.testing.assert_allclose(
        out["x"].to_numpy(), ref.transform(x.reshape(-1, 1)).ravel(), rtol=1e-4, atol=1e-5
    )
    fitted = (pmk.QuantileTransformer if op == "quantile_transform" else pmk.PowerTransformer)()
    got = fitted.fit_transform(frame)
    assert_frame_equal(got, out)
    assert pmk.power_transform(x).dtype == np.float32
    assert (
        frame.with_columns(pl.col("x").cast(pl.Int64))
        .select(getattr(pl.col("x").ml, op)())
        .schema["x"]
        == pl.Float64
    )


@pytest.mark.parametrize("container", ["array", "list"])
def test_vector_columns_per_dimension(container: str) -> None:
    rng = np.random.default_rng(2)
    X = np.column_stack([rng.lognormal(size=200), rng.exponential(size=200), rng.normal(size=200)])
    dtype = pl.Array(pl.Float64, 3) if container == "array" else pl.List(pl.Float64)
    frame = pl.DataFrame({"e": pl.Series(X.tolist(), dtype=dtype)})
    for op, ref in (
        ("quantile_transform", sk_quantile(X)),
        ("power_transform", PowerTransformer().fit(X)),
    ):
        out = frame.select(getattr(pl.col("e").ml, op)())
        assert out.schema["e"] == dtype
        # (power: scikit-learn's lambdas differ from ours by ~1e-8)
        np.testing.assert_allclose(
            np.array(out["e"].to_list()), ref.transform(X), rtol=1e-6, atol=1e-7
        )
        fitted = (pmk.QuantileTransformer if op == "quantile_transform" else pmk.PowerTransformer)()
        assert_frame_equal(fitted.fit_transform(frame), out)
        assert_frame_equal(fitted.inverse_transform(out), frame, rel_tol=1e-9)


def test_groups_over_group_by_and_by() -> None:
    rng = np.random.default_rng(3)
    g = rng.integers(0, 4, 400)
    x = rng.lognormal(size=400) * (g + 1)
    frame = pl.DataFrame({"g": g, "x": x})
    for op, cls in (
        ("quantile_transform", pmk.QuantileTransformer),
        ("power_transform", pmk.PowerTransformer),
    ):
        over = frame.select(getattr(pl.col("x").ml, op)().over("g"))["x"].to_numpy()
        for group in range(4):
            mask = g == group
            alone = getattr(pmk, op)(x[mask])
            np.testing.assert_array_equal(over[mask], alone)
        agg = frame.group_by("g").agg(getattr(pl.col("x").ml, op)()).sort("g")
        np.testing.assert_array_equal(agg["x"][0].to_numpy(), getattr(pmk, op)(x[g == 0]))
        fitted = cls(by="g").fit(frame)
        np.testing.assert_array_equal(fitted.transform(frame)["x"].to_numpy(), over)
        with pytest.raises(pl.exceptions.ComputeError, match="not seen at fit time"):
            fitted.transform(pl.DataFrame({"g": [9], "x": [1.0]}))
        nulls = cls(by="g", unknown_group="null").fit(frame)
        assert nulls.transform(pl.DataFrame({"g": [9, 0], "x": [1.0, 1.0]}))["x"][0] is None


def test_faces_agree() -> None:
    x = [3.0, 1.0, 2.0, 10.0, 100.0]
    s = pl.Series("v", x)
    arr = np.array(x)
    for op in ("quantile_transform", "power_transform"):
        fn = getattr(pmk, op)
        expected = pl.DataFrame({"v": x}).select(getattr(pl.col("v").ml, op)())["v"]
        assert_series_equal(getattr(s.ml, op)(), expected)
        assert_series_equal(fn(s), expected)
        assert fn(x) == expected.to_list()
        np.testing.assert_array_equal(fn(arr), expected.to_numpy())
        assert isinstance(fn("v"), pl.Expr)
        two = np.column_stack([arr, arr[::-1]])
        np.testing.assert_array_equal(fn(two)[:, 0], expected.to_numpy())


def test_constant_columns_follow_sklearn() -> None:
    x = np.full((6, 1), 3.5)
    np.testing.assert_array_equal(pmk.quantile_transform(x), sk_quantile(x).transform(x))
    np.testing.assert_allclose(
        pmk.power_transform(x), PowerTransformer().fit_transform(x), atol=1e-15
    )
    assert lambdas(x.ravel(), "yeo-johnson") == 1.0
    with pytest.raises(pl.exceptions.ComputeError, match="constant"):
        pmk.power_transform(pl.Series("c", x.ravel()), method="box-cox")


def test_box_cox_needs_positive_data_and_names_the_column() -> None:
    frame = pl.DataFrame({"price": [1.0, 0.0, 2.0]})
    with pytest.raises(pl.exceptions.ComputeError, match=r'positive.*"price"'):
        frame.select(pl.col("price").ml.power_transform(method="box-cox"))
    with pytest.raises(ValueError, match="price"):
        pmk.PowerTransformer(method="box-cox").fit(frame)
    fitted = pmk.PowerTransformer(method="box-cox").fit(pl.DataFrame({"price": [1.0, 3.0, 9.0]}))
    with pytest.raises(pl.exceptions.ComputeError, match="price"):
        fitted.transform(frame)


def test_infinity_is_an_error() -> None:
    for op in (pmk.quantile_transform, pmk.power_transform):
        with pytest.raises(pl.exceptions.ComputeError, match="infinity"):
            op(pl.Series("x", [1.0, math.inf]))
    for cls in (pmk.QuantileTransformer, pmk.PowerTransformer):
        with pytest.raises(ValueError, match="infinity"):
            cls().fit(np.array([[1.0], [np.inf]]))


def test_json_round_trip_and_streaming() -> None:
    rng = np.random.default_rng(4)
    frame = pl.DataFrame(
        {
            "g": rng.integers(0, 3, 300),
            "x": rng.lognormal(size=300),
            "e": pl.Series(rng.lognormal(size=(300, 2)).tolist(), dtype=pl.Array(pl.Float64, 2)),
        }
    )
    for fitted in (
        pmk.QuantileTransformer(n_quantiles=50, output_distribution="normal", by="g"),
        pmk.PowerTransformer(method="box-cox", by="g"),
        pmk.PowerTransformer(standardize=False, columns=["x", "e"]),
    ):
        fitted.fit(frame)
        text = fitted.to_json()
        document = json.loads(text)
        assert document["kind"] == type(fitted).__name__
        again = pmk.load_scaler(text)
        assert type(again) is type(fitted)
        assert_frame_equal(again.transform(frame), fitted.transform(frame))
        assert_frame_equal(again.params_, fitted.params_)
        streamed = frame.lazy().with_columns(fitted.expressions()).collect(engine="streaming")
        assert_frame_equal(streamed, fitted.transform(frame))
        back = (
            frame.lazy()
            .with_columns(fitted.expressions())
            .with_columns(fitted.inverse_expressions())
        )
        assert_frame_equal(back.collect(engine="streaming"), frame, rel_tol=1e-9)


def test_fit_on_lazyframe_equals_dataframe() -> None:
    rng = np.random.default_rng(5)
    frame = pl.DataFrame({"x": rng.pareto(2.0, 1000)})
    for cls in (pmk.QuantileTransformer, pmk.PowerTransformer):
        assert_frame_equal(cls().fit(frame.lazy()).params_, cls().fit(frame).params_)


# --------------------------------------------------------------------------- #
# QuantileTransformer beyond memory: exact quantiles in passes over batches
# --------------------------------------------------------------------------- #
def batch_data(seed: int, n: int) -> pl.DataFrame:
    """Skewed, tied, Float32, vector and List columns with nulls and NaN."""
    rng = np.random.default_rng(seed)
    x = rng.lognormal(size=n)
    x[::13] = np.nan
    vectors = rng.pareto(2.0, size=(n, 2))
    return pl.DataFrame(
        {
            "g": rng.integers(0, 3, n),
            "x": x,
            "y": pl.Series(rng.standard_t(2, n), dtype=pl.Float32),
            "t": rng.integers(0, 4, n).astype(float),
            "e": pl.Series(vectors.tolist(), dtype=pl.Array(pl.Float64, 2)),
            "l": pl.Series(vectors.tolist(), dtype=pl.List(pl.Float64)),
        }
    ).with_columns(pl.when(pl.int_range(pl.len()) % 17 == 0).then(None).otherwise("x").alias("x"))


@pytest.mark.parametrize("budget", [1 << 20, 40, 0])
@pytest.mark.parametrize("by", [None, ["g"]])
def test_quantile_fit_on_lazy_batches_equals_in_memory(
    budget: int, by: list[str] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A LazyFrame is read in batches of 97 rows; the gather budget forces
    the refining passes (40 values), down to full keys (0). The fitted
    state is the in-memory fit's, bit for bit."""
    monkeypatch.setattr("polars_mlkit._batches.BATCH_ROWS", 97)
    monkeypatch.setattr("polars_mlkit.scalers._passes.GATHER_VALUES", budget)
    frame = batch_data(11, 1500)
    for opts in (
        {"n_quantiles": 100},
        {"n_quantiles": 1000, "output_distribution": "normal"},
        {"n_quantiles": 7},
    ):
        memory = pmk.QuantileTransformer(by=by, **opts).fit(frame)
        lazy = pmk.QuantileTransformer(by=by, **opts).fit(frame.lazy())
        assert lazy.to_json() == memory.to_json()
        assert_frame_equal(lazy.params_, memory.params_, check_exact=True)


def test_quantile_fit_in_passes_on_ties_and_counts_its_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A binary feature: its two buckets are known from their extents after
    one refining pass, so the fit reads the data twice even with no gather
    budget; under the default budget the fit reads it twice (census,
    gather)."""
    from polars_mlkit.scalers import fit_in_passes

    rng = np.random.default_rng(12)
    frames = [
        pl.DataFrame({"b": (rng.random(200) < 0.3).astype(float), "c": rng.normal(size=200)})
        for _ in range(5)
    ]
    whole = pl.concat(frames)
    passes = []

    def map_batches(fn: Any) -> Any:
        passes.append(1)
        return (fn(f) for f in frames)

    # (Without a budget, distinct values are known once their buckets hold
    # one value each: 32 key bits separate nearly all of 1,000 normals.)
    for budget, columns, expected in ((0, ["b"], 2), (1 << 20, ["b", "c"], 2), (0, ["c"], 3)):
        monkeypatch.setattr("polars_mlkit.scalers._passes.GATHER_VALUES", budget)
        passes.clear()
        fitted = fit_in_passes(
            pmk.QuantileTransformer(n_quantiles=50, columns=columns), whole.schema, map_batches
        )
        memory = pmk.QuantileTransformer(n_quantiles=50, columns=columns).fit(whole)
        assert fitted.to_json() == memory.to_json()
        assert 2 <= len(passes) <= expected, (budget, columns)


def test_quantile_fit_in_passes_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("polars_mlkit._batches.BATCH_ROWS", 2)
    with pytest.raises(ValueError, match=r"QuantileTransformer.fit: column 'x' contains infinity"):
        pmk.QuantileTransformer().fit(pl.LazyFrame({"x": [1.0, 2.0, 3.0, float("inf")]}))
    with pytest.raises(ValueError, match="subsample"):
        pmk.QuantileTransformer(n_quantiles=2, subsample=2).fit(
            pl.LazyFrame({"x": [1.0, 2.0, 3.0]})
        )
    nan_only = pl.DataFrame({"x": [None, float("nan"), float("nan")]})
    assert (
        pmk.QuantileTransformer().fit(nan_only.lazy()).to_json()
        == pmk.QuantileTransformer().fit(nan_only).to_json()
    )


def test_subsample_smaller_than_the_rows_is_refused() -> None:
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="subsample"):
        pmk.QuantileTransformer(n_quantiles=2, subsample=2).fit(frame)
    with pytest.raises(ValueError, match="cannot be greater"):
        pmk.QuantileTransformer(n_quantiles=5, subsample=2).fit(frame)
    pmk.QuantileTransformer(n_quantiles=2, subsample=3).fit(frame)


def test_sklearn_pipeline_with_polars_output() -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    rng = np.random.default_rng(6)
    frame = pl.DataFrame({"a": rng.lognormal(size=100), "b": rng.exponential(size=100)})
    pipe = Pipeline(
        [
            ("q", pmk.QuantileTransformer(output_distribution="normal")),
            ("p", pmk.PowerTransformer()),
        ]
    ).set_output(transform="polars")
    out = pipe.fit_transform(frame)
    assert isinstance(out, pl.DataFrame)
    assert out.columns == ["a", "b"]
    ct = ColumnTransformer([("p", pmk.PowerTransformer(), ["a"])]).set_output(transform="polars")
    assert ct.fit_transform(frame).columns == ["p__a"]
