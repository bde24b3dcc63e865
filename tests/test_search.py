"""Search at scale (DESIGN.md, "Search at scale"): ``knn_join`` and
``nearest`` over LazyFrame corpora read in batches, against a numpy
brute-force reference and against the in-memory search."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from polars.testing import assert_frame_equal

METRICS = ("cosine", "dot", "euclidean")


def reference(corpus: np.ndarray, queries: np.ndarray, k: int, metric: str) -> list[list[int]]:
    """Positions of the k best corpus rows per query (NaN rows never match),
    ties to the lower position: a stable sort of the exact f64 scores."""
    x, q = corpus.astype(np.float64), queries.astype(np.float64)
    if metric == "euclidean":
        key = -np.sqrt(((q[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    else:
        key = q @ x.T
        if metric == "cosine":
            norms = np.linalg.norm(q, axis=1)[:, None] * np.linalg.norm(x, axis=1)[None, :]
            key = np.divide(key, norms, out=np.zeros_like(key), where=norms != 0)
    out = []
    for row in key:
        order = [i for i in np.argsort(-row, kind="stable") if not np.isnan(row[i])]
        out.append(order[:k])
    return out


def corpus_frame(
    rng: np.random.Generator, n: int, d: int, dtype: Any, container: str
) -> pl.DataFrame:
    # Rounded values make exact ties likely (ties go to the lower position).
    x = np.round(rng.normal(size=(n, d)), 1)
    series = pl.Series("e", x.tolist(), dtype=pl.List(pl.Float64))
    inner = dtype
    target = pl.Array(inner, d) if container == "array" else pl.List(inner)
    return pl.DataFrame(
        {"id": np.arange(n), "e": series.cast(target), "tag": [f"t{i}" for i in range(n)]}
    )


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [pl.Float32, pl.Float64])
@pytest.mark.parametrize("container", ["array", "list"])
def test_knn_join_matches_brute_force(metric: str, dtype: Any, container: str) -> None:
    rng = np.random.default_rng(5)
    right = corpus_frame(rng, 300, 8, dtype, container)
    left = pl.DataFrame({"q": [10, 11, 12, 13], "e": np.round(rng.normal(size=(4, 8)), 1).tolist()})
    left = left.with_columns(pl.col("e").cast(pl.Array(pl.Float64, 8)))
    out = pmk.knn_join(left, right, on="e", k=5, metric=metric)
    assert out.columns == ["q", "e", "id", "e_right", "tag", "rank", "score"]
    x = np.asarray(right["e"].to_list(), dtype=np.float64)
    q = np.asarray(left["e"].to_list(), dtype=np.float64)
    expected = reference(x.astype(np.float32 if dtype == pl.Float32 else np.float64), q, 5, metric)
    got = out.group_by("q", maintain_order=True).agg("id")["id"].to_list()
    assert got == expected
    assert out["rank"].to_list() == [1, 2, 3, 4, 5] * 4
    assert out["tag"].to_list() == [f"t{i}" for row in expected for i in row]
    # The same scores as nearest.
    near = pmk.nearest(right, "e", q, k=5, metric=metric)  # type: ignore[arg-type]
    np.testing.assert_array_equal(out["score"].to_numpy(), near["score"].to_numpy())


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [pl.Float32, pl.Float64])
def test_lazy_corpus_in_batches_equals_in_memory(
    metric: str, dtype: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of about 100 rows: many partial top-k merged; bit for bit."""
    monkeypatch.setattr("polars_mlkit.search.BATCH_BYTES", 100 * 16 * 8)
    monkeypatch.setattr("polars_mlkit.search.MIN_BATCH_ROWS", 1)
    rng = np.random.default_rng(9)
    right = corpus_frame(rng, 1000, 16, dtype, "array")
    right = right.with_columns(
        pl.when(pl.col("id") % 37 == 0).then(None).otherwise(pl.col("e")).alias("e")
    )
    q = np.round(rng.normal(size=(7, 16)), 1)
    memory = pmk.nearest(right, "e", q, k=9, metric=metric)  # type: ignore[arg-type]
    lazy = pmk.nearest(right.lazy(), "e", q, k=9, metric=metric)  # type: ignore[arg-type]
    assert_frame_equal(lazy, memory, check_exact=True)
    left = pl.DataFrame({"e": q.tolist()})
    assert_frame_equal(
        pmk.knn_join(left, right.lazy(), on="e", k=9, metric=metric),  # type: ignore[arg-type]
        pmk.knn_join(left, right, on="e", k=9, metric=metric),  # type: ignore[arg-type]
        check_exact=True,
    )


def test_knn_join_nulls_suffix_and_small_corpora() -> None:
    right = pl.DataFrame({"e": [[1.0, 0.0], None, [0.0, 1.0]], "x": [1, 2, 3]})
    left = pl.DataFrame({"x": [7, 8, 9], "v": [[1.0, 0.1], None, [0.1, 1.0]]})
    out = pmk.knn_join(left, right, on="v", right_on="e", k=5, suffix="_r")
    # Null query rows give no matches; null corpus rows are never matched;
    # k larger than the corpus gives every row.
    assert out.select("x", "x_r", "rank").rows() == [(7, 1, 1), (7, 3, 2), (9, 3, 1), (9, 1, 2)]
    empty = pmk.knn_join(left, right.clear(), on="v", right_on="e", k=3)
    assert empty.height == 0
    assert empty.columns == ["x", "v", "e", "x_right", "rank", "score"]
    none = pmk.knn_join(left.filter(pl.col("v").is_null()), right, on="v", right_on="e")
    assert none.height == 0
    assert none.columns == empty.columns


def test_knn_join_bad_input() -> None:
    right = pl.DataFrame({"e": [[1.0, 0.0], [0.0, 1.0]], "s": ["a", "b"]})
    left = pl.DataFrame({"e": [[1.0, 0.0, 0.0]], "s": ["q"]})
    with pytest.raises(pl.exceptions.ComputeError, match="knn_join"):
        pmk.knn_join(left, right, on="e")
    with pytest.raises(TypeError, match="knn_join: column 's' of the left frame must be a vector"):
        pmk.knn_join(left, right, on="s")
    with pytest.raises(TypeError, match="knn_join: corpus column 's' must be a vector"):
        pmk.knn_join(
            left.rename({"e": "x", "s": "e"}).with_columns(pl.lit([1.0, 0.0]).alias("s")),
            right,
            on="s",
        )
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="knn_join: column 'nope'"):
        pmk.knn_join(left, right, on="nope")
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="not in the corpus"):
        pmk.knn_join(left, right, on="e", right_on="nope")
    with pytest.raises(ValueError, match="knn_join: k must be positive"):
        pmk.knn_join(left, right, on="e", k=0)
    with pytest.raises(TypeError, match="nearest: corpus column 's' must be a vector"):
        pmk.nearest(right.lazy(), "s", [[1.0, 0.0]])
    with pytest.raises(pl.exceptions.ComputeError, match="nearest"):
        pmk.nearest(right.lazy(), "e", [[1.0, 0.0, 0.0]])


def test_progress_bar_is_optional(capsys: pytest.CaptureFixture[str]) -> None:
    right = pl.DataFrame({"e": [[1.0, 0.0], [0.0, 1.0]]})
    left = pl.DataFrame({"e": [[1.0, 0.0]]})
    out = pmk.knn_join(left, right.lazy(), on="e", k=1, progress=True)
    assert out["rank"].to_list() == [1]
