"""Property-based tests of the vector operations (DESIGN.md, "Vector operations").

hypothesis generates small vector columns (hypothesis.extra.numpy); every
result is compared with numpy / scipy / scikit-learn / math.fsum. The
deterministic ("ci") hypothesis profile is loaded by conftest.py.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.spatial import distance as sp_distance
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.preprocessing import normalize as sk_normalize

EPS = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)

PAIR_EXPRS = {
    "dot": lambda c: c.ml.dot("b"),
    "cos": lambda c: c.ml.cosine_similarity("b"),
    "euclidean": lambda c: c.ml.distance("b", metric="euclidean"),
    "sqeuclidean": lambda c: c.ml.distance("b", metric="sqeuclidean"),
    "manhattan": lambda c: c.ml.distance("b", metric="manhattan"),
    "chebyshev": lambda c: c.ml.distance("b", metric="chebyshev"),
    "cosine": lambda c: c.ml.distance("b", metric="cosine"),
}

# Elements are 0 or at least 1e-3 in magnitude: no vector sits near the
# 10 * eps "zero norm" threshold, and no square underflows.
MODERATE = st.one_of(
    st.just(0.0),
    st.floats(1e-3, 1e6),
    st.floats(-1e6, -1e-3),
    st.integers(-5, 5).map(float),
)
# Anything finite: norms must neither overflow nor underflow.
WIDE = st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False)


def vec_series(name: str, data: np.ndarray, dtype: Any, container: str) -> pl.Series:
    d = data.shape[1]
    dt = pl.Array(dtype, d) if container == "array" else pl.List(dtype)
    return pl.Series(name, data.tolist(), dtype=dt)


@st.composite
def pair_arrays(
    draw: Any, dtype: Any = np.float64, elements: Any = MODERATE, max_d: int = 40
) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 6))
    d = draw(st.integers(1, max_d))
    a = draw(hnp.arrays(dtype, (n, d), elements=elements))
    b = draw(hnp.arrays(dtype, (n, d), elements=elements))
    if draw(st.booleans()):
        b[0] = a[0]  # identical vectors
    return a, b


def scaled(x: np.ndarray) -> tuple[np.ndarray, int]:
    """x * 2**-e with max|x * 2**-e| in [0.5, 1) (exact), and e."""
    m = float(np.max(np.abs(x))) if x.size else 0.0
    if m == 0.0:
        return x.copy(), 0
    e = math.frexp(m)[1]
    return np.ldexp(x, -e), e


def ref_cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(cosine_similarity(a[None, :], b[None, :])[0, 0])


def ref_pair(op: str, a: np.ndarray, b: np.ndarray) -> float:
    if op == "dot":
        return math.fsum((a * b).tolist())
    if op == "cos":
        return ref_cos(a, b)
    if op == "cosine":
        return min(max(1.0 - ref_cos(a, b), 0.0), 2.0)
    fn = {
        "euclidean": sp_distance.euclidean,
        "sqeuclidean": sp_distance.sqeuclidean,
        "manhattan": sp_distance.cityblock,
        "chebyshev": sp_distance.chebyshev,
    }[op]
    return float(fn(a, b))


def pair_tol(op: str, a: np.ndarray, b: np.ndarray, expected: float) -> float:
    d = len(a)
    if op == "dot":
        return 2 * (d + 16) * EPS * math.fsum(np.abs(a * b).tolist()) + 1e-300
    if op in ("cos", "cosine"):
        return 4 * (d + 8) * EPS
    if op == "chebyshev":
        return 0.0
    return 4 * (d + 8) * EPS * abs(expected) + 1e-300


@settings(max_examples=300)
@given(pair=pair_arrays(), container=st.sampled_from(["array", "list"]))
def test_pairwise_float64_matches_references(
    pair: tuple[np.ndarray, np.ndarray], container: str
) -> None:
    a, b = pair
    df = pl.DataFrame(
        {
            "a": vec_series("a", a, pl.Float64, container),
            "b": vec_series("b", b, pl.Float64, container),
        }
    )
    out = df.select(f(pl.col("a")).alias(name) for name, f in PAIR_EXPRS.items())
    for name in PAIR_EXPRS:
        assert out[name].dtype == pl.Float64
        got = out[name].to_numpy()
        for i in range(a.shape[0]):
            exp = ref_pair(name, a[i], b[i])
            tol = pair_tol(name, a[i], b[i], exp)
            assert abs(got[i] - exp) <= tol, (name, i, got[i], exp, a[i], b[i])


@settings(max_examples=150)
@given(
    pair=pair_arrays(
        dtype=np.float32,
        elements=st.one_of(
            st.just(0.0),
            st.floats(2.0**-10, 2.0**13, width=32),
            st.floats(-(2.0**13), -(2.0**-10), width=32),
        ),
    ),
    container=st.sampled_from(["array", "list"]),
)
def test_pairwise_float32_is_float32_and_accumulated_in_f64(
    pair: tuple[np.ndarray, np.ndarray], container: str
) -> None:
    a32, b32 = pair
    df = pl.DataFrame(
        {
            "a": vec_series("a", a32, pl.Float32, container),
            "b": vec_series("b", b32, pl.Float32, container),
        }
    )
    out = df.select(f(pl.col("a")).alias(name) for name, f in PAIR_EXPRS.items())
    a, b = a32.astype(np.float64), b32.astype(np.float64)  # exact
    for name in PAIR_EXPRS:
        assert out[name].dtype == pl.Float32
        got = out[name].to_numpy().astype(np.float64)
        for i in range(a.shape[0]):
            exp = ref_pair(name, a[i], b[i])
            # one rounding to f32 on top of an f64 computation
            tol = pair_tol(name, a[i], b[i], exp) + EPS32 * abs(exp) + 1e-44
            if name in ("cos", "cosine"):
                tol += EPS32
            assert abs(got[i] - exp) <= tol, (name, i, got[i], exp)


@settings(max_examples=150)
@given(
    pair=pair_arrays(max_d=24),
    i=st.integers(-1000, 960),
    j=st.integers(-1000, 960),
)
def test_cosine_is_scale_invariant(pair: tuple[np.ndarray, np.ndarray], i: int, j: int) -> None:
    """The docstring: vectors of any magnitude (1e±200) are handled without overflow."""
    a, b = pair
    df = pl.DataFrame(
        {
            "a": vec_series("a", np.ldexp(a, i), pl.Float64, "array"),
            "b": vec_series("b", np.ldexp(b, j), pl.Float64, "array"),
        }
    )
    got = df.select(pl.col("a").ml.cosine_similarity("b")).to_series().to_numpy()
    d = a.shape[1]
    for r in range(a.shape[0]):
        exp = ref_cos(a[r], b[r])  # exact power-of-two scaling does not change it
        assert abs(got[r] - exp) <= 4 * (d + 8) * EPS, (r, i, j, got[r], exp)


@settings(max_examples=150)
@given(
    pair=pair_arrays(dtype=np.int64, elements=st.integers(-(2**20), 2**20)),
    container=st.sampled_from(["array", "list"]),
)
def test_int64_dot_is_exact_float64(pair: tuple[np.ndarray, np.ndarray], container: str) -> None:
    a, b = pair
    df = pl.DataFrame(
        {"a": vec_series("a", a, pl.Int64, container), "b": vec_series("b", b, pl.Int64, container)}
    )
    got = df.select(pl.col("a").ml.dot("b"), pl.col("a").ml.norm(ord=1).alias("n1"))
    assert got["a"].dtype == pl.Float64
    exact = [
        sum(int(x) * int(y) for x, y in zip(ra, rb, strict=True))
        for ra, rb in zip(a, b, strict=True)
    ]
    assert got["a"].to_list() == [float(v) for v in exact]
    assert got["n1"].to_list() == [float(np.abs(r).sum()) for r in a]


def ref_norm(x: np.ndarray, ord: float) -> float:
    """numpy's norm after an exact power-of-two rescaling (no over/underflow)."""
    xs, e = scaled(x)
    return math.ldexp(float(np.linalg.norm(xs, ord=ord)), e)


