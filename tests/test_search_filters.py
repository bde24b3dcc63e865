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

from tests.test_maxsim import documents, token_frame
from tests.test_maxsim import reference as maxsim_reference
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
    monkeypatch.setattr("polars_mlkit.search.MIN_BATCH_ROWS", 1)
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
    monkeypatch.setattr("polars_mlkit.search.MIN_BATCH_ROWS", 1)
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
    with pytest.raises(TypeError, match="key column 'g' is String in the left frame and Int64"):
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


def nearest_per_query_group(
    frame: pl.DataFrame,
    keys: pl.DataFrame,
    q: Any,
    k: int,
    metric: str,
    predicate: pl.Expr | None = None,
    *,
    alone: bool = False,
    **options: Any,
) -> pl.DataFrame:
    """The queries of each key searched together against
    ``frame.filter(keys equal)`` (with ``alone``, each query by itself),
    ``index`` mapped back: the reference of ``nearest(..., by=keys)``."""
    parts = []
    indexed = frame.with_row_index("_pos")
    members = keys.with_row_index("_query").drop_nulls()
    for key, group in members.group_by(keys.columns, maintain_order=True):
        same = pl.all_horizontal(
            [
                pl.col(c) == pl.lit(v, frame.schema[c])
                for c, v in zip(keys.columns, key, strict=True)
            ]
        )
        kept = indexed.filter(same if predicate is None else same & predicate)
        batches = [[i] for i in group["_query"]] if alone else [group["_query"].to_list()]
        for batch in batches:
            found = pmk.nearest(kept, "e", q[batch], k=k, metric=metric, **options)
            positions = kept["_pos"].gather(found["index"]).cast(pl.UInt32)
            query = pl.Series(batch, dtype=pl.UInt32).gather(found["query"])
            parts.append(found.with_columns(query.alias("query"), positions.alias("index")))
    empty = {"query": pl.UInt32, "rank": pl.UInt32, "index": pl.UInt32, "score": pl.Float64}
    return pl.concat(parts).sort("query", "rank") if parts else pl.DataFrame(schema=empty)


def query_groups(count: int, seed: int) -> pl.DataFrame:
    """Keys of ``count`` queries: groups 0-5 (the corpus's), 7 (no corpus
    rows), 99 (one corpus row, see :func:`with_solo_row`) and nulls."""
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 8, count).astype(object)
    keys[::7] = None
    keys[1::9] = 99
    return pl.DataFrame({"g": list(keys)}, schema={"g": pl.Int64})


