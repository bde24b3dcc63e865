"""`polars_mlkit.ray`: fitted scalers and `ml` expressions on Ray Datasets
(DESIGN.md, "Fitted scalers"), checked against the in-memory results on a
local two-CPU Ray cluster started once for the module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from polars.testing import assert_frame_equal

ray = pytest.importorskip("ray")
pmk_ray = pytest.importorskip("polars_mlkit.ray")

# Ray warns about its own deprecated settings while it configures itself.
pytestmark = pytest.mark.filterwarnings(r"ignore::DeprecationWarning:ray(\..*)?")


@pytest.fixture(scope="module", autouse=True)
def _cluster() -> Iterator[None]:
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        ignore_reinit_error=True,
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def data() -> pl.DataFrame:
    rng = np.random.default_rng(42)
    n = 5_000
    x = rng.normal(size=n) * 10 + 3
    x[rng.random(n) < 0.02] = np.nan
    return pl.DataFrame(
        {
            "id": [f"{i:06d}" for i in range(n)],  # String: not scaled, sorts in order
            "g": rng.choice(["a", "b", "c"], n),
            "x": x,
            "y": rng.exponential(size=n).astype(np.float32),
            "e": pl.Series(rng.normal(size=(n, 8)).tolist(), dtype=pl.Array(pl.Float64, 8)),
        }
    ).with_columns(pl.when(pl.int_range(n) % 97 == 0).then(None).otherwise("x").alias("x"))


def dataset(df: pl.DataFrame, blocks: int = 5) -> Any:
    return ray.data.from_arrow(df.to_arrow()).repartition(blocks)


def to_polars(ds: Any) -> pl.DataFrame:
    tables = ray.get(ds.to_arrow_refs())
    frames = [pl.from_arrow(t) for t in tables if t.num_rows]
    return pl.concat([f for f in frames if isinstance(f, pl.DataFrame)]).sort("id")


@pytest.mark.parametrize(
    "make",
    [
        lambda: pmk.StandardScaler(by="g"),
        lambda: pmk.StandardScaler(columns=["x", "e"]),
        lambda: pmk.MinMaxScaler(by="g", feature_range=(-1.0, 1.0)),
        lambda: pmk.MaxAbsScaler(),
    ],
    ids=["standard-by", "standard", "minmax-by", "maxabs"],
)
def test_fit_on_blocks_equals_in_memory(make: Any, data: pl.DataFrame) -> None:
    ds = dataset(data)
    fitted = pmk_ray.fit(make(), ds)
    memory = make().fit(data)
    exact = not isinstance(fitted, pmk.StandardScaler)
    assert_frame_equal(fitted.params_, memory.params_, check_exact=exact, rel_tol=1e-12)
    got = to_polars(pmk_ray.transform(fitted, ds))
    assert_frame_equal(got, memory.transform(data), check_exact=exact, rel_tol=1e-12)
    back = to_polars(pmk_ray.transform(fitted, pmk_ray.transform(fitted, ds), inverse=True))
    assert_frame_equal(back, fitted.inverse_transform(fitted.transform(data)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: pmk.RobustScaler(),
        lambda: pmk.RobustScaler(by="g", quantile_range=(10.0, 90.0), unit_variance=True),
        lambda: pmk.RobustScaler(columns=["e"], with_centering=False),
    ],
    ids=["robust", "robust-by", "robust-vector"],
)
def test_robust_fit_on_blocks_equals_in_memory_bit_for_bit(make: Any, data: pl.DataFrame) -> None:
    """Two passes on the workers (census, then gather of the wanted buckets)."""
    fitted = pmk_ray.fit(make(), dataset(data))
    memory = make().fit(data)
    assert fitted.to_json() == memory.to_json()
    assert_frame_equal(fitted.params_, memory.params_, check_exact=True)
    got = to_polars(pmk_ray.transform(fitted, dataset(data)))
    assert_frame_equal(got, memory.transform(data), check_exact=True)


@pytest.mark.parametrize(
    "make",
    [
        lambda: pmk.QuantileTransformer(n_quantiles=100, output_distribution="normal"),
        lambda: pmk.QuantileTransformer(by="g", columns=["x", "e"]),
        lambda: pmk.PowerTransformer(by="g"),
        lambda: pmk.PowerTransformer(method="box-cox", columns=["y"]),
    ],
    ids=["quantile", "quantile-by", "power-by", "box-cox"],
)
def test_gaussianizing_fit_on_blocks_equals_in_memory_bit_for_bit(
    make: Any, data: pl.DataFrame
) -> None:
    fitted = pmk_ray.fit(make(), dataset(data))
    memory = make().fit(data)
    assert fitted.to_json() == memory.to_json()
    got = to_polars(pmk_ray.transform(fitted, dataset(data)))
    assert_frame_equal(got, memory.transform(data), check_exact=True)


def test_robust_fit_on_a_list_column(data: pl.DataFrame) -> None:
    lists = data.with_columns(pl.col("e").cast(pl.List(pl.Float64)))
    fitted = pmk_ray.fit(pmk.RobustScaler(columns=["e"]), dataset(lists))
    assert fitted.to_json() == pmk.RobustScaler(columns=["e"]).fit(lists).to_json()


def test_transform_with_a_scaler_fitted_in_memory(data: pl.DataFrame) -> None:
    sc = pmk.RobustScaler(by="g").fit(data)
    got = to_polars(pmk_ray.transform(sc, dataset(data, blocks=3)))
    assert_frame_equal(got, sc.transform(data))


@pytest.mark.parametrize(
    "make",
    [
        lambda: pmk.OneHotEncoder(columns=["g", "x"], max_categories=5),
        lambda: pmk.OrdinalEncoder(columns=["g"], min_frequency=0.34, encoded_missing_value=-1),
        lambda: pmk.OneHotEncoder(columns=["x"], by="g", min_frequency=0.02),
    ],
    ids=["one-hot", "ordinal", "one-hot-by"],
)
def test_encoder_fit_and_transform_on_blocks_equal_in_memory(make: Any, data: pl.DataFrame) -> None:
    # A column with few values, some missing, so categories and counts matter.
    frame = data.with_columns(pl.col("x").round(0).clip(-5, 5))
    fitted = pmk_ray.fit(make(), dataset(frame))
    memory = make().fit(frame)
    assert fitted.to_json() == memory.to_json()
    got = to_polars(pmk_ray.transform(fitted, dataset(frame, blocks=3)))
    assert_frame_equal(got, memory.transform(frame))
    with pytest.raises(TypeError, match="has no inverse_transform"):
        pmk_ray.transform(fitted, dataset(frame), inverse=True)


@pytest.mark.parametrize("target", ["x", "g"], ids=["continuous", "multiclass"])
def test_target_encoder_transform_on_blocks_equals_in_memory(
    target: str, data: pl.DataFrame
) -> None:
    frame = data.with_columns(pl.col("x").fill_null(0.0).fill_nan(0.0), k=pl.col("id").str.slice(5))
    columns = ["k"] if target == "g" else ["g", "k"]
    fitted = pmk.TargetEncoder(columns=columns).fit(frame, target)
    got = to_polars(pmk_ray.transform(fitted, dataset(frame, blocks=3)))
    assert_frame_equal(got, fitted.transform(frame))
    with pytest.raises(TypeError, match="needs a target y"):
        pmk_ray.fit(pmk.TargetEncoder(), dataset(frame))


@pytest.mark.parametrize(
    "make",
    [
        lambda: pmk.KBinsDiscretizer(columns=["x", "y"]),
        lambda: pmk.KBinsDiscretizer(columns=["x"], by="g", encode="ordinal", n_bins=7),
        lambda: pmk.KBinsDiscretizer(columns=["x", "y"], strategy="uniform"),
        lambda: pmk.KBinsDiscretizer(columns=["y"], strategy="kmeans", encode="ordinal"),
    ],
    ids=["quantile", "quantile-by", "uniform", "kmeans"],
)
def test_kbins_fit_and_transform_on_blocks_equal_in_memory(make: Any, data: pl.DataFrame) -> None:
    """Quantile edges in exact passes over the blocks, uniform from merged
    extents, k-means from the gathered column: the in-memory fit's edges,
    bit for bit."""
    fitted = pmk_ray.fit(make(), dataset(data))
    memory = make().fit(data)
    assert fitted.to_json() == memory.to_json()
    got = to_polars(pmk_ray.transform(fitted, dataset(data, blocks=3)))
    assert_frame_equal(got, memory.transform(data))
    back = to_polars(
        pmk_ray.transform(fitted, pmk_ray.transform(fitted, dataset(data)), inverse=True)
    )
    assert_frame_equal(back, memory.inverse_transform(memory.transform(data)))


def test_with_columns_ml_expressions(data: pl.DataFrame) -> None:
    q = [1.0, -0.5, 0.25, 0.0, 2.0, -1.0, 0.5, 0.1]
    exprs = [
        pl.col("e").ml.cosine_similarity(q).alias("cos"),
        pl.col("e").ml.unit_normalize(),
        pl.col("e").ml.norm().alias("n"),
    ]
    got = to_polars(pmk_ray.with_columns(dataset(data), *exprs))
    assert_frame_equal(got, data.with_columns(exprs))


def test_argument_errors(data: pl.DataFrame) -> None:
    with pytest.raises(TypeError, match=r"expected a ray\.data\.Dataset"):
        pmk_ray.fit(pmk.StandardScaler(), data)
    with pytest.raises(TypeError, match="expected a polars-mlkit scaler"):
        pmk_ray.transform(object(), dataset(data))  # type: ignore[arg-type]


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_nearest_and_knn_join_on_blocks_equal_in_memory(metric: str, data: pl.DataFrame) -> None:
    """A top-k per block on the workers, merged exactly; ``index`` counts
    rows in the dataset's order across blocks."""
    corpus = data.with_columns(
        pl.when(pl.int_range(pl.len()) % 53 == 0).then(None).otherwise("e").alias("e")
    )
    rng = np.random.default_rng(3)
    queries = rng.normal(size=(6, 8))
    ds = ray.data.from_arrow(corpus.to_arrow()).repartition(7)
    got = pmk_ray.nearest(ds, "e", queries, k=8, metric=metric)
    assert_frame_equal(got, pmk.nearest(corpus, "e", queries, k=8, metric=metric), check_exact=True)
    left = pl.DataFrame({"ask": list(range(6)), "e": queries.tolist()})
    joined = pmk_ray.knn_join(left, ds, on="e", k=4, metric=metric)
    assert_frame_equal(
        joined, pmk.knn_join(left, corpus, on="e", k=4, metric=metric), check_exact=True
    )
    with pytest.raises(TypeError, match=r"polars_mlkit\.ray\.nearest: corpus column 'g'"):
        pmk_ray.nearest(ds, "g", queries)