@settings(max_examples=250)
@given(
    data=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 5), st.integers(1, 40)),
        elements=WIDE,
    ),
    container=st.sampled_from(["array", "list"]),
)
def test_norms_match_numpy_without_over_or_underflow(data: np.ndarray, container: str) -> None:
    df = pl.DataFrame({"a": vec_series("a", data, pl.Float64, container)})
    out = df.select(
        pl.col("a").ml.norm(ord=1).alias("l1"),
        pl.col("a").ml.norm(ord=2).alias("l2"),
        pl.col("a").ml.norm(ord=float("inf")).alias("inf"),
    )
    d = data.shape[1]
    for name, ord in (("l1", 1), ("l2", 2), ("inf", math.inf)):
        got = out[name].to_numpy()
        for i, row in enumerate(data):
            exp = ref_norm(row, ord)
            assume(math.isfinite(exp))  # the true norm must fit the dtype
            if ord == math.inf:
                assert got[i] == exp
            else:
                # a few subnormal ulps where the norm itself is subnormal
                tol = 4 * (d + 8) * EPS * exp + 4 * 5e-324
                assert abs(got[i] - exp) <= tol, (name, i, got[i], exp, row)


def ref_unit(x: np.ndarray, norm: str, eps: float) -> np.ndarray | None:
    """sklearn's normalize after exact rescaling; None on the zero-norm boundary."""
    xs, e = scaled(x)
    ord = {"l1": 1, "l2": 2, "max": math.inf}[norm]
    true_norm = math.ldexp(float(np.linalg.norm(xs, ord=ord)), e)
    if abs(true_norm - 10 * eps) <= 1e-6 * 10 * eps:
        return None
    if true_norm < 10 * eps:
        return x.copy()  # "zero" vectors are left unchanged
    return np.asarray(sk_normalize(xs[None, :], norm=norm)[0])


