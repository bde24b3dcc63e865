"""Quantized and low-precision embeddings (DESIGN.md, "Quantized and
low-precision embeddings"): Float16, Int8 and UInt8 vectors in every vector
operation, ``quantize``, ``hamming`` and the rescored search, against numpy
references written here (sentence-transformers' formulas, ``np.packbits``,
brute force)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import polars_mlkit as pmk
import pytest
from polars.testing import assert_series_equal
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

RNG = np.random.default_rng(20261202)
NARROW = {"Float16": pl.Float16, "Int8": pl.Int8, "UInt8": pl.UInt8}


def narrow_values(name: str, n: int, d: int) -> npt.NDArray[Any]:
    if name == "Float16":
        return RNG.normal(scale=3.0, size=(n, d)).astype(np.float16)
    if name == "Int8":
        return RNG.integers(-128, 128, size=(n, d)).astype(np.int8)
    return RNG.integers(0, 256, size=(n, d)).astype(np.uint8)


def vector_series(values: npt.NDArray[Any], dtype: Any, container: str, nulls: bool) -> pl.Series:
    """A vector column of ``values`` (one row each) with a null row, as
    ``Array`` or ``List``, split into two chunks."""
    d = values.shape[1]
    rows: list[Any] = [list(map(float, r)) for r in values]
    if nulls:
        rows[1] = None
    kind = pl.Array(dtype, d) if container == "array" else pl.List(dtype)
    series = pl.Series("e", rows, dtype=pl.List(pl.Float64)).cast(kind)
    half = len(rows) // 2
    return pl.concat([series[:half], series[half:]], rechunk=False)


def wide(values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    return values.astype(np.float64)


@pytest.mark.parametrize("name", NARROW)
@pytest.mark.parametrize("container", ["array", "list"])
def test_rowwise_operations_read_narrow_vectors(name: str, container: str) -> None:
    values = narrow_values(name, 40, 24)
    s = vector_series(values, NARROW[name], container, nulls=True)
    x = wide(values)
    q = wide(narrow_values(name, 1, 24)[0])
    qs = [float(v) for v in q]
    norms = np.linalg.norm(x, axis=1) * np.linalg.norm(q)
    cos = np.divide(x @ q, norms, out=np.zeros(len(x)), where=norms != 0)
    checks = {
        "dot": (s.ml.dot(qs), x @ q),
        "cosine": (s.ml.cosine_similarity(qs), cos),
        "norm": (s.ml.norm(), np.linalg.norm(x, axis=1)),
        "l1": (s.ml.norm(1), np.abs(x).sum(axis=1)),
        "manhattan": (s.ml.distance(qs, metric="manhattan"), np.abs(x - q).sum(axis=1)),
        "euclidean": (s.ml.distance(qs), np.linalg.norm(x - q, axis=1)),
        "self-dot": (s.ml.dot(s), (x * x).sum(axis=1)),
    }
    for what, (got, want) in checks.items():
        assert got.dtype == pl.Float32, what
        assert got.null_count() == 1, what
        assert got[1] is None, what
        keep = np.arange(len(x)) != 1
        np.testing.assert_allclose(
            got.to_numpy()[keep], want[keep].astype(np.float32), rtol=1e-6, err_msg=what
        )
    # Exactly the Float32 column's numbers: narrow values widen exactly.
    as_f32 = s.cast(pl.Array(pl.Float32, 24) if container == "array" else pl.List(pl.Float32))
    assert_series_equal(s.ml.cosine_similarity(qs), as_f32.ml.cosine_similarity(qs))
    assert_series_equal(s.ml.unit_normalize(), as_f32.ml.unit_normalize())
    m = RNG.normal(size=(24, 3))
    assert_series_equal(s.ml.project(m), as_f32.ml.project(m))
    # With a Float64 side the computation is Float64.
    as_f64 = s.cast(pl.Array(pl.Float64, 24) if container == "array" else pl.List(pl.Float64))
    assert s.ml.dot(as_f64).dtype == pl.Float64
    assert_series_equal(s.ml.dot(as_f64), as_f64.ml.dot(as_f64))


@pytest.mark.parametrize("dtype", [pl.Int8, pl.UInt8])
def test_integer_dot_products_are_exact(dtype: Any) -> None:
    d = 70_000  # long enough to need i64 accumulation across blocks
    lo, hi = (-128, 128) if dtype == pl.Int8 else (0, 256)
    a = RNG.integers(lo, hi, size=(3, d))
    s = pl.Series("e", a.astype(np.int8 if dtype == pl.Int8 else np.uint8))
    exact = (a.astype(np.int64) ** 2).sum(axis=1)
    got = s.ml.dot(s).to_numpy()
    np.testing.assert_array_equal(got, exact.astype(np.float32))
    extreme = pl.Series("e", np.full((1, d), lo, dtype=np.int64)).cast(pl.Array(dtype, d))
    assert extreme.ml.dot(extreme)[0] == np.float32(lo * lo * d)


@pytest.mark.parametrize("name", NARROW)
@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_searches_on_narrow_vectors_equal_the_float32_search(name: str, metric: str) -> None:
    """Int8/UInt8 rows are scored exactly (integer kernels for integer
    queries): the Float32 column's search, bit for bit. Float16 rows are
    scored in f32 lanes: the same rows, scores within the f32 error."""
    values = narrow_values(name, 3000, 16)
    values[7] = values[5]  # an exact tie: the lower position wins
    s = vector_series(values, NARROW[name], "array", nulls=True)
    as_f32 = s.cast(pl.Array(pl.Float32, 16))
    queries = wide(narrow_values(name, 70, 16))
    queries[5] = queries[0] + 0.25  # not an integer query
    frame, f32_frame = s.to_frame(), as_f32.to_frame()
    # a few queries are scanned by their own kernels, many are screened by a
    # matrix product: the same rows and scores
    many = pmk.nearest(frame, "e", queries, k=9, metric=metric)
    for count in (4, 20, 40):
        few = pmk.nearest(frame, "e", queries[:count], k=9, metric=metric)
        assert few.equals(many.filter(pl.col("query") < count))
    expected = pmk.nearest(f32_frame, "e", queries, k=9, metric=metric)
    for i, q in enumerate(queries[:8]):
        top = s.ml.top_k_similar(q, k=9, metric=metric).to_list()
        assert top == many.filter(pl.col("query") == i)["index"].to_list()
        assert top == as_f32.ml.top_k_similar(q, k=9, metric=metric).to_list()
    assert many["index"].equals(expected["index"])
    if name == "Float16":
        np.testing.assert_allclose(many["score"], expected["score"], rtol=1e-5, atol=1e-5)
    else:
        assert many.equals(expected)


def test_knn_join_over_a_narrow_lazy_corpus(tmp_path: Any) -> None:
    values = narrow_values("Int8", 5000, 32)
    corpus = pl.DataFrame({"id": np.arange(5000), "e": values})
    path = tmp_path / "codes.parquet"
    corpus.write_parquet(path, row_group_size=700)
    left = pl.DataFrame({"q": np.arange(3), "e": wide(values[[4, 10, 4000]])})
    eager = pmk.knn_join(left, corpus, on="e", k=4)
    lazy = pmk.knn_join(left, pl.scan_parquet(path), on="e", k=4)
    assert eager.equals(lazy)
    assert eager.filter(pl.col("rank") == 1)["id"].to_list() == [4, 10, 4000]


# --------------------------------------------------------------------------- #
# quantize
# --------------------------------------------------------------------------- #
def int8_reference(
    x: npt.NDArray[Any], ranges: npt.NDArray[Any] | None = None
) -> npt.NDArray[np.int8]:
    """sentence-transformers' ``quantize_embeddings(precision="int8")``, in
    the array's own dtype, clipped to the Int8 range."""
    if ranges is None:
        ranges = np.vstack((np.nanmin(x, axis=0), np.nanmax(x, axis=0)))
    ranges = ranges.astype(x.dtype)
    starts = ranges[0, :]
    steps = (ranges[1, :] - ranges[0, :]) / x.dtype.type(255)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.trunc((x - starts) / steps - x.dtype.type(128))
    v = np.where(steps == 0, -128, np.nan_to_num(v))  # NaN rows: checked by the caller
    return np.clip(v, -128, 127).astype(np.int8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_int8_codes_match_sentence_transformers(dtype: Any) -> None:
    x = RNG.normal(size=(500, 37)).astype(dtype)
    x[:, 3] = 0.5  # a constant dimension
    s = pl.Series("e", x)
    got = s.ml.quantize("int8")
    assert got.dtype == pl.Array(pl.Int8, 37)
    np.testing.assert_array_equal(got.to_numpy(), int8_reference(x))
    # calibration ranges from other data: values outside are clipped
    calibration = RNG.normal(size=(50, 37)).astype(dtype)
    ranges = np.vstack((calibration.min(axis=0), calibration.max(axis=0)))
    got = s.ml.quantize("int8", ranges=ranges).to_numpy()
    np.testing.assert_array_equal(got, int8_reference(x, ranges))
    assert got.min() == -128
    assert got.max() == 127
    # the data face
    np.testing.assert_array_equal(pmk.quantize(x), int8_reference(x))


def test_int8_codes_per_group_and_with_nulls() -> None:
    x = RNG.normal(size=(60, 5))
    g = np.repeat([0, 1, 2], 20)
    df = pl.DataFrame({"g": g, "e": pl.Series(x)})
    out = df.with_columns(pl.col("e").ml.quantize("int8").over("g"))
    for group in range(3):
        np.testing.assert_array_equal(
            out.filter(pl.col("g") == group)["e"].to_numpy(), int8_reference(x[g == group])
        )
    rows: list[Any] = [list(r) for r in x[:4]]
    rows[1], rows[2][0] = None, float("nan")
    s = pl.Series("e", rows)
    got = s.ml.quantize("int8")
    assert got.dtype == pl.List(pl.Int8)
    assert got[1] is None  # a null row
    assert got[2] is None  # a row holding NaN
    ref = np.vstack((x[0], x[2], x[3]))
    ref[1, 0] = np.nan
    expected = int8_reference(ref)
    assert got[0].to_list() == expected[0].tolist()
    assert got[3].to_list() == expected[2].tolist()


@pytest.mark.parametrize("d", [1, 7, 8, 9, 384])
def test_binary_codes_pack_like_numpy(d: int) -> None:
    x = RNG.normal(size=(100, d)).astype(np.float32)
    x[0, 0] = 0.0  # zero is not positive
    x[1, -1] = np.nan  # NaN is not positive
    s = pl.Series("e", x)
    got = s.ml.quantize("binary")
    assert got.dtype == pl.Array(pl.UInt8, (d + 7) // 8)
    np.testing.assert_array_equal(got.to_numpy(), np.packbits(x > 0, axis=1))
    lazy = s.to_frame().lazy().select(pl.col("e").ml.quantize("binary")).collect(engine="streaming")
    assert lazy["e"].equals(got)
    np.testing.assert_array_equal(pmk.quantize(x, "binary"), np.packbits(x > 0, axis=1))


# --------------------------------------------------------------------------- #
# hamming and binary search
# --------------------------------------------------------------------------- #
def hamming_reference(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> npt.NDArray[Any]:
    return np.unpackbits(a ^ b, axis=-1).sum(axis=-1)


def test_hamming_counts_differing_bits() -> None:
    a = RNG.integers(0, 256, size=(200, 48)).astype(np.uint8)
    b = RNG.integers(0, 256, size=(200, 48)).astype(np.uint8)
    sa, sb = pl.Series("a", a), pl.Series("b", b)
    got = sa.ml.hamming(sb)
    assert got.dtype == pl.UInt32
    np.testing.assert_array_equal(got.to_numpy(), hamming_reference(a, b))
    q = b[0]
    np.testing.assert_array_equal(
        sa.ml.hamming(q.tolist()).to_numpy(), hamming_reference(a, q[None, :])
    )
    df = pl.DataFrame([sa, sb]).with_columns(
        pl.when(pl.int_range(200) == 3).then(None).otherwise("b").alias("b")
    )
    out = df.select(pl.col("a").ml.hamming("b"))["a"]
    assert out[3] is None
    assert out.null_count() == 1
    assert pmk.hamming(a[0], b[0]) == int(hamming_reference(a[0], b[0]))


def test_hamming_search_is_the_brute_force() -> None:
    codes = RNG.integers(0, 256, size=(4000, 6)).astype(np.uint8)
    codes[9] = codes[3]  # a tie
    frame = pl.DataFrame({"b": codes})
    queries = codes[[3, 100, 2000]]
    found = pmk.nearest(frame, "b", queries, k=7, metric="hamming")
    for i, q in enumerate(queries):
        dist = hamming_reference(codes, q[None, :])
        order = np.lexsort((np.arange(len(codes)), dist))[:7]
        mine = found.filter(pl.col("query") == i)
        assert mine["index"].to_list() == order.tolist()
        assert mine["score"].to_list() == dist[order].astype(float).tolist()
        top = frame.select(pl.col("b").ml.top_k_similar(q, k=7, metric="hamming"))["b"]
        assert top.to_list() == order.tolist()
    np.testing.assert_array_equal(
        pmk.nearest(codes, None, queries, k=7, metric="hamming")["index"].to_numpy(),
        found["index"].to_numpy(),
    )


def top_k_reference(
    rows: npt.NDArray[Any],
    valid: npt.NDArray[np.bool_],
    query: npt.NDArray[Any],
    k: int,
    metric: str,
) -> list[int]:
    """The best ``k`` valid rows by exact integer keys, ties to the lower position."""
    if metric == "hamming":
        key = hamming_reference(rows.astype(np.uint8), query.astype(np.uint8)[None, :])
    elif metric == "dot":
        key = -(rows.astype(np.int64) @ query.astype(np.int64))
    else:  # squared Euclidean distance orders as the distance
        key = ((rows.astype(np.int64) - query.astype(np.int64)) ** 2).sum(axis=1)
    order = np.lexsort((np.arange(len(rows)), np.where(valid, key, np.iinfo(np.int64).max)))
    return [int(i) for i in order if valid[i]][:k]


@pytest.mark.parametrize(
    ("dtype", "metric"),
    [
        (pl.Float64, "dot"),
        (pl.Float32, "dot"),
        (pl.Float32, "euclidean"),
        (pl.Float16, "dot"),
        (pl.Float16, "euclidean"),
        (pl.Int8, "dot"),
        (pl.UInt8, "euclidean"),
        (pl.UInt8, "hamming"),
    ],
)
def test_top_k_similar_over_many_rows_is_the_exact_ranking(dtype: Any, metric: str) -> None:
    """``top_k_similar`` searches rows in parallel parts with the kernels of
    ``nearest``: on 120k rows of small integers (exact keys, many ties across
    the parts) it is the stable ranking of numpy's exact keys, on contiguous,
    chunked and sliced input, and the same as ``nearest`` with one query."""
    n, d, k = 120_000, 12, 15
    low = 0 if dtype == pl.UInt8 else -3
    rows = RNG.integers(low, 4, size=(n, d))
    rows[[40_000, 90_000, 119_999]] = rows[5]  # ties in other parts than the first
    valid = np.ones(n, dtype=bool)
    valid[[5, 77_777]] = False
    query = rows[5].copy()
    frame = pl.DataFrame({"e": rows}).select(
        pl.when(pl.int_range(pl.len()).is_in([5, 77_777]).not_()).then(
            pl.col("e").cast(pl.Array(dtype, d))
        )
    )
    assert frame["e"].null_count() == 2
    chunked = pl.concat([frame[:50_000], frame[50_000:]], rechunk=False)
    assert chunked["e"].n_chunks() == 2
    expected = top_k_reference(rows, valid, query, k, metric)
    for data in (frame, chunked):
        top = data.select(pl.col("e").ml.top_k_similar(query, k=k, metric=metric))["e"]
        assert top.dtype == pl.UInt32
        assert top.to_list() == expected
    near = pmk.nearest(frame, "e", query[None, :], k=k, metric=metric)
    assert near["index"].to_list() == expected
    sliced = frame[1_000:]
    top = sliced.select(pl.col("e").ml.top_k_similar(query, k=k, metric=metric))["e"]
    assert top.to_list() == top_k_reference(rows[1_000:], valid[1_000:], query, k, metric)
    if dtype in (pl.Float32, pl.Float64):  # the data face: a 2-D numpy array
        array = rows.astype(np.float32 if dtype == pl.Float32 else np.float64)
        everything = np.ones(n, dtype=bool)
        got = pmk.top_k_similar(array, query, k=k, metric=metric)
        assert got.tolist() == top_k_reference(rows, everything, query, k, metric)


def rescored_reference(
    x: npt.NDArray[np.float64], queries: npt.NDArray[np.float64], k: int, oversample: int
) -> list[list[int]]:
    """Sign codes screen ``k * oversample`` candidates (ties to the lower
    position); the best ``k`` of them by exact cosine similarity."""
    codes, qcodes = np.packbits(x > 0, axis=1), np.packbits(queries > 0, axis=1)
    out = []
    for q, qc in zip(queries, qcodes, strict=True):
        dist = hamming_reference(codes, qc[None, :])
        candidates = np.lexsort((np.arange(len(x)), dist))[: k * oversample]
        cos = x[candidates] @ q / (np.linalg.norm(x[candidates], axis=1) * np.linalg.norm(q))
        best = candidates[np.lexsort((candidates, -cos))[:k]]
        out.append(best.tolist())
    return out


@pytest.mark.parametrize("kind", ["frame", "lazy", "series"])
def test_rescored_search_is_an_exact_search_on_the_candidates(kind: str, tmp_path: Any) -> None:
    centers = RNG.normal(size=(20, 64))
    x = centers[RNG.integers(0, 20, size=3000)] + 0.5 * RNG.normal(size=(3000, 64))
    queries = x[[5, 50, 500, 2999]] + 0.1
    frame = pl.DataFrame({"e": x}).with_columns(pl.col("e").ml.quantize("binary").alias("b"))
    if kind == "lazy":
        path = tmp_path / "corpus.parquet"
        frame.write_parquet(path, row_group_size=512)
        found = pmk.nearest(pl.scan_parquet(path), "b", queries, 5, "hamming", rescore="e")
    elif kind == "series":
        found = pmk.nearest(frame.drop("e"), "b", queries, 5, "hamming", rescore=frame["e"])
    else:
        found = pmk.nearest(frame, "b", queries, 5, "hamming", rescore="e", oversample=4)
    expected = rescored_reference(x, queries, 5, 4)
    for i, best in enumerate(expected):
        mine = found.filter(pl.col("query") == i)
        assert mine["index"].to_list() == best
        assert mine["rank"].to_list() == [1, 2, 3, 4, 5]
        rows = x[best]
        cos = rows @ queries[i] / (np.linalg.norm(rows, axis=1) * np.linalg.norm(queries[i]))
        np.testing.assert_allclose(mine["score"].to_numpy(), cos, rtol=1e-12)
    euclid = pmk.nearest(frame, "b", queries, 3, "hamming", rescore="e", rescore_metric="euclidean")
    assert (euclid["score"].to_numpy() >= 0).all()


def test_rescored_recall_on_the_standard_scaled_digits() -> None:
    x = StandardScaler().fit_transform(load_digits().data)
    frame = pl.DataFrame({"e": x}).with_columns(pl.col("e").ml.quantize("binary").alias("b"))
    exact = pmk.nearest(frame, "e", x, k=10)
    recall = {}
    for oversample in (1, 10):
        found = pmk.nearest(frame, "b", x, 10, "hamming", rescore="e", oversample=oversample)
        hits = exact.join(found, on=["query", "index"], how="inner").height
        recall[oversample] = hits / exact.height
    assert recall[10] > 0.9
    assert recall[1] < recall[10]