def test_filtered_and_grouped_search_on_blocks_equal_in_memory(data: pl.DataFrame) -> None:
    """``filter=`` and ``by=`` evaluated block by block on the workers give
    the in-memory result; ``index`` counts rows across blocks."""
    corpus = data.with_columns(pl.col("e").cast(pl.Array(pl.Float32, 8)))
    ds = ray.data.from_arrow(corpus.to_arrow()).repartition(6)
    rng = np.random.default_rng(8)
    queries = rng.normal(size=(5, 8))
    predicate = (pl.col("g") != "b") & (pl.col("x") > 0)
    got = pmk_ray.nearest(ds, "e", queries, k=6, filter=predicate)
    assert_frame_equal(got, pmk.nearest(corpus, "e", queries, k=6, filter=predicate))
    left = pl.DataFrame({"g": ["a", "b", "c", None, "a"], "e": queries.tolist()})
    joined = pmk_ray.knn_join(left, ds, on="e", k=3, by="g", filter=pl.col("x") > 0)
    expected = pmk.knn_join(left, corpus, on="e", k=3, by="g", filter=pl.col("x") > 0)
    assert_frame_equal(joined, expected, check_exact=True)
    assert joined["g"].null_count() == 0


def test_pipeline_fit_and_scoring_on_blocks_equal_in_memory(data: pl.DataFrame) -> None:
    frame = data.select("id", "g", "x", "y")
    make = lambda: pmk.make_pipeline(  # noqa: E731
        pmk.OneHotEncoder(columns="g"), pmk.RobustScaler(columns=["y"]), pmk.StandardScaler()
    )
    on_blocks = pmk_ray.fit(make(), dataset(frame))
    in_memory = make().fit(frame)
    assert on_blocks.fit_scans_ == in_memory.fit_scans_ == 3
    want = in_memory.transform(frame)
    got = to_polars(pmk_ray.transform(on_blocks, dataset(frame)))
    assert_frame_equal(got.select(want.columns), want, check_exact=False, rel_tol=1e-12)
    model = pmk.LinearModel(
        [0.5, -1.0, 2.0, 0.25, 1.5],
        0.1,
        features=["g_a", "g_b", "g_c", "x", "y"],
        kind="logistic",
        classes=[0, 1],
    )
    scored = to_polars(pmk_ray.with_columns(dataset(want), model.predict_proba_expr()))
    assert_frame_equal(scored, want.with_columns(model.predict_proba_expr()))