@settings(max_examples=250)
@given(
    data=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 5), st.integers(1, 40)),
        elements=st.one_of(WIDE, MODERATE),
    ),
    norm=st.sampled_from(["l1", "l2", "max"]),
    container=st.sampled_from(["array", "list"]),
)
def test_unit_normalize_matches_sklearn(data: np.ndarray, norm: str, container: str) -> None:
    df = pl.DataFrame({"a": vec_series("a", data, pl.Float64, container)})
    got = df.select(pl.col("a").ml.unit_normalize(norm=norm)).to_series()
    d = data.shape[1]
    expected_dtype = pl.Array(pl.Float64, d) if container == "array" else pl.List(pl.Float64)
    assert got.dtype == expected_dtype
    rows = got.to_list()
    for i, row in enumerate(data):
        exp = ref_unit(row, norm, EPS)
        assume(exp is not None)
        assert exp is not None
        g = np.array(rows[i], dtype=np.float64)
        tol = 4 * (d + 8) * EPS * np.abs(exp) + 4 * 5e-324
        assert np.all(np.abs(g - exp) <= tol), (norm, i, g, exp, row)


@settings(max_examples=120)
@given(
    data=hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 5), st.integers(1, 40)),
        elements=st.floats(-(2.0**100), 2.0**100, width=32),
    ),
    norm=st.sampled_from(["l1", "l2", "max"]),
)
def test_unit_normalize_float32(data: np.ndarray, norm: str) -> None:
    df = pl.DataFrame({"a": vec_series("a", data, pl.Float32, "array")})
    got = df.select(pl.col("a").ml.unit_normalize(norm=norm)).to_series()
    assert got.dtype == pl.Array(pl.Float32, data.shape[1])
    g = np.array(got.to_list(), dtype=np.float64)
    for i, row in enumerate(data.astype(np.float64)):
        exp = ref_unit(row, norm, EPS32)  # float32's own 10 * eps threshold
        assume(exp is not None)
        assert exp is not None
        tol = 2 * EPS32 * np.abs(exp) + 1e-44
        assert np.all(np.abs(g[i] - exp) <= tol), (norm, i, g[i], exp, row)


@settings(max_examples=120)
@given(
    pair=pair_arrays(),
    k=st.integers(1, 5),
    data=st.data(),
)
def test_project_matches_numpy(pair: tuple[np.ndarray, np.ndarray], k: int, data: Any) -> None:
    x, _ = pair
    d = x.shape[1]
    m = data.draw(hnp.arrays(np.float64, (d, k), elements=MODERATE))
    bias = data.draw(st.one_of(st.none(), hnp.arrays(np.float64, (k,), elements=MODERATE)))
    container = data.draw(st.sampled_from(["array", "list"]))
    df = pl.DataFrame({"a": vec_series("a", x, pl.Float64, container)})
    got = df.select(pl.col("a").ml.project(m, bias=bias)).to_series()
    assert got.dtype == (pl.Array(pl.Float64, k) if container == "array" else pl.List(pl.Float64))
    g = np.array(got.to_list(), dtype=np.float64)
    b = np.zeros(k) if bias is None else bias
    exp = np.array(
        [[math.fsum((x[i] * m[:, j]).tolist()) + b[j] for j in range(k)] for i in range(len(x))]
    )
    scale = np.abs(x) @ np.abs(m) + np.abs(b)
    assert np.all(np.abs(g - exp) <= 4 * (d + 8) * EPS * scale + 1e-300)


