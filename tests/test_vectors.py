"""Vector (embedding) operations: `ml.dot`, `ml.cosine_similarity`, `ml.norm`,
`ml.distance`, `ml.unit_normalize`, `ml.project`, `ml.top_k_similar` and
`pmk.nearest` (DESIGN.md, "Three faces of every operation", "Vector
operations" and "Errors").

Every numeric expectation comes from an independent reference: numpy,
scipy.spatial.distance, sklearn.metrics.pairwise, sklearn.preprocessing.normalize
or math.fsum.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from polars.exceptions import ComputeError, InvalidOperationError, SchemaError, ShapeError
from scipy.spatial import distance as sp_distance
from sklearn.datasets import load_digits
from sklearn.metrics.pairwise import cosine_distances, cosine_similarity
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import normalize as sk_normalize

PLUGIN_ERRORS = (ComputeError, InvalidOperationError, SchemaError, ShapeError)
EPS = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)

DTYPES = [pl.Float32, pl.Float64, pl.Int64]
DTYPE_IDS = ["f32", "f64", "i64"]
CONTAINERS = ["array", "list"]

# op name -> (namespace method, kwargs) for the pairwise ops
PAIR_OPS: dict[str, tuple[str, dict[str, Any]]] = {
    "dot": ("dot", {}),
    "cosine_similarity": ("cosine_similarity", {}),
    "euclidean": ("distance", {"metric": "euclidean"}),
    "sqeuclidean": ("distance", {"metric": "sqeuclidean"}),
    "manhattan": ("distance", {"metric": "manhattan"}),
    "chebyshev": ("distance", {"metric": "chebyshev"}),
    "cosine": ("distance", {"metric": "cosine"}),
}
NORM_ORDS = [1, 2, math.inf]
UNIT_NORMS = ["l1", "l2", "max"]


# --------------------------------------------------------------------------- #
# data helpers
# --------------------------------------------------------------------------- #
def np_dtype(dtype: Any) -> Any:
    return {pl.Float32: np.float32, pl.Float64: np.float64, pl.Int64: np.int64}[dtype]


def rand_vectors(seed: int, n: int, d: int, dtype: Any = pl.Float64) -> np.ndarray:
    """Seeded (n, d) data of the numpy type matching ``dtype``."""
    rng = np.random.default_rng(seed)
    if dtype == pl.Int64:
        return rng.integers(-9, 10, size=(n, d)).astype(np.int64)
    return rng.normal(0.0, 2.0, size=(n, d)).astype(np_dtype(dtype))


def vec_series(
    name: str,
    rows: Any,
    dtype: Any = pl.Float64,
    container: str = "array",
    width: int | None = None,
) -> pl.Series:
    """A vector column from a 2-D array or a list of rows (None = null row)."""
    if isinstance(rows, np.ndarray):
        rows = rows.tolist()
    if width is None:
        width = next(len(r) for r in rows if r is not None)
    dt = pl.Array(dtype, width) if container == "array" else pl.List(dtype)
    return pl.Series(name, rows, dtype=dt)


def series_values(s: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, NaN for null; null mask) of a scalar float Series."""
    null = s.is_null().to_numpy()
    vals = s.cast(pl.Float64).fill_null(float("nan")).to_numpy().astype(np.float64)
    return vals, null


def vector_rows(s: pl.Series) -> tuple[list[np.ndarray | None], np.ndarray]:
    """Rows of a vector Series as float64 arrays (None for null rows / rows with null)."""
    out: list[np.ndarray | None] = []
    for r in s.to_list():
        if r is None or any(v is None for v in r):
            out.append(None)
        else:
            out.append(np.array(r, dtype=np.float64))
    return out, np.array([r is None for r in out], dtype=bool)


def assert_bits_equal(a: pl.Series, b: pl.Series) -> None:
    """Exact (bitwise) equality of two float or vector Series, nulls included."""
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert a.len() == b.len()
    np.testing.assert_array_equal(a.is_null().to_numpy(), b.is_null().to_numpy())
    if isinstance(a.dtype, (pl.Array, pl.List)):
        a = a.filter(a.is_not_null()).explode()
        b = b.filter(b.is_not_null()).explode()
        assert a.len() == b.len()
        np.testing.assert_array_equal(a.is_null().to_numpy(), b.is_null().to_numpy())
    fa = a.fill_null(0.0).to_numpy()
    fb = b.fill_null(0.0).to_numpy()
    view = np.uint32 if fa.dtype == np.float32 else np.uint64
    np.testing.assert_array_equal(fa.view(view), fb.view(view))


def assert_plugin_error(excinfo: pytest.ExceptionInfo[Any], function: str, *parts: str) -> None:
    msg = str(excinfo.value)
    assert re.search(rf"\b{re.escape(function)}\b", msg), f"{function!r} not named in: {msg}"
    for p in parts:
        assert re.search(rf"\b{re.escape(p)}\b", msg), f"{p!r} not named in: {msg}"


# --------------------------------------------------------------------------- #
# references
# --------------------------------------------------------------------------- #
def ref_pair(op: str, a: np.ndarray, b: np.ndarray) -> float:
    """Reference value of a pairwise op on two float64 vectors."""
    if np.isnan(a).any() or np.isnan(b).any():
        return math.nan
    if op == "dot":
        return math.fsum((a * b).tolist())
    if op == "cosine_similarity":
        return float(cosine_similarity(a[None, :], b[None, :])[0, 0])
    if op == "cosine":
        return float(cosine_distances(a[None, :], b[None, :])[0, 0])
    if op == "euclidean":
        return float(sp_distance.euclidean(a, b))
    if op == "sqeuclidean":
        return float(sp_distance.sqeuclidean(a, b))
    if op == "manhattan":
        return float(sp_distance.cityblock(a, b))
    if op == "chebyshev":
        return float(sp_distance.chebyshev(a, b))
    raise AssertionError(op)  # pragma: no cover


def pair_tol(op: str, a: np.ndarray, b: np.ndarray, expected: float, f32: bool) -> float:
    """Error bound: f64 accumulation, plus one f32 rounding for Float32 output."""
    d = len(a)
    if op == "dot":
        tol = 2 * (d + 16) * EPS * math.fsum(np.abs(a * b).tolist())
    elif op in ("cosine_similarity", "cosine"):
        tol = 4 * (d + 8) * EPS
    elif op == "chebyshev":
        tol = 2 * EPS * abs(expected)
    else:
        tol = 4 * (d + 8) * EPS * abs(expected)
    if f32:
        tol += EPS32 * (abs(expected) + (1.0 if op in ("cosine_similarity", "cosine") else 0.0))
    return tol + 1e-300


def check_pairwise(
    got: pl.Series, op: str, a_rows: list[Any], b_rows: list[Any], f32: bool
) -> None:
    """Compare a pairwise result with the reference row by row (nulls, NaN, values)."""
    vals, null = series_values(got)
    assert len(vals) == len(a_rows) == len(b_rows)
    for i, (a, b) in enumerate(zip(a_rows, b_rows, strict=True)):
        if a is None or b is None:
            assert null[i], f"row {i}: expected null, got {vals[i]}"
            continue
        assert not null[i], f"row {i}: unexpected null"
        exp = ref_pair(op, a, b)
        if math.isnan(exp):
            assert math.isnan(vals[i]), f"row {i}: expected NaN, got {vals[i]}"
            continue
        tol = pair_tol(op, a, b, exp, f32)
        assert abs(vals[i] - exp) <= tol, f"{op} row {i}: got {vals[i]!r}, expected {exp!r}"


def ref_norm(a: np.ndarray, ord: float) -> float:
    return float(np.linalg.norm(a, ord=ord))


def ref_unit(a: np.ndarray, norm: str) -> np.ndarray:
    if np.isnan(a).any():
        return np.full(a.shape, np.nan)
    return sk_normalize(a[None, :], norm=norm)[0]


def check_vectors_close(
    got: pl.Series, expected_rows: list[np.ndarray | None], rtol: float, atol_scale: list[float]
) -> None:
    rows, null = vector_rows(got)
    assert len(rows) == len(expected_rows)
    for i, (g, e) in enumerate(zip(rows, expected_rows, strict=True)):
        if e is None:
            assert null[i], f"row {i}: expected a null row"
            continue
        assert g is not None, f"row {i}: unexpected null"
        assert g.shape == e.shape, (i, g.shape, e.shape)
        np.testing.assert_array_equal(np.isnan(g), np.isnan(e), err_msg=f"row {i} NaN mask")
        ok = ~np.isnan(e)
        bound = rtol * (np.abs(e[ok]) + atol_scale[i]) + 1e-300
        diff = np.abs(g[ok] - e[ok])
        assert np.all(diff <= bound), f"row {i}: got {g}, expected {e}"


def as_float64_rows(data: np.ndarray) -> list[np.ndarray | None]:
    return [np.asarray(r, dtype=np.float64) for r in data]


def expected_float_dtype(*dtypes: Any) -> Any:
    return pl.Float32 if all(d == pl.Float32 for d in dtypes) else pl.Float64