def test_nearest_by_on_blocks_equals_in_memory(data: pl.DataFrame) -> None:
    """``by=`` on ``nearest``: each block's rows matched to the queries' keys."""
    corpus = data.with_columns(pl.col("e").cast(pl.Array(pl.Float32, 8)))
    ds = ray.data.from_arrow(corpus.to_arrow()).repartition(6)
    rng = np.random.default_rng(9)
    queries = rng.normal(size=(6, 8))
    keys = {"g": ["a", "b", "c", None, "a", "z"]}
    got = pmk_ray.nearest(ds, "e", queries, k=5, by=keys, filter=pl.col("x") > 0)
    expected = pmk.nearest(corpus, "e", queries, k=5, by=keys, filter=pl.col("x") > 0)
    assert_frame_equal(got, expected, check_exact=True)
    assert set(got["query"].to_list()) == {0, 1, 2, 4}


def test_maxsim_on_blocks_equals_in_memory() -> None:
    """MaxSim per block, merged exactly: ``nearest`` and ``knn_join``, also
    with ``filter=`` and ``by=``."""
    d = 6
    rng = np.random.default_rng(10)
    docs: list[Any] = []
    for i in range(400):
        tokens = rng.normal(size=(int(rng.integers(0, 7)), d)).tolist()
        docs.append(None if i % 17 == 4 else tokens)
    corpus = pl.DataFrame(
        {
            "t": pl.Series(docs, dtype=pl.List(pl.List(pl.Float64))).cast(
                pl.List(pl.Array(pl.Float32, d))
            ),
            "g": rng.choice(["a", "b", "c"], 400),
            "year": rng.integers(2015, 2025, 400),
        }
    )
    ds = ray.data.from_arrow(corpus.to_arrow()).repartition(5)
    queries = [rng.normal(size=(int(n), d)) for n in (2, 5, 1)]
    got = pmk_ray.nearest(ds, "t", queries, k=6, metric="maxsim")
    assert_frame_equal(
        got, pmk.nearest(corpus, "t", queries, k=6, metric="maxsim"), check_exact=True
    )
    predicate = pl.col("year") >= 2019
    got = pmk_ray.nearest(ds, "t", queries, k=6, metric="maxsim", filter=predicate)
    expected = pmk.nearest(corpus, "t", queries, k=6, metric="maxsim", filter=predicate)
    assert_frame_equal(got, expected, check_exact=True)
    keys = {"g": ["b", None, "a"]}
    got = pmk_ray.nearest(ds, "t", queries, k=6, metric="maxsim", by=keys)
    expected = pmk.nearest(corpus, "t", queries, k=6, metric="maxsim", by=keys)
    assert_frame_equal(got, expected, check_exact=True)
    left = pl.DataFrame(
        {"g": ["c", "a", None], "t": [q.tolist() for q in queries]},
        schema={"g": pl.String, "t": pl.List(pl.List(pl.Float64))},
    )
    for options in ({}, {"by": "g", "filter": predicate}):
        joined = pmk_ray.knn_join(left, ds, on="t", k=3, metric="maxsim", **options)
        memory = pmk.knn_join(left, corpus, on="t", k=3, metric="maxsim", **options)
        assert_frame_equal(joined, memory, check_exact=True)
    assert joined["g"].null_count() == 0