@settings(max_examples=120)
@given(pair=pair_arrays(), cut=st.integers(0, 6), data=st.data())
def test_chunking_and_container_do_not_change_bits(
    pair: tuple[np.ndarray, np.ndarray], cut: int, data: Any
) -> None:
    a, b = pair
    n = a.shape[0]
    cut = min(cut, n)
    nulls = data.draw(st.lists(st.integers(0, n - 1), max_size=3))
    rows_a: list[Any] = a.tolist()
    for i in nulls:
        rows_a[i] = None
    d = a.shape[1]
    frames = {
        c: pl.DataFrame(
            {
                "a": pl.Series(
                    "a",
                    rows_a,
                    dtype=pl.Array(pl.Float64, d) if c == "array" else pl.List(pl.Float64),
                ),
                "b": vec_series("b", b, pl.Float64, c),
            }
        )
        for c in ("array", "list")
    }
    exprs = [f(pl.col("a")).alias(name) for name, f in PAIR_EXPRS.items()]
    exprs += [
        pl.col("a").ml.norm().alias("norm"),
        pl.col("a").ml.unit_normalize().cast(pl.List(pl.Float64)).alias("unit"),
    ]
    base = frames["array"].select(exprs)
    listed = frames["list"].select(exprs)
    df = frames["array"]
    chunked = pl.concat([df.slice(0, cut), df.slice(cut, n - cut)], rechunk=False)
    split = chunked.select(exprs)
    for other in (listed, split):
        for name in base.columns:
            x, y = base[name], other[name]
            assert x.dtype == y.dtype
            assert x.is_null().to_list() == y.is_null().to_list()
            if name == "unit":
                x, y = x.explode(), y.explode()
            xb = x.fill_null(0.0).to_numpy().view(np.uint64)
            yb = y.fill_null(0.0).to_numpy().view(np.uint64)
            np.testing.assert_array_equal(xb, yb, err_msg=name)


def ref_top_k(data: np.ndarray, valid: np.ndarray, q: np.ndarray, k: int, metric: str) -> list[int]:
    if metric == "dot":
        key = -np.array([math.fsum((r * q).tolist()) for r in data])
    else:
        key = np.array([sp_distance.euclidean(r, q) for r in data])
    key = np.where(valid, key, np.inf)
    order = np.argsort(key, kind="stable")
    return [int(i) for i in order if valid[i]][:k]


@settings(max_examples=150)
@given(
    data=hnp.arrays(
        np.int64, st.tuples(st.integers(1, 30), st.integers(1, 6)), elements=st.integers(-3, 3)
    ),
    k=st.integers(1, 8),
    metric=st.sampled_from(["dot", "euclidean"]),
    draw=st.data(),
)
def test_top_k_and_nearest_match_stable_argsort_with_ties(
    data: np.ndarray, k: int, metric: str, draw: Any
) -> None:
    """Small integers give exact scores and many exact ties (lower position wins)."""
    n, d = data.shape
    q = np.array(draw.draw(st.lists(st.integers(-3, 3), min_size=d, max_size=d)), dtype=np.float64)
    null_rows = draw.draw(st.sets(st.integers(0, n - 1), max_size=3))
    valid = np.array([i not in null_rows for i in range(n)])
    rows: list[Any] = [None if i in null_rows else data[i].tolist() for i in range(n)]
    df = pl.DataFrame({"e": pl.Series("e", rows, dtype=pl.Array(pl.Float64, d))})
    expected = ref_top_k(data.astype(np.float64), valid, q, k, metric)
    got = df.select(pl.col("e").ml.top_k_similar(q, k=k, metric=metric)).to_series()
    assert got.dtype == pl.UInt32
    assert got.to_list() == expected
    if valid.any():
        near = pmk.nearest(df, "e", q[None, :], k=k, metric=metric).sort("rank")
        assert near["index"].to_list() == expected
        assert near["rank"].to_list() == list(range(1, len(expected) + 1))


@pytest.mark.parametrize("container", ["array", "list"])
def test_properties_module_sanity(container: str) -> None:
    """The helpers above compute what they claim on a hand-checked case."""
    a = np.array([[3.0, 4.0]])
    assert ref_norm(a[0], 2) == 5.0
    assert ref_pair("dot", a[0], np.array([1.0, 1.0])) == 7.0
    s = vec_series("a", a, pl.Float64, container)
    assert s.ml.norm().to_list() == [5.0]
