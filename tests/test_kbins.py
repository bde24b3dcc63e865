"""KBinsDiscretizer (DESIGN.md, "Categorical and missing data"), checked
against scikit-learn's ``KBinsDiscretizer(subsample=None)`` fitted on the
same generated and bundled data."""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from polars.testing import assert_frame_equal
from polars_mlkit.scalers import _binning
from sklearn import datasets
from sklearn import preprocessing as skp

SEED = 20261207
STRATEGIES = ["uniform", "quantile", "kmeans"]
ENCODES = ["ordinal", "onehot", "onehot-dense"]
METHODS = list(_binning.QUANTILE_METHODS)


def make_data(n: int = 600, seed: int = SEED) -> np.ndarray[Any, Any]:
    """Columns of different shapes: normal, skewed, few distinct values
    (ties: tiny bins), clustered, tiny scale."""
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.normal(size=n) * 10 + 3,
            rng.exponential(size=n),
            rng.integers(0, 4, size=n).astype(float),
            np.where(rng.random(n) < 0.3, rng.normal(size=n), rng.normal(size=n) + 40),
            rng.normal(size=n) * 1e-3,
        ]
    )


def frame_of(x: np.ndarray[Any, Any]) -> pl.DataFrame:
    return pl.DataFrame({f"c{j}": x[:, j] for j in range(x.shape[1])})


def sk_fit(x: np.ndarray[Any, Any], **kw: Any) -> Any:
    if kw.get("encode", "onehot") == "onehot":
        kw["encode"] = "onehot-dense"  # polars-mlkit's one-hot columns are dense
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return skp.KBinsDiscretizer(subsample=None, **kw).fit(x)


def pmk_fit(data: Any, **kw: Any) -> pmk.KBinsDiscretizer:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pmk.KBinsDiscretizer(**kw).fit(data)


def assert_edges(mine: Any, ref: Any, strategy: str, scale: float) -> None:
    assert len(mine) == len(ref)
    for a, b in zip(mine, ref, strict=True):
        assert a.shape == b.shape, (a, b)
        if strategy == "kmeans":
            # Lloyd's sums in another order: to 1e-12 of the column's scale.
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * scale)
        else:
            np.testing.assert_array_equal(a.view(np.int64), b.view(np.int64))


def check_against_sklearn(x: np.ndarray[Any, Any], **kw: Any) -> pmk.KBinsDiscretizer:
    frame = frame_of(x)
    mine = pmk_fit(frame, **kw)
    ref = sk_fit(x, **kw)
    scale = float(np.abs(x).max())
    assert_edges(mine.bin_edges_, ref.bin_edges_, kw.get("strategy", "quantile"), scale)
    np.testing.assert_array_equal(mine.n_bins_, ref.n_bins_)
    out = mine.transform(frame)
    assert out.columns == list(ref.get_feature_names_out(frame.columns))
    assert all(d == pl.Float64 for d in out.dtypes)
    expected = ref.transform(x)
    if kw.get("strategy") == "kmeans":
        # A value within rounding of a k-means edge may fall either side.
        assert np.mean(out.to_numpy() != expected) < 1e-3
    else:
        np.testing.assert_array_equal(out.to_numpy(), expected)
        back = mine.inverse_transform(out)
        assert back.columns == frame.columns
        np.testing.assert_array_equal(back.to_numpy(), ref.inverse_transform(expected))
    return mine


# --------------------------------------------------------------------------- #
# numpy's percentile rule, bit for bit
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("method", METHODS)
def test_percentile_plan_equals_numpy(method: str) -> None:
    rng = np.random.default_rng(SEED)
    for n in [*range(1, 30), 97, 1000, 4099]:
        x = rng.normal(size=n) * rng.choice([1e-3, 1.0, 1e6])
        x[rng.random(n) < 0.2] = 0.5
        s = np.sort(x)
        for n_bins in (2, 3, 5, 7, 10, 33):
            ref = np.percentile(x, np.linspace(0, 100, n_bins + 1), method=method)
            prev, nxt, gamma = _binning.percentile_ranks(n, n_bins, method)
            got = _binning.percentile_values(s[prev], s[nxt], gamma, method)
            np.testing.assert_array_equal(got.view(np.int64), ref.view(np.int64))


