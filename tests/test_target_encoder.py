"""TargetEncoder against scikit-learn's, on generated and bundled data:
fitted encodings, transform, cross-fitted fit_transform with the same
folds, every kind of ``cv``, missing and unseen categories, input dtypes,
lazy/streaming, JSON, and bad input."""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from polars.testing import assert_frame_equal
from polars_mlkit.scalers._target_folds import kfold, stratified_kfold
from sklearn.datasets import load_diabetes, load_wine
from sklearn.model_selection import KFold, PredefinedSplit, StratifiedKFold
from sklearn.preprocessing import TargetEncoder as SkTargetEncoder
from sklearn.utils.estimator_checks import check_estimator

TOL = {"rtol": 1e-12, "atol": 1e-12}


def sk(X: Any, y: Any, **options: Any) -> tuple[Any, Any]:
    """scikit-learn fitted on X, y, and its cross-fitted fit_transform."""
    with warnings.catch_warnings():
        # shuffle / random_state are deprecated in scikit-learn 1.9 (still honoured).
        warnings.simplefilter("ignore", FutureWarning)
        fitted = SkTargetEncoder(**options).fit(X, y)
        crossed = SkTargetEncoder(**options).fit_transform(X, y)
    return fitted, crossed


def generated(n: int = 600, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray]:
    """A frame of a String column with nulls, an integer column, a float
    column with NaN and nulls and a Boolean column; and the same as
    scikit-learn's object array (missing as None / NaN)."""
    rng = np.random.default_rng(seed)
    s = rng.choice(np.array(["oslo", "rome", "lima", "kyiv", "baku"], dtype=object), n)
    s[rng.random(n) < 0.07] = None
    i = rng.integers(-3, 4, n)
    f = rng.choice([0.5, -1.25, 3.0, 8.0], n)
    f[rng.random(n) < 0.05] = np.nan
    b = rng.random(n) < 0.3
    df = pl.DataFrame(
        {
            "s": pl.Series(s.tolist(), dtype=pl.String),
            "i": i,
            "f": pl.Series(f).fill_nan(None).to_list(),
            "b": b,
        }
    ).with_columns(pl.when(pl.int_range(pl.len()) % 11 == 0).then(np.nan).otherwise("f").alias("f"))
    f_np = df["f"].fill_null(np.nan).to_numpy()
    X = np.empty((n, 4), dtype=object)
    X[:, 0], X[:, 1], X[:, 2], X[:, 3] = s, i, f_np, b
    return df, X


def targets(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "continuous": rng.normal(5.0, 3.0, n),
        "binary": rng.integers(0, 2, n),
        "multiclass": rng.choice(np.array(["ant", "bee", "cat"]), n),
    }


def assert_like_sklearn(me: pmk.TargetEncoder, fitted: Any) -> None:
    assert me.target_type_ == fitted.target_type_
    np.testing.assert_allclose(me.target_mean_, fitted.target_mean_, **TOL)
    if fitted.classes_ is None:
        assert me.classes_ is None
    else:
        assert me.classes_.tolist() == fitted.classes_.tolist()
    assert len(me.encodings_) == len(fitted.encodings_)
    for a, b in zip(me.encodings_, fitted.encodings_, strict=True):
        np.testing.assert_allclose(a, b, **TOL)


# --------------------------------------------------------------------------- #
# numbers
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("target_type", ["continuous", "binary", "multiclass"])
@pytest.mark.parametrize("smooth", ["auto", 0.0, 3.5])
def test_generated_equals_sklearn(target_type: str, smooth: Any) -> None:
    df, X = generated()
    y = targets(len(X))[target_type]
    fitted, crossed = sk(X, y, smooth=smooth, random_state=7)
    me = pmk.TargetEncoder(smooth=smooth, random_state=7).fit(df, pl.Series(y))
    assert_like_sklearn(me, fitted)
    for a, b in zip(me.categories_, fitted.categories_, strict=True):
        assert [str(v) for v in a.tolist()] == [str(v) for v in b.tolist()]
    out = me.transform(df)
    names = fitted.get_feature_names_out(["s", "i", "f", "b"]).tolist()
    assert out.columns == names == me.get_feature_names_out().tolist()
    assert set(out.dtypes) == {pl.Float64}
    np.testing.assert_allclose(out.to_numpy(), fitted.transform(X), **TOL)
    again = pmk.TargetEncoder(smooth=smooth, random_state=7).fit_transform(df, y)
    np.testing.assert_allclose(again.to_numpy(), crossed, **TOL)


