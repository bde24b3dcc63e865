"""`pmk.SimpleImputer` (DESIGN.md, "Categorical and missing data") against
scikit-learn's `SimpleImputer` on generated and bundled data: every
strategy and option, nulls and NaN, given missing values, empty, chunked and
sliced input, groups, vector columns, lazy, streaming and batched fits,
`partial_fit`, JSON, Ray, `check_estimator` and bad input."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from polars.testing import assert_frame_equal
from sklearn.datasets import load_diabetes, load_wine
from sklearn.impute import SimpleImputer as SkImputer

STRATEGIES = ["mean", "median", "most_frequent", "constant"]


def _punch(x: np.ndarray[Any, Any], rate: float, seed: int) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(seed)
    x = x.astype(np.float64).copy()
    x[rng.random(x.shape) < rate] = np.nan
    return x


@pytest.fixture(scope="module")
def diabetes() -> np.ndarray[Any, Any]:
    x = load_diabetes().data
    # Round so that most_frequent has real modes (and ties) to find.
    return _punch(np.round(x, 2), 0.1, 0)


def _frame(x: np.ndarray[Any, Any], missing: str) -> pl.DataFrame:
    """Columns x0, x1, ... with the missing values as nulls, NaN, or both."""
    df = pl.DataFrame({f"x{j}": x[:, j] for j in range(x.shape[1])})
    if missing == "nan":
        return df
    if missing == "null":
        return df.with_columns(pl.all().fill_nan(None))
    # mixed: even rows null, odd rows NaN
    odd = pl.int_range(pl.len()) % 2 == 1
    return df.with_columns(pl.when(odd).then(pl.all()).otherwise(pl.all().fill_nan(None)))


def _np(out: pl.DataFrame) -> np.ndarray[Any, Any]:
    return out.with_columns(pl.col(pl.Boolean).cast(pl.Float64)).to_numpy().astype(np.float64)


# --------------------------------------------------------------------------- #
# numbers against scikit-learn
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("missing", ["null", "nan", "mixed"])
def test_numeric_strategies_equal_sklearn(
    diabetes: np.ndarray[Any, Any], strategy: str, missing: str
) -> None:
    df = _frame(diabetes, missing)
    sk = SkImputer(strategy=strategy, fill_value=-7.5 if strategy == "constant" else None)
    want = sk.fit_transform(diabetes)
    imp = pmk.SimpleImputer(strategy=strategy, fill_value=-7.5 if strategy == "constant" else None)
    got = imp.fit_transform(df)
    assert got.columns == df.columns
    assert all(dt == pl.Float64 for dt in got.dtypes)
    if strategy == "mean":
        np.testing.assert_allclose(imp.statistics_, sk.statistics_, rtol=1e-13)
        np.testing.assert_allclose(got.to_numpy(), want, rtol=1e-13)
    else:
        np.testing.assert_array_equal(imp.statistics_, sk.statistics_)
        np.testing.assert_array_equal(got.to_numpy(), want)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("keep", [False, True])
def test_indicator_and_empty_features_equal_sklearn(strategy: str, keep: bool) -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 4, size=(40, 5)).astype(np.float64)
    x[rng.random(x.shape) < 0.2] = np.nan
    x[:, 1] = np.nan  # empty
    x[:, 3] = rng.integers(0, 4, size=40)  # nothing missing
    df = pl.DataFrame({f"c{j}": x[:, j] for j in range(5)}).with_columns(pl.all().fill_nan(None))
    pd = pytest.importorskip("pandas")
    sk = SkImputer(strategy=strategy, add_indicator=True, keep_empty_features=keep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns about the dropped column
        want = sk.fit_transform(pd.DataFrame(x, columns=df.columns))
    imp = pmk.SimpleImputer(strategy=strategy, add_indicator=True, keep_empty_features=keep)
    got = imp.fit_transform(df)
    assert got.columns == list(sk.get_feature_names_out())
    assert list(imp.get_feature_names_out()) == list(sk.get_feature_names_out())
    np.testing.assert_allclose(_np(got), want, rtol=1e-13)
    # Fitted on an array: the same names as x0, x1, ...
    arr = pmk.SimpleImputer(strategy=strategy, add_indicator=True, keep_empty_features=keep)
    out = arr.fit_transform(x)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, want, rtol=1e-13)
    sk2 = SkImputer(strategy=strategy, add_indicator=True, keep_empty_features=keep).fit(x)
    assert list(arr.get_feature_names_out()) == list(sk2.get_feature_names_out())


def test_indicator_columns_stand_last_and_imputed_columns_in_place() -> None:
    df = pl.DataFrame({"a": [1.0, None], "s": ["p", "q"], "b": [None, 2.0], "n": [1, 2]})
    imp = pmk.SimpleImputer(columns=["b", "a"], add_indicator=True)
    out = imp.fit_transform(df)
    assert out.columns == ["a", "s", "b", "n", "missingindicator_a", "missingindicator_b"]
    assert out["missingindicator_b"].to_list() == [True, False]


def test_dtypes_follow_the_strategy() -> None:
    rng = np.random.default_rng(2)
    ints = rng.integers(-5, 5, 50)
    f32 = rng.normal(size=50).astype(np.float32)
    mask = rng.random(50) < 0.2
    df = pl.DataFrame({"i": ints, "f": f32}).with_columns(
        pl.when(pl.Series(mask)).then(None).otherwise(pl.all()).name.keep()
    )
    x_i = np.where(mask, np.nan, ints.astype(np.float64))[:, None]
    x_f = np.where(mask, np.nan, f32).astype(np.float32)[:, None]
    for strategy in ("mean", "median"):
        out = pmk.SimpleImputer(strategy=strategy).fit_transform(df)
        assert out.dtypes == [pl.Float64, pl.Float32]
        np.testing.assert_array_equal(
            out["i"].to_numpy(), SkImputer(strategy=strategy).fit_transform(x_i)[:, 0]
        )
        want = SkImputer(strategy=strategy).fit_transform(x_f)[:, 0]
        assert want.dtype == np.float32
        np.testing.assert_allclose(out["f"].to_numpy(), want, rtol=1e-6)
    for strategy in ("most_frequent", "constant"):
        out = pmk.SimpleImputer(strategy=strategy).fit_transform(df)
        assert out.dtypes == [pl.Int64, pl.Float32]
        want = SkImputer(strategy=strategy).fit_transform(x_i)[:, 0]
        np.testing.assert_array_equal(out["i"].to_numpy(), want)


@pytest.mark.parametrize("seed", range(5))
def test_most_frequent_ties_go_to_the_smallest(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 30
    words = np.array(["pear", "fig", "apple", "Fig", "é"], dtype=object)
    df = pl.DataFrame(
        {
            "i": rng.integers(-3, 3, n),
            "f": rng.integers(-3, 3, n).astype(np.float64) * 0.5,
            "s": rng.choice(words, n).tolist(),
            "b": rng.random(n) < 0.5,
        }
    )
    missing = pl.Series(rng.random(n) < 0.3)
    df = df.with_columns(pl.when(missing).then(None).otherwise(pl.all()).name.keep())
    imp = pmk.SimpleImputer(strategy="most_frequent").fit(df)
    for name in df.columns:
        values = np.array(
            [np.nan if v is None else v for v in df[name].to_list()],
            dtype=object if name in ("s", "b") else np.float64,
        )
        sk = SkImputer(strategy="most_frequent").fit(values[:, None])
        assert imp.group_statistics_[name][0] == sk.statistics_[0], name
    out = imp.transform(df)
    assert out.dtypes == df.dtypes
    assert out.null_count().sum_horizontal()[0] == 0


@pytest.mark.parametrize("strategy", ["most_frequent", "constant"])
def test_text_columns_string_categorical_enum(strategy: str) -> None:
    wine = load_wine()
    rng = np.random.default_rng(3)
    labels = np.array(["class_a", "class_b", "class_c"])[wine.target]
    labels = labels.astype(object)
    labels[rng.random(labels.size) < 0.15] = np.nan
    sk = SkImputer(strategy=strategy).fit(labels[:, None])
    want = sk.transform(labels[:, None])[:, 0].tolist()
    values = [None if not isinstance(v, str) else v for v in labels]
    for dtype in (pl.String, pl.Categorical, pl.Enum(["class_a", "class_b", "class_c"])):
        df = pl.DataFrame({"c": pl.Series(values, dtype=pl.String).cast(dtype)})
        if strategy == "constant" and isinstance(dtype, pl.Enum):
            with pytest.raises(ValueError, match=r"fill_value='missing_value'.*Enum"):
                pmk.SimpleImputer(strategy=strategy).fit(df)
            imp = pmk.SimpleImputer(strategy=strategy, fill_value="class_b")
            want_enum = ["class_b" if v == "missing_value" else v for v in want]
            assert imp.fit_transform(df)["c"].cast(pl.String).to_list() == want_enum
            continue
        out = pmk.SimpleImputer(strategy=strategy).fit_transform(df)
        assert out.dtypes == df.dtypes
        assert out["c"].cast(pl.String).to_list() == want


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_missing_values_given(strategy: str) -> None:
    rng = np.random.default_rng(4)
    x = rng.integers(-1, 6, size=(60, 3)).astype(np.float64)
    df = pl.DataFrame({f"x{j}": x[:, j].astype(np.int64) for j in range(3)})
    sk = SkImputer(strategy=strategy, missing_values=-1).fit(x)
    imp = pmk.SimpleImputer(strategy=strategy, missing_values=-1, add_indicator=True).fit(df)
    np.testing.assert_allclose(imp.statistics_, sk.statistics_.astype(float), rtol=1e-13)
    got = imp.transform(df)
    np.testing.assert_allclose(got.select(df.columns).to_numpy(), sk.transform(x), rtol=1e-13)
    assert got["missingindicator_x0"].to_list() == (x[:, 0] == -1).tolist()
    # Nulls are not -1: they are neither counted nor filled.
    first = pl.int_range(pl.len()) == 0
    with_null = df.with_columns(pl.when(first).then(None).otherwise("x0").alias("x0"))
    assert imp.transform(with_null)["x0"][0] is None


def test_missing_values_string_and_nulls_stay() -> None:
    s = ["a", "?", "b", "b", None, "?"]
    df = pl.DataFrame({"s": s, "n": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    imp = pmk.SimpleImputer(strategy="most_frequent", missing_values="?").fit(df)
    assert imp.columns_ == ["s"]  # the numeric column is not one "?" applies to
    sk = SkImputer(strategy="most_frequent", missing_values="?")
    sk.fit(np.array([v for v in s if v is not None], dtype=object)[:, None])
    assert imp.statistics_.tolist() == sk.statistics_.tolist()
    assert imp.transform(df)["s"].to_list() == ["a", "b", "b", "b", None, "b"]


def test_nan_with_a_numeric_missing_value_is_an_error() -> None:
    df = pl.DataFrame({"x": [1.0, float("nan"), -1.0]})
    with pytest.raises(ValueError, match="'x' contains NaN while missing_values=-1"):
        pmk.SimpleImputer(missing_values=-1).fit(df)
    with pytest.raises(ValueError, match="NaN"):
        SkImputer(missing_values=-1).fit(df.to_numpy())


# --------------------------------------------------------------------------- #
# input shapes: empty, chunked, sliced, lazy, streaming, batches
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_empty_frame(strategy: str) -> None:
    df = pl.DataFrame(schema={"x": pl.Float64, "s": pl.String})
    columns = ["x"] if strategy in ("mean", "median") else None
    imp = pmk.SimpleImputer(strategy=strategy, columns=columns).fit(df)
    assert imp.n_samples_seen_ == 0
    out = imp.transform(pl.DataFrame({"x": [None, 1.0], "s": [None, "a"]}))
    # Every fitted column is empty: dropped.
    assert out.columns == (["s"] if strategy in ("mean", "median") else [])
    kept = pmk.SimpleImputer(strategy=strategy, columns=columns, keep_empty_features=True)
    out = kept.fit(df).transform(pl.DataFrame({"x": [None, 1.0], "s": [None, "a"]}))
    assert out["x"].to_list() == [0.0, 1.0]
    assert kept.transform(df).schema == out.schema


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_chunked_and_sliced_input(diabetes: np.ndarray[Any, Any], strategy: str) -> None:
    df = _frame(diabetes, "mixed")
    chunked = pl.concat([df.slice(0, 100), df.slice(100, 150), df.slice(250)], rechunk=False)
    assert chunked.n_chunks() == 3
    whole = pmk.SimpleImputer(strategy=strategy).fit(df)
    parts = pmk.SimpleImputer(strategy=strategy).fit(chunked)
    assert_frame_equal(parts.group_statistics_, whole.group_statistics_)
    assert_frame_equal(parts.transform(chunked), whole.transform(df))
    sliced = df.slice(37, 200)
    # Bit for bit whatever the buffers' offsets (the moments use a fixed blocking).
    copied = pl.DataFrame({c: sliced[c].to_numpy().copy() for c in df.columns})
    assert_frame_equal(
        pmk.SimpleImputer(strategy=strategy).fit(sliced).group_statistics_,
        pmk.SimpleImputer(strategy=strategy).fit(copied).group_statistics_,
    )
    want = SkImputer(strategy=strategy).fit_transform(diabetes[37:237])
    got = pmk.SimpleImputer(strategy=strategy).fit_transform(sliced).to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-13)


def _boom(s: pl.Series) -> pl.Series:
    raise AssertionError("the data was read")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_lazy_streaming_and_batched_fit(
    diabetes: np.ndarray[Any, Any], strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    df = _frame(diabetes, "mixed").with_columns(g=pl.Series(np.arange(442) % 3))
    opts: dict[str, Any] = {"strategy": strategy, "add_indicator": True}
    memory = pmk.SimpleImputer(**opts).fit(df)
    eager = memory.transform(df)
    lazy = memory.transform(df.lazy())
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect_schema() == eager.schema
    assert_frame_equal(lazy.collect(engine="streaming"), eager)
    assert_frame_equal(lazy.collect(), eager)
    untouched = df.lazy().with_columns(pl.col("x0").map_batches(_boom, return_dtype=pl.Float64))
    assert memory.transform(untouched).collect_schema() == eager.schema
    # Out of core: the LazyFrame read in batches of 37 rows.
    monkeypatch.setattr("polars_mlkit._batches.BATCH_ROWS", 37)
    for by in (None, "g"):
        batched = pmk.SimpleImputer(**opts, by=by).fit(df.lazy())
        inmem = pmk.SimpleImputer(**opts, by=by).fit(df)
        if strategy == "mean":
            assert_frame_equal(batched.group_statistics_, inmem.group_statistics_, rel_tol=1e-13)
        else:
            assert_frame_equal(batched.group_statistics_, inmem.group_statistics_)
        assert batched.get_feature_names_out().tolist() == inmem.get_feature_names_out().tolist()


@pytest.mark.parametrize("strategy", ["mean", "most_frequent", "constant"])
def test_partial_fit_equals_fit(diabetes: np.ndarray[Any, Any], strategy: str) -> None:
    df = _frame(diabetes, "mixed").with_columns(g=pl.Series(np.arange(442) % 4))
    for by in (None, "g"):
        inc = pmk.SimpleImputer(strategy=strategy, by=by, add_indicator=True)
        for start in range(0, 442, 100):
            inc.partial_fit(df.slice(start, 100))
        whole = pmk.SimpleImputer(strategy=strategy, by=by, add_indicator=True).fit(df)
        assert inc.n_samples_seen_ == 442
        assert_frame_equal(inc.group_statistics_, whole.group_statistics_, rel_tol=1e-13)
        assert_frame_equal(inc.transform(df), whole.transform(df), rel_tol=1e-13)
        # ... and resumes after a JSON round trip.
        first = pmk.SimpleImputer(strategy=strategy, by=by).partial_fit(df.slice(0, 200))
        again = pmk.load(first.to_json()).partial_fit(df.slice(200))
        whole = pmk.SimpleImputer(strategy=strategy, by=by).fit(df)
        assert_frame_equal(again.group_statistics_, whole.group_statistics_, rel_tol=1e-13)


def test_median_has_no_partial_fit() -> None:
    imp = pmk.SimpleImputer(strategy="median")
    assert not hasattr(imp, "partial_fit")
    with pytest.raises(AttributeError, match="strategy='median' has no exact merge"):
        imp.partial_fit(pl.DataFrame({"x": [1.0]}))
    assert hasattr(pmk.SimpleImputer(), "partial_fit")


# --------------------------------------------------------------------------- #
# groups and vectors
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_by_fits_each_group_as_sklearn(diabetes: np.ndarray[Any, Any], strategy: str) -> None:
    groups = np.array(["b", "a", None], dtype=object)[np.arange(442) % 3]
    df = _frame(diabetes, "null").with_columns(g=pl.Series(groups.tolist(), dtype=pl.String))
    imp = pmk.SimpleImputer(strategy=strategy, by="g").fit(df)
    assert imp.group_statistics_["g"].to_list() == ["a", "b", None]
    out = imp.transform(df)
    assert out.columns == df.columns
    for g in ("a", "b", None):
        rows = np.array([v == g for v in groups])
        want = SkImputer(strategy=strategy).fit_transform(diabetes[rows])
        got = out.filter(pl.Series(rows)).drop("g").to_numpy()
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-16)
    with pytest.raises(ValueError, match=r"groups of \['g'\] not seen at fit time: \[\('new',\)\]"):
        imp.transform(df.with_columns(g=pl.lit("new")))
    with pytest.raises(pl.exceptions.InvalidOperationError):
        imp.transform(df.lazy().with_columns(g=pl.lit("new"))).collect()
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="the by column 'g' is not in"):
        imp.transform(df.drop("g"))


@pytest.mark.parametrize("strategy", ["mean", "median"])
@pytest.mark.parametrize("container", ["array", "list"])
@pytest.mark.parametrize("by", [None, "g"])
def test_vector_columns_equal_sklearn_on_the_matrix(strategy: str, container: str, by: Any) -> None:
    rng = np.random.default_rng(5)
    n, d = 80, 4
    x = np.round(rng.normal(size=(n, d)), 1)
    x[rng.random((n, d)) < 0.1] = np.nan  # NaN elements
    null_rows = rng.random(n) < 0.15
    g = rng.integers(0, 2, n)
    dtype = pl.Array(pl.Float64, d) if container == "array" else pl.List(pl.Float64)
    rows = [None if null_rows[i] else x[i].tolist() for i in range(n)]
    df = pl.DataFrame({"g": g, "e": pl.Series(rows, dtype=dtype)})
    matrix = x.copy()
    matrix[null_rows] = np.nan
    imp = pmk.SimpleImputer(strategy=strategy, columns="e", by=by, add_indicator=True)
    out = imp.fit_transform(df)
    assert out.schema["e"] == dtype
    got = np.array(out["e"].to_list())
    if by is None:
        want = SkImputer(strategy=strategy).fit_transform(matrix)
        np.testing.assert_allclose(got, want, rtol=1e-13)
    else:
        for k in (0, 1):
            want = SkImputer(strategy=strategy).fit_transform(matrix[g == k])
            np.testing.assert_allclose(got[g == k], want, rtol=1e-13)
    assert out["missingindicator_e"].to_list() == np.isnan(matrix).any(axis=1).tolist()
    assert_frame_equal(imp.transform(df.lazy()).collect(engine="streaming"), out)
    assert_frame_equal(pmk.load(imp.to_json()).transform(df), out)


# --------------------------------------------------------------------------- #
# bad input
# --------------------------------------------------------------------------- #
def test_bad_input_is_a_clear_error() -> None:
    df = pl.DataFrame({"x": [1.0, None], "s": ["a", None], "n": [1, 2]})
    with pytest.raises(ValueError, match=r"strategy must be one of 'mean'.*got 'mode'"):
        pmk.SimpleImputer(strategy="mode").fit(df)
    with pytest.raises(TypeError, match="column 's' has dtype String; strategy='mean' takes"):
        pmk.SimpleImputer(columns=["s"]).fit(df)
    with pytest.raises(TypeError, match="strategy='median' takes numeric"):
        pmk.SimpleImputer(strategy="median", columns="s").fit(df)
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="column 'nope' is not in"):
        pmk.SimpleImputer(columns=["nope"]).fit(df)
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="by column 'g' is not in"):
        pmk.SimpleImputer(by="g").fit(df)
    imp = pmk.SimpleImputer(strategy="most_frequent").fit(df)
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="fitted column 's' is not in"):
        imp.transform(df.drop("s"))
    with pytest.raises(TypeError, match="column 'n' has dtype String, but the imputer was"):
        imp.transform(df.with_columns(pl.col("n").cast(pl.String)))
    with pytest.raises(TypeError, match=r"column 'x' has dtype Float32, but .* Float64"):
        imp.transform(df.lazy().with_columns(pl.col("x").cast(pl.Float32)))
    with pytest.raises(ValueError, match=r"fill_value=1.5 .* column 'n' of dtype Int64"):
        pmk.SimpleImputer(strategy="constant", fill_value=1.5, columns="n").fit(df)
    with pytest.raises(ValueError, match=r"fill_value=3 .* column 's'"):
        pmk.SimpleImputer(strategy="constant", fill_value=3, columns="s").fit(df)
    with pytest.raises(ValueError, match="missing_values='\\?' does not apply to column 'x'"):
        pmk.SimpleImputer(missing_values="?", columns="x").fit(df)
    with pytest.raises(TypeError, match="missing_values must be None"):
        pmk.SimpleImputer(missing_values=[1]).fit(df)
    with pytest.raises(ValueError, match="'x' contains infinity"):
        pmk.SimpleImputer().fit(pl.DataFrame({"x": [1.0, float("inf")]}))
    with pytest.raises(ValueError, match="'x' contains infinity"):
        pmk.SimpleImputer(strategy="median").fit(pl.DataFrame({"x": [1.0, float("-inf")]}))
    with pytest.raises(pmk.scalers.NotFittedError):
        pmk.SimpleImputer().transform(df)
    with pytest.raises(ValueError, match="X has 3 features, but SimpleImputer is expecting 2"):
        pmk.SimpleImputer().fit(np.ones((3, 2))).transform(np.ones((3, 3)))
    with pytest.raises(TypeError, match="add_indicator must be True or False"):
        pmk.SimpleImputer(add_indicator="yes").fit(df)


def test_mean_near_the_largest_float_does_not_overflow() -> None:
    df = pl.DataFrame({"x": [1e308, None, 1.5e308, 1.7e308]})
    imp = pmk.SimpleImputer().fit(df)
    want = np.mean(np.array([1e308, 1.5e308, 1.7e308]) / 4.0) * 4.0
    np.testing.assert_allclose(imp.statistics_, [want], rtol=1e-15)
    inc = pmk.SimpleImputer().partial_fit(df.slice(0, 2)).partial_fit(df.slice(2))
    np.testing.assert_allclose(inc.statistics_, [want], rtol=1e-15)
    assert imp.transform(df)["x"][1] == imp.statistics_[0]


def test_boolean_decimal_and_null_columns() -> None:
    df = pl.DataFrame(
        {
            "b": [True, None, True, False],
            "d": pl.Series(["1.50", None, "2.25", "2.25"]).cast(pl.Decimal(10, 2)),
            "z": [None, None, None, None],  # dtype Null: read as an empty Float64 column
        }
    )
    out = pmk.SimpleImputer(strategy="constant", keep_empty_features=True).fit_transform(df)
    assert out["b"].to_list() == [True, False, True, False]
    assert out.schema["d"] == pl.Float64
    assert out["d"].to_list() == [1.5, 0.0, 2.25, 2.25]
    assert out["z"].to_list() == [0.0] * 4
    out = pmk.SimpleImputer(strategy="most_frequent").fit_transform(df)
    assert out.columns == ["b", "d"]
    assert out["b"].to_list() == [True, True, True, False]
    assert out["d"].to_list() == [1.5, 2.25, 2.25, 2.25]
    mean = pmk.SimpleImputer(columns=["d"]).fit(df)
    np.testing.assert_allclose(mean.statistics_, [6.0 / 3.0])
    with pytest.raises(TypeError, match="column 'b' has dtype Boolean; strategy='mean'"):
        pmk.SimpleImputer(columns="b").fit(df)


def test_vector_argument_errors() -> None:
    ragged = pl.DataFrame({"e": [[1.0, 2.0], [3.0]]})
    with pytest.raises(ValueError, match="holds vectors of different lengths"):
        pmk.SimpleImputer().fit(ragged)
    vec = pl.DataFrame({"e": pl.Series([[1.0, -1.0]], dtype=pl.Array(pl.Float64, 2))})
    with pytest.raises(ValueError, match="missing_values=-1 does not apply to column 'e'"):
        pmk.SimpleImputer(columns="e", missing_values=-1).fit(vec)
    with pytest.raises(TypeError, match="strategy='most_frequent' takes numeric, String"):
        pmk.SimpleImputer(columns="e", strategy="most_frequent").fit(vec)
    imp = pmk.SimpleImputer().fit(vec)
    wider = pl.DataFrame({"e": pl.Series([[1.0, 2.0, 3.0]], dtype=pl.Array(pl.Float64, 3))})
    with pytest.raises(TypeError, match=r"column 'e' has dtype Array\(Float64, shape=\(3,\)\)"):
        imp.transform(wider)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_columns_named_like_the_statistics(strategy: str) -> None:
    # Column names the statistics frames use themselves must not clash.
    df = pl.DataFrame(
        {
            "key": ["a", "b", "a", "b", "a"],
            "count": [1.0, None, 3.0, 4.0, 3.0],
            "value": [2.0, 2.0, None, 5.0, 1.0],
        }
    )
    imp = pmk.SimpleImputer(strategy=strategy, by="key").fit(df)
    out = imp.transform(df)
    for g in ("a", "b"):
        rows = (df["key"] == g).to_numpy()
        want = SkImputer(strategy=strategy).fit_transform(df.drop("key").to_numpy()[rows])
        np.testing.assert_allclose(out.filter(pl.Series(rows)).drop("key").to_numpy(), want)
    assert_frame_equal(pmk.load(imp.to_json()).transform(df), out)


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from polars_mlkit._batches import lazy_batches  # noqa: E402
from polars_mlkit.scalers import fit_in_passes  # noqa: E402

_generated = st.integers(min_value=1, max_value=30).flatmap(
    lambda n: st.fixed_dictionaries(
        {
            "f": st.lists(
                st.sampled_from([0.0, 0.1, 1.5, -2.0, 7.25, 1e300, -3e-310, float("nan"), None]),
                min_size=n,
                max_size=n,
            ),
            "i": st.lists(st.sampled_from([-4, 0, 3, 9, None]), min_size=n, max_size=n),
        }
    )
)


@given(
    data=_generated,
    strategy=st.sampled_from(STRATEGIES),
    keep=st.booleans(),
    cut=st.integers(0, 30),
)
def test_generated_frames_equal_sklearn(
    data: dict[str, list[Any]], strategy: str, keep: bool, cut: int
) -> None:
    frame = pl.DataFrame(
        {"f": pl.Series(data["f"], dtype=pl.Float64), "i": pl.Series(data["i"], dtype=pl.Int64)}
    )
    x = frame.select(pl.all().cast(pl.Float64)).to_numpy()  # nulls as NaN
    options = {"strategy": strategy, "add_indicator": True, "keep_empty_features": keep}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkImputer(**options).fit(x)
        want = sk.transform(x)
    imp = pmk.SimpleImputer(**options).fit(frame)
    got = imp.transform(frame)
    assert got.columns == [
        {"x0": "f", "x1": "i"}.get(n, n.replace("x0", "f").replace("x1", "i"))
        for n in sk.get_feature_names_out()
    ]
    np.testing.assert_allclose(_np(got), want, rtol=1e-14)
    # Fitted in two pieces (chunked), in batches of a LazyFrame: the same.
    chunked = pl.concat([frame.slice(0, cut), frame.slice(cut)], rechunk=False)
    assert_frame_equal(pmk.SimpleImputer(**options).fit(chunked).transform(frame), got)
    batches = lazy_batches(frame.lazy(), rows=max(cut, 1))
    batched = fit_in_passes(pmk.SimpleImputer(**options), frame.schema, batches)
    assert_frame_equal(batched.transform(frame), got, rel_tol=1e-14)
    if strategy != "median":
        inc = pmk.SimpleImputer(**options).partial_fit(frame.slice(0, cut))
        inc.partial_fit(frame.slice(cut))
        # (The mean's merged moments agree to rounding, as StandardScaler's.)
        assert_frame_equal(inc.transform(frame), got, rel_tol=1e-14)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_by_with_a_missing_value_given(strategy: str) -> None:
    # The fill of a given missing value sits inside when/then, with each
    # row's group looked up in it.
    rng = np.random.default_rng(7)
    x = rng.integers(-1, 6, size=(90, 2)).astype(np.float64)
    g = np.arange(90) % 3
    df = pl.DataFrame({"g": g, "a": x[:, 0].astype(np.int64), "b": x[:, 1]})
    imp = pmk.SimpleImputer(strategy=strategy, missing_values=-1, by="g", add_indicator=True)
    out = imp.fit_transform(df)
    lazy = imp.transform(df.lazy()).collect(engine="streaming")
    assert_frame_equal(lazy, out)
    for k in range(3):
        want = SkImputer(strategy=strategy, missing_values=-1).fit_transform(x[g == k])
        got = out.filter(pl.col("g") == k).select("a", "b").to_numpy()
        np.testing.assert_allclose(got, want, rtol=1e-13)
    assert out["missingindicator_a"].to_list() == (x[:, 0] == -1).tolist()