def with_solo_row(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with one row (17) alone in group 99."""
    return frame.with_columns(pl.when(pl.col("id") == 17).then(99).otherwise("g").alias("g"))


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_filter", [False, True])
def test_nearest_by_equals_searching_each_querys_group(
    metric: str, dtype: Any, with_filter: bool
) -> None:
    frame = with_solo_row(corpus(400, 10, dtype, seed=41))
    q = queries(10, 30, dtype, seed=42)
    keys = query_groups(q.shape[0], seed=43)
    predicate = (pl.col("year") >= 2018) if with_filter else None
    got = pmk.nearest(frame, "e", q, k=6, metric=metric, by=keys, filter=predicate)  # type: ignore[arg-type]
    expected = nearest_per_query_group(frame, keys, q, 6, metric, predicate)
    assert_frame_equal(got, expected, check_exact=True)
    if dtype != pl.Float64:
        # Scores that do not depend on the other queries of the search
        # (Float64 products are blocked differently for one query and many).
        alone = nearest_per_query_group(frame, keys, q, 6, metric, predicate, alone=True)
        assert_frame_equal(got, alone, check_exact=True)
    # The dict and Series forms give the same search.
    as_dict = pmk.nearest(
        frame,
        "e",
        q,
        k=6,
        metric=metric,  # type: ignore[arg-type]
        by={"g": keys["g"].to_list()},
        filter=predicate,
    )
    assert_frame_equal(as_dict, got, check_exact=True)
    as_series = pmk.nearest(frame, "e", q, k=6, metric=metric, by=keys["g"], filter=predicate)  # type: ignore[arg-type]
    assert_frame_equal(as_series, got, check_exact=True)
    # Null keys and the group without corpus rows give nothing; the group
    # of one row gives that row.
    answered = set(got["query"].to_list())
    for i, key in enumerate(keys["g"].to_list()):
        if key is None or key == 7:
            assert i not in answered
    solo = got.filter(pl.col("query").is_in(np.flatnonzero(keys["g"].to_numpy() == 99).tolist()))
    assert set(solo["index"].to_list()) <= {17}


@pytest.mark.parametrize("metric", METRICS)
def test_nearest_by_matches_brute_force(metric: str) -> None:
    frame = corpus(600, 16, pl.Float64, seed=44)
    q = queries(16, 12, pl.Float64, seed=45)
    langs = ["en", "de", "fr", None, "en", "it", "de", "fr", "en", "fr", "de", "en"]
    got = pmk.nearest(frame, "e", q, k=5, metric=metric, by={"lang": langs})  # type: ignore[arg-type]
    lang = frame["lang"].to_numpy()
    valid = frame["e"].is_not_null().to_numpy()
    x = np.asarray(
        [row if row is not None else [np.nan] * 16 for row in frame["e"].to_list()],
        dtype=np.float64,
    )
    for i, key in enumerate(langs):
        positions = np.flatnonzero((lang == key) & valid)
        found = got.filter(pl.col("query") == i)["index"].to_list()
        if key is None or key == "it":
            assert found == []
            continue
        best = reference(x[positions], q[i : i + 1], 5, metric)[0]
        assert found == [positions[j] for j in best]


def test_nearest_by_several_keys_on_a_lazy_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many batches: each batch's rows matched to the queries' keys,
    positions counted over the whole corpus."""
    monkeypatch.setattr("polars_mlkit.search.BATCH_BYTES", 50 * 8 * 4)
    monkeypatch.setattr("polars_mlkit.search.MIN_BATCH_ROWS", 1)
    frame = corpus(700, 8, pl.Float32, seed=46)
    q = queries(8, 25, pl.Float32, seed=47)
    rng = np.random.default_rng(48)
    keys = pl.DataFrame(
        {"lang": rng.choice(["en", "de", "fr", "it"], q.shape[0]), "g": rng.integers(0, 6, 25)}
    )
    predicate = pl.col("year") >= 2017
    memory = pmk.nearest(frame, "e", q, k=4, by=keys, filter=predicate)
    assert_frame_equal(
        memory, nearest_per_query_group(frame, keys, q, 4, "cosine", predicate), check_exact=True
    )
    lazy = pmk.nearest(frame.lazy(), "e", q, k=4, by=keys, filter=predicate)
    assert_frame_equal(lazy, memory, check_exact=True)


def test_nearest_by_with_binary_codes_and_rescoring() -> None:
    frame = corpus(600, 32, pl.Float32, seed=49).with_columns(
        pl.col("e").ml.quantize("binary").alias("b")
    )
    q = queries(32, 9, pl.Float32, seed=50)
    keys = query_groups(q.shape[0], seed=51).with_columns(pl.col("g").replace(99, 3))
    got = pmk.nearest(frame, "b", q, k=4, metric="hamming", rescore="e", by=keys)
    expected = nearest_per_query_group(
        frame.drop("e").rename({"b": "e"}).with_columns(frame["e"].alias("full")),
        keys,
        q,
        4,
        "hamming",
        rescore="full",
    )
    assert_frame_equal(got, expected, check_exact=True)
    codes = np.packbits(q > 0, axis=1).astype(np.float64)
    hamming = pmk.nearest(frame, "b", codes, k=5, metric="hamming", by=keys)
    reference_codes = nearest_per_query_group(frame.with_columns(e="b"), keys, codes, 5, "hamming")
    assert_frame_equal(hamming, reference_codes, check_exact=True)


def test_bad_query_keys() -> None:
    frame = corpus(50, 4, pl.Float64)
    q = queries(4, 3, pl.Float64)
    with pytest.raises(TypeError, match=r"key column 'g' is Int32 in by and Int64 in the corpus"):
        pmk.nearest(frame, "e", q, by=pl.DataFrame({"g": [1, 2, 3]}, schema={"g": pl.Int32}))
    with pytest.raises(TypeError, match=r"keys in by\['g'\] do not fit the corpus column's dtype"):
        pmk.nearest(frame, "e", q, by={"g": ["a", "b", "c"]})
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="'tenant' is not in the corpus"):
        pmk.nearest(frame, "e", q, by={"tenant": [1, 2, 3]})
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="'tenant' is not in the corpus"):
        pmk.nearest(frame, "e", q, by=pl.DataFrame({"tenant": [1, 2, 3]}))
    with pytest.raises(ValueError, match="by has 2 rows of keys for 3 queries"):
        pmk.nearest(frame, "e", q, by=pl.DataFrame({"g": [1, 2]}))
    with pytest.raises(ValueError, match=r"by\['g'\] has 4 keys for 3 queries"):
        pmk.nearest(frame, "e", q, by={"g": [1, 2, 3, 4]})
    with pytest.raises(TypeError, match=r"by\['g'\] must be a sequence of one key per query"):
        pmk.nearest(frame, "e", q, by={"g": 1})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="by must be a DataFrame"):
        pmk.nearest(frame, "e", q, by="g")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="one or more key columns"):
        pmk.nearest(frame, "e", q, by={})
    with pytest.raises(TypeError, match="by= needs a frame"):
        pmk.nearest(np.ones((3, 4)), None, q, by={"g": [1, 2, 3]})
    with pytest.raises(TypeError, match="key column 'g' is String in by and Int64"):
        pmk.nearest(frame.lazy(), "e", q, by=pl.Series("g", ["1", "2", "3"]))
    # Keys that are all null have no dtype to disagree with: nothing matches.
    assert pmk.nearest(frame, "e", q, by=pl.DataFrame({"g": [None, None, None]})).height == 0
    assert pmk.nearest(frame, "e", q, by={"g": [None, None, None]}).height == 0