def test_wine_multiclass_and_diabetes_continuous_equal_sklearn() -> None:
    wine = load_wine()
    alcohol = np.digitize(wine.data[:, 0], np.quantile(wine.data[:, 0], [0.2, 0.4, 0.6, 0.8]))
    X = np.column_stack(
        [np.array([f"q{v}" for v in alcohol], dtype=object), wine.data[:, 4].astype(np.int64)]
    ).astype(object)
    df = pl.DataFrame({"alcohol": X[:, 0].tolist(), "magnesium": wine.data[:, 4].astype(int)})
    for smooth in ("auto", 10.0):
        fitted, crossed = sk(X, wine.target, smooth=smooth, cv=4, random_state=0)
        me = pmk.TargetEncoder(smooth=smooth, cv=4, random_state=0)
        out = me.fit_transform(df, wine.target)
        np.testing.assert_allclose(out.to_numpy(), crossed, **TOL)
        assert_like_sklearn(me, fitted)
        assert out.columns == fitted.get_feature_names_out(df.columns).tolist()

    diabetes = load_diabetes()
    age = np.digitize(diabetes.data[:, 0], np.linspace(-0.1, 0.1, 9))
    bmi = np.round(diabetes.data[:, 2], 2)
    Xd = np.column_stack([age, bmi, diabetes.data[:, 1]])
    dfd = pl.DataFrame({"age": age, "bmi": bmi, "sex": diabetes.data[:, 1]})
    for smooth in ("auto", 0.5):
        options = {"smooth": smooth, "target_type": "continuous", "random_state": 3}
        fitted, crossed = sk(Xd, diabetes.target, **options)
        me = pmk.TargetEncoder(**options)
        np.testing.assert_allclose(
            me.fit_transform(dfd, diabetes.target).to_numpy(), crossed, **TOL
        )
        assert_like_sklearn(me, fitted)
        np.testing.assert_allclose(me.transform(dfd).to_numpy(), fitted.transform(Xd), **TOL)
    # Integer-valued float targets are classes to scikit-learn's type_of_target.
    auto = pmk.TargetEncoder().fit(dfd, diabetes.target)
    assert (
        auto.target_type_ == "multiclass" == SkTargetEncoder().fit(Xd, diabetes.target).target_type_
    )


def test_numpy_input_gives_numpy_like_sklearn() -> None:
    _, X = generated(200)
    y = targets(200)["binary"]
    fitted, crossed = sk(X, y, random_state=1)
    me = pmk.TargetEncoder(random_state=1)
    out = me.fit_transform(X, y)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, crossed, **TOL)
    np.testing.assert_allclose(me.transform(X), fitted.transform(X), **TOL)
    assert me.get_feature_names_out().tolist() == ["x0", "x1", "x2", "x3"]


# --------------------------------------------------------------------------- #
# folds
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("n", [7, 50, 101])
@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("shuffle", [True, False])
def test_folds_are_sklearns(n: int, k: int, shuffle: bool) -> None:
    seed = 11 if shuffle else None
    ours = kfold(n, k, shuffle, seed, "t")
    for fold, (_, test) in enumerate(
        KFold(k, shuffle=shuffle, random_state=seed).split(np.zeros(n))
    ):
        assert (ours[test] == fold).all()
    labels = np.random.default_rng(n).choice(np.array(["b", "a", "c"]), n)
    labels[:k] = "a"
    labels[k : 2 * k] = "b"
    labels[2 * k : 3 * k] = "c"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ours = stratified_kfold(pl.Series(labels), k, shuffle, seed, "t")
        splits = StratifiedKFold(k, shuffle=shuffle, random_state=seed).split(np.zeros(n), labels)
        for fold, (_, test) in enumerate(splits):
            assert (ours[test] == fold).all()


def test_global_random_state_draws_as_sklearn() -> None:
    df, X = generated(120)
    y = targets(120)["continuous"]
    # random_state=None draws from numpy's global RandomState, as scikit-learn's.
    np.random.seed(5)  # noqa: NPY002
    mine = pmk.TargetEncoder().fit_transform(df, y)
    np.random.seed(5)  # noqa: NPY002
    crossed = SkTargetEncoder().fit_transform(X, y)
    np.testing.assert_allclose(mine.to_numpy(), crossed, **TOL)


