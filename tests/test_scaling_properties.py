"""Property-based tests for column scaling against scikit-learn.

Deterministic: the "ci" hypothesis profile (conftest.py) derandomizes every
test and disables the example database.
"""

from __future__ import annotations

import math
from typing import Any

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from hypothesis import assume, example, given, settings
from polars.exceptions import ComputeError
from polars.testing.parametric import series

METHODS = ("minmax", "standard", "robust", "maxabs")
FUNC = {
    "minmax": "minmax_scale",
    "standard": "standard_scale",
    "robust": "robust_scale",
    "maxabs": "maxabs_scale",
}

NAN = math.nan
MODERATE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
# moderate magnitudes, NaN and nulls
ELEMENTS = st.one_of(MODERATE, st.just(NAN), st.none())
# huge magnitudes: |x| in [1e200, max float] or exactly zero
HUGE_ELEMENTS = st.one_of(
    st.just(0.0),
    st.floats(min_value=1e200, max_value=float(np.finfo(np.float64).max)),
    st.floats(min_value=-float(np.finfo(np.float64).max), max_value=-1e200),
)

OPTIONS = st.sampled_from(
    [
        ("minmax", {}),
        ("minmax", {"feature_range": (-1.0, 1.0)}),
        ("minmax", {"feature_range": (3.0, 7.5), "clip": True}),
        ("standard", {}),
        ("standard", {"with_mean": False}),
        ("standard", {"with_std": False}),
        ("robust", {}),
        ("robust", {"quantile_range": (10.0, 90.0)}),
        ("robust", {"with_centering": False, "unit_variance": True}),
        ("maxabs", {}),
    ]
)


def run_series(s: pl.Series, method: str, opts: dict[str, Any]) -> pl.Series:
    return getattr(s.ml, FUNC[method])(**opts)


def check(got: Any, values: Any, method: str, opts: dict[str, Any], ref: Any) -> None:
    r = ref.assert_matches_reference(got, values, method, **opts)
    # the (rare) near-constant boundary cases are not comparable
    assume(r is not None)


# --------------------------------------------------------------------------- #
# pl.Series with chunks and nulls
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("method", METHODS)
@settings(deadline=None, max_examples=150)
@given(
    s=series(
        name="x",
        dtype=pl.Float64,
        min_size=0,
        max_size=40,
        allow_chunks=True,
        allow_null=True,
        strategy=ELEMENTS,
    )
)
@example(s=pl.Series("x", [], dtype=pl.Float64))
@example(s=pl.Series("x", [2.5], dtype=pl.Float64))
@example(s=pl.Series("x", [-7.0] * 6, dtype=pl.Float64))
@example(s=pl.Series("x", [NAN, NAN, NAN], dtype=pl.Float64))
@example(s=pl.Series("x", [None], dtype=pl.Float64))
@example(s=pl.Series("x", [1.0, None, 3.0, 2.0], dtype=pl.Float64))
@example(
    s=pl.concat([pl.Series("x", [1.0, NAN]), pl.Series("x", [None, -4.0, 9.0])], rechunk=False)
)
def test_series_matches_sklearn(method: str, s: pl.Series, ref: Any) -> None:
    out = run_series(s, method, {})
    assert out.dtype == pl.Float64
    assert out.name == "x"
    assert out.len() == s.len()
    # chunking never changes a bit
    ref.assert_bits_equal(out, run_series(s.rechunk(), method, {}))
    check(out, s, method, {}, ref)


@settings(deadline=None, max_examples=200)
@given(
    s=series(
        name="v",
        dtype=pl.Float64,
        min_size=0,
        max_size=30,
        allow_chunks=True,
        allow_null=True,
        strategy=ELEMENTS,
    ),
    case=OPTIONS,
)
@example(
    s=pl.Series("v", [5.0, 5.0], dtype=pl.Float64),
    case=("robust", {"quantile_range": (10.0, 90.0)}),
)
@example(
    s=pl.Series("v", [0.0, 1e-300], dtype=pl.Float64),
    case=("minmax", {"feature_range": (-1.0, 1.0)}),
)
def test_series_options_match_sklearn(
    s: pl.Series, case: tuple[str, dict[str, Any]], ref: Any
) -> None:
    method, opts = case
    out = s.ml.normalize(method, **opts)
    lazy = pl.LazyFrame({"v": s}).select(pl.col("v").ml.normalize(method, **opts)).collect()["v"]
    ref.assert_bits_equal(out, lazy)
    check(out, s, method, opts, ref)