# --------------------------------------------------------------------------- #
# against scikit-learn
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("encode", ENCODES)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategies_and_encodes_equal_sklearn(strategy: str, encode: str) -> None:
    for n_bins in (2, 5, 9):
        check_against_sklearn(make_data(), n_bins=n_bins, strategy=strategy, encode=encode)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("encode", ["ordinal", "onehot"])
def test_every_quantile_method_equals_sklearn(method: str, encode: str) -> None:
    for n in (7, 600):
        check_against_sklearn(make_data(n, seed=n), n_bins=4, encode=encode, quantile_method=method)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("loader", [datasets.load_wine, datasets.load_diabetes, datasets.load_iris])
def test_bundled_data_sets(loader: Any, strategy: str) -> None:
    x = loader().data
    check_against_sklearn(x, n_bins=6, strategy=strategy, encode="onehot")
    check_against_sklearn(x, n_bins=3, strategy=strategy, encode="ordinal")


def test_n_bins_per_column() -> None:
    x = make_data()
    n_bins = [2, 3, 4, 5, 6]
    for strategy in STRATEGIES:
        check_against_sklearn(x, n_bins=n_bins, strategy=strategy, encode="onehot")
    with pytest.raises(ValueError, match="shape"):
        pmk.KBinsDiscretizer(n_bins=[2, 3]).fit(frame_of(x))
    with pytest.raises(ValueError, match="indices 1"):
        pmk.KBinsDiscretizer(n_bins=[2, 1, 3, 3, 3]).fit(frame_of(x))


def test_tiny_bins_are_removed_with_sklearns_warning() -> None:
    x = make_data()
    with pytest.warns(UserWarning, match=r"Bins whose width are too small .* 'c2'"):
        mine = pmk.KBinsDiscretizer(n_bins=9, columns=["c2"]).fit(frame_of(x))
    ref = sk_fit(x[:, [2]], n_bins=9)
    assert mine.n_bins_.tolist() == ref.n_bins_.tolist() == [3]