def test_splitter_splits_and_fold_column_equal_sklearn() -> None:
    df, X = generated(300)
    y = targets(300)["multiclass"]
    splitter = StratifiedKFold(4, shuffle=True, random_state=2)
    _, crossed = sk(X, y, cv=splitter)
    by_splitter = pmk.TargetEncoder(cv=splitter).fit_transform(df, y)
    np.testing.assert_allclose(by_splitter.to_numpy(), crossed, **TOL)
    splits = list(splitter.split(X, y))
    by_list = pmk.TargetEncoder(cv=splits).fit_transform(df, y)
    np.testing.assert_allclose(by_list.to_numpy(), crossed, **TOL)

    folds = np.random.default_rng(3).integers(0, 3, 300)
    _, crossed = sk(X, y, cv=PredefinedSplit(folds))
    with_fold = df.with_columns(fold=pl.Series(folds), target=pl.Series(y))
    enc = pmk.TargetEncoder(cv="fold")
    out = enc.fit_transform(with_fold, "target")
    assert out.columns[-2:] == ["fold", "target"]
    assert_frame_equal(out.select("fold", "target"), with_fold.select("fold", "target"))
    np.testing.assert_allclose(out.drop("fold", "target").to_numpy(), crossed, **TOL)
    assert enc.feature_names_in_.tolist() == ["s", "i", "f", "b"]
    # fit alone leaves the fold column out of the features too, and needs no fold column.
    assert pmk.TargetEncoder(cv="fold").fit(with_fold, "target").columns_ == ["s", "i", "f", "b"]
    assert pmk.TargetEncoder(cv="fold").fit(df, y).columns_ == ["s", "i", "f", "b"]


def test_same_random_state_same_numbers_and_differs_from_another() -> None:
    df, _ = generated(200)
    y = targets(200)["continuous"]
    a = pmk.TargetEncoder(random_state=4).fit_transform(df, y)
    b = pmk.TargetEncoder(random_state=4).fit_transform(df, y)
    c = pmk.TargetEncoder(random_state=5).fit_transform(df, y)
    assert_frame_equal(a, b)
    assert not a.equals(c)


# --------------------------------------------------------------------------- #
# categories, dtypes, shapes
# --------------------------------------------------------------------------- #
def test_unseen_and_missing_become_the_target_mean() -> None:
    train = pl.DataFrame({"c": ["a", "b", "a", "b"], "x": [1.0, 2.0, 1.0, 2.0]})
    y = np.array([0.5, 1.5, 2.5, 4.5])
    enc = pmk.TargetEncoder(target_type="continuous").fit(train, y)
    test = pl.DataFrame({"c": ["zz", None, "a"], "x": [9.0, float("nan"), None]})
    ref = SkTargetEncoder(target_type="continuous").fit(train.to_numpy().astype(object), y)
    got = enc.transform(test).to_numpy()
    want = ref.transform(np.array([["zz", 9.0], [None, np.nan], ["a", np.nan]], dtype=object))
    np.testing.assert_allclose(got, want, **TOL)
    assert got[0, 0] == got[1, 0] == got[0, 1] == y.mean()


def test_given_categories_equal_sklearn() -> None:
    df, X = generated(250)
    y = targets(250)["binary"]
    cats = [["rome", "oslo", "kyiv"], [-3, 0, 1, 2], [0.5, 8.0, None], [False, True]]
    sk_cats = [
        np.array(cats[0], dtype=object),
        np.array(cats[1]),
        np.array([0.5, 8.0, np.nan]),
        np.array([False, True]),
    ]
    fitted, crossed = sk(X, y, categories=sk_cats, random_state=0)
    me = pmk.TargetEncoder(categories=cats, random_state=0)
    np.testing.assert_allclose(me.fit_transform(df, y).to_numpy(), crossed, **TOL)
    assert_like_sklearn(me, fitted)
    np.testing.assert_allclose(me.transform(df).to_numpy(), fitted.transform(X), **TOL)


@pytest.mark.parametrize("dtype", ["categorical", "enum", "string", "int"])
def test_input_dtypes_encode_by_value(dtype: str) -> None:
    rng = np.random.default_rng(9)
    codes = rng.integers(0, 6, 400)
    y = rng.normal(size=400)
    strings = pl.DataFrame({"c": [f"v{c}" for c in codes]})
    levels = [f"v{c}" for c in range(6)]
    frame = {
        "categorical": strings.with_columns(pl.col("c").cast(pl.Categorical)),
        "enum": strings.with_columns(pl.col("c").cast(pl.Enum(levels[::-1]))),
        "string": strings,
        "int": pl.DataFrame({"c": codes.astype(np.int16)}),
    }[dtype]
    enc = pmk.TargetEncoder(random_state=0)
    crossed = enc.fit_transform(frame, y)
    ref = pmk.TargetEncoder(random_state=0)
    assert_frame_equal(crossed, ref.fit_transform(strings, y))
    assert_frame_equal(enc.transform(frame), ref.transform(strings))
    assert crossed.schema == pl.Schema({"c": pl.Float64})