@settings(deadline=None, max_examples=80)
@given(
    s=series(
        name="x",
        dtype=pl.Float64,
        min_size=1,
        max_size=30,
        allow_chunks=True,
        allow_null=True,
        strategy=ELEMENTS,
    ),
    g=st.lists(st.integers(0, 3), min_size=30, max_size=30),
    method=st.sampled_from(METHODS),
)
def test_over_matches_sklearn_per_group(s: pl.Series, g: list[int], method: str, ref: Any) -> None:
    df = pl.DataFrame({"x": s, "g": pl.Series(g[: s.len()], dtype=pl.Int64)})
    out = df.with_columns(y=getattr(pl.col("x").ml, FUNC[method])().over("g"))
    for _, part in out.group_by("g", maintain_order=True):
        check(part["y"], part["x"], method, {}, ref)


# --------------------------------------------------------------------------- #
# numpy arrays through the free functions
# --------------------------------------------------------------------------- #
NP_ELEMENTS = st.one_of(MODERATE, st.just(NAN))


@pytest.mark.parametrize("method", METHODS)
@settings(deadline=None, max_examples=150)
@given(x=hnp.arrays(np.float64, st.integers(0, 40), elements=NP_ELEMENTS))
@example(x=np.array([], dtype=np.float64))
@example(x=np.array([3.0]))
@example(x=np.full(5, 0.25))
@example(x=np.full(4, np.nan))
@example(x=np.array([1e-310, 0.0, -5e-324]))
def test_numpy_1d_matches_sklearn(method: str, x: np.ndarray, ref: Any) -> None:
    got = getattr(pmk, FUNC[method])(x)
    assert isinstance(got, np.ndarray)
    assert got.shape == x.shape
    assert got.dtype == np.float64
    check(got, x, method, {}, ref)


@pytest.mark.parametrize("method", METHODS)
@settings(deadline=None, max_examples=60)
@given(
    x=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
        elements=NP_ELEMENTS,
    )
)
@example(x=np.array([[1.0, 2.0], [1.0, np.nan], [1.0, 4.0]]))
def test_numpy_2d_is_per_column(method: str, x: np.ndarray, ref: Any) -> None:
    got = getattr(pmk, FUNC[method])(x)
    assert isinstance(got, np.ndarray)
    assert got.shape == x.shape
    for j in range(x.shape[1]):
        col = np.ascontiguousarray(x[:, j])
        check(np.ascontiguousarray(got[:, j]), col, method, {}, ref)


@pytest.mark.parametrize("method", METHODS)
@settings(deadline=None, max_examples=150)
@given(x=hnp.arrays(np.float64, st.integers(1, 25), elements=HUGE_ELEMENTS))
@example(x=np.array([-1e308, 0.0, 1e308]))
@example(x=np.array([float(np.finfo(np.float64).max)] * 3))
@example(x=np.array([-float(np.finfo(np.float64).max), float(np.finfo(np.float64).max)]))
def test_huge_magnitudes_do_not_overflow(method: str, x: np.ndarray, ref: Any) -> None:
    reference = ref.scaling_reference(x, method)
    assume(reference is not None)
    # the true answer fits the dtype (robust with a zero IQR leaves x - median
    # unscaled, which can genuinely overflow)
    assume(reference.finite)
    got = getattr(pmk, FUNC[method])(x)
    assert np.all(np.isfinite(got)), got
    check(got, x, method, {}, ref)


@pytest.mark.parametrize("method", METHODS)
@settings(deadline=None, max_examples=30)
@given(
    x=hnp.arrays(np.float64, st.integers(1, 20), elements=MODERATE),
    pos=st.integers(0, 19),
    bad=st.sampled_from([math.inf, -math.inf]),
)
def test_any_infinity_is_an_error(method: str, x: np.ndarray, pos: int, bad: float) -> None:
    x = x.copy()
    x[pos % x.size] = bad
    s = pl.Series("x", x)
    with pytest.raises(ComputeError, match=FUNC[method]):
        getattr(s.ml, FUNC[method])()


@settings(deadline=None, max_examples=80)
@given(
    x=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 30), st.integers(1, 4)),
        elements=MODERATE,
    ),
    method=st.sampled_from(METHODS),
    container=st.sampled_from(["array", "list"]),
)
def test_vector_columns_match_sklearn_matrix(
    x: np.ndarray, method: str, container: str, ref: Any
) -> None:
    d = x.shape[1]
    dtype = pl.Array(pl.Float64, d) if container == "array" else pl.List(pl.Float64)
    s = pl.Series("e", x.tolist(), dtype=dtype)
    out = getattr(s.ml, FUNC[method])()
    got = np.array(out.to_list(), dtype=np.float64).reshape(x.shape)
    for j in range(d):
        check(np.ascontiguousarray(got[:, j]), np.ascontiguousarray(x[:, j]), method, {}, ref)