def test_maxsim_on_blocks_checks_the_queries_first() -> None:
    corpus = pl.DataFrame(
        {"t": [[[1.0, 0.0]], [[0.0, 1.0], [1.0, 1.0]]], "v": [[1.0, 0.0], [0.0, 1.0]]},
        schema={"t": pl.List(pl.Array(pl.Float32, 2)), "v": pl.Array(pl.Float64, 2)},
    )
    ds = ray.data.from_arrow(corpus.to_arrow())
    with pytest.raises(ValueError, match="query 1 has 1 tokens of width 3; the corpus tokens"):
        pmk_ray.nearest(ds, "t", [np.ones((2, 2)), np.ones((1, 3))], metric="maxsim")
    with pytest.raises(TypeError, match="needs a column of token lists"):
        pmk_ray.nearest(ds, "v", [np.ones((2, 2))], metric="maxsim")
    with pytest.raises(ValueError, match="wrap a single query's matrix in a list"):
        pmk_ray.nearest(ds, "t", np.ones((2, 2)), metric="maxsim")
    left = pl.DataFrame({"t": [[[1.0, 0.0, 0.0]]]})
    with pytest.raises(ValueError, match="query 0 has 1 tokens of width 3"):
        pmk_ray.knn_join(left, ds, on="t", metric="maxsim")
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="'x' is not in the corpus"):
        pmk_ray.knn_join(left, ds, on="t", right_on="x", metric="maxsim")