def test_constant_and_all_missing_columns() -> None:
    frame = pl.DataFrame({"k": [2.0] * 5, "m": [None, float("nan")] * 2 + [None]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kb = pmk.KBinsDiscretizer(encode="ordinal", columns=["k", "m"]).fit(frame)
    assert [str(w.message) for w in caught] == [
        "Feature 'k' is constant and will be replaced with 0.",
        "Feature 'm' has no values (all null or NaN) and will be replaced with 0.",
    ]
    ref = sk_fit(frame.select("k").to_numpy(), encode="ordinal")
    assert kb.bin_edges_[0].tolist() == ref.bin_edges_[0].tolist() == [-np.inf, np.inf]
    assert kb.transform(frame)["k"].to_list() == [0.0] * 5
    out = kb.transform(pl.DataFrame({"k": [7.0], "m": [1.0]}))
    assert out.row(0) == (0.0, 0.0)
    back = kb.inverse_transform(out)
    assert np.isnan(back["k"][0])
    with np.errstate(invalid="ignore"):  # scikit-learn's centre of [-inf, inf]
        np.testing.assert_array_equal(ref.inverse_transform(np.zeros((1, 1))), [[np.nan]])


def test_nulls_and_nan_are_skipped_and_kept() -> None:
    x = make_data(300)
    frame = frame_of(x)
    holes = frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise(pl.col("c0")).alias("c0"),
        pl.when(pl.int_range(pl.len()) % 5 == 0)
        .then(float("nan"))
        .otherwise(pl.col("c1"))
        .alias("c1"),
    )
    for encode in ("ordinal", "onehot"):
        kb = pmk_fit(holes, encode=encode)
        # The edges are those of the values present.
        for j, name in enumerate(["c0", "c1"]):
            values = holes[name].fill_nan(None).drop_nulls().to_numpy().reshape(-1, 1)
            ref = sk_fit(values, encode=encode)
            np.testing.assert_array_equal(kb.bin_edges_[j], ref.bin_edges_[0])
        out = kb.transform(holes)
        names = [c for c in out.columns if c.startswith("c0")]
        assert out.filter(holes["c0"].is_null()).select(names).null_count().row(0) == tuple(
            holes["c0"].null_count() for _ in names
        )
        nan_rows = out.filter(holes["c1"].is_nan())
        for c in (c for c in out.columns if c.startswith("c1")):
            assert nan_rows[c].is_nan().all()


def test_empty_frame_and_chunked_and_sliced_input() -> None:
    x = make_data(900)
    frame = frame_of(x)
    kb = pmk_fit(frame)
    empty = kb.transform(frame.clear())
    assert empty.height == 0
    assert empty.columns == kb.transform(frame).columns
    with pytest.raises(ValueError, match="0 sample"):
        pmk.KBinsDiscretizer().fit(np.empty((0, 2)))
    for strategy in STRATEGIES:
        for data in (frame.clear(), frame.clear().lazy()):
            with pytest.raises(ValueError, match="no data to fit"):
                pmk.KBinsDiscretizer(strategy=strategy).fit(data)
    chunked = pl.concat(
        [frame.slice(0, 200), frame.slice(200, 300), frame.slice(500)], rechunk=False
    )
    assert chunked.n_chunks() > 1
    for strategy in STRATEGIES:
        whole = pmk_fit(frame, strategy=strategy, encode="ordinal")
        parts = pmk_fit(chunked, strategy=strategy, encode="ordinal")
        assert parts.to_json() == whole.to_json()
        assert_frame_equal(parts.transform(chunked), whole.transform(frame))
    sliced = frame.slice(100, 500)
    mine = pmk_fit(sliced, encode="onehot")
    ref = sk_fit(x[100:600], encode="onehot")
    np.testing.assert_array_equal(mine.transform(sliced).to_numpy(), ref.transform(x[100:600]))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_lazy_streaming_and_out_of_core_fit(strategy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A LazyFrame is read in batches of 97 rows and the quantile gather
    budget is tiny (refining passes): the fit equals the in-memory one."""
    frame = frame_of(make_data(1500))
    memory = pmk_fit(frame, strategy=strategy)
    monkeypatch.setattr("polars_mlkit._batches.BATCH_ROWS", 97)
    monkeypatch.setattr("polars_mlkit.scalers._passes.GATHER_VALUES", 40)
    lazy = pmk_fit(frame.lazy(), strategy=strategy)
    assert lazy.to_json() == memory.to_json()
    out = memory.transform(frame.lazy())
    assert isinstance(out, pl.LazyFrame)
    assert out.collect_schema().names() == list(memory.get_feature_names_out())
    assert_frame_equal(out.collect(), memory.transform(frame))
    assert_frame_equal(out.collect(engine="streaming"), memory.transform(frame))
    streamed = frame.lazy().select(memory.expressions()).collect(engine="streaming")
    assert_frame_equal(streamed, memory.transform(frame))


def test_schema_runs_nothing() -> None:
    kb = pmk_fit(frame_of(make_data()), n_bins=3)
    calls = []

    def boom(batch: pl.DataFrame) -> pl.DataFrame:
        calls.append(1)
        return batch

    lazy = frame_of(make_data()).lazy().map_batches(boom, schema=frame_of(make_data()).schema)
    schema = kb.transform(lazy).collect_schema()
    assert calls == []
    assert schema.names()[:3] == ["c0_0.0", "c0_1.0", "c0_2.0"]


def test_other_columns_pass_through_in_place_and_dtypes() -> None:
    rng = np.random.default_rng(3)
    frame = pl.DataFrame(
        {
            "s": ["a", "b", "c", "d"] * 25,
            "i": pl.Series(rng.integers(0, 50, 100), dtype=pl.Int32),
            "f": pl.Series(rng.normal(size=100), dtype=pl.Float32),
            "z": rng.normal(size=100),
        }
    )
    kb = pmk_fit(frame, columns=["i", "f"], n_bins=3)
    out = kb.transform(frame)
    assert out.columns[0] == "s"
    assert out.columns[-1] == "z"
    assert out.schema["i_0.0"] == pl.Float64
    assert out.schema["f_0.0"] == pl.Float32
    ref = sk_fit(frame.select("i").to_numpy().astype(float), n_bins=3)
    np.testing.assert_array_equal(
        out.select("i_0.0", "i_1.0", "i_2.0").to_numpy(),
        ref.transform(frame.select("i").to_numpy()),
    )
    # numpy float32 stays float32, as in scikit-learn
    x32 = make_data().astype(np.float32)
    assert pmk_fit(x32, encode="ordinal").transform(x32).dtype == np.float32


def test_by_fits_per_group() -> None:
    x = make_data(800)
    rng = np.random.default_rng(5)
    frame = frame_of(x).with_columns(g=pl.Series(rng.choice(["a", "b", "c"], 800)))
    for strategy in STRATEGIES:
        for encode in ("ordinal", "onehot"):
            kb = pmk_fit(frame, by="g", strategy=strategy, encode=encode, n_bins=4)
            out = kb.transform(frame)
            assert "g" in out.columns
            for g in ("a", "b", "c"):
                part = frame.filter(pl.col("g") == g)
                alone = pmk_fit(part.drop("g"), strategy=strategy, encode=encode, n_bins=4)
                got = out.filter(frame["g"] == g).drop("g")
                want = alone.transform(part.drop("g"))
                # A group with fewer bins (tiny ones removed) has zeros beyond its own.
                extra = [c for c in got.columns if c not in want.columns]
                assert (got.select(extra).to_numpy() == 0).all()
                assert_frame_equal(got.select(want.columns), want)
                back = kb.inverse_transform(out.filter(frame["g"] == g))
                assert_frame_equal(back.drop("g"), alone.inverse_transform(want))
            params = kb.params_
            assert params.columns == ["column", "g", "n_bins", "bin_edges"]
            again = pmk.load(kb.to_json())
            assert_frame_equal(again.transform(frame), out)
    with pytest.raises(AttributeError, match="params_"):
        _ = kb.bin_edges_
    with pytest.raises(pl.exceptions.PolarsError):
        kb.transform(frame.with_columns(g=pl.lit("zzz")))


def test_json_round_trip() -> None:
    frame = frame_of(make_data()).with_columns(pl.col("c2").cast(pl.Float32))
    for strategy in STRATEGIES:
        for encode in ENCODES:
            kb = pmk_fit(frame, strategy=strategy, encode=encode, n_bins=[2, 3, 9, 5, 6])
            text = kb.to_json()
            doc = json.loads(text)
            assert doc["format"] == "polars-mlkit/kbins"
            assert doc["version"] == 1
            again = pmk.load(text)
            assert isinstance(again, pmk.KBinsDiscretizer)
            assert again.to_json() == text
            assert_frame_equal(again.transform(frame), kb.transform(frame))
    bad = json.loads(text)
    bad["columns"][0]["edges"] = [["1.0", "0.0"]]
    with pytest.raises(ValueError, match="edges must rise"):
        pmk.load(json.dumps(bad))
    bad = json.loads(text) | {"version": 99}
    with pytest.raises(ValueError, match="version 99"):
        pmk.load(json.dumps(bad))


def test_from_sklearn_gives_sklearns_transform() -> None:
    x = make_data()
    for strategy in STRATEGIES:
        for encode in ("ordinal", "onehot-dense"):
            ref = sk_fit(x, strategy=strategy, encode=encode, n_bins=[3, 4, 9, 5, 2])
            mine = pmk.KBinsDiscretizer._from_sklearn(ref)
            out = mine.transform(x)
            np.testing.assert_array_equal(out, ref.transform(x))
            assert mine.get_feature_names_out().tolist() == ref.get_feature_names_out().tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        named = skp.KBinsDiscretizer(subsample=None, encode="ordinal").fit(frame_of(x))
    mine = pmk.KBinsDiscretizer._from_sklearn(named)
    assert mine.columns_ == ["c0", "c1", "c2", "c3", "c4"]
    np.testing.assert_array_equal(
        mine.transform(frame_of(x)).to_numpy(), named.transform(frame_of(x))
    )
    with pytest.raises(TypeError, match="fitted sklearn KBinsDiscretizer"):
        pmk.KBinsDiscretizer._from_sklearn(skp.KBinsDiscretizer())


def test_inverse_transform_errors() -> None:
    frame = frame_of(make_data())
    kb = pmk_fit(frame, encode="ordinal", n_bins=3)
    with pytest.raises(pl.exceptions.PolarsError):
        kb.inverse_transform(frame.with_columns(pl.lit(7.0).alias("c0")))
    hot = pmk_fit(frame, n_bins=3)
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match=r"c0_0\.0"):
        hot.inverse_transform(frame)


def test_bad_input_gets_clear_errors() -> None:
    frame = frame_of(make_data()).with_columns(s=pl.lit("a"))
    with pytest.raises(ValueError, match="n_bins must be an int >= 2"):
        pmk.KBinsDiscretizer(n_bins=1).fit(frame)
    with pytest.raises(ValueError, match="strategy must be one of"):
        pmk.KBinsDiscretizer(strategy="median").fit(frame)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="encode must be one of"):
        pmk.KBinsDiscretizer(encode="sparse").fit(frame)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="quantile_method must be one of"):
        pmk.KBinsDiscretizer(quantile_method="nearest").fit(frame)
    with pytest.raises(TypeError, match="'s' has dtype String"):
        pmk.KBinsDiscretizer(columns=["c0", "s"]).fit(frame)
    with pytest.raises(ValueError, match=r"subsample must be None.*exactly"):
        pmk.KBinsDiscretizer(subsample=1000).fit(frame)
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="'nope'"):
        pmk.KBinsDiscretizer(columns=["nope"]).fit(frame)
    infinite = frame.with_columns(pl.lit(np.inf).alias("c0"))
    for strategy in STRATEGIES:
        with pytest.raises(ValueError, match="'c0' contains infinity"):
            pmk.KBinsDiscretizer(strategy=strategy).fit(infinite)
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=5"):
        pmk.KBinsDiscretizer(strategy="kmeans").fit(frame.head(3).drop("s"))
    kb = pmk_fit(frame.drop("s"))
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="'c3'"):
        kb.transform(frame.drop("c3"))
    with pytest.raises(TypeError, match="'c0' has dtype String"):
        kb.transform(frame.with_columns(pl.col("c0").cast(pl.String)))
    with pytest.raises(pmk.scalers.NotFittedError):
        pmk.KBinsDiscretizer().transform(frame)


def test_check_estimator_passes() -> None:
    from sklearn.utils.estimator_checks import check_estimator

    for encode in ("onehot", "ordinal"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results: list[dict[str, Any]] = check_estimator(
                pmk.KBinsDiscretizer(encode=encode), on_fail=None
            )
        failed = [
            f"{r['check_name']}: {str(r['exception']).splitlines()[0]}"
            for r in results
            if r["status"] == "failed"
        ]
        assert len(results) >= 40
        assert failed == []


def test_sklearn_pipeline_with_polars_output() -> None:
    from sklearn.compose import ColumnTransformer

    frame = frame_of(make_data())
    ct = ColumnTransformer([("bins", pmk.KBinsDiscretizer(n_bins=3), ["c0", "c1"])])
    ct.set_output(transform="polars")
    out = ct.fit_transform(frame)
    ref = sk_fit(frame.select("c0", "c1").to_numpy(), n_bins=3)
    assert out.columns == [f"bins__{n}" for n in ref.get_feature_names_out(["c0", "c1"])]
    np.testing.assert_array_equal(
        out.to_numpy(), ref.transform(frame.select("c0", "c1").to_numpy())
    )
