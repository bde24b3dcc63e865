"""MaxSim, multi-vector (late-interaction) scoring (DESIGN.md, "Filtered,
grouped and multi-vector search"): ``ml.maxsim`` against a numpy reference
on ragged documents, empty and null documents, Float32/Float16/Int8/UInt8
tokens; ``metric="maxsim"`` in ``nearest``, ``knn_join`` and
``top_k_similar``; and the bad-input list."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from polars.testing import assert_frame_equal, assert_series_equal


def documents(n: int, d: int, seed: int = 0, integer: bool = False) -> list[Any]:
    """Ragged documents of 0-9 tokens; every 13th is null."""
    rng = np.random.default_rng(seed)
    docs: list[Any] = []
    for i in range(n):
        count = int(rng.integers(0, 10))
        if integer:
            tokens = rng.integers(-30, 30, size=(count, d)).astype(np.float64)
        else:
            tokens = rng.normal(size=(count, d))
        docs.append(None if i % 13 == 7 else tokens.tolist())
    return docs


def reference(docs: list[Any], query: np.ndarray) -> list[float | None]:
    """Σ_j max_t q_j · x_t in float64 numpy; None for null or empty documents."""
    out: list[float | None] = []
    for doc in docs:
        if doc is None or len(doc) == 0:
            out.append(None)
            continue
        x = np.asarray(doc, dtype=np.float64)
        out.append(float((query @ x.T).max(axis=1).sum()))
    return out


def token_frame(docs: list[Any], dtype: Any, d: int) -> pl.DataFrame:
    series = pl.Series("t", docs, dtype=pl.List(pl.List(pl.Float64)))
    return pl.DataFrame([series.cast(pl.List(pl.Array(dtype, d)))])


@pytest.mark.parametrize("dtype", [pl.Float64, pl.Float32, pl.Float16, pl.Int8, pl.UInt8])
def test_maxsim_matches_numpy(dtype: Any) -> None:
    d = 12
    integer = dtype in (pl.Int8, pl.UInt8)
    docs = documents(200, d, seed=1, integer=integer)
    if dtype == pl.UInt8:
        docs = [None if doc is None else np.abs(np.asarray(doc)).tolist() for doc in docs]
    frame = token_frame(docs, dtype, d)
    rng = np.random.default_rng(2)
    query = rng.normal(size=(5, d))
    got = frame.select(pl.col("t").ml.maxsim(query))["t"].to_list()
    # The tokens as the column holds them; narrow columns score a Float32 query.
    held = frame["t"].cast(pl.List(pl.List(pl.Float64))).to_list()
    q = query if dtype == pl.Float64 else query.astype(np.float32).astype(np.float64)
    expected = reference(held, q)
    assert [g is None for g in got] == [e is None for e in expected]
    np.testing.assert_allclose(
        [g for g in got if g is not None], [e for e in expected if e is not None], rtol=1e-12
    )


def test_screened_float32_scores_are_the_exact_scores() -> None:
    """Float32 tokens (screened in Float32) give bit for bit the scores of
    the same numbers in a Float64 column (scored exactly throughout), also
    with near-ties and repeated tokens."""
    d = 64
    rng = np.random.default_rng(3)
    docs = []
    for _ in range(300):
        tokens = rng.normal(size=(int(rng.integers(1, 30)), d)).astype(np.float32)
        tokens[-1] = tokens[0]  # a repeated token: an exact tie
        docs.append(tokens.tolist())
    narrow = token_frame(docs, pl.Float32, d)
    wide = narrow.with_columns(pl.col("t").cast(pl.List(pl.Array(pl.Float64, d))))
    query = rng.normal(size=(32, d)).astype(np.float32).astype(np.float64)
    assert_series_equal(
        narrow.select(pl.col("t").ml.maxsim(query))["t"],
        wide.select(pl.col("t").ml.maxsim(query))["t"],
        check_exact=True,
    )
    for dtype in (pl.Float16, pl.Int8):
        cast = narrow.with_columns(pl.col("t").cast(pl.List(pl.Array(dtype, d))))
        as_f32 = cast.with_columns(pl.col("t").cast(pl.List(pl.Array(pl.Float32, d))))
        assert_series_equal(
            cast.select(pl.col("t").ml.maxsim(query))["t"],
            as_f32.select(pl.col("t").ml.maxsim(query))["t"],
            check_exact=True,
        )


def test_nulls_lists_chunks_and_slices() -> None:
    d = 3
    docs = [[[1.0, 0.0, 0.0], None, [0.0, 2.0, 0.0]], [], None, [[1.0, 1.0, 1.0]]]
    frame = pl.DataFrame([pl.Series("t", docs, dtype=pl.List(pl.Array(pl.Float64, d)))])
    query = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    # The null token is left out: max over the other two.
    assert frame.select(pl.col("t").ml.maxsim(query))["t"].to_list() == [3.0, None, None, 2.0]
    as_lists = frame.with_columns(pl.col("t").cast(pl.List(pl.List(pl.Float64))))
    assert as_lists.select(pl.col("t").ml.maxsim(query))["t"].to_list() == [3.0, None, None, 2.0]
    chunked = pl.concat([frame, frame], rechunk=False)
    assert chunked["t"].n_chunks() == 2
    got = chunked.select(pl.col("t").ml.maxsim(query))["t"].to_list()
    assert got == [3.0, None, None, 2.0] * 2
    assert chunked.slice(3, 3).select(pl.col("t").ml.maxsim(query))["t"].to_list() == [
        2.0,
        3.0,
        None,
    ]
    assert frame["t"].ml.maxsim(query).to_list() == [3.0, None, None, 2.0]
    assert pmk.maxsim(frame["t"], query).to_list() == [3.0, None, None, 2.0]
    nan_doc = pl.DataFrame(
        [pl.Series("t", [[[np.nan, 0.0, 0.0]]], dtype=pl.List(pl.Array(pl.Float32, 3)))]
    )
    assert np.isnan(nan_doc.select(pl.col("t").ml.maxsim(query))["t"][0])


def test_lazy_and_streaming_equal_eager() -> None:
    d = 8
    frame = token_frame(documents(500, d, seed=4), pl.Float32, d)
    query = np.random.default_rng(5).normal(size=(4, d))
    eager = frame.select(pl.col("t").ml.maxsim(query))
    streaming = frame.lazy().select(pl.col("t").ml.maxsim(query)).collect(engine="streaming")
    assert_frame_equal(streaming, eager, check_exact=True)


def ranked(scores: list[float | None], k: int) -> list[int]:
    """Positions of the k best scores, ties to the lower position."""
    valid = [(-s, i) for i, s in enumerate(scores) if s is not None and not np.isnan(s)]
    return [i for _, i in sorted(valid)[:k]]


def test_nearest_knn_join_and_top_k_similar_rank_by_maxsim(tmp_path: Any) -> None:
    d = 16
    docs = documents(400, d, seed=6)
    frame = token_frame(docs, pl.Float32, d).with_columns(
        pl.Series("year", np.arange(400) % 7 + 2018), pl.Series("g", np.arange(400) % 3)
    )
    rng = np.random.default_rng(7)
    queries = [rng.normal(size=(int(n), d)) for n in (3, 1, 8)]
    found = pmk.nearest(frame, "t", queries, k=5, metric="maxsim")
    for i, q in enumerate(queries):
        scores = frame.select(pl.col("t").ml.maxsim(q))["t"].to_list()
        assert found.filter(pl.col("query") == i)["index"].to_list() == ranked(scores, 5)
        top = frame.select(pl.col("t").ml.top_k_similar(q, k=5, metric="maxsim"))["t"]
        assert top.to_list() == ranked(scores, 5)
    # Filtered, and out of core.
    predicate = pl.col("year") >= 2021
    filtered = pmk.nearest(frame, "t", queries, k=4, metric="maxsim", filter=predicate)
    passing = set(frame.with_row_index().filter(predicate)["index"].to_list())
    assert set(filtered["index"].to_list()) <= passing
    path = tmp_path / "docs.parquet"
    frame.write_parquet(path)
    lazy = pmk.nearest(pl.scan_parquet(path), "t", queries, k=4, metric="maxsim", filter=predicate)
    assert_frame_equal(lazy, filtered, check_exact=True)
    # knn_join: each left row's tokens are a query; by= keeps to its group.
    left = pl.DataFrame(
        {"g": [0, 2, None], "t": [q.tolist() for q in queries]},
        schema={"g": pl.Int64, "t": pl.List(pl.List(pl.Float64))},
    )
    joined = pmk.knn_join(left, frame, on="t", k=3, metric="maxsim", by="g")
    assert joined["g"].to_list() == [0, 0, 0, 2, 2, 2]
    assert (joined["g"] == joined["g_right"]).all()
    for g, q in ((0, queries[0]), (2, queries[1])):
        group = frame.filter(pl.col("g") == g)
        scores = group.select(pl.col("t").ml.maxsim(q))["t"].to_list()
        expected = group["year"].gather(ranked(scores, 3)).to_list()
        assert joined.filter(pl.col("g") == g)["year"].to_list() == expected
    lazy_join = pmk.knn_join(left, frame.lazy(), on="t", k=3, metric="maxsim", by="g")
    assert_frame_equal(lazy_join, joined, check_exact=True)
    # A rerank step: maxsim over the candidates of a first-stage join.
    grouped = frame.group_by("g", maintain_order=True).agg(
        pl.col("t").ml.top_k_similar(queries[0], k=2, metric="maxsim").alias("best")
    )
    assert grouped["best"].list.len().to_list() == [2, 2, 2]


def test_bad_input() -> None:
    frame = token_frame([[[1.0, 2.0]], [[0.0, 1.0]]], pl.Float32, 2)
    with pytest.raises(
        pl.exceptions.PolarsError, match="width 2 but the query tokens have width 3"
    ):
        frame.select(pl.col("t").ml.maxsim([[1.0, 0.0, 0.0]]))
    ragged = pl.DataFrame({"t": [[[1.0, 2.0]], [[1.0, 2.0], [1.0, 2.0, 3.0]]]})
    with pytest.raises(pl.exceptions.PolarsError, match="row 1 has a token of width 3"):
        ragged.select(pl.col("t").ml.maxsim([[1.0, 0.0]]))
    flat = pl.DataFrame({"t": [[1.0, 2.0]]})
    with pytest.raises(pl.exceptions.PolarsError, match="expected a column of token vectors"):
        flat.select(pl.col("t").ml.maxsim([[1.0, 0.0]]))
    with pytest.raises(ValueError, match="at least one token"):
        frame.select(pl.col("t").ml.maxsim(np.empty((0, 2))))
    with pytest.raises(ValueError, match="wrap a single query's matrix in a list"):
        pmk.nearest(frame, "t", np.ones((2, 2)), metric="maxsim")
    with pytest.raises(ValueError, match="different widths"):
        pmk.nearest(frame, "t", [np.ones((1, 2)), np.ones((1, 3))], metric="maxsim")
    with pytest.raises(ValueError, match="rescore= screens on binary codes"):
        pmk.nearest(frame, "t", [np.ones((1, 2))], metric="maxsim", rescore="t")