def test_chunked_and_sliced_input() -> None:
    df, _ = generated(300)
    y = targets(300)["multiclass"]
    whole = pmk.TargetEncoder(random_state=1).fit(df, y)
    chunked = pl.concat([df.slice(0, 100), df.slice(100, 120), df.slice(220)], rechunk=False)
    assert chunked.n_chunks() > 1
    assert_frame_equal(
        pmk.TargetEncoder(random_state=1).fit_transform(chunked, y),
        pmk.TargetEncoder(random_state=1).fit_transform(df, y),
    )
    assert_frame_equal(whole.transform(chunked), whole.transform(df))
    part = df.slice(13, 200)
    sliced = pmk.TargetEncoder(random_state=1).fit(part, y[13:213])
    fresh = pmk.TargetEncoder(random_state=1).fit(part.clone().rechunk(), y[13:213])
    for a, b in zip(sliced.encodings_, fresh.encodings_, strict=True):
        np.testing.assert_array_equal(a, b)


def test_lazy_streaming_and_eager_agree(tmp_path: Any) -> None:
    df, _ = generated(400)
    y = targets(400)["continuous"]
    train = df.with_columns(target=pl.Series(y))
    eager = pmk.TargetEncoder().fit(train, "target")
    path = tmp_path / "train.parquet"
    train.write_parquet(path, row_group_size=64)
    lazy = pmk.TargetEncoder().fit(pl.scan_parquet(path), "target")
    for a, b in zip(lazy.encodings_, eager.encodings_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)
    assert lazy.feature_names_in_.tolist() == ["s", "i", "f", "b"]
    out = lazy.transform(pl.scan_parquet(path))
    assert isinstance(out, pl.LazyFrame)
    assert out.collect_schema() == pl.Schema(
        {"s": pl.Float64, "i": pl.Float64, "f": pl.Float64, "b": pl.Float64, "target": pl.Float64}
    )
    assert_frame_equal(out.collect(engine="streaming"), eager.transform(train))
    assert_frame_equal(out.collect(engine="in-memory"), eager.transform(train))
    crossed = pmk.TargetEncoder(random_state=0).fit_transform(train.lazy(), "target")
    assert isinstance(crossed, pl.LazyFrame)
    assert_frame_equal(
        crossed.collect(), pmk.TargetEncoder(random_state=0).fit_transform(train, "target")
    )


def test_json_round_trip() -> None:
    df, _ = generated(300)
    for kind, y in targets(300).items():
        enc = pmk.TargetEncoder(columns=["s", "f", "b"], smooth=2.0, random_state=3).fit(df, y)
        text = enc.to_json()
        assert json.loads(text)["format"] == "polars-mlkit/target-encoder"
        back = pmk.load(text)
        assert isinstance(back, pmk.TargetEncoder)
        assert back.get_params() == enc.get_params()
        assert_frame_equal(back.transform(df), enc.transform(df))
        assert back.target_type_ == kind == enc.target_type_
        assert back.get_feature_names_out().tolist() == enc.get_feature_names_out().tolist()
    with pytest.raises(ValueError, match="format version 9 is not supported"):
        pmk.load(text.replace('"version": 1', '"version": 9'))
    broken = json.loads(text)
    broken["columns"][0]["encodings"] = [[1.0]]
    with pytest.raises(ValueError, match="malformed TargetEncoder"):
        pmk.load(json.dumps(broken))


def test_from_sklearn_transforms_as_sklearn() -> None:
    df, X = generated(300)
    for y in targets(300).values():
        fitted = SkTargetEncoder(smooth=1.5).fit(X, y)
        mine = pmk.TargetEncoder._from_sklearn(fitted)
        np.testing.assert_allclose(mine.transform(X), fitted.transform(X), **TOL)
        frame = df.rename({"s": "x0", "i": "x1", "f": "x2", "b": "x3"})
        np.testing.assert_allclose(mine.transform(frame).to_numpy(), fitted.transform(X), **TOL)
        assert mine.get_feature_names_out().tolist() == fitted.get_feature_names_out().tolist()
    named = SkTargetEncoder().fit(df.select("s", "f"), targets(300)["binary"])
    mine = pmk.TargetEncoder._from_sklearn(named)
    assert mine.feature_names_in_.tolist() == ["s", "f"]
    np.testing.assert_allclose(
        mine.transform(df.select("s", "f")).to_numpy(), named.transform(df.select("s", "f")), **TOL
    )
    assert_frame_equal(
        pmk.load(mine.to_json()).transform(df.select("s", "f")), mine.transform(df.select("s", "f"))
    )