def token_corpus(n: int, d: int, dtype: Any, seed: int) -> pl.DataFrame:
    """Ragged documents (empty and null ones too) with keys: ``g`` 0-4,
    one row (5) alone in group 99, and ``year``."""
    docs = documents(n, d, seed=seed, integer=dtype == pl.Int8)
    rng = np.random.default_rng(seed + 1)
    g = rng.integers(0, 5, n)
    g[5] = 99
    return token_frame(docs, dtype, d).with_columns(
        pl.Series("g", g), pl.Series("year", rng.integers(2015, 2025, n))
    )


def maxsim_per_query_group(
    frame: pl.DataFrame, keys: list[Any], tokens: list[Any], k: int, predicate: pl.Expr | None
) -> pl.DataFrame:
    """Each query searched alone against ``frame.filter(g == its key)``."""
    parts = []
    indexed = frame.with_row_index("_pos")
    for i, key in enumerate(keys):
        if key is None:
            continue
        same = pl.col("g") == key
        kept = indexed.filter(same if predicate is None else same & predicate)
        found = pmk.nearest(kept, "t", [tokens[i]], k=k, metric="maxsim")
        positions = kept["_pos"].gather(found["index"]).cast(pl.UInt32)
        parts.append(
            found.with_columns(pl.lit(i, pl.UInt32).alias("query"), positions.alias("index"))
        )
    return pl.concat(parts)


