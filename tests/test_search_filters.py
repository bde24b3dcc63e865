"""Filtered and grouped search (DESIGN.md, "Filtered, grouped and
multi-vector search"): ``filter=`` on ``nearest``/``knn_join`` and ``by=`` on
``knn_join``, each against searching the filtered or grouped frame alone
(bit for bit, positions mapped back to the whole corpus) and against a numpy
brute force, for every dtype and metric, in memory and out of core."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from polars.testing import assert_frame_equal

from tests.test_search import reference

METRICS = ("cosine", "dot", "euclidean")
# Float16/Int8/UInt8 columns are searched as their own dtype (DESIGN.md,
# "Quantized and low-precision embeddings").
DTYPES = (pl.Float64, pl.Float32, pl.Float16, pl.Int8, pl.UInt8)


def corpus(n: int, d: int, dtype: Any, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    if dtype in (pl.Int8, pl.UInt8):
        low, high = (-20, 20) if dtype == pl.Int8 else (0, 40)
        x = rng.integers(low, high, size=(n, d)).astype(np.float64)
    else:
        x = np.round(rng.normal(size=(n, d)), 1)  # ties are likely
    frame = pl.DataFrame(
        {
            "id": np.arange(n),
            "year": rng.integers(2015, 2025, n),
            "lang": rng.choice(["en", "de", "fr"], n),
            "g": rng.integers(0, 6, n),
            "e": pl.Series(x.tolist()).cast(pl.Array(dtype, d)),
        }
    )
    # Null vectors and a null year (a null predicate fails).
    return frame.with_columns(
        pl.when(pl.col("id") % 41 == 5).then(None).otherwise("e").alias("e"),
        pl.when(pl.col("id") % 29 == 3).then(None).otherwise("year").alias("year"),
    )


def queries(d: int, m: int, dtype: Any, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == pl.Int8:
        return rng.integers(-20, 20, size=(m, d)).astype(np.float64)
    if dtype == pl.UInt8:
        return rng.integers(0, 40, size=(m, d)).astype(np.float64)
    return np.round(rng.normal(size=(m, d)), 1)


def searched_alone(
    frame: pl.DataFrame, predicate: pl.Expr, q: np.ndarray, k: int, metric: str
) -> pl.DataFrame:
    """``nearest`` on ``frame.filter(predicate)``, with ``index`` mapped back."""
    kept = frame.with_row_index("_pos").filter(predicate)
    found = pmk.nearest(kept, "e", q, k=k, metric=metric)  # type: ignore[arg-type]
    positions = kept["_pos"].gather(found["index"]).cast(pl.UInt32)
    return found.with_columns(positions.alias("index"))


FILTERS = {
    "some": pl.col("year") >= 2021,
    "all": pl.col("id") >= 0,
    "none": pl.col("id") < 0,
    "fewer_than_k": pl.col("id").is_in([3, 50, 51]),
    "two_columns": (pl.col("lang") == "en") & (pl.col("year") < 2020),
}


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(FILTERS))
def test_filtered_nearest_equals_searching_the_filtered_frame(
    metric: str, dtype: Any, name: str
) -> None:
    frame = corpus(400, 12, dtype)
    q = queries(12, 5, dtype)
    predicate = FILTERS[name]
    got = pmk.nearest(frame, "e", q, k=7, metric=metric, filter=predicate)  # type: ignore[arg-type]
    assert_frame_equal(got, searched_alone(frame, predicate, q, 7, metric), check_exact=True)
    passing = frame.with_row_index("_pos").filter(predicate & pl.col("e").is_not_null())
    for query in range(q.shape[0]):
        assert got.filter(pl.col("query") == query).height == min(7, passing.height)


@pytest.mark.parametrize("metric", METRICS)
def test_filtered_nearest_matches_brute_force(metric: str) -> None:
    frame = corpus(500, 16, pl.Float64, seed=4)
    q = queries(16, 6, pl.Float64, seed=5)
    predicate = (pl.col("lang") != "de") & (pl.col("year") >= 2018)
    got = pmk.nearest(frame, "e", q, k=6, metric=metric, filter=predicate)  # type: ignore[arg-type]
    mask = frame.select(predicate.fill_null(False) & pl.col("e").is_not_null()).to_series()
    positions = np.flatnonzero(mask.to_numpy())
    x = np.asarray(frame["e"].gather(positions).to_list(), dtype=np.float64)
    expected = [[positions[i] for i in row] for row in reference(x, q, 6, metric)]
    assert got.group_by("query", maintain_order=True).agg("index")["index"].to_list() == expected


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [pl.Float32, pl.Int8])
def test_filter_on_a_lazy_corpus_equals_in_memory(
    metric: str, dtype: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """Many batches of a parquet file: each batch filtered and searched,
    positions counted over the whole file."""
    monkeypatch.setattr("polars_mlkit.search.BATCH_BYTES", 64 * 12 * 8)
    frame = corpus(900, 12, dtype, seed=7)
    path = tmp_path / "corpus.parquet"
    frame.write_parquet(path)
    q = queries(12, 4, dtype, seed=8)
    predicate = pl.col("year") >= 2019
    memory = pmk.nearest(frame, "e", q, k=9, metric=metric, filter=predicate)  # type: ignore[arg-type]
    lazy = pmk.nearest(pl.scan_parquet(path), "e", q, k=9, metric=metric, filter=predicate)  # type: ignore[arg-type]
    assert_frame_equal(lazy, memory, check_exact=True)
    left = pl.DataFrame({"e": q.tolist()})
    assert_frame_equal(
        pmk.knn_join(left, pl.scan_parquet(path), on="e", k=9, metric=metric, filter=predicate),  # type: ignore[arg-type]
        pmk.knn_join(left, frame, on="e", k=9, metric=metric, filter=predicate),  # type: ignore[arg-type]
        check_exact=True,
    )


def test_filtered_binary_search_with_rescoring() -> None:
    frame = corpus(600, 32, pl.Float32, seed=11)
    frame = frame.with_columns(pl.col("e").ml.quantize("binary").alias("b"))
    q = queries(32, 3, pl.Float32, seed=12)
    predicate = pl.col("lang") == "fr"
    got = pmk.nearest(frame, "b", q, k=4, metric="hamming", rescore="e", filter=predicate)
    kept = frame.with_row_index("_pos").filter(predicate)
    alone = pmk.nearest(kept, "b", q, k=4, metric="hamming", rescore="e")
    alone = alone.with_columns(kept["_pos"].gather(alone["index"]).cast(pl.UInt32).alias("index"))
    assert_frame_equal(got, alone, check_exact=True)
    codes = np.packbits(q > 0, axis=1).astype(np.float64)
    hamming = pmk.nearest(frame, "b", codes, k=5, metric="hamming", filter=predicate)
    passing = set(kept["_pos"].to_list())
    assert set(hamming["index"].to_list()) <= passing


def knn_join_per_group(
    left: pl.DataFrame, right: pl.DataFrame, keys: list[str], k: int, metric: str
) -> pl.DataFrame:
    """``knn_join`` of each group alone, rows back in left order: the reference of ``by=``."""
    parts = []
    indexed = left.with_row_index("_left")
    for key, group in indexed.group_by(keys, maintain_order=True):
        if any(v is None for v in key):
            continue
        match = pl.all_horizontal([pl.col(c) == v for c, v in zip(keys, key, strict=True)])
        part = right.filter(match)
        parts.append(pmk.knn_join(group, part, on="e", k=k, metric=metric))  # type: ignore[arg-type]
    joined = pl.concat(parts, how="vertical_relaxed").sort("_left", "rank")
    return joined.drop("_left")


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_knn_join_by_equals_joining_each_group(metric: str, dtype: Any) -> None:
    right = corpus(500, 10, dtype, seed=21)
    q = queries(10, 40, dtype, seed=22)
    rng = np.random.default_rng(23)
    # Group 7 has no corpus rows; a null key matches nothing.
    groups = rng.integers(0, 8, q.shape[0]).astype(object)
    groups[::9] = None
    left = pl.DataFrame({"ask": np.arange(q.shape[0]), "g": list(groups), "e": q.tolist()})
    left = left.with_columns(pl.col("g").cast(pl.Int64))
    got = pmk.knn_join(left, right, on="e", k=5, metric=metric, by="g")  # type: ignore[arg-type]
    expected = knn_join_per_group(left, right, ["g"], 5, metric)
    assert_frame_equal(got, expected.select(got.columns), check_exact=True)
    assert got.filter(pl.col("g").is_null()).height == 0
    assert (got["g"] == got["g_right"]).all()


def test_knn_join_by_several_keys_with_a_filter_and_a_lazy_corpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("polars_mlkit.search.BATCH_BYTES", 50 * 8 * 8)
    right = corpus(700, 8, pl.Float32, seed=31)
    q = queries(8, 30, pl.Float32, seed=32)
    rng = np.random.default_rng(33)
    left = pl.DataFrame(
        {
            "lang": rng.choice(["en", "de", "fr", "it"], q.shape[0]),
            "g": rng.integers(0, 6, q.shape[0]),
            "e": q.tolist(),
        }
    )
    predicate = pl.col("year") >= 2018
    keys = ["lang", "g"]
    got = pmk.knn_join(left, right, on="e", k=3, by=keys, filter=predicate)
    expected = knn_join_per_group(left, right.filter(predicate), keys, 3, "cosine")
    assert_frame_equal(got, expected.select(got.columns), check_exact=True)
    lazy = pmk.knn_join(left, right.lazy(), on="e", k=3, by=keys, filter=predicate)
    assert_frame_equal(lazy, got, check_exact=True)


def test_groups_of_one_row_and_empty_inputs() -> None:
    right = pl.DataFrame({"g": [1, 2, 2, 3], "e": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]]})
    left = pl.DataFrame({"g": [3, 2, 9], "e": [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]})
    got = pmk.knn_join(left, right, on="e", k=2, by="g")
    assert got.select("g", "rank").rows() == [(3, 1), (2, 1), (2, 2)]
    assert got["e_right"].to_list()[1] == [1.0, 1.0]
    empty_left = left.clear()
    assert pmk.knn_join(empty_left, right, on="e", k=2, by="g").height == 0
    nothing = pmk.knn_join(left, right.clear(), on="e", k=2, by="g")
    assert nothing.height == 0
    assert nothing.columns == ["g", "e", "g_right", "e_right", "rank", "score"]


def test_bad_filters_and_keys() -> None:
    right = corpus(50, 4, pl.Float64)
    q = queries(4, 2, pl.Float64)
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="filter names a column"):
        pmk.nearest(right, "e", q, filter=pl.col("missing") > 1)
    with pytest.raises(TypeError, match="filter must be a Boolean predicate, got Int64"):
        pmk.nearest(right, "e", q, filter=pl.col("year") + 1)
    with pytest.raises(TypeError, match="filter must be a polars expression"):
        pmk.nearest(right, "e", q, filter="year > 2020")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="filter= needs a frame"):
        pmk.nearest(np.ones((3, 4)), None, q, filter=pl.col("x") > 0)
    left = pl.DataFrame({"g": ["1", "2"], "e": q.tolist()})
    with pytest.raises(TypeError, match="key column 'g' is String on the left and Int64"):
        pmk.knn_join(left, right, on="e", by="g")
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="'tenant' is not in the left"):
        pmk.knn_join(left, right, on="e", by="tenant")
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="'lang' is not in the right"):
        pmk.knn_join(
            left.rename({"g": "lang2"}).with_columns(lang=pl.lit("en")),
            right.drop("lang"),
            on="e",
            by="lang",
        )
    with pytest.raises(TypeError, match="by must name one or more key columns"):
        pmk.knn_join(left, right, on="e", by=[])