def test_check_estimator_passes() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results: list[dict[str, Any]] = check_estimator(pmk.TargetEncoder(), on_fail=None)
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert len(results) >= 40
    assert failed == []


# --------------------------------------------------------------------------- #
# bad input
# --------------------------------------------------------------------------- #
def test_bad_input_is_a_clear_error() -> None:
    df = pl.DataFrame({"c": ["a", "b", "a", "b"], "y": [1.5, None, 2.5, 3.5], "f": [0, 1, 0, 3]})
    with pytest.raises(ValueError, match="target y has 1 null"):
        pmk.TargetEncoder().fit(df, "y")
    with pytest.raises(ValueError, match="target y holds NaN"):
        pmk.TargetEncoder().fit(df.select("c"), [1.5, float("nan"), 2.0, 1.0])
    with pytest.raises(ValueError, match="requires y to be passed"):
        pmk.TargetEncoder().fit(df.select("c"))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        pmk.TargetEncoder().fit(df.select("c"), [1.0, 2.0])
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="target column 'nope'"):
        pmk.TargetEncoder().fit(df, "nope")
    good = df.with_columns(pl.col("y").fill_null(0.5))
    with pytest.raises(
        ValueError, match=r"fold column 'f' must hold the fold numbers 0..cv-1.*missing \[2\]"
    ):
        pmk.TargetEncoder(cv="f", columns="c").fit_transform(good, "y")
    nulls = good.with_columns(f=pl.Series([None, 0, 1, 1], dtype=pl.Int64))
    with pytest.raises(ValueError, match="fold column 'f' has 1 null"):
        pmk.TargetEncoder(cv="f", columns="c").fit_transform(nulls, "y")
    with pytest.raises(TypeError, match="fold column 'f' has dtype Float64"):
        pmk.TargetEncoder(cv="f", columns="c").fit_transform(
            good.with_columns(pl.col("f").cast(pl.Float64)), "y"
        )
    with pytest.raises(ValueError, match="cover each sample index exactly once"):
        pmk.TargetEncoder(cv=[([2, 3], [0, 1]), ([0, 3], [1, 2])], columns="c").fit_transform(
            good, "y"
        )
    with pytest.raises(ValueError, match="train indices of split 0 must be every row"):
        pmk.TargetEncoder(cv=[([2], [0, 1]), ([0, 1], [2, 3])], columns="c").fit_transform(
            good, "y"
        )
    fitted = pmk.TargetEncoder(columns="c").fit(good, "y")
    with pytest.raises(TypeError, match="column 'c' has dtype Int64 but was fitted on String"):
        fitted.transform(pl.LazyFrame({"c": [1, 2]}))
    with pytest.raises(pl.exceptions.ComputeError, match="fitted on a column of another dtype"):
        pl.LazyFrame({"c": [1, 2]}).select(fitted.expressions()).collect_schema()
    with pytest.raises(ValueError, match="target_type='binary' but the target y has 3 classes"):
        pmk.TargetEncoder(target_type="binary").fit(df.select("c"), [0, 1, 2, 1])
    with pytest.raises(ValueError, match="target_type='multiclass' but the target y has 2 classes"):
        pmk.TargetEncoder(target_type="multiclass").fit(df.select("c"), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="target_type='continuous' but the target y holds strings"):
        pmk.TargetEncoder(target_type="continuous").fit(df.select("c"), ["a", "b", "a", "b"])
    with pytest.raises(ValueError, match="smooth must be 'auto' or a float >= 0"):
        pmk.TargetEncoder(smooth=-1.0).fit(good, "y")
    with pytest.raises(ValueError, match="cv as an int must be >= 2"):
        pmk.TargetEncoder(cv=1).fit_transform(good, "y")
    with pytest.raises(ValueError, match="random_state has no effect since shuffle is False"):
        pmk.TargetEncoder(shuffle=False, random_state=0, columns="c").fit_transform(good, "y")
    with pytest.raises(ValueError, match="target_type must be one of"):
        pmk.TargetEncoder(target_type="ordinal").fit(good, "y")