@pytest.mark.parametrize("dtype", [pl.Float32, pl.Float16, pl.Int8])
@pytest.mark.parametrize("with_filter", [False, True])
def test_maxsim_nearest_by_equals_searching_each_querys_group(
    dtype: Any, with_filter: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = 8
    frame = token_corpus(300, d, dtype, seed=52)
    rng = np.random.default_rng(53)
    tokens = [rng.normal(size=(int(rng.integers(1, 6)), d)) for _ in range(9)]
    keys = [0, 3, None, 7, 99, 1, 0, 4, 2]  # 7: no corpus rows; 99: one row
    predicate = (pl.col("year") >= 2019) if with_filter else None
    got = pmk.nearest(frame, "t", tokens, k=5, metric="maxsim", by={"g": keys}, filter=predicate)
    expected = maxsim_per_query_group(frame, keys, tokens, 5, predicate)
    assert_frame_equal(got, expected, check_exact=True)
    assert 2 not in got["query"]  # a null key
    assert 3 not in got["query"]  # a group without corpus rows
    assert got.filter(pl.col("query") == 4)["index"].to_list() in ([5], [])
    # Scores and order against numpy on the tokens as the column holds them.
    held = frame["t"].cast(pl.List(pl.List(pl.Float64))).to_list()
    mask = pl.lit(True) if predicate is None else predicate.fill_null(False)
    passing = frame.with_columns(mask.alias("_pass"))["_pass"].to_numpy()
    g = frame["g"].to_numpy()
    for i, key in enumerate(keys):
        if key is None:
            continue
        rows = np.flatnonzero((g == key) & passing).tolist()
        q = tokens[i] if dtype == pl.Float64 else tokens[i].astype(np.float32).astype(np.float64)
        scores = maxsim_reference([held[r] for r in rows], q)
        best = sorted(
            (r for r in range(len(rows)) if scores[r] is not None), key=lambda r: -scores[r]
        )  # type: ignore[operator]
        mine = got.filter(pl.col("query") == i)
        assert mine["index"].to_list() == [rows[r] for r in best[:5]]
        np.testing.assert_allclose(mine["score"], [scores[r] for r in best[:5]], rtol=1e-6)
    # Out of core, in several batches.
    monkeypatch.setattr("polars_mlkit.search.BATCH_BYTES", 40 * 8 * 4 * 32)
    monkeypatch.setattr("polars_mlkit.search.MIN_BATCH_ROWS", 1)
    lazy = pmk.nearest(
        frame.lazy(), "t", tokens, k=5, metric="maxsim", by={"g": keys}, filter=predicate
    )
    assert_frame_equal(lazy, got, check_exact=True)


def test_maxsim_knn_join_by_and_filter_equal_joining_each_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    d = 6
    frame = token_corpus(250, d, pl.Float32, seed=54)
    rng = np.random.default_rng(55)
    tokens = [rng.normal(size=(int(rng.integers(1, 5)), d)).tolist() for _ in range(7)]
    tokens[3] = []  # no tokens: not a query
    left = pl.DataFrame(
        {"ask": range(7), "g": [1, None, 99, 2, 0, 7, 1], "t": tokens},
        schema={"ask": pl.Int64, "g": pl.Int64, "t": pl.List(pl.List(pl.Float64))},
    )
    predicate = pl.col("year") < 2022
    got = pmk.knn_join(left, frame, on="t", k=3, metric="maxsim", by="g", filter=predicate)
    rows = [0, 2, 4, 6]  # null key, no tokens and the empty group 7 give nothing
    found = maxsim_per_query_group(
        frame, [left["g"][r] for r in rows], [tokens[r] for r in rows], 3, predicate
    )
    expected = pl.concat(
        [
            left[[rows[q] for q in found["query"].to_list()]],
            frame[found["index"]].rename({"t": "t_right", "g": "g_right"}),
            found.select("rank", "score"),
        ],
        how="horizontal",
    )
    assert_frame_equal(got, expected, check_exact=True)
    monkeypatch.setattr("polars_mlkit.search.BATCH_BYTES", 30 * 6 * 4 * 32)
    monkeypatch.setattr("polars_mlkit.search.MIN_BATCH_ROWS", 1)
    lazy = pmk.knn_join(left, frame.lazy(), on="t", k=3, metric="maxsim", by="g", filter=predicate)
    assert_frame_equal(lazy, got, check_exact=True)


def test_a_batch_result_arriving_in_pieces() -> None:
    """A ``map_batches`` that hands back a batch's partial result split in
    pieces (as Ray may split a large output block): positions still count
    across batches and the top-k merge is exact."""
    from polars_mlkit import search

    frame = corpus(300, 6, pl.Float32, seed=60)
    q = queries(6, 4, pl.Float32, seed=61)

    def in_pieces(fn: Any) -> Any:
        for start, length in ((0, 120), (120, 100), (220, 80)):
            result = fn(frame.slice(start, length))
            yield result.head(7)
            yield result.slice(7, 0)
            yield result.slice(7)

    run = search.plugin_search("e", q, 5, "euclidean", "nearest")
    got = search.search_batches(in_pieces, run, 5, False, "nearest", keep_rows=False)
    assert_frame_equal(got, pmk.nearest(frame, "e", q, k=5, metric="euclidean"), check_exact=True)