# --------------------------------------------------------------------------- #
# the classic example and the free-function faces
# --------------------------------------------------------------------------- #
def test_classic_dot_product() -> None:
    out = pmk.dot_product([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert out == 32.0
    assert type(out) is float
    assert pmk.dot([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == 32.0
    assert pmk.dot((1, 2, 3), (4, 5, 6)) == 32.0


def test_dot_product_is_dot() -> None:
    assert pmk.dot_product is pmk.dot


@pytest.mark.parametrize(
    ("x", "other"),
    [
        ([1.0, 2.0, 3.0], [4.0, 5.0]),
        ((1.0, 2.0), (1.0, 2.0, 3.0)),
        (np.ones(4), np.ones(3)),
        (np.ones((5, 4)), np.ones(3)),
        (np.ones((5, 4)), np.ones((5, 3))),
    ],
    ids=["list", "tuple", "numpy-1d", "numpy-2d-vs-1d", "numpy-2d-vs-2d"],
)
@pytest.mark.parametrize("func", ["dot", "cosine_similarity", "distance"])
def test_free_function_different_lengths_is_value_error(x: Any, other: Any, func: str) -> None:
    with pytest.raises(ValueError, match=func):
        getattr(pmk, func)(x, other)


def test_classic_dot_of_1m_numpy_vectors_matches_fsum() -> None:
    rng = np.random.default_rng(1)
    a = rng.random(1_000_000)
    b = rng.random(1_000_000)
    got = pmk.dot(a, b)
    exact = math.fsum((a * b).tolist())
    assert isinstance(got, float)
    assert abs(got - exact) <= 1e-9 * abs(exact)
    # and agrees with numpy
    assert abs(got - float(np.dot(a, b))) <= 1e-9 * abs(exact)


def test_float32_row_of_200k_is_accumulated_in_f64() -> None:
    """The exact result is representable in f32, but a f32 accumulator loses it."""
    rng = np.random.default_rng(2)
    n = 200_000
    a = rng.integers(1, 4, n).astype(np.float32)
    b = rng.integers(1, 4, n).astype(np.float32)
    a[0], b[0], b[1] = 2.0**24, 1.0, 1.0  # a big first term swallows +1, +2 ... in f32
    total = int(np.sum(a.astype(np.int64) * b.astype(np.int64)))
    if total % 2:  # above 2**24 only even integers are exact in f32
        a[1] += 1.0
        total += 1
    assert total % 2 == 0
    assert 2**24 < total < 2**25
    exact = math.fsum((a.astype(np.float64) * b.astype(np.float64)).tolist())
    assert exact == total
    df = pl.DataFrame(
        {"a": vec_series("a", a[None, :], pl.Float32), "b": vec_series("b", b[None, :], pl.Float32)}
    )
    got = df.select(pl.col("a").ml.dot(pl.col("b"))).to_series()
    assert got.dtype == pl.Float32
    assert abs(float(got[0]) - exact) / exact < 1e-9
    # a constant f32-exact vector, List container
    lst = pl.DataFrame({"a": vec_series("a", a[None, :], pl.Float32, "list")})
    got2 = lst.select(pl.col("a").ml.dot(b)).to_series()
    assert got2.dtype == pl.Float32
    assert abs(float(got2[0]) - exact) / exact < 1e-9
    # numpy float32 free function
    got3 = pmk.dot(a, b)
    assert abs(float(got3) - exact) / exact < 1e-9


def test_float32_with_float64_column_is_float64_and_exact() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=(3, 200_000)).astype(np.float32)
    b = rng.normal(size=(3, 200_000))
    df = pl.DataFrame({"a": vec_series("a", a, pl.Float32), "b": vec_series("b", b, pl.Float64)})
    got = df.select(pl.col("a").ml.dot("b")).to_series()
    assert got.dtype == pl.Float64
    for i in range(3):
        prods = a[i].astype(np.float64) * b[i]
        exact = math.fsum(prods.tolist())
        bound = 1e-9 * math.fsum(np.abs(prods).tolist())
        assert abs(got[i] - exact) <= bound


def test_free_function_data_kinds_pairwise() -> None:
    rng = np.random.default_rng(4)
    A = rng.normal(size=(6, 5))
    B = rng.normal(size=(6, 5))
    q = rng.normal(size=5)
    # 1-D list / tuple / numpy -> a float
    for x, y in [(A[0].tolist(), B[0].tolist()), (tuple(A[0]), tuple(B[0])), (A[0], B[0])]:
        out = pmk.dot(x, y)
        assert isinstance(out, float)
        assert abs(out - math.fsum((A[0] * B[0]).tolist())) <= 1e-14
        out = pmk.distance(x, y, metric="manhattan")
        assert isinstance(out, float)
        assert abs(out - sp_distance.cityblock(A[0], B[0])) <= 1e-13
    # 2-D numpy with 2-D numpy -> numpy, one per row
    out2 = pmk.cosine_similarity(A, B)
    assert isinstance(out2, np.ndarray)
    assert out2.shape == (6,)
    exp2 = np.array([cosine_similarity(A[i : i + 1], B[i : i + 1])[0, 0] for i in range(6)])
    np.testing.assert_allclose(out2, exp2, rtol=0, atol=1e-14)
    # 2-D numpy with a constant vector (list, tuple, numpy, Series) -> numpy
    exp_q = np.array([sp_distance.euclidean(A[i], q) for i in range(6)])
    for const in (q.tolist(), tuple(q), q, pl.Series(q)):
        out3 = pmk.distance(A, const)
        assert isinstance(out3, np.ndarray)
        np.testing.assert_allclose(out3, exp_q, rtol=1e-14)
    # Series in -> Series out (keeps the name)
    s = vec_series("emb", A)
    out4 = pmk.dot(s, q)
    assert isinstance(out4, pl.Series)
    assert out4.name == "emb"
    np.testing.assert_allclose(out4.to_numpy(), A @ q, rtol=1e-13)
    out5 = pmk.dot(s, vec_series("other", B))
    assert isinstance(out5, pl.Series)
    np.testing.assert_allclose(out5.to_numpy(), np.einsum("ij,ij->i", A, B), rtol=1e-13)


def test_free_function_data_kinds_single_vector_ops() -> None:
    rng = np.random.default_rng(5)
    A = rng.normal(size=(7, 4))
    # norm: 1-D -> float, 2-D -> numpy per row
    assert pmk.norm([3.0, 4.0]) == 5.0
    assert isinstance(pmk.norm((3.0, 4.0)), float)
    out = pmk.norm(A, ord=1)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, np.linalg.norm(A, ord=1, axis=1), rtol=1e-14)
    # unit_normalize: list -> list, tuple -> tuple, numpy 1-D -> numpy 1-D, 2-D -> 2-D
    lst = pmk.unit_normalize([3.0, 4.0])
    assert type(lst) is list
    np.testing.assert_allclose(lst, [0.6, 0.8], rtol=1e-15)
    tup = pmk.unit_normalize((3.0, 4.0))
    assert type(tup) is tuple
    np.testing.assert_allclose(tup, (0.6, 0.8), rtol=1e-15)
    one = pmk.unit_normalize(np.array([1.0, 3.0]), norm="l1")
    assert isinstance(one, np.ndarray)
    assert one.shape == (2,)
    np.testing.assert_allclose(one, [0.25, 0.75], rtol=1e-15)
    two = pmk.unit_normalize(A, norm="max")
    assert isinstance(two, np.ndarray)
    assert two.shape == A.shape
    np.testing.assert_allclose(two, sk_normalize(A, norm="max"), rtol=1e-15)
    # project
    M = rng.normal(size=(4, 3))
    bias = rng.normal(size=3)
    p = pmk.project(A, M, bias=bias)
    assert isinstance(p, np.ndarray)
    assert p.shape == (7, 3)
    np.testing.assert_allclose(p, A @ M + bias, rtol=1e-13, atol=1e-14)
    p1 = pmk.project(A[0].tolist(), M)
    assert type(p1) is list
    np.testing.assert_allclose(p1, A[0] @ M, rtol=1e-13, atol=1e-14)
    assert pmk.project([1.0, 2.0], [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], bias=[0.0, 0.0, 10.0]) == [
        1.0,
        2.0,
        13.0,
    ]


def test_free_function_numpy_float32_keeps_float32() -> None:
    rng = np.random.default_rng(6)
    A = rng.normal(size=(5, 8)).astype(np.float32)
    B = rng.normal(size=(5, 8)).astype(np.float32)
    out = pmk.dot(A, B)
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float32
    exp = np.array(
        [math.fsum((A[i].astype(float) * B[i].astype(float)).tolist()) for i in range(5)]
    )
    np.testing.assert_allclose(out, exp, rtol=2 * EPS32, atol=1e-6)
    un = pmk.unit_normalize(A)
    assert un.dtype == np.float32
    assert un.shape == A.shape
    np.testing.assert_allclose(un, sk_normalize(A.astype(np.float64)), rtol=2 * EPS32, atol=1e-7)
    n = pmk.norm(A.astype(np.int64))
    assert n.dtype == np.float64


@pytest.mark.parametrize("func", ["dot", "cosine_similarity", "distance", "norm", "unit_normalize"])
def test_free_function_returns_expr_for_names_and_exprs(func: str) -> None:
    A = rand_vectors(7, 20, 6)
    B = rand_vectors(8, 20, 6)
    df = pl.DataFrame({"a": vec_series("a", A), "b": vec_series("b", B)})
    f = getattr(pmk, func)
    args: tuple[Any, ...] = ("b",) if func in ("dot", "cosine_similarity", "distance") else ()
    e1 = f("a", *args)
    e2 = f(pl.col("a"), *(pl.col(x) for x in args))
    assert isinstance(e1, pl.Expr)
    assert isinstance(e2, pl.Expr)
    method = getattr(pl.col("a").ml, func)(*args)
    expected = df.select(method).to_series()
    assert expected.name == "a"
    assert_bits_equal(df.select(e1).to_series(), expected)
    assert_bits_equal(df.select(e2).to_series(), expected)
    series_face = getattr(df["a"].ml, func)(*(df[x] for x in args))
    assert isinstance(series_face, pl.Series)
    assert_bits_equal(series_face, expected)
    free_data = f(df["a"], *(df[x] for x in args))
    assert isinstance(free_data, pl.Series)
    assert_bits_equal(free_data, expected)


def test_top_k_similar_free_function_and_series_face() -> None:
    A = rand_vectors(9, 30, 5)
    q = rand_vectors(10, 1, 5)[0]
    df = pl.DataFrame({"e": vec_series("e", A)})
    e = pmk.top_k_similar("e", q, 4)
    assert isinstance(e, pl.Expr)
    a = df.select(e).to_series()
    b = df.select(pl.col("e").ml.top_k_similar(q, k=4)).to_series()
    c = df["e"].ml.top_k_similar(q, 4)
    assert isinstance(c, pl.Series)
    assert a.to_list() == b.to_list() == c.to_list()
    assert a.dtype == c.dtype == pl.UInt32
    scores = cosine_similarity(A, q[None, :])[:, 0]
    assert a.to_list() == np.argsort(-scores, kind="stable")[:4].tolist()


# --------------------------------------------------------------------------- #
# pairwise ops against the references
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("op", list(PAIR_OPS))
def test_pairwise_two_columns_match_reference(op: str, dtype: Any, container: str) -> None:
    d = 37  # not a multiple of the kernels' lane count
    A = rand_vectors(11, 60, d, dtype)
    B = rand_vectors(12, 60, d, dtype)
    B[5] = A[5]  # identical rows: distance 0, cosine 1
    B[6] = 0  # a zero vector
    B[7] = A[7] * 3  # parallel
    df = pl.DataFrame(
        {"a": vec_series("a", A, dtype, container), "b": vec_series("b", B, dtype, container)}
    )
    method, kw = PAIR_OPS[op]
    lf = df.lazy().select(getattr(pl.col("a").ml, method)(pl.col("b"), **kw))
    out_dtype = expected_float_dtype(dtype)
    assert lf.collect_schema() == pl.Schema({"a": out_dtype})
    got = lf.collect().to_series()
    assert got.dtype == out_dtype
    check_pairwise(got, op, as_float64_rows(A), as_float64_rows(B), f32=dtype == pl.Float32)


@pytest.mark.parametrize("kind", ["list", "tuple", "numpy", "series", "int-list"])
@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("op", list(PAIR_OPS))
def test_pairwise_constant_other(op: str, dtype: Any, container: str, kind: str) -> None:
    d = 19
    A = rand_vectors(13, 40, d, dtype)
    rng = np.random.default_rng(14)
    q = rng.normal(size=d)
    if kind == "int-list":
        q = np.round(q * 3)
    const: Any = {
        "list": q.tolist(),
        "int-list": [int(v) for v in q],
        "tuple": tuple(q.tolist()),
        "numpy": q,
        "series": pl.Series("q", q),
    }[kind]
    df = pl.DataFrame({"a": vec_series("a", A, dtype, container)})
    method, kw = PAIR_OPS[op]
    lf = df.lazy().select(getattr(pl.col("a").ml, method)(const, **kw))
    out_dtype = expected_float_dtype(dtype)  # the constant follows the column
    assert lf.collect_schema() == pl.Schema({"a": out_dtype})
    got = lf.collect().to_series()
    assert got.dtype == out_dtype
    # a Float32 column computes with the constant rounded to f32
    q_used = q.astype(np.float32).astype(np.float64) if dtype == pl.Float32 else q
    check_pairwise(got, op, as_float64_rows(A), [q_used] * len(A), f32=dtype == pl.Float32)
    # the Series face gives the same bits
    assert_bits_equal(getattr(df["a"].ml, method)(const, **kw), got)


@pytest.mark.parametrize(
    ("da", "db"),
    [
        (pl.Float32, pl.Float32),
        (pl.Float32, pl.Float64),
        (pl.Float64, pl.Float32),
        (pl.Float32, pl.Int64),
        (pl.Int64, pl.Int64),
        (pl.Int64, pl.Float64),
    ],
)
@pytest.mark.parametrize(("ca", "cb"), [("array", "list"), ("list", "array")])
def test_mixed_dtypes_and_containers(da: Any, db: Any, ca: str, cb: str) -> None:
    A = rand_vectors(15, 25, 9, da)
    B = rand_vectors(16, 25, 9, db)
    df = pl.DataFrame({"a": vec_series("a", A, da, ca), "b": vec_series("b", B, db, cb)})
    out_dtype = expected_float_dtype(da, db)
    for op, (method, kw) in PAIR_OPS.items():
        lf = df.lazy().select(getattr(pl.col("a").ml, method)("b", **kw))
        assert lf.collect_schema()["a"] == out_dtype, op
        got = lf.collect().to_series()
        assert got.dtype == out_dtype, op
        check_pairwise(got, op, as_float64_rows(A), as_float64_rows(B), f32=out_dtype == pl.Float32)


def test_broadcast_length_one_column() -> None:
    A = rand_vectors(17, 12, 6)
    df = pl.DataFrame({"a": vec_series("a", A)})
    got = df.select(pl.col("a").ml.dot(pl.col("a").first())).to_series()
    np.testing.assert_allclose(got.to_numpy(), A @ A[0], rtol=1e-13)


# --------------------------------------------------------------------------- #
# norm, unit_normalize, project against the references
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("ord", NORM_ORDS, ids=["l1", "l2", "inf"])
@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_norm_matches_numpy(ord: float, dtype: Any, container: str) -> None:
    d = 45
    A = rand_vectors(18, 50, d, dtype)
    A[3] = 0
    df = pl.DataFrame({"a": vec_series("a", A, dtype, container)})
    lf = df.lazy().select(pl.col("a").ml.norm(ord=ord))
    out_dtype = expected_float_dtype(dtype)
    assert lf.collect_schema() == pl.Schema({"a": out_dtype})
    got = lf.collect().to_series()
    assert got.dtype == out_dtype
    exp = np.linalg.norm(A.astype(np.float64), ord=ord, axis=1)
    rtol = 4 * (d + 8) * EPS + (EPS32 if dtype == pl.Float32 else 0.0)
    np.testing.assert_allclose(got.to_numpy().astype(np.float64), exp, rtol=rtol, atol=0)
    assert got[3] == 0.0
    assert_bits_equal(df["a"].ml.norm(ord=ord), got)


def test_norm_default_is_l2() -> None:
    df = pl.DataFrame({"a": [[3.0, 4.0], [5.0, 12.0]]})
    assert df.select(pl.col("a").ml.norm()).to_series().to_list() == [5.0, 13.0]
    assert df.select(pl.col("a").ml.norm(ord=float("inf"))).to_series().to_list() == [4.0, 12.0]
    assert df.select(pl.col("a").ml.norm(ord=1)).to_series().to_list() == [7.0, 17.0]


@pytest.mark.parametrize("scale_exp", [664, -664], ids=["1e200", "1e-200"])
@pytest.mark.parametrize("ord", NORM_ORDS, ids=["l1", "l2", "inf"])
@pytest.mark.parametrize("container", CONTAINERS)
def test_norm_huge_and_tiny_values(scale_exp: int, ord: float, container: str) -> None:
    """Values near 1e200 / 1e-200: the reference scales by an exact power of two."""
    base = rand_vectors(19, 40, 33)
    A = np.ldexp(base, scale_exp)  # exact: ~1e200 or ~1e-200
    assert np.all(np.isfinite(A))
    df = pl.DataFrame({"a": vec_series("a", A, pl.Float64, container)})
    got = df.select(pl.col("a").ml.norm(ord=ord)).to_series().to_numpy()
    exp = np.ldexp(np.linalg.norm(base, ord=ord, axis=1), scale_exp)
    assert np.all(np.isfinite(got))
    assert np.all(got > 0)
    np.testing.assert_allclose(got, exp, rtol=1e-14, atol=0)
    # free function spelling (docstring example)
    assert abs(pmk.norm([3e200, 4e200]) - 5e200) <= 1e-14 * 5e200
    assert abs(pmk.norm([3e-200, 4e-200]) - 5e-200) <= 1e-14 * 5e-200


@pytest.mark.parametrize("scale_exp", [664, -664], ids=["1e200", "1e-200"])
def test_cosine_of_huge_and_tiny_vectors(scale_exp: int) -> None:
    """The docstring promises vectors of any magnitude (1e±200)."""
    A0 = rand_vectors(20, 20, 11)
    B0 = rand_vectors(21, 20, 11)
    A, B = np.ldexp(A0, scale_exp), np.ldexp(B0, scale_exp)
    df = pl.DataFrame({"a": vec_series("a", A), "b": vec_series("b", B)})
    got = df.select(pl.col("a").ml.cosine_similarity("b")).to_series().to_numpy()
    exp = (sk_normalize(A0) * sk_normalize(B0)).sum(axis=1)
    np.testing.assert_allclose(got, exp, rtol=0, atol=1e-14)


@pytest.mark.parametrize("norm", UNIT_NORMS)
@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_unit_normalize_matches_sklearn(norm: str, dtype: Any, container: str) -> None:
    d = 21
    A = rand_vectors(22, 40, d, dtype)
    A[4] = 0
    df = pl.DataFrame({"a": vec_series("a", A, dtype, container)})
    lf = df.lazy().select(pl.col("a").ml.unit_normalize(norm=norm))
    inner = expected_float_dtype(dtype)
    out_dtype = pl.Array(inner, d) if container == "array" else pl.List(inner)
    assert lf.collect_schema() == pl.Schema({"a": out_dtype})
    got = lf.collect().to_series()
    assert got.dtype == out_dtype
    exp = sk_normalize(A.astype(np.float64), norm=norm)
    rtol = 4 * (d + 8) * EPS + (EPS32 if dtype == pl.Float32 else 0.0)
    check_vectors_close(got, list(exp), rtol, [0.0] * len(exp))
    assert got[4].to_list() == [0.0] * d  # zero vector unchanged
    assert_bits_equal(df["a"].ml.unit_normalize(norm=norm), got)


def test_unit_normalize_default_is_l2() -> None:
    df = pl.DataFrame({"a": [[3.0, 4.0], [0.0, 0.0]]})
    got = df.select(pl.col("a").ml.unit_normalize()).to_series().to_list()
    np.testing.assert_allclose(got[0], [0.6, 0.8], rtol=1e-15)
    assert got[1] == [0.0, 0.0]


@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_project_matches_numpy(dtype: Any, container: str, with_bias: bool) -> None:
    d, k = 23, 7
    n = 600  # more than one block of rows
    A = rand_vectors(23, n, d, dtype)
    rng = np.random.default_rng(24)
    M = rng.normal(size=(d, k))
    bias = rng.normal(size=k) if with_bias else None
    df = pl.DataFrame({"a": vec_series("a", A, dtype, container)})
    lf = df.lazy().select(pl.col("a").ml.project(M, bias=bias))
    inner = expected_float_dtype(dtype)
    out_dtype = pl.Array(inner, k) if container == "array" else pl.List(inner)
    assert lf.collect_schema() == pl.Schema({"a": out_dtype})
    got = lf.collect().to_series()
    assert got.dtype == out_dtype
    A64 = A.astype(np.float64)
    exp = A64 @ M + (bias if bias is not None else 0.0)
    scale = np.abs(A64) @ np.abs(M) + (np.abs(bias) if bias is not None else 0.0)
    g = np.array(got.to_list(), dtype=np.float64)
    assert g.shape == (n, k)
    bound = 4 * (d + 8) * EPS * scale + (EPS32 * np.abs(exp) if dtype == pl.Float32 else 0.0)
    assert np.all(np.abs(g - exp) <= bound + 1e-300)
    assert_bits_equal(df["a"].ml.project(M, bias=bias), got)


@pytest.mark.parametrize("matrix_kind", ["numpy", "list", "int-numpy", "float32-numpy"])
def test_project_matrix_kinds(matrix_kind: str) -> None:
    rng = np.random.default_rng(25)
    A = rng.normal(size=(10, 4))
    M = np.round(rng.normal(size=(4, 2)) * 4)
    m: Any = {
        "numpy": M,
        "list": M.tolist(),
        "int-numpy": M.astype(np.int64),
        "float32-numpy": M.astype(np.float32),
    }[matrix_kind]
    df = pl.DataFrame({"a": vec_series("a", A)})
    got = df.select(pl.col("a").ml.project(m, bias=pl.Series([1.0, -1.0]))).to_series()
    np.testing.assert_allclose(np.array(got.to_list()), A @ M + [1.0, -1.0], rtol=1e-13)


# --------------------------------------------------------------------------- #
# nulls, NaN, zero vectors
# --------------------------------------------------------------------------- #
def _null_frame(
    container: str, dtype: Any = pl.Float64
) -> tuple[pl.DataFrame, list[Any], list[Any]]:
    nan = math.nan
    rows_a: list[Any] = [
        [1.0, 2.0, 3.0],
        None,
        [1.0, None, 3.0],
        [1.0, 2.0, 3.0],
        [nan, 1.0, 2.0],
        [0.0, 0.0, 0.0],
        [4.0, -1.0, 2.0],
        [1.0, 1.0, 1.0],
        [2.0, 0.0, 1.0],
    ]
    rows_b: list[Any] = [
        [1.0, 0.0, -1.0],
        [1.0, 1.0, 1.0],
        [1.0, 1.0, 1.0],
        None,
        [1.0, 1.0, 1.0],
        [1.0, 2.0, 3.0],
        [0.0, 0.0, 0.0],
        [2.0, None, 2.0],
        [1.0, 1.0, nan],
    ]
    if dtype == pl.Int64:
        raise AssertionError("NaN needs floats")
    df = pl.DataFrame(
        {
            "a": vec_series("a", rows_a, dtype, container, 3),
            "b": vec_series("b", rows_b, dtype, container, 3),
        }
    )

    def conv(r: Any) -> Any:
        if r is None or any(v is None for v in r):
            return None
        return np.array(r, dtype=np.float64)

    return df, [conv(r) for r in rows_a], [conv(r) for r in rows_b]


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("dtype", [pl.Float32, pl.Float64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", list(PAIR_OPS))
def test_pairwise_nulls_nan_zero(op: str, dtype: Any, container: str) -> None:
    df, a_rows, b_rows = _null_frame(container, dtype)
    method, kw = PAIR_OPS[op]
    got = df.select(getattr(pl.col("a").ml, method)("b", **kw)).to_series()
    vals, null = series_values(got)
    np.testing.assert_array_equal(null, [False, True, True, True, False, False, False, True, False])
    assert math.isnan(vals[4])
    assert math.isnan(vals[8])
    check_pairwise(got, op, a_rows, b_rows, f32=dtype == pl.Float32)
    if op == "cosine_similarity":
        assert vals[5] == 0.0
        assert vals[6] == 0.0
    if op == "cosine":
        assert vals[5] == 1.0
        assert vals[6] == 1.0


@pytest.mark.parametrize("op", list(PAIR_OPS))
def test_pairwise_nulls_with_constant_other(op: str) -> None:
    df, a_rows, _ = _null_frame("array")
    method, kw = PAIR_OPS[op]
    const = [0.5, -1.0, 2.0]
    got = df.select(getattr(pl.col("a").ml, method)(const, **kw)).to_series()
    check_pairwise(got, op, a_rows, [np.array(const)] * len(a_rows), f32=False)
    assert got.null_count() == 2


def test_zero_vector_conventions() -> None:
    df = pl.DataFrame(
        {"a": [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], "b": [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]}
    )
    cos = df.select(pl.col("a").ml.cosine_similarity("b")).to_series().to_list()
    assert cos == [0.0, 0.0]
    dist = df.select(pl.col("a").ml.distance("b", metric="cosine")).to_series().to_list()
    assert dist == [1.0, 1.0]
    # the sklearn conventions
    assert cosine_similarity([[0.0, 0.0, 0.0]], [[1.0, 2.0, 3.0]])[0, 0] == 0.0
    assert cosine_distances([[0.0, 0.0, 0.0]], [[1.0, 2.0, 3.0]])[0, 0] == 1.0
    assert pmk.cosine_similarity([0.0, 0.0], [1.0, 1.0]) == 0.0
    for norm in UNIT_NORMS:
        out = df.select(pl.col("a").ml.unit_normalize(norm=norm)).to_series().to_list()
        assert out == [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    assert pmk.norm([0.0, 0.0]) == 0.0


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("dtype", [pl.Float32, pl.Float64], ids=["f32", "f64"])
def test_norm_and_unit_normalize_nulls_nan(dtype: Any, container: str) -> None:
    df, a_rows, _ = _null_frame(container, dtype)
    for ord in NORM_ORDS:
        got = df.select(pl.col("a").ml.norm(ord=ord)).to_series()
        vals, null = series_values(got)
        assert null.tolist() == [r is None for r in a_rows]
        for i, r in enumerate(a_rows):
            if r is not None:
                exp = ref_norm(r, ord)
                if math.isnan(exp):
                    assert math.isnan(vals[i])
                else:
                    assert abs(vals[i] - exp) <= 4 * EPS32 * abs(exp)
    for norm in UNIT_NORMS:
        got = df.select(pl.col("a").ml.unit_normalize(norm=norm)).to_series()
        exp_rows = [None if r is None else ref_unit(r, norm) for r in a_rows]
        check_vectors_close(got, exp_rows, 4 * EPS32, [0.0] * len(exp_rows))
        rows, _ = vector_rows(got)
        assert rows[4] is not None
        assert np.isnan(rows[4]).all()
    got = df.select(pl.col("a").ml.project([[1.0], [1.0], [1.0]], bias=[0.5])).to_series()
    assert got.is_null().to_list() == [r is None for r in a_rows]
    assert math.isnan(got[4][0])
    assert got[0].to_list() == [6.5]


@pytest.mark.parametrize("ord", NORM_ORDS, ids=["l1", "l2", "inf"])
def test_nan_anywhere_in_a_long_vector_propagates(ord: float) -> None:
    """NaN in the lane body and in the tail of a 37-wide vector."""
    A = rand_vectors(26, 37, 37)
    for i in range(37):
        A[i, i] = math.nan
    B = rand_vectors(27, 37, 37)
    df = pl.DataFrame({"a": vec_series("a", A), "b": vec_series("b", B)})
    assert df.select(pl.col("a").ml.norm(ord=ord)).to_series().is_nan().all()
    for op, (method, kw) in PAIR_OPS.items():
        got = df.select(getattr(pl.col("a").ml, method)("b", **kw)).to_series()
        assert got.is_nan().all(), op


def test_infinity_follows_numpy() -> None:
    df = pl.DataFrame({"a": [[math.inf, 1.0], [-math.inf, 0.0]]})
    got = df.select(pl.col("a").ml.norm()).to_series().to_list()
    assert got == [math.inf, math.inf]
    got1 = df.select(pl.col("a").ml.norm(ord=float("inf"))).to_series().to_list()
    assert got1 == [math.inf, math.inf]


# --------------------------------------------------------------------------- #
# chunking, slicing, streaming, threads
# --------------------------------------------------------------------------- #
@functools.lru_cache(maxsize=4)
def _vector_frame(n: int = 3000, d: int = 24, seed: int = 30) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, d))
    B = rng.normal(size=(n, d))
    rows_a: list[Any] = A.tolist()
    rows_b: list[Any] = B.tolist()
    for i in rng.choice(n, n // 20, replace=False):
        rows_a[int(i)] = None
    for i in rng.choice(n, n // 20, replace=False):
        rows_b[int(i)][3] = None
    for i in rng.choice(n, n // 50, replace=False):
        rows_b[int(i)][5] = math.nan
    return pl.DataFrame(
        {
            "i": np.arange(n),
            "a": vec_series("a", rows_a, pl.Float64, "array", d),
            "b": vec_series("b", rows_b, pl.Float64, "array", d),
            "la": vec_series("la", rows_a, pl.Float64, "list", d),
            "a32": vec_series("a32", rows_a, pl.Float32, "array", d),
            "ai": vec_series("ai", np.round(A * 5).astype(np.int64), pl.Int64, "list", d),
        }
    )


def _elementwise_exprs(d: int = 24) -> list[pl.Expr]:
    rng = np.random.default_rng(31)
    q = rng.normal(size=d).tolist()
    M = rng.normal(size=(d, 5))
    bias = rng.normal(size=5)
    exprs: list[pl.Expr] = []
    for col in ("a", "la", "a32", "ai"):
        c = pl.col(col)
        exprs += [
            c.ml.dot("b").alias(f"{col}_dot"),
            c.ml.dot(q).alias(f"{col}_dotq"),
            c.ml.cosine_similarity("b").alias(f"{col}_cos"),
            c.ml.distance(q, metric="cosine").alias(f"{col}_cosd"),
            c.ml.distance("b").alias(f"{col}_euc"),
            c.ml.distance("b", metric="manhattan").alias(f"{col}_man"),
            c.ml.norm().alias(f"{col}_n2"),
            c.ml.norm(ord=1).alias(f"{col}_n1"),
            c.ml.unit_normalize().alias(f"{col}_unit"),
            c.ml.unit_normalize(norm="max").alias(f"{col}_unitmax"),
            c.ml.project(M, bias=bias).alias(f"{col}_proj"),
        ]
    return exprs


def test_multi_chunk_and_sliced_input_is_bit_identical() -> None:
    df = _vector_frame()
    parts = [df.slice(0, 700), df.slice(700, 1), df.slice(701, 1500), df.slice(2201, 799)]
    chunked = pl.concat(parts, rechunk=False)
    assert chunked["a"].n_chunks() == 4
    exprs = _elementwise_exprs()
    contiguous = df.select(exprs)
    got = chunked.select(exprs)
    for name in contiguous.columns:
        assert_bits_equal(got[name], contiguous[name])
    # a slice of the frame (offsets into the buffers) equals the same rows rebuilt
    sliced = df.slice(333, 1111)
    rebuilt = pl.DataFrame(
        {c: pl.Series(c, sliced[c].to_list(), dtype=sliced[c].dtype) for c in df.columns}
    )
    a = sliced.select(exprs)
    b = rebuilt.select(exprs)
    c = contiguous.slice(333, 1111)
    for name in a.columns:
        assert_bits_equal(a[name], b[name])
        assert_bits_equal(a[name], c[name])


def test_misaligned_chunks_between_the_two_columns() -> None:
    df = _vector_frame()
    a = pl.concat([df["a"].slice(0, 1000), df["a"].slice(1000, 2000)], rechunk=False)
    b = pl.concat(
        [df["b"].slice(0, 10), df["b"].slice(10, 1500), df["b"].slice(1510, 1490)], rechunk=False
    )
    la = pl.concat([df["la"].slice(0, 2999), df["la"].slice(2999, 1)], rechunk=False)
    chunked = pl.DataFrame({"a": a, "b": b, "la": la})
    assert (chunked["a"].n_chunks(), chunked["b"].n_chunks()) == (2, 3)
    for op, (method, kw) in PAIR_OPS.items():
        for col in ("a", "la"):
            e = getattr(pl.col(col).ml, method)("b", **kw)
            assert_bits_equal(chunked.select(e).to_series(), df.select(e).to_series()), op


def test_search_on_chunked_and_sliced_input() -> None:
    df = _vector_frame()
    q = np.random.default_rng(33).normal(size=24)
    chunked = pl.concat(
        [df.slice(0, 257), df.slice(257, 1000), df.slice(1257, 1743)], rechunk=False
    )
    for metric in ("cosine", "dot", "euclidean"):
        e = pl.col("a").ml.top_k_similar(q, k=40, metric=metric)
        assert chunked.select(e).to_series().to_list() == df.select(e).to_series().to_list()
        n1 = pmk.nearest(chunked, "la", q[None, :], k=40, metric=metric)
        n2 = pmk.nearest(df, "la", q[None, :], k=40, metric=metric)
        assert n1.equals(n2)
    # positions refer to the slice
    sliced = df.slice(1000, 500)
    rebuilt = pl.DataFrame({"a": pl.Series("a", sliced["a"].to_list(), dtype=sliced["a"].dtype)})
    e = pl.col("a").ml.top_k_similar(q, k=10)
    assert sliced.select(e).to_series().to_list() == rebuilt.select(e).to_series().to_list()


def test_elementwise_ops_under_over_are_unchanged() -> None:
    df = _vector_frame(1000).with_columns(g=pl.col("i") % 7)
    exprs = _elementwise_exprs()
    plain = df.select(exprs)
    over = df.select(e.over("g") for e in exprs)
    for name in plain.columns:
        assert_bits_equal(over[name], plain[name])


@pytest.mark.parametrize("engine", ["in-memory", "streaming"])
def test_search_on_a_large_frame_matches_brute_force(engine: str) -> None:
    """More rows than one morsel: the searches must see every row at once."""
    n, d = 250_000, 4
    rng = np.random.default_rng(34)
    data = rng.normal(size=(n, d))
    lf = pl.LazyFrame({"e": pl.Series("e", data)})
    queries = rng.normal(size=(2, d))
    for metric in ("cosine", "dot", "euclidean"):
        got = lf.select(pl.col("e").ml.top_k_similar(queries[0], k=5, metric=metric)).collect(
            engine=engine  # type: ignore[arg-type]
        )
        exp_idx, _ = brute_nearest(data, np.ones(n, dtype=bool), queries[:1], 5, metric)
        assert got.to_series().to_list() == exp_idx[0].tolist(), metric
        near = pmk.nearest(lf, "e", queries, k=5, metric=metric)
        check_nearest(near, data, np.ones(n, dtype=bool), queries, 5, metric)


def test_sliced_series_faces() -> None:
    df = _vector_frame(500)
    s = df["la"].slice(17, 300)
    t = pl.Series("la", s.to_list(), dtype=s.dtype)
    assert_bits_equal(s.ml.norm(), t.ml.norm())
    assert_bits_equal(s.ml.unit_normalize(norm="l1"), t.ml.unit_normalize(norm="l1"))
    b = df["b"].slice(17, 300)
    assert_bits_equal(s.ml.dot(b), t.ml.dot(pl.Series("b", b.to_list(), dtype=b.dtype)))


@pytest.mark.parametrize("n", [50_000])
def test_streaming_equals_in_memory(n: int) -> None:
    df = _vector_frame(n)
    exprs = _elementwise_exprs()
    lf = df.lazy().select(exprs)
    mem = lf.collect(engine="in-memory")
    stream = lf.collect(engine="streaming")
    for name in mem.columns:
        assert_bits_equal(stream[name], mem[name])
    # with a filter after the op (must not change which rows are computed)
    lf2 = df.lazy().with_columns(exprs).filter(pl.col("i") % 7 == 3)
    exp = mem.filter((df["i"] % 7 == 3).to_numpy())
    for engine in ("in-memory", "streaming"):
        out = lf2.collect(engine=engine)  # type: ignore[arg-type]
        for name in exp.columns:
            assert_bits_equal(out[name], exp[name])


_SUBPROCESS_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, sys
    sys.path.insert(0, {here!r})
    import polars as pl
    import test_vectors as tv
    df = tv._vector_frame(20000)
    out = df.lazy().select(tv._elementwise_exprs())
    res = {{}}
    for engine in ("in-memory", "streaming"):
        frame = out.collect(engine=engine)
        for c in frame.columns:
            res[engine + "/" + c] = tv._digest(frame[c])
        res[engine + "/search"] = tv._search_results(df.lazy(), engine)
    print(json.dumps(res))
    """
)


def _search_results(lf: pl.LazyFrame, engine: str) -> dict[str, Any]:
    """top_k_similar (select and group_by) and nearest results, as plain lists."""
    rng = np.random.default_rng(32)
    q = rng.normal(size=24)
    top = lf.select(
        pl.col("a").ml.top_k_similar(q, k=25).alias("cos"),
        pl.col("la").ml.top_k_similar(q, k=25, metric="euclidean").alias("euc"),
        pl.col("a32").ml.top_k_similar(q.astype(np.float32), k=25, metric="dot").alias("dot"),
    ).collect(engine=engine)  # type: ignore[arg-type]
    grouped = (
        lf.group_by(pl.col("i") % 5)
        .agg(pl.col("a").ml.top_k_similar(q, k=6))
        .sort("i")
        .collect(engine=engine)  # type: ignore[arg-type]
    )
    near = pmk.nearest(lf, "a", rng.normal(size=(3, 24)), k=8, metric="euclidean")
    return {
        **{c: top[c].to_list() for c in top.columns},
        "grouped": grouped["a"].to_list(),
        "nearest": [list(r) for r in near.sort("query", "rank").rows()],
    }


def _digest(s: pl.Series) -> str:
    vals = s.filter(s.is_not_null()).explode() if isinstance(s.dtype, (pl.Array, pl.List)) else s
    h = hashlib.sha256()
    h.update(s.is_null().to_numpy().tobytes())
    h.update(vals.fill_null(0.0).to_numpy().tobytes())
    return h.hexdigest()


@pytest.mark.parametrize(("threads", "morsel"), [("1", "64"), ("3", "1000")])
def test_bit_identical_across_threads_and_morsels(threads: str, morsel: str) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, POLARS_MAX_THREADS=threads, POLARS_IDEAL_MORSEL_SIZE=morsel)
    proc = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS_SCRIPT.format(here=here)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    ours = _vector_frame(20000).select(_elementwise_exprs())
    assert len(theirs) == 2 * ours.width + 2
    for engine in ("in-memory", "streaming"):
        for c in ours.columns:
            assert theirs[f"{engine}/{c}"] == _digest(ours[c]), (engine, c)
        assert theirs[f"{engine}/search"] == _search_results(
            _vector_frame(20000).lazy(), "in-memory"
        ), engine


# --------------------------------------------------------------------------- #
# top_k_similar
# --------------------------------------------------------------------------- #
def ref_scores(rows: list[np.ndarray | None], query: np.ndarray, metric: str) -> np.ndarray:
    """Per-row score (NaN for null rows): similarity, or distance for euclidean."""
    out = np.full(len(rows), np.nan)
    for i, r in enumerate(rows):
        if r is None:
            continue
        if metric == "cosine":
            out[i] = cosine_similarity(r[None, :], query[None, :])[0, 0]
        elif metric == "dot":
            out[i] = math.fsum((r * query).tolist())
        else:
            out[i] = sp_distance.euclidean(r, query)
    return out


def ref_top_k(rows: list[np.ndarray | None], query: np.ndarray, k: int, metric: str) -> list[int]:
    """Brute force: stable argsort on -score (or on distance), nulls/NaN never chosen."""
    s = ref_scores(rows, query, metric)
    key = s if metric == "euclidean" else -s
    order = np.argsort(key, kind="stable")  # NaN sorts last
    return [int(i) for i in order if not np.isnan(key[i])][:k]


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_top_k_similar_select(metric: str, dtype: Any, container: str) -> None:
    d = 17
    A = rand_vectors(40, 400, d, dtype)
    rows: list[Any] = A.tolist()
    rows[3] = None
    rows[10] = [None, *rows[10][1:]]
    q = rand_vectors(41, 1, d, pl.Float32 if dtype == pl.Float32 else pl.Float64)[0]
    q = q.astype(np.float64)  # exact in f32 for the f32 case
    df = pl.DataFrame({"e": vec_series("e", rows, dtype, container, d)})
    k = 9
    lf = df.lazy().select(pl.col("e").ml.top_k_similar(q, k=k, metric=metric))
    assert lf.collect_schema() == pl.Schema({"e": pl.UInt32})
    got = lf.collect().to_series()
    assert got.dtype == pl.UInt32
    assert got.len() == k
    ref_rows = [None if r is None or None in r else np.array(r, dtype=np.float64) for r in rows]
    assert got.to_list() == ref_top_k(ref_rows, q, k, metric)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_top_k_similar_default_metric_and_ties(metric: str) -> None:
    rows: list[Any] = [
        [1.0, 0.0],  # 0
        [0.0, 1.0],  # 1
        [1.0, 0.0],  # 2 tie with 0
        None,  # 3 never chosen
        [1.0, 0.0],  # 4 tie with 0
        [0.0, 0.0],  # 5 zero vector
        [1.0, 0.0],  # 6 tie with 0
        [-1.0, 0.0],  # 7
    ]
    df = pl.DataFrame({"e": vec_series("e", rows, pl.Float64, "array", 2)})
    got = df.select(pl.col("e").ml.top_k_similar([1.0, 0.0], k=3, metric=metric)).to_series()
    assert got.to_list() == [0, 2, 4]  # ties to the lower position
    ref_rows = [None if r is None else np.array(r) for r in rows]
    assert got.to_list() == ref_top_k(ref_rows, np.array([1.0, 0.0]), 3, metric)
    # fewer non-null rows than k -> all of them, best first, no null row
    got_all = df.select(pl.col("e").ml.top_k_similar([1.0, 0.0], k=50, metric=metric)).to_series()
    assert got_all.to_list() == ref_top_k(ref_rows, np.array([1.0, 0.0]), 50, metric)
    assert 3 not in got_all.to_list()
    assert got_all.len() == 7


def test_top_k_similar_default_is_cosine() -> None:
    rows = [[10.0, 0.0], [1.0, 1.0], [0.5, 0.1]]
    df = pl.DataFrame({"e": rows})
    got = df.select(pl.col("e").ml.top_k_similar([0.0, 1.0], k=3)).to_series().to_list()
    assert got == [1, 2, 0]  # cosine, not dot (dot would put row 1 then 2 then 0 as well)
    got = df.select(pl.col("e").ml.top_k_similar([1.0, 0.2], k=3)).to_series().to_list()
    s = cosine_similarity(np.array(rows), np.array([[1.0, 0.2]]))[:, 0]
    assert got == np.argsort(-s, kind="stable").tolist()
    assert got != np.argsort(-(np.array(rows) @ [1.0, 0.2]), kind="stable").tolist()


def test_top_k_similar_euclidean_ranks_by_smallest_distance() -> None:
    rows = [[0.0, 0.0], [5.0, 5.0], [1.0, 1.0], [100.0, 100.0], [1.1, 0.9]]
    df = pl.DataFrame({"e": rows})
    got = df.select(pl.col("e").ml.top_k_similar([1.0, 1.0], k=5, metric="euclidean"))
    assert got.to_series().to_list() == [2, 4, 0, 1, 3]


def test_top_k_similar_nan_rows_never_chosen() -> None:
    rows = [[1.0, 0.0], [math.nan, 1.0], [0.5, 0.5], [0.0, 1.0]]
    df = pl.DataFrame({"e": rows})
    for metric in ("cosine", "dot", "euclidean"):
        got = df.select(pl.col("e").ml.top_k_similar([1.0, 0.0], k=4, metric=metric))
        assert 1 not in got.to_series().to_list()
        assert got.height == 3


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("container", CONTAINERS)
def test_top_k_similar_group_by(metric: str, container: str) -> None:
    rng = np.random.default_rng(42)
    n, d, k = 300, 6, 4
    A = np.round(rng.normal(size=(n, d)) * 2)  # integers: many exact ties
    g = rng.integers(0, 6, n)
    g[g == 5] = 4
    rows: list[Any] = A.tolist()
    for i in rng.choice(n, 20, replace=False):
        rows[int(i)] = None
    # a group with fewer rows than k (one of them null)
    rows += [[1.0] * d, None]
    g = np.concatenate([g, [9, 9]])
    q = np.round(rng.normal(size=d) * 2)
    df = pl.DataFrame({"g": g, "e": vec_series("e", rows, pl.Float64, container, d)})
    got = (
        df.group_by("g", maintain_order=True)
        .agg(pl.col("e").ml.top_k_similar(q, k=k, metric=metric))
        .sort("g")
    )
    assert got.schema["e"] == pl.List(pl.UInt32)
    for gv, positions in zip(got["g"].to_list(), got["e"].to_list(), strict=True):
        idx = np.flatnonzero(np.asarray(g) == gv)
        sub = [None if rows[i] is None else np.array(rows[i]) for i in idx]
        assert positions == ref_top_k(sub, q, k, metric), gv
    assert got.filter(pl.col("g") == 9)["e"].to_list() == [[0]]


# --------------------------------------------------------------------------- #
# nearest
# --------------------------------------------------------------------------- #
NEAREST_SCHEMA = pl.Schema(
    {"query": pl.UInt32, "rank": pl.UInt32, "index": pl.UInt32, "score": pl.Float64}
)


def reference_scores(data: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    """(m, n) scores: cosine similarity (sklearn), dot product, or Euclidean distance."""
    if metric == "cosine":
        return np.asarray(cosine_similarity(queries, data))
    if metric == "dot":
        return queries @ data.T
    diff = queries[:, None, :] - data[None, :, :]
    return np.sqrt((diff**2).sum(-1))


def brute_nearest(
    data: np.ndarray, valid: np.ndarray, queries: np.ndarray, k: int, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, all scores) per query: numpy scores and a stable argsort, nulls last."""
    scores = reference_scores(data, queries, metric)
    key = scores if metric == "euclidean" else -scores
    key = np.where(valid[None, :], key, np.inf)
    order = np.argsort(key, axis=1, kind="stable")[:, : min(k, int(valid.sum()))]
    return order, scores


def check_nearest(
    got: pl.DataFrame,
    data: np.ndarray,
    valid: np.ndarray,
    queries: np.ndarray,
    k: int,
    metric: str,
    exact_ids: bool = True,
) -> None:
    assert got.schema == NEAREST_SCHEMA
    got = got.sort("query", "rank")
    m, d = queries.shape
    kk = min(k, int(valid.sum()))
    assert got.height == m * kk
    assert got["query"].to_list() == [q for q in range(m) for _ in range(kk)]
    assert got["rank"].to_list() == list(range(1, kk + 1)) * m
    idx = got["index"].to_numpy().astype(np.int64).reshape(m, kk)
    sc = got["score"].to_numpy().reshape(m, kk)
    assert np.all(valid[idx]), "a null row was chosen"
    for q in range(m):
        assert len(set(idx[q].tolist())) == kk, "an index repeated"
    exp_idx, scores = brute_nearest(data, valid, queries, k, metric)
    # the reported scores belong to the reported rows (error bounds of a
    # matrix-product kernel: dot relative to |q||x|, euclidean via |q|^2 + |x|^2)
    ref_at = np.take_along_axis(scores, idx, axis=1)
    qn = np.linalg.norm(queries, axis=1)[:, None]
    xn = np.linalg.norm(data, axis=1)[idx]
    if metric == "dot":
        tol = 8 * (d + 8) * EPS * qn * xn
    elif metric == "cosine":
        tol = np.full(ref_at.shape, 8 * (d + 8) * EPS)
    else:
        e = 8 * (d + 8) * EPS * (qn**2 + xn**2)
        tol = np.minimum(np.sqrt(e), e / np.maximum(ref_at, 1e-300))
    bad = ~(np.abs(sc - ref_at) <= tol + 1e-300)
    assert not bad.any(), f"scores {sc[bad][:5]} vs reference {ref_at[bad][:5]}"
    if exact_ids:
        np.testing.assert_array_equal(idx, exp_idx)
    else:
        # cosine near-ties may swap places: the ranked scores must still agree
        assert metric == "cosine"
        exp_sc = np.take_along_axis(scores, exp_idx, axis=1)
        assert np.all(np.abs(sc - exp_sc) <= 8 * (d + 8) * EPS)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_nearest_matches_brute_force(metric: str, dtype: Any, container: str) -> None:
    n, d, m, k = 700, 12, 9, 6  # more rows than one block
    data = rand_vectors(50, n, d, dtype)
    rows: list[Any] = data.tolist()
    valid = np.ones(n, dtype=bool)
    for i in (0, 5, 256, 699):
        rows[i] = None
        valid[i] = False
    rows[300] = [None, *rows[300][1:]]
    valid[300] = False
    queries = rand_vectors(51, m, d, pl.Float64)
    df = pl.DataFrame({"e": vec_series("e", rows, dtype, container, d)})
    got = pmk.nearest(df, "e", queries, k=k, metric=metric)
    assert isinstance(got, pl.DataFrame)
    data64 = np.where(valid[:, None], data.astype(np.float64), 0.0)
    # the queries follow the column's dtype, as a constant vector does
    if dtype == pl.Float32:
        queries = queries.astype(np.float32).astype(np.float64)
    check_nearest(got, data64, valid, queries, k, metric)
    # a LazyFrame and a list of lists give the same answer
    got2 = pmk.nearest(df.lazy(), "e", queries.tolist(), k=k, metric=metric)
    assert got2.sort("query", "rank").equals(got.sort("query", "rank"))


def test_nearest_default_metric_and_k() -> None:
    data = rand_vectors(52, 100, 5)
    queries = rand_vectors(53, 3, 5)
    df = pl.DataFrame({"e": vec_series("e", data)})
    got = pmk.nearest(df, "e", queries)
    check_nearest(got, data, np.ones(100, dtype=bool), queries, 10, "cosine")


def test_nearest_docstring_example_and_fewer_rows_than_k() -> None:
    df = pl.DataFrame({"e": [[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], None]})
    assert pmk.nearest(df, "e", [[0.0, 1.0]], k=2)["index"].to_list() == [1, 2]
    got = pmk.nearest(df, "e", [[0.0, 1.0], [1.0, 0.0]], k=10, metric="euclidean")
    got = got.sort("query", "rank")
    assert got["index"].to_list() == [1, 2, 0, 0, 2, 1]
    np.testing.assert_allclose(
        got["score"].to_numpy(),
        [0.0, math.hypot(0.7, 0.3), math.sqrt(2), 0.0, math.hypot(0.3, 0.7), math.sqrt(2)],
        rtol=1e-12,
        atol=1e-7,
    )


def test_nearest_ties_go_to_lower_position() -> None:
    rows = [[1.0, 2.0], [2.0, 4.0], [1.0, 2.0], [1.0, 2.0], [0.0, 1.0]]
    df = pl.DataFrame({"e": rows})
    for metric, expected in [
        ("cosine", [0, 1, 2, 3]),
        ("dot", [1, 0, 2, 3]),
        ("euclidean", [0, 2, 3, 4]),
    ]:
        got = pmk.nearest(df, "e", [[1.0, 2.0]], k=4, metric=metric).sort("rank")
        assert got["index"].to_list() == expected, metric


def test_nearest_agrees_with_top_k_similar() -> None:
    data = rand_vectors(54, 500, 8)
    queries = rand_vectors(55, 4, 8)
    df = pl.DataFrame({"e": vec_series("e", data)})
    for metric in ("cosine", "dot", "euclidean"):
        got = pmk.nearest(df, "e", queries, k=7, metric=metric).sort("query", "rank")
        for qi, q in enumerate(queries):
            top = df.select(pl.col("e").ml.top_k_similar(q, k=7, metric=metric)).to_series()
            assert got.filter(pl.col("query") == qi)["index"].to_list() == top.to_list()


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float64), y


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_nearest_on_digits(metric: str, digits: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = digits
    df = pl.DataFrame({"pixels": vec_series("pixels", X)})
    picks = [0, 1, 10, 100, 1000, 1796]
    got = pmk.nearest(df, "pixels", X[picks], k=5, metric=metric)
    valid = np.ones(len(X), dtype=bool)
    # integer data: dot and squared distances are exact, so ids must match exactly
    check_nearest(got, X, valid, X[picks], 5, metric, exact_ids=metric != "cosine")
    got = got.sort("query", "rank")
    if metric != "dot":
        # every digit is its own nearest neighbour (or an exact duplicate of it)
        first = got.filter(pl.col("rank") == 1)
        for qi, idx, score in first.select("query", "index", "score").iter_rows():
            assert np.array_equal(X[idx], X[picks[qi]]) or idx == picks[qi]
            assert score == pytest.approx(1.0 if metric == "cosine" else 0.0, abs=1e-12)
        # and the neighbours mostly share its label
        same = np.mean(y[got["index"].to_numpy()] == np.repeat(y[picks], 5))
        assert same > 0.9


def test_one_nn_classifier_on_digits_matches_sklearn(digits: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = digits
    rng = np.random.default_rng(60)
    perm = rng.permutation(len(X))
    train, test = perm[:1300], perm[1300:]
    df = pl.DataFrame({"pixels": vec_series("pixels", X[train].astype(np.int64), pl.Int64)})
    got = pmk.nearest(df, "pixels", X[test], k=1, metric="euclidean").sort("query")
    assert got["query"].to_list() == list(range(len(test)))
    pred = y[train][got["index"].to_numpy()]
    # brute force: exact integer squared distances, ties to the lower position
    Xte, Xtr = X[test], X[train]
    d2 = (Xte**2).sum(1)[:, None] + (Xtr**2).sum(1)[None, :] - 2 * Xte @ Xtr.T  # exact
    bf = np.argmin(d2, axis=1)  # first minimum
    np.testing.assert_array_equal(got["index"].to_numpy(), bf)
    np.testing.assert_allclose(
        got["score"].to_numpy(), np.sqrt(d2[np.arange(len(test)), bf]), rtol=1e-12
    )
    acc = float(np.mean(pred == y[test]))
    knn = KNeighborsClassifier(n_neighbors=1).fit(X[train], y[train])
    assert acc == pytest.approx(knn.score(X[test], y[test]), abs=0)
    assert acc > 0.95


# --------------------------------------------------------------------------- #
# errors
# --------------------------------------------------------------------------- #
def _single_ops() -> list[tuple[str, Callable[[pl.Expr], pl.Expr]]]:
    return [
        ("dot", lambda c: c.ml.dot([1.0, 2.0])),
        ("cosine_similarity", lambda c: c.ml.cosine_similarity([1.0, 2.0])),
        ("distance", lambda c: c.ml.distance([1.0, 2.0], metric="chebyshev")),
        ("norm", lambda c: c.ml.norm()),
        ("unit_normalize", lambda c: c.ml.unit_normalize()),
        ("project", lambda c: c.ml.project([[1.0], [2.0]])),
        ("top_k_similar", lambda c: c.ml.top_k_similar([1.0, 2.0], k=2)),
    ]


@pytest.mark.parametrize(("function", "build"), _single_ops(), ids=[f for f, _ in _single_ops()])
@pytest.mark.parametrize(
    "column",
    [
        pl.Series("x", [1.0, 2.0]),
        pl.Series("x", [1, 2]),
        pl.Series("x", ["a", "b"]),
        pl.Series("x", [["a", "b"], ["c", "d"]]),
    ],
    ids=["float", "int", "string", "list-of-string"],
)
def test_non_vector_column_is_a_schema_error(function: str, build: Any, column: pl.Series) -> None:
    lf = pl.LazyFrame({"x": column})
    q = lf.select(build(pl.col("x")))
    with pytest.raises(PLUGIN_ERRORS) as excinfo:
        q.collect_schema()
    assert_plugin_error(excinfo, function)
    with pytest.raises(PLUGIN_ERRORS) as excinfo:
        q.collect()
    assert_plugin_error(excinfo, function)


def test_scalar_column_in_other_position_is_an_error() -> None:
    lf = pl.LazyFrame({"a": vec_series("a", [[1.0, 2.0]]), "x": [1.0]})
    with pytest.raises(PLUGIN_ERRORS) as excinfo:
        lf.select(pl.col("a").ml.dot("x")).collect_schema()
    assert_plugin_error(excinfo, "dot")


def test_nearest_on_scalar_column_is_an_error() -> None:
    df = pl.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(PLUGIN_ERRORS) as excinfo:
        pmk.nearest(df, "x", [[1.0]], k=1)
    assert_plugin_error(excinfo, "nearest")


@pytest.mark.parametrize("op", list(PAIR_OPS))
def test_array_widths_differ_is_a_schema_error(op: str) -> None:
    lf = pl.LazyFrame(
        {"a": vec_series("a", np.ones((2, 13))), "b": vec_series("b", np.ones((2, 11)))}
    )
    method, kw = PAIR_OPS[op]
    q = lf.select(getattr(pl.col("a").ml, method)("b", **kw))
    with pytest.raises(PLUGIN_ERRORS) as excinfo:
        q.collect_schema()
    assert_plugin_error(excinfo, method, "13", "11")


@pytest.mark.parametrize("op", list(PAIR_OPS))
def test_constant_of_wrong_length_array_is_a_schema_error(op: str) -> None:
    lf = pl.LazyFrame({"a": vec_series("a", np.ones((2, 13)))})
    method, kw = PAIR_OPS[op]
    q = lf.select(getattr(pl.col("a").ml, method)(np.ones(11), **kw))
    with pytest.raises(PLUGIN_ERRORS) as excinfo:
        q.collect_schema()
    assert_plugin_error(excinfo, method, "13", "11")


@pytest.mark.parametrize("op", list(PAIR_OPS))
def test_constant_of_wrong_length_list_is_an_error(op: str) -> None:
    df = pl.DataFrame({"a": vec_series("a", np.ones((2, 13)), container="list")})
    method, kw = PAIR_OPS[op]
    with pytest.raises(PLUGIN_ERRORS) as excinfo:
        df.select(getattr(pl.col("a").ml, method)(np.ones(11), **kw))
    assert_plugin_error(excinfo, method, "13", "11")


@pytest.mark.parametrize("op", list(PAIR_OPS))
@pytest.mark.parametrize(("ca", "cb"), [("list", "list"), ("array", "list"), ("list", "array")])
def test_list_rows_of_different_lengths_is_compute_error(op: str, ca: str, cb: str) -> None:
    a = [[1.0] * 13, [2.0] * 13]
    b = [[1.0] * 13, [3.0] * 11] if cb == "list" else [[1.0] * 11, [3.0] * 11]
    if ca == "list" and cb == "array":
        a = [[1.0] * 11, [2.0] * 13]
    df = pl.DataFrame(
        {"a": vec_series("a", a, container=ca), "b": vec_series("b", b, container=cb)}
    )
    method, kw = PAIR_OPS[op]
    with pytest.raises(ComputeError) as excinfo:
        df.select(getattr(pl.col("a").ml, method)("b", **kw))
    assert_plugin_error(excinfo, method, "13", "11")


def test_project_shape_errors() -> None:
    lf = pl.LazyFrame({"a": vec_series("a", np.ones((2, 13)))})
    with pytest.raises(PLUGIN_ERRORS) as excinfo:
        lf.select(pl.col("a").ml.project(np.ones((11, 3)))).collect_schema()
    assert_plugin_error(excinfo, "project", "13", "11")
    df = pl.DataFrame({"a": vec_series("a", [[1.0] * 11, [1.0] * 13], container="list", width=11)})
    with pytest.raises(PLUGIN_ERRORS) as excinfo:
        df.select(pl.col("a").ml.project(np.ones((11, 3))))
    assert_plugin_error(excinfo, "project", "13", "11")
    with pytest.raises(ValueError, match="project"):
        pl.col("a").ml.project(np.ones((13, 3)), bias=[1.0, 2.0])
    with pytest.raises(ValueError, match="project"):
        pl.col("a").ml.project(np.ones(13))  # 1-D matrix
    with pytest.raises(TypeError, match="project"):
        pl.col("a").ml.project([["a", "b"], ["c", "d"]])
    with pytest.raises(TypeError, match="project"):
        pmk.project(np.ones((2, 2)), np.array([["x"], ["y"]]))


def test_top_k_and_nearest_width_errors() -> None:
    lf = pl.LazyFrame({"a": vec_series("a", np.ones((2, 13)))})
    with pytest.raises(PLUGIN_ERRORS) as excinfo:
        lf.select(pl.col("a").ml.top_k_similar(np.ones(11), k=1)).collect_schema()
    assert_plugin_error(excinfo, "top_k_similar", "13", "11")
    with pytest.raises(PLUGIN_ERRORS) as excinfo:
        pmk.nearest(lf, "a", np.ones((2, 11)), k=1)
    assert_plugin_error(excinfo, "nearest", "13", "11")
    df = pl.DataFrame({"a": vec_series("a", [[1.0] * 11, [1.0] * 13], container="list", width=11)})
    with pytest.raises(ComputeError) as excinfo:
        df.select(pl.col("a").ml.top_k_similar(np.ones(11), k=1))
    assert_plugin_error(excinfo, "top_k_similar", "13", "11")
    with pytest.raises(ComputeError) as excinfo:
        pmk.nearest(df, "a", np.ones((1, 11)), k=1)
    assert_plugin_error(excinfo, "nearest", "13", "11")


@pytest.mark.parametrize(
    ("function", "build"),
    [
        ("dot", lambda q: pl.col("a").ml.dot(q)),
        ("cosine_similarity", lambda q: pl.col("a").ml.cosine_similarity(q)),
        ("distance", lambda q: pl.col("a").ml.distance(q)),
        ("top_k_similar", lambda q: pl.col("a").ml.top_k_similar(q, k=3)),
        ("top_k_similar", lambda q: pmk.top_k_similar("a", q, 3, metric="dot")),
    ],
)
def test_2d_where_a_vector_is_expected_is_value_error(function: str, build: Any) -> None:
    with pytest.raises(ValueError, match=function):
        build(np.ones((2, 3)))
    with pytest.raises(ValueError, match=function):
        build([[1.0, 2.0], [3.0, 4.0]])


def test_nearest_queries_must_be_2d_before_running() -> None:
    calls = []

    def spy(s: pl.Series) -> pl.Series:
        calls.append(1)
        return s

    lf = pl.LazyFrame({"a": vec_series("a", np.ones((3, 2)))}).with_columns(
        pl.col("a").map_batches(spy, return_dtype=pl.Array(pl.Float64, 2))
    )
    with pytest.raises(ValueError, match="nearest"):
        pmk.nearest(lf, "a", [1.0, 2.0], k=1)
    with pytest.raises(ValueError, match="nearest"):
        pmk.nearest(lf, "a", [[1.0, 2.0]], k=0)
    with pytest.raises(ValueError, match="nearest"):
        pmk.nearest(lf, "a", [[1.0, 2.0]], k=1, metric="manhattan")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="nearest"):
        pmk.nearest(lf, "a", [["a", "b"]], k=1)
    assert calls == []


@pytest.mark.parametrize(
    "build",
    [
        lambda: pl.col("a").ml.distance([1.0], metric="cityblock"),
        lambda: pl.col("a").ml.distance([1.0], metric="Euclidean"),
        lambda: pmk.distance("a", [1.0], metric="minkowski"),
        lambda: pl.col("a").ml.norm(ord=3),
        lambda: pl.col("a").ml.norm(ord=0),
        lambda: pl.col("a").ml.norm(ord="fro"),
        lambda: pl.col("a").ml.norm(ord=-math.inf),
        lambda: pl.col("a").ml.norm(ord=True),
        lambda: pl.col("a").ml.unit_normalize(norm="l3"),
        lambda: pl.col("a").ml.unit_normalize(norm="L2"),
        lambda: pl.col("a").ml.top_k_similar([1.0], k=1, metric="manhattan"),
        lambda: pl.col("a").ml.top_k_similar([1.0], k=0),
        lambda: pl.col("a").ml.top_k_similar([1.0], k=-3),
        lambda: pmk.top_k_similar("a", [1.0], k=0, metric="dot"),
        lambda: pmk.nearest(pl.DataFrame({"a": [[1.0]]}), "a", [[1.0]], k=-1),
        lambda: pmk.nearest(pl.DataFrame({"a": [[1.0]]}), "a", [[1.0]], metric="chebyshev"),
    ],
    ids=[
        "metric-cityblock",
        "metric-case",
        "free-metric",
        "ord-3",
        "ord-0",
        "ord-fro",
        "ord--inf",
        "ord-bool",
        "norm-l3",
        "norm-case",
        "search-metric",
        "k-0",
        "k-neg",
        "free-k-0",
        "nearest-k",
        "nearest-metric",
    ],
)
def test_argument_errors_are_value_errors(build: Callable[[], Any]) -> None:
    with pytest.raises(ValueError, match=r"distance|norm|unit_normalize|top_k_similar|nearest"):
        build()


def test_k_must_be_an_integer() -> None:
    with pytest.raises((TypeError, ValueError), match="top_k_similar"):
        pl.col("a").ml.top_k_similar([1.0], k=2.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "const",
    [["a", "b"], np.array(["x", "y"]), pl.Series(["x", "y"])],
    ids=["list", "numpy", "series"],
)
def test_non_numeric_constant_is_type_error(const: Any) -> None:
    with pytest.raises(TypeError, match="dot"):
        pl.col("a").ml.dot(const)


def test_constant_series_with_null_is_value_error() -> None:
    with pytest.raises(ValueError, match="cosine_similarity"):
        pl.col("a").ml.cosine_similarity(pl.Series([1.0, None]))


def test_top_k_similar_on_one_vector_is_value_error() -> None:
    # Data holds one vector per row; a single vector has nothing to rank.
    with pytest.raises(ValueError, match="top_k_similar"):
        pmk.top_k_similar(np.ones(2), [1.0, 1.0], 1)


def test_free_function_data_other_cannot_be_a_column() -> None:
    with pytest.raises(TypeError, match="dot"):
        pmk.dot([1.0, 2.0], "b")