@pytest.mark.parametrize("target_type", ["continuous", "binary"])
@pytest.mark.parametrize("smooth", ["auto", 0.0, 2.0])
def test_many_rare_categories_equal_sklearn(target_type: str, smooth: Any) -> None:
    # Categories seen in one fold only: their out-of-fold count is zero.
    rng = np.random.default_rng(21)
    codes = rng.integers(0, 300, 600)
    X = codes.reshape(-1, 1)
    y = targets(600, seed=5)[target_type]
    fitted, crossed = sk(X, y, smooth=smooth, random_state=9)
    me = pmk.TargetEncoder(smooth=smooth, random_state=9)
    np.testing.assert_allclose(me.fit_transform(pl.DataFrame({"c": codes}), y), crossed, **TOL)
    assert_like_sklearn(me, fitted)


def test_constant_target_single_category_and_float32() -> None:
    df = pl.DataFrame(
        {"c": ["a"] * 6, "f": pl.Series([0.5, 1.5, 0.5, None, 1.5, 0.5], dtype=pl.Float32)}
    )
    X = np.empty((6, 2), dtype=object)
    X[:, 0] = "a"
    X[:, 1] = df["f"].fill_null(np.nan).to_numpy().astype(np.float64)
    for y in (np.full(6, 2.5), np.array([0.1, 0.7, 0.2, 0.9, 0.4, 0.3])):
        fitted, crossed = sk(X, y, cv=2, random_state=0)
        me = pmk.TargetEncoder(cv=2, random_state=0)
        np.testing.assert_allclose(me.fit_transform(df, y).to_numpy(), crossed, **TOL)
        assert_like_sklearn(me, fitted)
        np.testing.assert_allclose(me.transform(df).to_numpy(), fitted.transform(X), **TOL)


def test_in_a_pipeline_with_polars_output() -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline

    df, _ = generated(300)
    y = targets(300)["continuous"]
    pipe = make_pipeline(pmk.TargetEncoder(random_state=0), LinearRegression()).fit(df, y)
    ref = make_pipeline(
        SkTargetEncoder(cv=KFold(5, shuffle=True, random_state=0)), LinearRegression()
    )
    ref.fit(generated(300)[1], y)
    np.testing.assert_allclose(pipe.predict(df), ref.predict(generated(300)[1]), rtol=1e-9)
    enc = pmk.TargetEncoder().set_output(transform="polars")
    _, X = generated(50)
    assert isinstance(enc.fit_transform(X, targets(50)["binary"]), pl.DataFrame)


def test_empty_input_is_an_error() -> None:
    empty = pl.DataFrame(
        {"c": pl.Series([], dtype=pl.String), "y": pl.Series([], dtype=pl.Float64)}
    )
    with pytest.raises(ValueError, match="0 sample"):
        pmk.TargetEncoder().fit(empty, "y")
    with pytest.raises(ValueError, match="0 sample"):
        pmk.TargetEncoder().fit_transform(empty, "y")


@pytest.mark.parametrize("dtype", ["bool", "categorical", "enum", "string", "int8", "float"])
def test_target_dtypes_equal_sklearn(dtype: str) -> None:
    df, X = generated(240)
    rng = np.random.default_rng(13)
    labels = rng.choice(np.array(["x", "y"] if dtype == "bool" else ["x", "y", "z"]), 240)
    y = {
        "bool": pl.Series(labels == "x"),
        "categorical": pl.Series(labels).cast(pl.Categorical),
        "enum": pl.Series(labels).cast(pl.Enum(["z", "y", "x"])),
        "string": pl.Series(labels),
        "int8": pl.Series(labels).replace_strict(["x", "y", "z"], [5, -1, 2], return_dtype=pl.Int8),
        "float": pl.Series(labels).replace_strict(["x", "y", "z"], [5.0, -1.0, 2.0]),
    }[dtype]
    # scikit-learn's own kernel takes no int8 target: it gets the same values as int64.
    if dtype in ("bool", "int8", "float"):
        plain = y.cast(pl.Int64).to_numpy() if dtype == "int8" else y.to_numpy()
    else:
        plain = y.cast(pl.String).to_numpy()
    fitted, crossed = sk(X, plain, cv=3, random_state=2)
    me = pmk.TargetEncoder(cv=3, random_state=2)
    np.testing.assert_allclose(me.fit_transform(df, y).to_numpy(), crossed, **TOL)
    assert_like_sklearn(me, fitted)
    assert me.get_feature_names_out().tolist() == fitted.get_feature_names_out(df.columns).tolist()
