"""Vector aggregations (DESIGN.md, "Vector aggregations"): per-dimension
mean, sum, min and max over the rows of a vector column, against numpy."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest

# A plugin's error: at schema time (InvalidOperationError) or when it runs (ComputeError).
PLUGIN_ERRORS = (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError)
OPS = {"mean": np.mean, "sum": np.sum, "min": np.min, "max": np.max}


def data(seed: int, n: int = 200, d: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * 10
    null_rows = rng.random(n) < 0.1
    null_elements = rng.random((n, d)) < 0.05
    return x, null_rows, null_elements


def frame(
    x: np.ndarray, null_rows: np.ndarray, null_elements: np.ndarray, dtype: Any, container: str
) -> pl.DataFrame:
    rows = [
        None
        if null_rows[i]
        else [None if null_elements[i, j] else float(v) for j, v in enumerate(r)]
        for i, r in enumerate(x)
    ]
    d = x.shape[1]
    series = pl.Series("e", rows, dtype=pl.List(pl.Float64)).cast(pl.List(dtype))
    if container == "array":
        series = series.cast(pl.Array(dtype, d))
    return pl.DataFrame({"g": np.arange(len(x)) % 3, "e": series})


def reference(
    x: np.ndarray, null_rows: np.ndarray, null_elements: np.ndarray, op: str, dtype: Any
) -> list[float | None]:
    values = x.astype(np.float32).astype(np.float64) if dtype == pl.Float32 else x
    out: list[float | None] = []
    for j in range(x.shape[1]):
        keep = ~null_rows & ~null_elements[:, j]
        column = values[keep, j]
        if column.size == 0:
            out.append(0.0 if op == "sum" else None)
        else:
            out.append(float(OPS[op](column)))
    return out


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("dtype", [pl.Float32, pl.Float64])
@pytest.mark.parametrize("container", ["array", "list"])
def test_matches_numpy_per_column_and_per_group(op: str, dtype: Any, container: str) -> None:
    x, null_rows, null_elements = data(1)
    df = frame(x, null_rows, null_elements, dtype, container)
    expr = getattr(pl.col("e").ml, f"vector_{op}")()
    got = df.select(expr)
    assert got.schema["e"] == df.schema["e"]  # Float32 stays Float32, container kept
    want = reference(x, null_rows, null_elements, op, dtype)
    rtol = 1e-6 if dtype == pl.Float32 else 1e-12
    np.testing.assert_allclose(
        np.array(got["e"].to_list()[0], dtype=float), np.array(want, dtype=float), rtol=rtol
    )
    grouped = df.group_by("g", maintain_order=True).agg(expr).sort("g")
    for g, vector in zip(grouped["g"], grouped["e"].to_list(), strict=True):
        rows = np.arange(len(x)) % 3 == g
        expected = reference(x[rows], null_rows[rows], null_elements[rows], op, dtype)
        np.testing.assert_allclose(
            np.array(vector, dtype=float), np.array(expected, dtype=float), rtol=rtol
        )
    over = df.with_columns(expr.over("g").alias("agg"))
    for g, vector in zip(grouped["g"], grouped["e"].to_list(), strict=True):
        broadcast = over.filter(pl.col("g") == g)["agg"].to_list()
        assert all(v == vector for v in broadcast)


def test_chunked_sliced_and_deterministic() -> None:
    x, null_rows, null_elements = data(2, n=5000, d=16)
    df = frame(x, null_rows, null_elements, pl.Float64, "array")
    chunked = pl.concat([df[:1234], df[1234:3000], df[3000:]], rechunk=False)
    expr = pl.col("e").ml.vector_mean()
    one = df.select(expr)["e"].to_list()
    assert chunked.select(expr)["e"].to_list() == one
    assert df[100:900].select(expr)["e"].to_list()[0] == pytest.approx(
        reference(x[100:900], null_rows[100:900], null_elements[100:900], "mean", pl.Float64),
        rel=1e-12,
    )
    assert df.select(expr)["e"].to_list() == one  # the same bits again


@pytest.mark.parametrize("dtype", [pl.Float32, pl.Float64])
@pytest.mark.parametrize("container", ["array", "list"])
def test_sum_is_the_row_order_sum(dtype: Any, container: str) -> None:
    """The documented order: per dimension, rows in order, in f64, so the sum
    equals numpy's sequential ``cumsum`` bit for bit, with complete rows,
    rows holding a null element and null rows interleaved, and chunks."""
    x, null_rows, null_elements = data(3, n=333, d=7)
    x = x * np.exp(np.random.default_rng(4).normal(size=x.shape) * 8)  # wide magnitudes
    df = frame(x, null_rows, null_elements, dtype, container)
    values = x.astype(np.float32).astype(np.float64) if dtype == pl.Float32 else x
    kept = np.where(null_rows[:, None] | null_elements, 0.0, values)
    want = np.cumsum(kept, axis=0)[-1]
    if dtype == pl.Float32:
        want = want.astype(np.float32)
    chunked = pl.concat([df[:50], df[50:51], df[51:200], df[200:]], rechunk=False)
    for source in (df, chunked):
        got = np.array(source.select(pl.col("e").ml.vector_sum())["e"].to_list()[0])
        np.testing.assert_array_equal(got, want)


def test_empty_all_null_nan_and_the_data_face() -> None:
    empty = pl.DataFrame({"e": pl.Series([], dtype=pl.Array(pl.Float64, 2))})
    assert empty.select(pl.col("e").ml.vector_mean())["e"].to_list() == [None]
    nulls = pl.DataFrame({"e": pl.Series([None, None], dtype=pl.List(pl.Float32))})
    assert nulls.select(pl.col("e").ml.vector_sum())["e"].to_list() == [None]
    nan = pl.DataFrame({"e": [[1.0, float("nan")], [2.0, 3.0]]})
    assert str(nan.select(pl.col("e").ml.vector_max())["e"].to_list()) == "[[2.0, nan]]"
    matrix = np.array([[1.0, 2.0], [3.0, 6.0]], dtype=np.float32)
    got = pmk.vector_mean(matrix)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, matrix.mean(axis=0))
    assert pmk.vector_max([[1, 9], [4, 2]]) == [4.0, 9.0]
    series = pl.Series("e", [[1.0, 2.0], [3.0, 4.0]])
    assert pmk.vector_min(series).to_list() == [[1.0, 2.0]]
    assert series.ml.vector_sum().to_list() == [[4.0, 6.0]]
    assert pmk.vector_mean("e").meta.output_name() == "e"


def test_bad_input() -> None:
    df = pl.DataFrame({"x": [1.0, 2.0], "rag": [[1.0], [1.0, 2.0]], "s": ["a", "b"]})
    with pytest.raises(PLUGIN_ERRORS, match='vector_mean: column "x" is a scalar'):
        df.select(pl.col("x").ml.vector_mean())
    with pytest.raises(
        pl.exceptions.ComputeError, match="vector_sum: vectors must all have one length"
    ):
        df.select(pl.col("rag").ml.vector_sum())
    with pytest.raises(PLUGIN_ERRORS, match="vector_max"):
        df.select(pl.col("s").ml.vector_max())
    with pytest.raises(ValueError, match="vector_min: x must be 2-D"):
        pmk.vector_min([1.0, 2.0])


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("dtype", [pl.Float32, pl.Float64])
@pytest.mark.parametrize("container", ["array", "list"])
def test_frame_form_equals_group_by_agg(op: str, dtype: Any, container: str) -> None:
    """``pmk.vector_<op>(frame, column, by=...)`` gives what ``group_by(by,
    maintain_order=True).agg`` gives with the expression, bit for bit (the
    same row order per group), and numpy's answer per group; with null and
    string keys, two key columns, chunked and sliced frames and a LazyFrame."""
    x, null_rows, null_elements = data(5, n=700, d=6)
    df = frame(x, null_rows, null_elements, dtype, container)
    rng = np.random.default_rng(6)
    keys = rng.integers(0, 9, len(x))
    df = df.with_columns(
        g=pl.Series(keys).cast(pl.String).replace("3", None),
        h=pl.Series(rng.integers(0, 2, len(x))),
    )
    function = getattr(pmk, f"vector_{op}")
    expr = getattr(pl.col("e").ml, f"vector_{op}")()
    chunked = pl.concat([df[:100], df[100:101], df[101:]], rechunk=False)
    for source, by in (
        (df, "g"),
        (df, ["g", "h"]),
        (chunked, "g"),
        (df[37:611], ["h", "g"]),
        (df.lazy(), "g"),
    ):
        got = function(source, "e", by=by)
        want = source.lazy().group_by(by, maintain_order=True).agg(expr).collect()
        assert got.schema == want.schema
        assert got.equals(want), (source, by)
    # numpy per group, and a null key is a group of its own.
    got = function(df, "e", by="g")
    assert got["g"].null_count() == 1
    rows_of = df.with_row_index("i").group_by("g", maintain_order=True).agg("i")
    rtol = 1e-6 if dtype == pl.Float32 else 1e-12
    for rows, vector in zip(rows_of["i"].to_list(), got["e"].to_list(), strict=True):
        expected = reference(x[rows], null_rows[rows], null_elements[rows], op, dtype)
        np.testing.assert_allclose(
            np.array(vector, dtype=float), np.array(expected, dtype=float), rtol=rtol
        )


def test_frame_form_edges_and_bad_input() -> None:
    empty = pl.DataFrame(
        {"g": pl.Series([], dtype=pl.Int64), "e": pl.Series([], dtype=pl.Array(pl.Float32, 3))}
    )
    got = pmk.vector_mean(empty, "e", by="g")
    assert got.height == 0
    assert got.schema == {"g": pl.Int64, "e": pl.Array(pl.Float32, 3)}
    # A group of null rows gives a null vector; ragged rows in different groups are fine.
    df = pl.DataFrame({"g": [1, 2, 2, 1], "e": [[1.0, 2.0], None, None, [3.0, 4.0]]})
    assert pmk.vector_sum(df, "e", by="g")["e"].to_list() == [[4.0, 6.0], None]
    ragged = pl.DataFrame({"g": [1, 2, 1], "e": [[1.0], [1.0, 2.0], [3.0]]})
    assert pmk.vector_max(ragged, "e", by="g")["e"].to_list() == [[3.0], [1.0, 2.0]]
    with pytest.raises(pl.exceptions.ComputeError, match="vector_max: vectors must all have"):
        pmk.vector_max(ragged.with_columns(one=pl.lit(1)), "e", by="one")
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="vector_mean: no column 'nope'"):
        pmk.vector_mean(df, "e", by="nope")
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="vector_mean: no column 'f'"):
        pmk.vector_mean(df, "f", by="g")
    with pytest.raises(ValueError, match="vector_mean: with a frame, by must name"):
        pmk.vector_mean(df, "e")
    with pytest.raises(TypeError, match="vector_mean: with a frame, column must be"):
        pmk.vector_mean(df, by="g")
    with pytest.raises(ValueError, match="vector_sum: column 'e' is also a group column"):
        pmk.vector_sum(df, "e", by=["g", "e"])
    with pytest.raises(TypeError, match="vector_min: column and by go with a DataFrame"):
        pmk.vector_min([[1.0, 2.0]], by="g")
    with pytest.raises(PLUGIN_ERRORS, match="vector_mean"):
        pmk.vector_mean(df.with_columns(s=pl.lit("a")), "s", by="g")
