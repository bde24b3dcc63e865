"""The data face: plain lists, tuples and numpy arrays go straight to the
Rust kernels (DESIGN.md, "The Python <-> Rust boundary").

Every function is checked against numpy / scikit-learn on every input kind
and dtype the contract names, and against the expression face bit for bit;
bad input must give the named error; several Python threads at once must
each get their own right answer.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from polars.exceptions import ComputeError
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

RNG_SEED = 20261202
DTYPES = ("float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool")


def _data(shape: tuple[int, ...], dtype: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(RNG_SEED + seed)
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -50), min(info.max, 50), shape).astype(dtype)
    return rng.normal(0.0, 3.0, shape).astype(dtype)


def _computed(a: np.ndarray) -> np.ndarray:
    """The array as the kernels see it: float32 (and float16) stay 32-bit,
    everything else becomes float64."""
    return a.astype(np.float32 if a.dtype in (np.float16, np.float32) else np.float64)


def _close(got: Any, want: Any, rtol: float) -> None:
    np.testing.assert_allclose(
        np.asarray(got, float), np.asarray(want, float), rtol=rtol, atol=rtol
    )


def _rtol(dtype: Any) -> float:
    return 1e-5 if np.dtype(dtype) in (np.float16, np.float32) else 1e-12


def _layouts(a: np.ndarray) -> dict[str, np.ndarray]:
    """The same 2-D values as C order, Fortran order and a strided view."""
    wide = np.zeros((a.shape[0], a.shape[1] * 2), dtype=a.dtype)
    wide[:, ::2] = a
    return {"C": np.ascontiguousarray(a), "F": np.asfortranarray(a), "strided": wide[:, ::2]}


# --------------------------------------------------------------------------- #
# vector operations against numpy
# --------------------------------------------------------------------------- #
def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na = np.linalg.norm(a, axis=-1)
    nb = np.linalg.norm(b, axis=-1)
    denom = na * nb
    out = np.divide(np.sum(a * b, axis=-1), denom, out=np.zeros_like(denom), where=denom != 0)
    return out


PAIR_REFERENCES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "dot": lambda a, b: np.sum(a * b, axis=-1),
    "cosine_similarity": _cosine,
    "euclidean": lambda a, b: np.linalg.norm(a - b, axis=-1),
    "manhattan": lambda a, b: np.sum(np.abs(a - b), axis=-1),
    "chebyshev": lambda a, b: np.max(np.abs(a - b), axis=-1),
    "sqeuclidean": lambda a, b: np.sum((a - b) ** 2, axis=-1),
    "cosine": lambda a, b: np.clip(1.0 - _cosine(a, b), 0.0, 2.0),
}


def _pair(name: str, x: Any, other: Any) -> Any:
    if name in ("dot", "cosine_similarity"):
        return getattr(pmk, name)(x, other)
    return pmk.distance(x, other, metric=name)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(PAIR_REFERENCES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_pairwise_numpy_dtypes_and_layouts(name: str, dtype: str) -> None:
    x = _data((40, 7), dtype, 1)
    q = _data((7,), dtype, 2)
    ref = PAIR_REFERENCES[name]
    xf, qf = x.astype(np.float64), q.astype(np.float64)
    for layout, view in _layouts(x).items():
        got = _pair(name, view, q)
        assert isinstance(got, np.ndarray), layout
        assert got.dtype == _computed(x).dtype, (layout, got.dtype)
        _close(got, ref(xf, qf), _rtol(dtype))
        rows = _pair(name, view, _layouts(x[::-1].copy())[layout])
        _close(rows, ref(xf, xf[::-1]), _rtol(dtype))
    one = _pair(name, x[0], q)
    assert isinstance(one, float)
    _close(one, ref(xf[0], qf), _rtol(dtype))


@pytest.mark.parametrize("name", sorted(PAIR_REFERENCES))
def test_pairwise_lists_and_tuples(name: str) -> None:
    x = _data((25, 5), "float64", 3)
    q = _data((5,), "float64", 4)
    ref = PAIR_REFERENCES[name]
    got = _pair(name, x.tolist(), q.tolist())
    assert isinstance(got, list)
    _close(got, ref(x, q), 1e-12)
    got_t = _pair(name, tuple(x[0]), tuple(q))
    assert isinstance(got_t, float)
    _close(got_t, ref(x[0], q), 1e-12)
    ints = _pair(name, [int(v) for v in range(5)], [1, 2, 3, 4, 5])
    _close(ints, ref(np.arange(5.0), np.arange(1.0, 6.0)), 1e-12)


def test_unaligned_and_structured_views() -> None:
    rec = np.zeros(50, dtype=[("a", "f8"), ("b", "i4")])
    rec["a"] = np.arange(50.0)
    view = rec["a"]  # 12-byte strides: not whole float64 elements
    assert view.strides[0] % 8 != 0
    _close(pmk.normalize(view), np.arange(50.0) / 49.0, 1e-12)
    raw = np.zeros(8 * 20 + 1, dtype=np.uint8)[1:].view(np.float64)  # unaligned
    raw[:] = np.arange(20.0)
    assert not raw.flags.aligned
    assert pmk.dot(raw, raw) == float(np.arange(20.0) @ np.arange(20.0))


def test_lists_of_ints_floats_and_numpy_scalars() -> None:
    values = [3, 1.5, np.float32(2.5), np.int64(-4), 2**60, 7]
    want = np.array([float(v) for v in values])
    assert pmk.norm(values) == pytest.approx(float(np.linalg.norm(want)), rel=1e-15)
    ints = list(range(-500, 500))
    np.testing.assert_array_equal(pmk.normalize(ints), pmk.normalize(np.array(ints)))


def test_float32_with_float64_other() -> None:
    x = _data((10, 4), "float32", 5)
    q64 = _data((4,), "float64", 6)
    # A constant follows the column's float type ...
    assert pmk.dot(x, q64).dtype == np.float32
    # ... two columns give Float32 only when both are Float32.
    assert pmk.dot(x, x.astype(np.float64)).dtype == np.float64
    assert pmk.dot(x, x).dtype == np.float32


def test_classic_dot_product() -> None:
    assert pmk.dot_product([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == 32.0
    rng = np.random.default_rng(RNG_SEED)
    a, b = rng.normal(size=1_000_003), rng.normal(size=1_000_003)
    exact = math.fsum((a * b).tolist())
    assert abs(pmk.dot_product(a, b) - exact) <= 1e-10 * np.sum(np.abs(a * b))
    assert abs(pmk.dot_product(a.tolist(), b.tolist()) - exact) <= 1e-10 * np.sum(np.abs(a * b))


@pytest.mark.parametrize("dtype", DTYPES)
def test_norm_and_unit_normalize(dtype: str) -> None:
    x = _data((30, 6), dtype, 7)
    xf = x.astype(np.float64)
    for layout, view in _layouts(x).items():
        for ord_, ref in ((1, 1), (2, 2), (math.inf, np.inf)):
            _close(pmk.norm(view, ord=ord_), np.linalg.norm(xf, ord=ref, axis=1), _rtol(dtype))
        for norm_name, ord_ in (("l1", 1), ("l2", 2), ("max", np.inf)):
            got = pmk.unit_normalize(view, norm=norm_name)  # type: ignore[arg-type]
            assert got.shape == x.shape, layout
            assert got.dtype == _computed(x).dtype, layout
            n = np.linalg.norm(xf, ord=ord_, axis=1, keepdims=True)
            n[n < 10 * np.finfo(_computed(x).dtype).eps] = 1.0
            _close(got, xf / n, _rtol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_project(dtype: str) -> None:
    x = _data((20, 5), dtype, 8)
    m = _data((5, 3), "float64", 9)
    bias = np.array([1.0, -2.0, 0.5])
    want = x.astype(np.float64) @ m + bias
    for layout, view in _layouts(x).items():
        got = pmk.project(view, m, bias=bias)
        assert got.shape == (20, 3), layout
        assert got.dtype == _computed(x).dtype, layout
        _close(got, want, _rtol(dtype))
    _close(pmk.project(x.astype(np.float64).tolist(), m.tolist()), x.astype(np.float64) @ m, 1e-12)
    assert isinstance(pmk.project([1.0] * 5, m), list)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_top_k_and_nearest_on_arrays(metric: str) -> None:
    x = _data((300, 8), "float64", 10)
    qs = _data((4, 8), "float64", 11)
    if metric == "cosine":
        scores = qs @ x.T / np.outer(np.linalg.norm(qs, axis=1), np.linalg.norm(x, axis=1))
    elif metric == "dot":
        scores = qs @ x.T
    else:
        scores = -np.linalg.norm(qs[:, None, :] - x[None, :, :], axis=2)
    want = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    for i, q in enumerate(qs):
        got = pmk.top_k_similar(x, q, k=5, metric=metric)  # type: ignore[arg-type]
        assert got.dtype == np.uint32
        np.testing.assert_array_equal(got, want[i])
    found = pmk.nearest(np.asfortranarray(x), None, qs, k=5, metric=metric)  # type: ignore[arg-type]
    np.testing.assert_array_equal(found["index"].to_numpy().reshape(4, 5), want)
    frame = pmk.nearest(pl.DataFrame({"e": x}), "e", qs, k=5, metric=metric)  # type: ignore[arg-type]
    assert found.equals(frame)


@pytest.mark.parametrize("method", ["minmax", "standard", "robust", "maxabs"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_scaling_numpy_against_sklearn(method: str, dtype: str) -> None:
    sk = {
        "minmax": MinMaxScaler,
        "standard": StandardScaler,
        "robust": RobustScaler,
        "maxabs": MaxAbsScaler,
    }[method]
    x = _data((50, 4), dtype, 12)
    want = sk().fit_transform(x.astype(np.float64))
    for layout, view in _layouts(x).items():
        got = pmk.normalize(view, method=method)  # type: ignore[arg-type]
        assert got.shape == x.shape, layout
        assert got.dtype == _computed(x).dtype, layout
        _close(got, want, 1e-3 if _computed(x).dtype == np.float32 else 1e-12)
    col = pmk.normalize(x[:, 0], method=method)  # type: ignore[arg-type]
    _close(col, want[:, 0], 1e-3 if _computed(x).dtype == np.float32 else 1e-12)


def test_scaling_lists_tuples_and_none() -> None:
    assert pmk.normalize([1.0, 2.0, 3.0]) == [0.0, 0.5, 1.0]
    assert pmk.normalize((1, 2, 3)) == (0.0, 0.5, 1.0)
    assert pmk.normalize([1.0, None, 3.0]) == [0.0, None, 1.0]
    assert pmk.standard_scale([5.0]) == [0.0]
    assert pmk.normalize([]) == []
    out = pmk.normalize(np.empty(0))
    assert isinstance(out, np.ndarray)
    assert out.shape == (0,)
    assert pmk.normalize(np.empty((0, 3))).shape == (0, 3)
    assert pmk.normalize([float("nan"), 1.0, 3.0])[1:] == [0.0, 1.0]


def test_empty_and_single_vectors() -> None:
    assert pmk.dot([], []) == 0.0
    assert pmk.norm([]) == 0.0
    assert pmk.unit_normalize([]) == []
    assert pmk.dot(np.empty((0, 3)), [1.0, 2.0, 3.0]).shape == (0,)
    assert pmk.unit_normalize(np.empty((0, 3))).shape == (0, 3)
    assert pmk.dot([2.0], [3.0]) == 6.0
    assert pmk.cosine_similarity([0.0, 0.0], [1.0, 1.0]) == 0.0
    assert pmk.unit_normalize([0.0, 0.0]) == [0.0, 0.0]
    assert math.isnan(pmk.dot([math.nan, 1.0], [1.0, 1.0]))
    assert pmk.dot([math.inf, 1.0], [1.0, 1.0]) == math.inf


# --------------------------------------------------------------------------- #
# the data face and the expression face agree bit for bit
# --------------------------------------------------------------------------- #
def _series_bits(values: Any) -> np.ndarray:
    return np.asarray(values).view(
        np.uint64 if np.asarray(values).dtype == np.float64 else np.uint32
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_data_face_equals_expression_face(dtype: str) -> None:
    rng = np.random.default_rng(RNG_SEED + 13)
    x = (rng.normal(size=(2_000, 64)) * 10.0 ** rng.integers(-5, 5, (2_000, 1))).astype(dtype)
    q = rng.normal(size=64)
    m = rng.normal(size=(64, 9))
    df = pl.DataFrame({"e": x})
    cases: list[tuple[Any, pl.Expr]] = [
        (pmk.dot(x, q), pl.col("e").ml.dot(q)),
        (pmk.cosine_similarity(x, q), pl.col("e").ml.cosine_similarity(q)),
        (pmk.distance(x, q), pl.col("e").ml.distance(q)),
        (pmk.norm(x), pl.col("e").ml.norm()),
        (pmk.dot(x, x[::-1].copy()), pl.col("e").ml.dot(pl.col("e").reverse())),
    ]
    for data, expr in cases:
        np.testing.assert_array_equal(_series_bits(data), _series_bits(df.select(expr).to_series()))
    unit = df.select(pl.col("e").ml.unit_normalize()).to_series().to_numpy()
    np.testing.assert_array_equal(_series_bits(pmk.unit_normalize(x)), _series_bits(unit))
    proj = df.select(pl.col("e").ml.project(m)).to_series().to_numpy()
    np.testing.assert_array_equal(_series_bits(pmk.project(x, m)), _series_bits(proj))
    for method in ("minmax", "standard", "robust", "maxabs"):
        col = x[:, 3].copy()
        got = pmk.normalize(col, method=method)  # type: ignore[arg-type]
        want = pl.Series(col).ml.normalize(method=method).to_numpy()  # type: ignore[arg-type]
        np.testing.assert_array_equal(_series_bits(got), _series_bits(want))
        by_column = pmk.normalize(x, method=method)  # type: ignore[arg-type]
        np.testing.assert_array_equal(_series_bits(by_column[:, 3]), _series_bits(want))


def test_long_dot_equals_expression_face() -> None:
    rng = np.random.default_rng(RNG_SEED + 14)
    a, b = rng.normal(size=1_000_000), rng.normal(size=1_000_000)
    frame = pl.DataFrame(
        {"a": [a], "b": [b]}, schema={"a": pl.List(pl.Float64), "b": pl.List(pl.Float64)}
    )
    expr = frame.select(pl.col("a").ml.dot(pl.col("b"))).item()
    assert pmk.dot(a, b) == expr
    assert pmk.dot(a.tolist(), b.tolist()) == expr


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [3, 384, 4_096, 50_000, 200_000])
def test_one_pair_equals_expression_face(dtype: str, n: int) -> None:
    """One pair of vectors takes the shortest path (the kernel on the two
    buffers, the GIL released only for long vectors): the same bits as the
    expression face, and as a strided view or a list of the same numbers."""
    rng = np.random.default_rng(RNG_SEED + 18)
    a = rng.normal(size=n).astype(dtype)
    b = (rng.normal(size=n) * 1e3).astype(dtype)
    kind = pl.Float32 if dtype == "float32" else pl.Float64
    frame = pl.DataFrame({"a": [a], "b": [b]}, schema={"a": pl.List(kind), "b": pl.List(kind)})
    pairs = np.zeros((n, 2), dtype=dtype)
    pairs[:, 0], pairs[:, 1] = a, b
    for name in ("dot", "cosine_similarity"):
        want = frame.select(getattr(pl.col("a").ml, name)(pl.col("b"))).item()
        function = getattr(pmk, name)
        got = function(a, b)
        assert isinstance(got, float)
        assert got == want, name
        assert function(pairs[:, 0], pairs[:, 1]) == want, name  # strided views
        if dtype == "float64":
            assert function(a.tolist(), tuple(b.tolist())) == want, name


def test_other_inputs_take_the_python_path() -> None:
    """The free functions compute plain data in one call and hand anything
    else (a column name, an expression, a Series) to their Python path."""
    rng = np.random.default_rng(RNG_SEED + 19)
    x = rng.normal(size=(5, 3))
    q = rng.normal(size=3)
    series = pl.Series("e", x)
    for name in ("dot", "cosine_similarity"):
        function = getattr(pmk, name)
        assert isinstance(function("e", q), pl.Expr)
        assert isinstance(function(pl.col("e"), pl.col("f")), pl.Expr)
        found = function(series, q)
        assert isinstance(found, pl.Series)
        assert found.name == "e"
        np.testing.assert_array_equal(found.to_numpy(), function(x, q))
        np.testing.assert_array_equal(function(x, pl.Series(q)), function(x, q))
        with pytest.raises(TypeError, match=f"{name}: when x is data"):
            function(x, "e")
    column = x[:, 0].copy()
    assert isinstance(pmk.normalize("c"), pl.Expr)
    by_series = pmk.normalize(pl.Series("c", column))
    assert isinstance(by_series, pl.Series)
    np.testing.assert_array_equal(by_series.to_numpy(), pmk.normalize(column))
    np.testing.assert_array_equal(
        pmk.normalize(column, method="minmax", feature_range=(0.0, 1.0)), pmk.normalize(column)
    )
    with pytest.raises(TypeError, match="normalize: expected a column name"):
        pmk.normalize(5)  # type: ignore[call-overload]


# --------------------------------------------------------------------------- #
# bad input
# --------------------------------------------------------------------------- #
BAD = [
    (
        "none-inside",
        lambda: pmk.dot([1.0, None], [1.0, 2.0]),
        TypeError,
        ("dot", "position 1", "nonetype"),
    ),
    ("string", lambda: pmk.norm([1.0, "a"]), TypeError, ("norm", "position 1", "str")),
    ("nested", lambda: pmk.normalize([1.0, [2.0]]), TypeError, ("normalize", "position 1", "list")),
    ("bool", lambda: pmk.dot([True, 1.0], [1.0, 1.0]), TypeError, ("dot", "position 0", "bool")),
    ("ragged", lambda: pmk.norm([[1.0, 2.0], [1.0]]), ValueError, ("norm", "row 1", "2", "1")),
    ("row-not-list", lambda: pmk.norm([[1.0, 2.0], 3.0]), TypeError, ("norm", "row 1", "float")),
    (
        "cell-str",
        lambda: pmk.unit_normalize([[1.0, "x"]]),
        TypeError,
        ("unit_normalize", "row 0, position 1"),
    ),
    ("3d", lambda: pmk.norm(np.ones((2, 2, 2))), ValueError, ("norm", "3-d")),
    ("3d-scale", lambda: pmk.normalize(np.ones((2, 2, 2))), ValueError, ("normalize", "3")),
    (
        "object",
        lambda: pmk.dot(np.array([1, "a"], dtype=object), [1.0, 2.0]),
        TypeError,
        ("dot", "object"),
    ),
    ("complex", lambda: pmk.norm(np.array([1 + 2j])), TypeError, ("norm", "complex")),
    ("complex-item", lambda: pmk.norm([1.0, 2j]), TypeError, ("norm", "complex")),
    ("lengths", lambda: pmk.dot([1.0, 2.0], [1.0, 2.0, 3.0]), ValueError, ("dot", "2", "3")),
    ("rows", lambda: pmk.dot(np.ones((2, 2)), np.ones((3, 2))), ValueError, ("dot", "2", "3")),
    ("scalar-other", lambda: pmk.dot([1.0, 2.0], 3.0), TypeError, ("dot", "vector")),
    ("huge-int", lambda: pmk.norm([10**400]), ValueError, ("norm", "too large")),
    (
        "project-width",
        lambda: pmk.project(np.ones((2, 3)), np.ones((2, 2))),
        ValueError,
        ("project", "3", "2"),
    ),
    (
        "inf-scale",
        lambda: pmk.standard_scale([1.0, math.inf]),
        ComputeError,
        ("standard_scale", "infinity", "row 1"),
    ),
    (
        "inf-scale-2d",
        lambda: pmk.normalize(np.array([[1.0, 2.0], [3.0, np.inf]])),
        ComputeError,
        ("column 1",),
    ),
    ("none-vector", lambda: pmk.norm(None), TypeError, ("norm", "nonetype")),
    ("bytes-data", lambda: pmk.norm(b"abc"), TypeError, ("norm", "dtype")),
]


@pytest.mark.parametrize(("name", "call", "error", "needles"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_named(
    name: str, call: Callable[[], Any], error: type, needles: tuple[str, ...]
) -> None:
    with pytest.raises(error) as info:
        call()
    message = str(info.value).lower()
    for needle in needles:
        assert needle.lower() in message, (name, message)


# --------------------------------------------------------------------------- #
# threads, constants as Arrow
# --------------------------------------------------------------------------- #
def test_many_threads_each_get_their_answer() -> None:
    rng = np.random.default_rng(RNG_SEED + 15)
    inputs = [rng.normal(size=(200, 300)) for _ in range(8)]
    want = [np.sum(a * a[::-1], axis=1) for a in inputs]
    scaled = [MinMaxScaler().fit_transform(a) for a in inputs]
    errors: list[str] = []

    def work(i: int) -> None:
        for _ in range(20):
            a = inputs[i]
            got = pmk.dot(a, a[::-1])
            if not np.allclose(got, want[i], rtol=1e-12):
                errors.append(f"dot {i}")
            if not np.allclose(
                pmk.normalize(a.tolist()[0]), MinMaxScaler().fit_transform(a[0][:, None]).ravel()
            ):
                errors.append(f"list {i}")
            if not np.allclose(pmk.normalize(a), scaled[i], rtol=1e-12, atol=1e-15):
                errors.append(f"scale {i}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_constants_travel_as_arrow_and_round_trip() -> None:
    rng = np.random.default_rng(RNG_SEED + 16)
    x = rng.normal(size=(500, 16)).astype(np.float32)
    q = rng.normal(size=16)
    m = rng.normal(size=(16, 4))
    lf = pl.LazyFrame({"e": x}).select(
        pl.col("e").ml.cosine_similarity(q).alias("cos"),
        pl.col("e").ml.project(m, bias=np.ones(4)).alias("proj"),
        pl.col("e").ml.top_k_similar(q, k=7).implode().alias("top"),
    )
    restored = pl.LazyFrame.deserialize(io.BytesIO(lf.serialize()))
    assert restored.collect().equals(lf.collect())
    assert lf.collect(engine="streaming").equals(lf.collect(engine="in-memory"))
    want = (
        x.astype(np.float64)
        @ q
        / (np.linalg.norm(x.astype(np.float64), axis=1) * np.linalg.norm(q))
    )
    _close(lf.collect()["cos"], want, 1e-5)


def test_constants_in_groups_and_windows() -> None:
    rng = np.random.default_rng(RNG_SEED + 17)
    x = rng.normal(size=(60, 3))
    q = rng.normal(size=3)
    df = pl.DataFrame({"g": np.repeat([0, 1, 2], 20), "e": x})
    top = df.group_by("g", maintain_order=True).agg(pl.col("e").ml.top_k_similar(q, k=2))
    for g, positions in zip(top["g"], top["e"], strict=True):
        part = x[20 * g : 20 * (g + 1)]
        want = np.argsort(-(part @ q) / np.linalg.norm(part, axis=1), kind="stable")[:2]
        assert positions.to_list() == want.tolist()
    over = df.select(pl.col("e").ml.dot(q).over("g"))
    _close(over["e"], x @ q, 1e-12)
