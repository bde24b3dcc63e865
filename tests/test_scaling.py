"""Column scaling: `ml.normalize`, `ml.minmax_scale`, `ml.standard_scale`,
`ml.robust_scale`, `ml.maxabs_scale` (DESIGN.md, "Column scaling").

Every numeric expectation comes from scikit-learn (through the scale-safe
reference in conftest.py) unless it is trivially obvious.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import sys
import textwrap
import warnings
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from polars.exceptions import ComputeError, InvalidOperationError, SchemaError
from polars.testing import assert_series_equal
from sklearn.datasets import load_diabetes, load_iris, load_wine

METHODS = ("minmax", "standard", "robust", "maxabs")
FUNC = {
    "minmax": "minmax_scale",
    "standard": "standard_scale",
    "robust": "robust_scale",
    "maxabs": "maxabs_scale",
}
SCHEMA_ERRORS = (ComputeError, SchemaError, InvalidOperationError)

# option sets that have a scikit-learn counterpart
OPTION_CASES: list[tuple[str, dict[str, Any]]] = [
    ("minmax", {}),
    ("minmax", {"feature_range": (-1.0, 1.0)}),
    ("minmax", {"feature_range": (2.5, 10.0)}),
    ("minmax", {"feature_range": (-3.0, -2.0), "clip": True}),
    ("standard", {}),
    ("standard", {"with_mean": False}),
    ("standard", {"with_std": False}),
    ("standard", {"with_mean": False, "with_std": False}),
    ("robust", {}),
    ("robust", {"with_centering": False}),
    ("robust", {"with_scaling": False}),
    ("robust", {"quantile_range": (10.0, 90.0)}),
    ("robust", {"quantile_range": (0.0, 100.0)}),
    ("robust", {"unit_variance": True}),
    ("robust", {"quantile_range": (5.0, 95.0), "unit_variance": True}),
    ("maxabs", {}),
]
OPTION_IDS = [
    f"{m}-{'-'.join(f'{k}={v}' for k, v in o.items()) or 'default'}" for m, o in OPTION_CASES
]


def scale_expr(expr: pl.Expr, method: str, via: str = "method", **opts: Any) -> pl.Expr:
    """Build the scaling expression through one of the spellings of the API."""
    if via == "normalize":
        return expr.ml.normalize(method=method, **opts)
    if via == "free":
        return getattr(pmk, FUNC[method])(expr, **opts)
    return getattr(expr.ml, FUNC[method])(**opts)


def scale_series(s: pl.Series, method: str, via: str = "method", **opts: Any) -> pl.Series:
    if via == "normalize":
        return s.ml.normalize(method=method, **opts)
    if via == "free":
        return getattr(pmk, FUNC[method])(s, **opts)
    return getattr(s.ml, FUNC[method])(**opts)


def make_column(seed: int, n: int, kind: str = "normal", nulls: bool = True) -> pl.Series:
    """Seeded test column (with some nulls and NaN unless ``nulls=False``)."""
    rng = np.random.default_rng(seed)
    if kind == "normal":
        v = rng.normal(3.0, 2.5, n)
    elif kind == "lognormal":
        v = rng.lognormal(0.0, 2.0, n) - 1.0
    elif kind == "ties":
        v = rng.integers(-4, 5, n).astype(np.float64)
    elif kind == "offset":
        v = 1e6 + rng.normal(0.0, 1e-3, n)
    elif kind == "tiny":
        v = rng.normal(0.0, 1e-150, n)
    else:  # pragma: no cover - test bug
        raise AssertionError(kind)
    out: list[float | None] = v.tolist()
    if nulls and n >= 4:
        idx = rng.choice(n, size=max(1, n // 10), replace=False)
        for j, i in enumerate(idx):
            out[int(i)] = None if j % 2 == 0 else math.nan
    return pl.Series("x", out, dtype=pl.Float64)


# --------------------------------------------------------------------------- #
# the three faces
# --------------------------------------------------------------------------- #
def test_classic_list_example() -> None:
    out = pmk.normalize([1.0, 2.0, 3.0])
    assert type(out) is list
    assert out == [0.0, 0.5, 1.0]


def test_list_with_none_keeps_none() -> None:
    out = pmk.normalize([1.0, None, 3.0])
    assert type(out) is list
    assert out == [0.0, None, 1.0]


@pytest.mark.parametrize("method", METHODS)
def test_free_function_returns_expr_for_names_and_exprs(method: str) -> None:
    s = make_column(1, 50)
    df = pl.DataFrame({"x": s})
    f = getattr(pmk, FUNC[method])
    e1 = f("x")
    e2 = f(pl.col("x"))
    e3 = pmk.normalize("x", method=method)
    for e in (e1, e2, e3):
        assert isinstance(e, pl.Expr)
    expected = scale_series(s, method)
    for e in (e1, e2, e3):
        got = df.select(e).to_series()
        assert got.name == "x"
        assert_series_equal(got, expected, check_exact=True)


@pytest.mark.parametrize("method", METHODS)
def test_free_function_data_kinds(method: str, ref: Any) -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(5.0, 3.0, 40)
    f = getattr(pmk, FUNC[method])

    got_np = f(values)
    assert isinstance(got_np, np.ndarray)
    assert got_np.ndim == 1
    assert got_np.shape == values.shape
    assert got_np.dtype == np.float64
    ref.assert_matches_reference(got_np, values, method)

    got_list = f(values.tolist())
    assert type(got_list) is list
    assert all(type(v) is float for v in got_list)
    ref.assert_matches_reference(got_list, values.tolist(), method)

    s = pl.Series("feat", values)
    got_s = f(s)
    assert isinstance(got_s, pl.Series)
    assert got_s.name == "feat"
    ref.assert_matches_reference(got_s, s, method)

    # all the data faces run the same kernel on the same numbers
    np.testing.assert_array_equal(got_np, np.array(got_list))
    np.testing.assert_array_equal(got_np, got_s.to_numpy())
    np.testing.assert_array_equal(got_np, s.ml.normalize(method=method).to_numpy())


@pytest.mark.parametrize("method", METHODS)
def test_free_function_tuple_in_tuple_out(method: str, ref: Any) -> None:
    # DESIGN: data in -> "the same kind" out; a tuple is one of the listed kinds
    values = (4.0, -1.0, None, 2.5, 9.0)
    got = getattr(pmk, FUNC[method])(values)
    assert type(got) is tuple
    ref.assert_matches_reference(list(got), list(values), method)


@pytest.mark.parametrize("method", METHODS)
def test_free_function_numpy_2d_is_per_column(method: str, sklearn_reference: Any) -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 4)) * np.array([1.0, 10.0, 1e-3, 5e4]) + np.array(
        [0.0, -7.0, 2.0, 1e5]
    )
    X[5, 1] = np.nan
    X[:, 2] = 4.25  # a constant column
    got = getattr(pmk, FUNC[method])(X)
    assert isinstance(got, np.ndarray)
    assert got.shape == X.shape
    expected = sklearn_reference(X, method)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, equal_nan=True)
    # per column == the 1-D function on that column
    for j in range(X.shape[1]):
        np.testing.assert_array_equal(
            got[:, j], getattr(pmk, FUNC[method])(np.ascontiguousarray(X[:, j]))
        )


def test_free_function_numpy_float32_and_int() -> None:
    v32 = np.array([1.0, 2.0, 4.0, 5.0], dtype=np.float32)
    out32 = pmk.normalize(v32)
    assert isinstance(out32, np.ndarray)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, [0.0, 0.25, 0.75, 1.0], rtol=1e-6)
    vi = np.array([1, 2, 4, 5], dtype=np.int64)
    outi = pmk.normalize(vi)
    assert outi.dtype == np.float64
    np.testing.assert_allclose(outi, [0.0, 0.25, 0.75, 1.0], rtol=1e-15)


@pytest.mark.parametrize("method", METHODS)
def test_series_and_expr_faces_agree(method: str) -> None:
    s = make_column(4, 300)
    df = pl.DataFrame({"x": s})
    via_method = scale_series(s, method)
    via_normalize = scale_series(s, method, via="normalize")
    via_expr = df.select(scale_expr(pl.col("x"), method)).to_series()
    via_lazy = (
        df.lazy().select(scale_expr(pl.col("x"), method, via="normalize")).collect().to_series()
    )
    assert isinstance(via_method, pl.Series)
    for other in (via_normalize, via_expr, via_lazy):
        assert_series_equal(via_method, other, check_exact=True)


def test_normalize_default_is_minmax_0_1() -> None:
    s = make_column(5, 200)
    assert_series_equal(s.ml.normalize(), s.ml.minmax_scale(), check_exact=True)
    assert_series_equal(
        s.ml.normalize(), s.ml.minmax_scale(feature_range=(0.0, 1.0), clip=False), check_exact=True
    )
    out = s.ml.normalize()
    assert out.drop_nulls().drop_nans().min() == 0.0
    assert out.drop_nulls().drop_nans().max() == 1.0


@pytest.mark.parametrize(("method", "opts"), OPTION_CASES, ids=OPTION_IDS)
def test_normalize_forwards_options(method: str, opts: dict[str, Any]) -> None:
    s = make_column(6, 200)
    assert_series_equal(
        s.ml.normalize(method, **opts), scale_series(s, method, **opts), check_exact=True
    )


# --------------------------------------------------------------------------- #
# numbers == scikit-learn
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(("method", "opts"), OPTION_CASES, ids=OPTION_IDS)
@pytest.mark.parametrize("kind", ["normal", "lognormal", "ties", "offset", "tiny"])
def test_matches_sklearn(method: str, opts: dict[str, Any], kind: str, ref: Any) -> None:
    s = make_column(10 + len(kind), 1001, kind)
    df = pl.DataFrame({"x": s})
    got = df.lazy().select(scale_expr(pl.col("x"), method, **opts)).collect(engine="in-memory")
    r = ref.assert_matches_reference(got.to_series(), s, method, **opts)
    assert r is not None


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7])
def test_matches_sklearn_small_columns(method: str, n: int, ref: Any) -> None:
    # small sizes exercise the quantile interpolation and single-value cases
    rng = np.random.default_rng(100 + n)
    s = pl.Series("x", rng.normal(0.0, 10.0, n))
    ref.assert_matches_reference(scale_series(s, method), s, method)
    ref.assert_matches_reference(
        scale_series(
            s,
            method,
            via="normalize",
            **({"quantile_range": (10.0, 80.0)} if method == "robust" else {}),
        ),
        s,
        method,
        **({"quantile_range": (10.0, 80.0)} if method == "robust" else {}),
    )


def test_robust_quantiles_use_linear_interpolation(sklearn_reference: Any) -> None:
    # 4 values: the 25/75 percentiles fall between samples
    s = pl.Series("x", [0.0, 1.0, 10.0, 100.0])
    got = s.ml.robust_scale().to_numpy()
    np.testing.assert_allclose(got, sklearn_reference(s, "robust"), rtol=1e-14)
    got = s.ml.robust_scale(quantile_range=(30.0, 60.0)).to_numpy()
    np.testing.assert_allclose(
        got, sklearn_reference(s, "robust", quantile_range=(30.0, 60.0)), rtol=1e-14
    )


@pytest.mark.parametrize("ddof", [0, 1, 2])
def test_standard_ddof(ddof: int) -> None:
    rng = np.random.default_rng(20)
    v = rng.normal(-2.0, 4.0, 500)
    s = pl.Series("x", v)
    got = s.ml.standard_scale(ddof=ddof).to_numpy()
    expected = (v - v.mean()) / v.std(ddof=ddof)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    got_n = s.ml.normalize("standard", ddof=ddof).to_numpy()
    np.testing.assert_array_equal(got, got_n)


def test_standard_ddof_skips_nulls_in_count() -> None:
    v = [1.0, None, 2.0, math.nan, 4.0, 8.0]
    s = pl.Series("x", v)
    got = s.ml.standard_scale(ddof=1).to_numpy()
    clean = np.array([1.0, 2.0, 4.0, 8.0])
    expected = (clean - clean.mean()) / clean.std(ddof=1)
    np.testing.assert_allclose(got[[0, 2, 4, 5]], expected, rtol=1e-13)
    assert s.ml.standard_scale(ddof=1).is_null().to_list() == [
        False,
        True,
        False,
        False,
        False,
        False,
    ]
    assert math.isnan(got[3])


# --------------------------------------------------------------------------- #
# nulls, NaN, empty
# --------------------------------------------------------------------------- #
def test_nulls_and_nan_are_skipped_and_kept() -> None:
    s = pl.Series("x", [None, 1.0, math.nan, 3.0, None, 2.0])
    out = s.ml.normalize()
    assert out.is_null().to_list() == [True, False, False, False, True, False]
    vals = out.to_list()
    assert vals[1] == 0.0
    assert math.isnan(vals[2])
    assert vals[3] == 1.0
    assert vals[5] == 0.5


@pytest.mark.parametrize("method", METHODS)
def test_all_nan_column_stays_nan(method: str, sklearn_reference: Any) -> None:
    s = pl.Series("x", [math.nan, None, math.nan])
    out = scale_series(s, method)
    assert out.dtype == pl.Float64
    assert out.is_null().to_list() == [False, True, False]
    assert out.is_nan().to_list() == [True, None, True]
    expected = sklearn_reference(s, method)
    assert np.isnan(expected).all()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [pl.Float64, pl.Float32, pl.Int32])
@pytest.mark.parametrize("n", [0, 1, 5])
def test_empty_and_all_null(method: str, dtype: pl.DataType, n: int) -> None:
    out_dtype = pl.Float32 if dtype == pl.Float32 else pl.Float64
    s = pl.Series("x", [None] * n, dtype=dtype)
    out = scale_series(s, method)
    assert out.dtype == out_dtype
    assert out.len() == n
    assert out.null_count() == n
    assert out.name == "x"
    df = pl.DataFrame({"x": s, "other": pl.Series(range(n), dtype=pl.Int64)})
    for via in ("method", "normalize", "free"):
        res = df.lazy().with_columns(scale_expr(pl.col("x"), method, via=via)).collect()
        assert res.shape == (n, 2)
        assert res.schema["x"] == out_dtype
        assert res["x"].null_count() == n


# --------------------------------------------------------------------------- #
# infinities
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("via", ["method", "normalize"])
@pytest.mark.parametrize("bad", [math.inf, -math.inf])
def test_infinite_value_is_an_error_naming_the_function(method: str, via: str, bad: float) -> None:
    name = "normalize" if via == "normalize" else FUNC[method]
    s = pl.Series("x", [1.0, None, 2.0, bad, math.nan, 3.0])
    with pytest.raises(ComputeError, match=name) as info:
        scale_series(s, method, via=via)
    assert "panic" not in str(info.value)
    lf = pl.LazyFrame({"x": s})
    with pytest.raises(ComputeError, match=name):
        lf.select(scale_expr(pl.col("x"), method, via=via)).collect()
    with pytest.raises(ComputeError, match=name):
        pl.DataFrame({"x": s, "g": [1, 1, 1, 2, 2, 2]}).select(
            scale_expr(pl.col("x"), method, via=via).over("g")
        )


@pytest.mark.parametrize("method", METHODS)
def test_infinite_value_float32_is_an_error(method: str) -> None:
    s = pl.Series("x", [1.0, float("inf"), 2.0], dtype=pl.Float32)
    with pytest.raises(ComputeError, match=FUNC[method]):
        scale_series(s, method)


@pytest.mark.parametrize("method", METHODS)
def test_infinite_value_in_free_function_data(method: str) -> None:
    with pytest.raises((ComputeError, ValueError), match=FUNC[method]):
        getattr(pmk, FUNC[method])([1.0, math.inf, 3.0])
    with pytest.raises((ComputeError, ValueError), match=FUNC[method]):
        getattr(pmk, FUNC[method])(np.array([1.0, -np.inf, 3.0]))


# --------------------------------------------------------------------------- #
# constant and near-constant columns (scikit-learn's _handle_zeros_in_scale)
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("c", [0.0, 3.7, -1e6, 1e-300, 0.1])
@pytest.mark.parametrize("n", [1, 3, 10])
def test_constant_column(method: str, c: float, n: int, ref: Any) -> None:
    s = pl.Series("x", [c] * n)
    opts = {"feature_range": (-2.0, 5.0)} if method == "minmax" else {}
    out = scale_series(s, method, **opts)
    ref.assert_matches_reference(out, s, method, **opts)
    got = out.to_numpy()
    # the obvious answers
    if method == "minmax":
        np.testing.assert_allclose(got, -2.0, atol=1e-12)
    elif method in ("standard", "robust"):
        np.testing.assert_allclose(got, 0.0, atol=1e-9 * max(abs(c), 1e-300))
    else:
        expected = 0.0 if abs(c) < 10 * np.finfo(np.float64).eps else 1.0 if c > 0 else -1.0
        if expected == 0.0:
            np.testing.assert_array_equal(got, c)  # scale 1: values unchanged
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-15)


NEAR_ZERO_CASES = [
    # (method, values) -- ranges/scales just below and above 10*eps
    ("minmax", [0.0, 5e-16]),
    ("minmax", [0.0, 3e-15]),
    ("minmax", [1.0, 1.0 + 4 * 2.0**-52]),
    ("minmax", [1.0, 1.0 + 16 * 2.0**-52]),
    ("minmax", [-1e-17, 0.0, 2e-16]),
    ("maxabs", [1e-16, -2e-16]),
    ("maxabs", [1e-14, -2e-14]),
    ("robust", [0.0, 1e-16, 2e-16, 3e-16, 4e-16]),
    ("robust", [0.0, 1e-14, 2e-14, 3e-14, 4e-14]),
    ("robust", [5.0, 5.0, 5.0, 5.0, 1000.0]),
    ("standard", [0.0, 1e-20, 2e-20]),
    ("standard", (1e8 + 2.0**-26 * (np.arange(10) % 2)).tolist()),
    ("standard", (1e12 + 2.0**-13 * (np.arange(20) % 3)).tolist()),
]


@pytest.mark.parametrize(("method", "values"), NEAR_ZERO_CASES)
def test_near_zero_ranges_follow_sklearn(
    method: str, values: list[float], sklearn_reference: Any
) -> None:
    s = pl.Series("x", values)
    got = scale_series(s, method).to_numpy()
    expected = sklearn_reference(s, method)
    magnitude = max(abs(v) for v in values)
    scale = float(np.max(np.abs(expected)))
    # sklearn's own rounding is ~eps * |x| / scale; the decision (constant or not)
    # changes the answer by orders of magnitude more than that
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * max(scale, magnitude, 1e-300))


def test_near_constant_standard_is_detected() -> None:
    # n values that differ by one ulp around 1e8: scikit-learn treats the
    # column as constant (scale 1), so the output is tiny, not +-1
    v = 1e8 + 2.0**-26 * (np.arange(10) % 2)
    out = pl.Series("x", v).ml.standard_scale().to_numpy()
    assert np.all(np.abs(out) < 1e-6)
    # a genuinely tiny but non-constant column is standardised
    out2 = pl.Series("x", [0.0, 1e-20, 2e-20]).ml.standard_scale().to_numpy()
    np.testing.assert_allclose(out2, [-math.sqrt(1.5), 0.0, math.sqrt(1.5)], rtol=1e-12)


# --------------------------------------------------------------------------- #
# huge magnitudes: scale-safe, no overflow
# --------------------------------------------------------------------------- #
BIG = float(np.finfo(np.float64).max)
HUGE_CASES = [
    [-1e308, 0.0, 1e308],
    [-BIG, BIG],
    [BIG, BIG, -BIG, 0.0],
    [1e308, 1e308, 1e308],
    [BIG, BIG, BIG, BIG],
    [1e308, 1.5e308, -1.7e308, 2e307, math.nan, None, 1.0],
    [1.7e308, 1.6e308, 1.5e308, 1.4e308],
    [-1.7e308, -1.6e308, 1e300, 1.2e308, 1.5e308, 1.7e308],
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("values", HUGE_CASES)
def test_huge_values_do_not_overflow(method: str, values: list[float | None], ref: Any) -> None:
    s = pl.Series("x", values, dtype=pl.Float64)
    out = scale_series(s, method)
    vals, _ = ref.series_parts(out)
    ok = ~np.isnan(ref.to_float_array(s))
    assert np.all(np.isfinite(vals[ok])), vals
    r = ref.assert_matches_reference(out, s, method)
    assert r is not None


def test_huge_values_obvious_answers() -> None:
    s = pl.Series("x", [-1e308, 0.0, 1e308])
    np.testing.assert_allclose(s.ml.normalize().to_numpy(), [0.0, 0.5, 1.0], rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(s.ml.maxabs_scale().to_numpy(), [-1.0, 0.0, 1.0], rtol=1e-15)
    np.testing.assert_allclose(s.ml.robust_scale().to_numpy(), [-1.0, 0.0, 1.0], rtol=1e-15)
    std = s.ml.standard_scale().to_numpy()
    exact = (np.array([-1.0, 0.0, 1.0]) - 0.0) / math.sqrt(2.0 / 3.0)
    np.testing.assert_allclose(std, exact, rtol=1e-14, atol=1e-15)
    # the exactly-computed answer: scale the input by 2**-1000 first
    scaled = np.ldexp(np.array([-1e308, 0.0, 1e308]), -1000)
    np.testing.assert_allclose(std, (scaled - scaled.mean()) / scaled.std(), rtol=1e-14, atol=1e-15)
    s2 = pl.Series("x", [BIG, -BIG])
    np.testing.assert_allclose(
        s2.ml.minmax_scale(feature_range=(-1.0, 1.0)).to_numpy(), [1.0, -1.0], rtol=1e-15
    )


# --------------------------------------------------------------------------- #
# dtypes
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(("method", "opts"), OPTION_CASES, ids=OPTION_IDS)
def test_float32_in_float32_out(method: str, opts: dict[str, Any], ref: Any) -> None:
    s64 = make_column(30, 500)
    s = s64.cast(pl.Float32)
    out = scale_series(s, method, **opts)
    assert out.dtype == pl.Float32
    expr_out = pl.DataFrame({"x": s}).lazy().select(scale_expr(pl.col("x"), method, **opts))
    assert expr_out.collect_schema()["x"] == pl.Float32
    assert expr_out.collect()["x"].dtype == pl.Float32
    # statistics in f64: compare with the f64 reference of the f32 values
    ref.assert_matches_reference(out, s, method, float32=True, **opts)


INT_DTYPES = [pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_integers_give_float64(method: str, dtype: pl.DataType, ref: Any) -> None:
    rng = np.random.default_rng(40)
    lo = 0 if dtype.is_unsigned_integer() else -100
    vals: list[int | None] = rng.integers(lo, 120, 300).tolist()
    vals[7] = None
    s = pl.Series("x", vals, dtype=dtype)
    out = scale_series(s, method)
    assert out.dtype == pl.Float64
    lf = pl.LazyFrame({"x": s}).select(scale_expr(pl.col("x"), method))
    assert lf.collect_schema()["x"] == pl.Float64
    ref.assert_matches_reference(out, s, method)
    assert_series_equal(out, scale_series(s.cast(pl.Float64), method), check_exact=True)


def test_large_uint64_values() -> None:
    s = pl.Series("x", [0, 2**63, 2**64 - 1], dtype=pl.UInt64)
    out = s.ml.normalize()
    assert out.dtype == pl.Float64
    np.testing.assert_allclose(out.to_numpy(), [0.0, 0.5, 1.0], rtol=1e-15)


@pytest.mark.parametrize("method", METHODS)
def test_decimal_gives_float64(method: str, ref: Any) -> None:
    rng = np.random.default_rng(41)
    cents = rng.integers(-100_000, 100_000, 200)
    vals: list[Decimal | None] = [Decimal(int(c)) / Decimal(100) for c in cents]
    vals[3] = None
    s = pl.Series("x", vals, dtype=pl.Decimal(12, 2))
    out = scale_series(s, method)
    assert out.dtype == pl.Float64
    assert (
        pl.LazyFrame({"x": s}).select(scale_expr(pl.col("x"), method)).collect_schema()["x"]
        == pl.Float64
    )
    floats = [None if v is None else float(v) for v in vals]
    ref.assert_matches_reference(out, pl.Series("x", floats, dtype=pl.Float64), method)


BAD_DTYPE_CASES = [
    (pl.Series("x", [True, False, True]), r"(?i)\bbool(ean)?\b"),
    (pl.Series("x", ["a", "b", "c"]), r"(?i)\bstr(ing)?\b"),
    (pl.Series("x", [1, 2, 3]).cast(pl.Date), r"(?i)\bdate\b"),
    (pl.Series("x", [{"a": 1.0}, {"a": 2.0}, {"a": 3.0}]), r"(?i)struct"),
    (pl.Series("x", [1, 2, 3]).cast(pl.Datetime("us")), r"(?i)datetime"),
    (pl.Series("x", [1, 2, 3]).cast(pl.Duration("ms")), r"(?i)duration"),
]


@pytest.mark.parametrize(
    ("s", "dtype_pattern"),
    BAD_DTYPE_CASES,
    ids=["Boolean", "String", "Date", "Struct", "Datetime", "Duration"],
)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("via", ["method", "normalize"])
def test_bad_dtype_is_a_schema_time_error(
    s: pl.Series, dtype_pattern: str, method: str, via: str
) -> None:
    name = "normalize" if via == "normalize" else FUNC[method]
    lf = pl.LazyFrame({"x": s})
    q = lf.select(scale_expr(pl.col("x"), method, via=via))
    with pytest.raises(SCHEMA_ERRORS) as info:
        q.collect_schema()
    msg = str(info.value)
    assert "panic" not in msg, msg  # a clear error, never a panic
    assert name in msg, msg
    assert re.search(dtype_pattern, msg), msg
    with pytest.raises(SCHEMA_ERRORS, match=name):
        scale_series(s, method, via=via)


def test_output_keeps_name() -> None:
    s = make_column(50, 30).alias("my feature")
    df = pl.DataFrame({"my feature": s, "y": s})
    for method in METHODS:
        assert scale_series(s, method).name == "my feature"
        assert df.select(scale_expr(pl.col("my feature"), method)).columns == ["my feature"]
        assert df.select(scale_expr(pl.all(), method, via="normalize")).columns == [
            "my feature",
            "y",
        ]
        assert df.lazy().select(pmk.normalize("y", method=method)).collect_schema().names() == ["y"]


# --------------------------------------------------------------------------- #
# vector columns: per dimension, like scikit-learn on the 2-D matrix
# --------------------------------------------------------------------------- #
def vector_matrix(seed: int, n: int, d: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * rng.uniform(0.1, 100.0, d) + rng.uniform(-50.0, 50.0, d)


@pytest.mark.parametrize(("method", "opts"), OPTION_CASES, ids=OPTION_IDS)
@pytest.mark.parametrize("container", ["array", "list"])
def test_vector_columns_scaled_per_dimension(
    method: str, opts: dict[str, Any], container: str, sklearn_reference: Any
) -> None:
    X = vector_matrix(60, 200, 3)
    X[:, 1] = -3.5  # constant dimension
    dtype = pl.Array(pl.Float64, 3) if container == "array" else pl.List(pl.Float64)
    s = pl.Series("emb", X.tolist(), dtype=dtype)
    out = scale_series(s, method, **opts)
    assert out.name == "emb"
    assert out.dtype == dtype
    got = np.array(out.to_list(), dtype=np.float64)
    expected = sklearn_reference(X, method, **opts)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    lf = pl.LazyFrame({"emb": s}).select(scale_expr(pl.col("emb"), method, via="normalize", **opts))
    assert lf.collect_schema()["emb"] == dtype
    np.testing.assert_array_equal(np.array(lf.collect()["emb"].to_list()), got)


@pytest.mark.parametrize("method", METHODS)
def test_vector_column_null_rows_stay_null(method: str, sklearn_reference: Any) -> None:
    X = vector_matrix(61, 50, 4)
    rows: list[list[float] | None] = X.tolist()
    for i in (0, 7, 49):
        rows[i] = None
    s = pl.Series("emb", rows, dtype=pl.Array(pl.Float64, 4))
    out = scale_series(s, method)
    assert out.is_null().to_list() == [r is None for r in rows]
    keep = [i for i, r in enumerate(rows) if r is not None]
    got = np.array([out[i].to_list() for i in keep])
    expected = sklearn_reference(X[keep], method)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_vector_column_float32_and_int(method: str, sklearn_reference: Any) -> None:
    X = vector_matrix(62, 80, 2)
    s32 = pl.Series("emb", X.tolist(), dtype=pl.Array(pl.Float32, 2))
    out32 = scale_series(s32, method)
    assert out32.dtype == pl.Array(pl.Float32, 2)
    X32 = np.array(s32.to_list(), dtype=np.float64)
    np.testing.assert_allclose(
        np.array(out32.to_list()), sklearn_reference(X32, method), rtol=1e-5, atol=1e-5
    )
    Xi = np.round(X).astype(np.int64)
    si = pl.Series("emb", Xi.tolist(), dtype=pl.Array(pl.Int32, 2))
    outi = scale_series(si, method)
    assert outi.dtype == pl.Array(pl.Float64, 2)
    np.testing.assert_allclose(
        np.array(outi.to_list()),
        sklearn_reference(Xi.astype(np.float64), method),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("via", ["method", "normalize"])
def test_list_rows_of_different_lengths_error(method: str, via: str) -> None:
    name = "normalize" if via == "normalize" else FUNC[method]
    s = pl.Series("emb", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]])
    with pytest.raises(ComputeError) as info:
        scale_series(s, method, via=via)
    msg = str(info.value)
    assert "panic" not in msg, msg
    assert name in msg, msg
    assert re.search(r"\b3\b", msg), msg
    assert re.search(r"\b7\b", msg), msg
    with pytest.raises(ComputeError, match=name):
        pl.LazyFrame({"emb": s}).select(scale_expr(pl.col("emb"), method, via=via)).collect()


# --------------------------------------------------------------------------- #
# group contexts
# --------------------------------------------------------------------------- #
def grouped_frame(seed: int, n: int = 600) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 6, n)
    x: list[float | None] = (rng.normal(0, 1, n) * (g + 1) + 10 * g).tolist()
    g = g.tolist()
    # special groups: a single row, a constant group, an all-null group, one with NaN
    g[0], x[0] = 10, 3.0
    for i in (1, 2, 3):
        g[i], x[i] = 11, -2.5
    for i in (4, 5):
        g[i], x[i] = 12, None
    for i in range(6, 40, 5):
        x[i] = math.nan if i % 2 else None
    return pl.DataFrame({"g": g, "x": x}, schema={"g": pl.Int64, "x": pl.Float64})


@pytest.mark.parametrize(("method", "opts"), OPTION_CASES[::2], ids=OPTION_IDS[::2])
def test_over_scales_each_group_alone(method: str, opts: dict[str, Any], ref: Any) -> None:
    df = grouped_frame(70)
    out = df.with_columns(y=scale_expr(pl.col("x"), method, **opts).over("g"))
    assert out["y"].dtype == pl.Float64
    for _, part in out.group_by("g", maintain_order=True):
        ref.assert_matches_reference(part["y"], part["x"], method, **opts)
    # the same through the streaming engine
    lazy = df.lazy().with_columns(
        y=scale_expr(pl.col("x"), method, via="normalize", **opts).over("g")
    )
    ref.assert_bits_equal(lazy.collect(engine="streaming")["y"], out["y"])


@pytest.mark.parametrize(("method", "opts"), OPTION_CASES[1::2], ids=OPTION_IDS[1::2])
def test_group_by_agg_scales_each_group_alone(method: str, opts: dict[str, Any], ref: Any) -> None:
    df = grouped_frame(71)
    agg = (
        df.lazy()
        .group_by("g", maintain_order=True)
        .agg(scale_expr(pl.col("x"), method, **opts).alias("y"), pl.col("x"))
        .collect(engine="in-memory")
    )
    assert agg.schema["y"] == pl.List(pl.Float64)
    assert agg.height == df["g"].n_unique()
    for row in agg.iter_rows(named=True):
        ref.assert_matches_reference(
            pl.Series(row["y"], dtype=pl.Float64),
            pl.Series(row["x"], dtype=pl.Float64),
            method,
            **opts,
        )


@pytest.mark.parametrize("method", METHODS)
def test_over_matches_group_by(method: str, ref: Any) -> None:
    df = grouped_frame(72).with_row_index()
    over = df.with_columns(y=scale_expr(pl.col("x"), method).over("g"))
    agg = (
        df.group_by("g")
        .agg(pl.col("index"), scale_expr(pl.col("x"), method).alias("y"))
        .explode("index", "y")
        .sort("index")
    )
    assert agg["y"].is_null().to_list() == over["y"].is_null().to_list()
    np.testing.assert_allclose(
        ref.series_parts(agg["y"])[0], ref.series_parts(over["y"])[0], rtol=1e-13, atol=1e-13
    )


# --------------------------------------------------------------------------- #
# chunking, slicing, determinism
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(("method", "opts"), OPTION_CASES, ids=OPTION_IDS)
def test_multi_chunk_is_bit_identical(method: str, opts: dict[str, Any], ref: Any) -> None:
    full = make_column(80, 20_011, "lognormal")
    parts = [full.slice(0, 7), full.slice(7, 9000), full.slice(9007, 1), full.slice(9008, 11_003)]
    chunked = pl.concat(parts, rechunk=False)
    assert chunked.n_chunks() == 4
    contiguous = pl.Series("x", full.to_list(), dtype=pl.Float64)
    assert contiguous.n_chunks() == 1
    a = scale_series(chunked, method, **opts)
    b = scale_series(contiguous, method, **opts)
    ref.assert_bits_equal(a, b)
    ref.assert_matches_reference(b, contiguous, method, **opts)
    # through a (lazy) frame as well
    lf = pl.DataFrame({"x": chunked}).lazy().select(scale_expr(pl.col("x"), method, **opts))
    ref.assert_bits_equal(lf.collect(engine="in-memory")["x"], b)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("chunked", [False, True])
def test_sliced_input_is_bit_identical(method: str, chunked: bool, ref: Any) -> None:
    full = make_column(81, 9000)
    if chunked:
        full = pl.concat([full.slice(0, 3000), full.slice(3000, 6000)], rechunk=False)
    sliced = full.slice(1234, 5000)
    fresh = pl.Series("x", sliced.to_list(), dtype=pl.Float64)
    a = scale_series(sliced, method)
    b = scale_series(fresh, method)
    ref.assert_bits_equal(a, b)
    ref.assert_matches_reference(a, fresh, method)


@pytest.mark.parametrize("method", METHODS)
def test_vector_column_multi_chunk_and_slice(method: str, ref: Any) -> None:
    X = vector_matrix(82, 3000, 5)
    s = pl.Series("emb", X.tolist(), dtype=pl.Array(pl.Float64, 5))
    chunked = pl.concat([s.slice(0, 1000), s.slice(1000, 1500), s.slice(2500, 500)], rechunk=False)
    assert chunked.n_chunks() == 3
    a = scale_series(chunked, method)
    b = scale_series(s, method)
    np.testing.assert_array_equal(
        np.array(a.to_list()).view(np.uint64), np.array(b.to_list()).view(np.uint64)
    )
    sl = s.slice(100, 2000)
    c = scale_series(sl, method)
    d = scale_series(pl.Series("emb", X[100:2100].tolist(), dtype=pl.Array(pl.Float64, 5)), method)
    np.testing.assert_array_equal(
        np.array(c.to_list()).view(np.uint64), np.array(d.to_list()).view(np.uint64)
    )
    ls = pl.Series("emb", X.tolist(), dtype=pl.List(pl.Float64))
    lchunked = pl.concat([ls.slice(0, 10), ls.slice(10, 2990)], rechunk=False)
    np.testing.assert_array_equal(
        np.array(scale_series(lchunked, method).to_list()).view(np.uint64),
        np.array(b.to_list()).view(np.uint64),
    )


def _stream_frame(n: int = 30_000) -> pl.DataFrame:
    rng = np.random.default_rng(90)
    x: list[float | None] = rng.lognormal(0.0, 1.5, n).tolist()
    for i in range(0, n, 97):
        x[i] = None
    for i in range(5, n, 101):
        x[i] = math.nan
    return pl.DataFrame(
        {
            "g": rng.integers(0, 40, n),
            "k": rng.integers(0, 3, n),
            "x": pl.Series(x, dtype=pl.Float64),
            "x32": pl.Series(x, dtype=pl.Float32),
            "i": rng.integers(-1000, 1000, n),
        }
    )


def _stream_query(lf: pl.LazyFrame, method: str) -> pl.LazyFrame:
    return lf.with_columns(
        scale_expr(pl.col("x"), method).alias("s"),
        scale_expr(pl.col("x32"), method, via="normalize").alias("s32"),
        scale_expr(pl.col("i"), method, via="free").alias("si"),
        scale_expr(pl.col("x"), method).over("g").alias("so"),
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("morsel", [None, "64", "1000"])
def test_streaming_equals_in_memory(
    method: str, morsel: str | None, monkeypatch: pytest.MonkeyPatch, ref: Any
) -> None:
    if morsel is not None:
        monkeypatch.setenv("POLARS_IDEAL_MORSEL_SIZE", morsel)
    df = _stream_frame()
    q = _stream_query(df.lazy(), method)
    streaming = q.collect(engine="streaming")
    in_memory = q.collect(engine="in-memory")
    assert streaming.columns == in_memory.columns
    for c in ("s", "s32", "si", "so"):
        ref.assert_bits_equal(streaming[c], in_memory[c])
    ref.assert_matches_reference(in_memory["s"], df["x"], method)
    ref.assert_matches_reference(in_memory["si"], df["i"], method)


def _digest(col: pl.Series) -> str:
    """sha256 over the null mask and the exact bits of a float column."""
    mask = np.packbits(col.is_null().to_numpy())
    vals = col.cast(pl.Float64).fill_null(0.0).to_numpy().view(np.uint64)
    return hashlib.sha256(mask.tobytes() + vals.tobytes()).hexdigest()


_SUBPROCESS_SCRIPT = textwrap.dedent(
    """
    import sys, json
    import polars as pl, polars_mlkit as pmk
    sys.path.insert(0, {here!r})
    from test_scaling import _stream_frame, _stream_query, _digest
    df = _stream_frame()
    res = {{}}
    for method in {methods!r}:
        q = _stream_query(df.lazy(), method)
        for engine in ("streaming", "in-memory"):
            out = q.collect(engine=engine)
            for c in ("s", "s32", "si", "so"):
                res[f"{{method}}/{{engine}}/{{c}}"] = _digest(out[c])
    print(json.dumps(res))
    """
)


@pytest.mark.parametrize(("threads", "morsel"), [("1", "50"), ("2", "333")])
def test_bit_identical_across_threads_and_morsels(threads: str, morsel: str) -> None:
    """A fresh process (thread count and morsel size are read once) agrees bit for bit."""
    here = os.path.dirname(os.path.abspath(__file__))
    script = _SUBPROCESS_SCRIPT.format(here=here, methods=METHODS)
    env = dict(os.environ, POLARS_MAX_THREADS=threads, POLARS_IDEAL_MORSEL_SIZE=morsel)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    df = _stream_frame()
    for method in METHODS:
        ours = _stream_query(df.lazy(), method).collect(engine="in-memory")
        for engine in ("streaming", "in-memory"):
            for c in ("s", "s32", "si", "so"):
                assert theirs[f"{method}/{engine}/{c}"] == _digest(ours[c]), (method, engine, c)


# --------------------------------------------------------------------------- #
# the optimizer must not move filters / slices below a scaler
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("engine", ["in-memory", "streaming"])
def test_filter_is_not_pushed_below_scaler(
    method: str, engine: str, ref: Any, sklearn_reference: Any
) -> None:
    df = _stream_frame(5000)
    full = sklearn_reference(df["x"], method)
    keep = (df["k"] == 1).to_numpy()
    q = df.lazy().with_columns(s=scale_expr(pl.col("x"), method)).filter(pl.col("k") == 1)
    got = q.collect(engine=engine)["s"]
    assert got.len() == int(keep.sum())
    np.testing.assert_allclose(
        ref.series_parts(got)[0], full[keep], rtol=1e-12, atol=1e-12, equal_nan=True
    )
    # a predicate on the scaled input column itself
    q2 = (
        df.lazy()
        .select(pl.col("x"), s=scale_expr(pl.col("x"), method, via="normalize"))
        .filter(pl.col("x") > 1.0)
    )
    got2 = q2.collect(engine=engine)["s"]
    keep2 = (df["x"] > 1.0).fill_null(False).to_numpy()
    np.testing.assert_allclose(
        ref.series_parts(got2)[0], full[keep2], rtol=1e-12, atol=1e-12, equal_nan=True
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("engine", ["in-memory", "streaming"])
def test_slice_is_not_pushed_below_scaler(method: str, engine: str, ref: Any) -> None:
    df = _stream_frame(5000)
    full = df.select(scale_expr(pl.col("x"), method))["x"]
    head = df.lazy().select(scale_expr(pl.col("x"), method)).head(50).collect(engine=engine)["x"]
    ref.assert_bits_equal(head, full.head(50))
    tail = (
        df.lazy()
        .select(scale_expr(pl.col("x"), method))
        .slice(4000, 30)
        .collect(engine=engine)["x"]
    )
    ref.assert_bits_equal(tail, full.slice(4000, 30))


# --------------------------------------------------------------------------- #
# argument errors: ValueError in Python, before any query runs
# --------------------------------------------------------------------------- #
ARG_ERRORS = [
    ("normalize", {"method": "zscore"}),
    ("normalize", {"method": "MinMax "}),
    ("normalize", {"method": "l2"}),
    ("minmax_scale", {"feature_range": (1.0, 1.0)}),
    ("minmax_scale", {"feature_range": (2.0, -1.0)}),
    ("normalize", {"method": "minmax", "feature_range": (5.0, 0.0)}),
    ("standard_scale", {"ddof": -1}),
    ("normalize", {"method": "standard", "ddof": -3}),
    ("robust_scale", {"quantile_range": (75.0, 25.0)}),
    ("robust_scale", {"quantile_range": (-1.0, 50.0)}),
    ("robust_scale", {"quantile_range": (50.0, 100.5)}),
    ("normalize", {"method": "robust", "quantile_range": (90.0, 10.0)}),
]


@pytest.mark.parametrize(("func", "kwargs"), ARG_ERRORS, ids=[f"{f}-{k}" for f, k in ARG_ERRORS])
def test_argument_errors_raise_value_error_eagerly(func: str, kwargs: dict[str, Any]) -> None:
    # at expression construction: nothing is collected inside the raises block
    with pytest.raises(ValueError, match=r".+"):
        getattr(pl.col("x").ml, func)(**kwargs)
    with pytest.raises(ValueError, match=r".+"):
        getattr(pmk, func)("x", **kwargs)
    with pytest.raises(ValueError, match=r".+"):
        getattr(pmk, func)(pl.col("x"), **kwargs)
    # data faces: ValueError (not a polars ComputeError from inside a query)
    s = pl.Series("x", [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r".+") as info:
        getattr(s.ml, func)(**kwargs)
    assert not isinstance(info.value, pl.exceptions.PolarsError)
    with pytest.raises(ValueError, match=r".+") as info:
        getattr(pmk, func)([1.0, 2.0, 3.0], **kwargs)
    assert not isinstance(info.value, pl.exceptions.PolarsError)


def test_unknown_method_message_lists_choices() -> None:
    with pytest.raises(ValueError, match="zscore") as info:
        pl.col("x").ml.normalize(method="zscore")
    msg = str(info.value)
    assert "zscore" in msg
    for m in METHODS:
        assert m in msg, msg


# --------------------------------------------------------------------------- #
# real data sets
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "loader", [load_wine, load_iris, load_diabetes], ids=["wine", "iris", "diabetes"]
)
@pytest.mark.parametrize(("method", "opts"), OPTION_CASES, ids=OPTION_IDS)
def test_real_datasets_match_sklearn(
    loader: Any, method: str, opts: dict[str, Any], sklearn_reference: Any
) -> None:
    X = loader().data.astype(np.float64)
    names = [f"f{j}" for j in range(X.shape[1])]
    df = pl.DataFrame(X, schema=names, orient="row")
    expected = sklearn_reference(X, method, **opts)
    got = df.lazy().select(scale_expr(pl.all(), method, **opts)).collect().to_numpy()
    assert got.shape == X.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    got_np = getattr(pmk, FUNC[method])(X, **opts)
    np.testing.assert_allclose(got_np, expected, rtol=1e-12, atol=1e-12)
    # each feature on its own through the Series face
    for j in range(0, X.shape[1], 3):
        np.testing.assert_array_equal(
            scale_series(df[names[j]], method, **opts).to_numpy(), got[:, j]
        )


def test_warnings_from_reference_are_contained(sklearn_reference: Any) -> None:
    # the reference helper must not leak sklearn/numpy warnings (pytest -W error)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = sklearn_reference([math.nan, math.nan], "robust")
    assert np.isnan(out).all()
