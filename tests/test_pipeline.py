"""Pipelines, linear models as expressions and from_sklearn, against scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from polars.io.plugins import register_io_source

sklearn = pytest.importorskip("sklearn")
# The scikit-learn side of these tests is fitted on pandas frames (as its users do).
pytest.importorskip("pandas")
from sklearn import compose, datasets, linear_model, pipeline, preprocessing  # noqa: E402

RTOL = 1e-12


def _close(got: object, want: object, rtol: float = RTOL) -> None:
    got_a = np.asarray(got, dtype=np.float64)
    want_a = np.asarray(want, dtype=np.float64)
    assert got_a.shape == want_a.shape
    scale = np.maximum(np.abs(want_a), 1e-300)
    np.testing.assert_array_less(np.abs(got_a - want_a), rtol * scale + 1e-14)


def _numpy(x: object) -> np.ndarray:
    if isinstance(x, pl.DataFrame):
        return x.to_numpy()
    if isinstance(x, pl.Series):
        return x.to_numpy()
    return np.asarray(x)


@pytest.fixture(scope="module")
def mixed() -> tuple[pl.DataFrame, np.ndarray]:
    """Numeric columns and a 20-category string column with a known signal."""
    rng = np.random.default_rng(7)
    n = 3000
    cities = np.array([f"city{i:02d}" for i in range(20)])
    df = pl.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(50.0, 9.0, size=n),
            "c": rng.exponential(size=n),
            "city": cities[rng.integers(0, 20, n)],
        }
    )
    score = df["a"].to_numpy() + np.isin(df["city"].to_numpy(), cities[:5]) * 1.5
    y = (score + rng.normal(size=n) > 0.6).astype(np.int64)
    return df, y


# --------------------------------------------------------------------------- #
# LinearModel
# --------------------------------------------------------------------------- #
REGRESSORS = [
    linear_model.LinearRegression(),
    linear_model.Ridge(alpha=2.0),
    linear_model.Lasso(alpha=0.05),
    linear_model.ElasticNet(alpha=0.05, l1_ratio=0.3),
]


@pytest.mark.parametrize("sk", REGRESSORS, ids=lambda e: type(e).__name__)
def test_regressors_equal_sklearn_on_diabetes(sk: object) -> None:
    X, y = datasets.load_diabetes(return_X_y=True, as_frame=True)
    fitted = sk.fit(X, y)  # type: ignore[attr-defined]
    model = pmk.from_sklearn(fitted)
    df = pl.from_pandas(X)
    _close(model.predict(df), fitted.predict(X))
    _close(model.predict(X.to_numpy()), fitted.predict(X))
    lazy = model.predict(df.lazy())
    assert isinstance(lazy, pl.LazyFrame)
    _close(lazy.collect(engine="streaming")["predict"], fitted.predict(X))
    _close(df.select(model.predict_expr())["predict"], fitted.predict(X))


def test_multi_target_regression() -> None:
    X, y = datasets.load_diabetes(return_X_y=True)
    targets = np.column_stack([y, np.sqrt(y)])
    fitted = linear_model.Ridge().fit(X, targets)
    model = pmk.from_sklearn(fitted)
    got = np.stack(model.predict(X).tolist())
    _close(got, fitted.predict(X))


@pytest.mark.parametrize(
    "loader", [datasets.load_breast_cancer, datasets.load_wine, datasets.load_digits]
)
def test_logistic_regression_equals_sklearn(loader: object) -> None:
    X, y = loader(return_X_y=True, as_frame=True)  # type: ignore[operator]
    X = X.astype(float)
    fitted = pipeline.make_pipeline(
        preprocessing.StandardScaler(), linear_model.LogisticRegression(max_iter=3000)
    ).fit(X, y)
    model = pmk.from_sklearn(fitted)
    df = pl.from_pandas(X)
    proba = np.stack(model.predict_proba(df).to_list())
    _close(proba, fitted.predict_proba(X), rtol=1e-11)
    assert (model.predict(df).to_numpy() == fitted.predict(X)).all()
    decision = model.decision_function(df)
    want = fitted.decision_function(X)
    got = decision.to_numpy() if want.ndim == 1 else np.stack(decision.to_list())
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)


def test_logistic_string_labels_and_nulls() -> None:
    X, y = datasets.load_wine(return_X_y=True, as_frame=True)
    labels = np.array(["red", "white", "rose"])[y]
    fitted = linear_model.LogisticRegression(max_iter=5000).fit(X, labels)
    model = pmk.from_sklearn(fitted)
    df = pl.from_pandas(X)
    assert model.predict(df).to_list() == fitted.predict(X).tolist()
    holed = df.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise("alcohol").alias("alcohol")
    )
    out = holed.select(model.predict_expr())["predict"]
    assert out[3] is None
    assert out.null_count() == 1


def test_linear_model_json_and_errors() -> None:
    model = pmk.LinearModel(
        [[1.0, -2.0], [0.5, 0.0], [0.0, 1.0]],
        [0.1, 0.2, 0.3],
        features=["p", "q"],
        kind="logistic",
        classes=["x", "y", "z"],
    )
    again = pmk.load(model.to_json())
    df = pl.DataFrame({"p": [0.3, -1.0], "q": [2.0, 0.5]})
    assert again.predict_proba(df).to_list() == model.predict_proba(df).to_list()
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="'q'"):
        model.predict(pl.DataFrame({"p": [1.0]}))
    with pytest.raises(ValueError, match="2 features"):
        pmk.LinearModel([1.0, 2.0, 3.0], features=["a", "b"])
    with pytest.raises(AttributeError, match="no probabilities"):
        pmk.LinearModel([1.0], features=["a"]).predict_proba_expr()
    with pytest.raises(ValueError, match="needs its classes"):
        pmk.LinearModel([1.0], features=["a"], kind="logistic")


# --------------------------------------------------------------------------- #
# from_sklearn: transformers
# --------------------------------------------------------------------------- #
TRANSFORMERS = [
    preprocessing.StandardScaler(),
    preprocessing.StandardScaler(with_mean=False),
    preprocessing.MinMaxScaler(feature_range=(-2, 3)),
    preprocessing.MinMaxScaler(clip=True),
    preprocessing.MaxAbsScaler(),
    preprocessing.RobustScaler(),
    preprocessing.RobustScaler(quantile_range=(10.0, 80.0), unit_variance=True),
    preprocessing.RobustScaler(with_centering=False),
    preprocessing.QuantileTransformer(n_quantiles=40),
    preprocessing.QuantileTransformer(n_quantiles=60, output_distribution="normal"),
    preprocessing.PowerTransformer(),
    preprocessing.PowerTransformer(standardize=False),
    preprocessing.Normalizer(),
    preprocessing.Normalizer(norm="l1"),
    preprocessing.Normalizer(norm="max"),
]


@pytest.mark.parametrize("sk", TRANSFORMERS, ids=repr)
@pytest.mark.parametrize("as_frame", [True, False])
def test_transformers_equal_sklearn(sk: object, as_frame: bool) -> None:
    X, _ = datasets.load_wine(return_X_y=True, as_frame=True)
    data = X if as_frame else X.to_numpy()
    fitted = sk.fit(data)  # type: ignore[attr-defined]
    ours = pmk.from_sklearn(fitted)
    rows = pl.from_pandas(X) if as_frame else X.to_numpy()
    # Rows outside the training range as well (clip, quantile tails).
    _close(_numpy(ours.transform(rows)), fitted.transform(data), rtol=1e-11)
    shifted = X * 1.3 - 0.5
    got = ours.transform(pl.from_pandas(shifted) if as_frame else shifted.to_numpy())
    _close(_numpy(got), fitted.transform(shifted if as_frame else shifted.to_numpy()), 1e-11)


ENCODER_OPTIONS = [
    {},
    {"drop": "first"},
    {"drop": "if_binary"},
    {"handle_unknown": "ignore"},
    {"min_frequency": 150, "handle_unknown": "infrequent_if_exist"},
    {"max_categories": 6, "handle_unknown": "infrequent_if_exist"},
]


@pytest.mark.parametrize("options", ENCODER_OPTIONS, ids=repr)
def test_one_hot_equals_sklearn(mixed: tuple[pl.DataFrame, np.ndarray], options: dict) -> None:
    df, _ = mixed
    frame = df.select("city", flag=pl.col("a") > 0, level=(pl.col("c") * 3).cast(pl.Int64))
    fitted = preprocessing.OneHotEncoder(sparse_output=False, **options).fit(frame.to_pandas())
    ours = pmk.from_sklearn(fitted)
    got = ours.transform(frame)
    assert got.columns == list(fitted.get_feature_names_out())
    _close(got.to_numpy(), fitted.transform(frame.to_pandas()))


def test_ordinal_equals_sklearn_with_missing(mixed: tuple[pl.DataFrame, np.ndarray]) -> None:
    df, _ = mixed
    frame = df.select(
        city=pl.when(pl.col("a") > 1.5).then(None).otherwise("city"),
        level=(pl.col("c") * 3).round(0),
    )
    pandas = frame.to_pandas()
    fitted = preprocessing.OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2
    ).fit(pandas)
    ours = pmk.from_sklearn(fitted)
    _close(ours.transform(frame).to_numpy(), fitted.transform(pandas))
    unseen = pl.DataFrame({"city": ["nowhere"], "level": [99.0]})
    _close(ours.transform(unseen).to_numpy(), fitted.transform(unseen.to_pandas()))


# --------------------------------------------------------------------------- #
# from_sklearn: composites
# --------------------------------------------------------------------------- #
def _served(mixed: tuple[pl.DataFrame, np.ndarray], **ct_options: object) -> pipeline.Pipeline:
    df, y = mixed
    ct = compose.make_column_transformer(
        (preprocessing.StandardScaler(), ["a", "b", "c"]),
        (preprocessing.OneHotEncoder(handle_unknown="ignore"), ["city"]),
        **ct_options,
    )
    return pipeline.make_pipeline(ct, linear_model.LogisticRegression(max_iter=2000)).fit(
        df.to_pandas(), y
    )


@pytest.mark.parametrize(
    "ct_options",
    [{}, {"verbose_feature_names_out": False}, {"remainder": "passthrough"}],
    ids=repr,
)
def test_column_transformer_pipeline_scores_like_sklearn(
    mixed: tuple[pl.DataFrame, np.ndarray], ct_options: dict
) -> None:
    df, _ = mixed
    frame = df.with_columns(extra=pl.col("a") * 2) if ct_options.get("remainder") else df
    sk = _served((frame, mixed[1]), **ct_options)
    ours = pmk.from_sklearn(sk)
    assert isinstance(ours, pmk.Pipeline)
    want = sk.predict_proba(frame.to_pandas())
    _close(np.stack(ours.predict_proba(frame).to_list()), want)
    lazy = ours.predict_proba(frame.lazy())
    assert isinstance(lazy, pl.LazyFrame)
    streamed = lazy.collect(engine="streaming").to_series()
    _close(np.stack(streamed.to_list()), want)
    assert ours.predict(frame).to_list() == sk.predict(frame.to_pandas()).tolist()
    again = pmk.load(ours.to_json())
    _close(np.stack(again.predict_proba(frame).to_list()), want)
    # The transform part alone: the same columns as scikit-learn's.
    names = list(sk[:-1].get_feature_names_out())
    assert ours[:-1].transform(frame.head(3)).columns == names


def test_nested_pipeline_in_column_transformer() -> None:
    X, y = datasets.load_diabetes(return_X_y=True, as_frame=True)
    inner = pipeline.make_pipeline(preprocessing.RobustScaler(), preprocessing.MinMaxScaler())
    ct = compose.ColumnTransformer(
        [("inner", inner, ["age", "bmi", "bp"]), ("pt", preprocessing.PowerTransformer(), [3, 4])],
        remainder="drop",
    )
    sk = pipeline.make_pipeline(ct, linear_model.Ridge()).fit(X, y)
    ours = pmk.from_sklearn(sk)
    _close(ours.predict(pl.from_pandas(X)), sk.predict(X), rtol=1e-11)


def test_from_sklearn_errors() -> None:
    from sklearn.svm import SVC

    with pytest.raises(TypeError, match="SVC"):
        pmk.from_sklearn(SVC().fit([[0.0], [1.0]], [0, 1]))
    with pytest.raises(ValueError, match="not fitted"):
        pmk.from_sklearn(preprocessing.StandardScaler())
    inside = pipeline.make_pipeline(preprocessing.StandardScaler(), SVC()).fit(
        [[0.0], [1.0]], [0, 1]
    )
    with pytest.raises(TypeError, match="SVC"):
        pmk.from_sklearn(inside)
    with pytest.raises(TypeError, match=r"'hello'|str"):
        pmk.from_sklearn("hello")


# --------------------------------------------------------------------------- #
# Pipeline: fit, scans, lazy plan, JSON, protocol
# --------------------------------------------------------------------------- #
def _counting_source(frame: pl.DataFrame) -> tuple[pl.LazyFrame, list[int]]:
    """A LazyFrame whose every scan is counted."""
    scans = [0]

    def source(with_columns, predicate, n_rows, batch_size):  # type: ignore[no-untyped-def]
        scans[0] += 1
        out = frame if with_columns is None else frame.select(with_columns)
        if predicate is not None:
            out = out.filter(predicate)
        if n_rows is not None:
            out = out.head(n_rows)
        step = batch_size or 1000
        for start in range(0, max(out.height, 1), step):
            yield out.slice(start, step)

    return register_io_source(io_source=source, schema=frame.schema), scans


def _step_by_step(steps: list, lazy: pl.LazyFrame) -> pl.DataFrame:
    for step in steps:
        step.fit(lazy)
        lazy = step.transform(lazy)
    return lazy.collect()


def test_independent_steps_share_one_scan(mixed: tuple[pl.DataFrame, np.ndarray]) -> None:
    df, _ = mixed
    holed = df.with_columns(pl.when(pl.col("c") > 2).then(None).otherwise("b").alias("b"))
    lazy, scans = _counting_source(holed)
    pipe = pmk.make_pipeline(
        pmk.OneHotEncoder(columns="city"),
        pmk.MinMaxScaler(columns=["a"]),
        pmk.MaxAbsScaler(columns=["b", "c"]),
        pmk.StandardScaler(),
    )
    pipe.fit(lazy)
    # Stage 1: the three column-disjoint steps (one scan); stage 2: the
    # scaler of every numeric column, which reads their output (one scan).
    assert pipe.fit_scans_ == 2
    assert scans[0] == 2
    want = _step_by_step(
        [
            pmk.OneHotEncoder(columns="city"),
            pmk.MinMaxScaler(columns=["a"]),
            pmk.MaxAbsScaler(columns=["b", "c"]),
            pmk.StandardScaler(),
        ],
        holed.lazy(),
    )
    got = pipe.transform(holed)
    assert got.columns == want.columns
    _close(got.to_numpy(), want.to_numpy(), rtol=1e-13)
    streamed = pipe.transform(holed.lazy()).collect(engine="streaming")
    assert streamed.equals(got)


def test_two_pass_step_next_to_one_pass_steps(mixed: tuple[pl.DataFrame, np.ndarray]) -> None:
    df, _ = mixed
    lazy, scans = _counting_source(df)
    pipe = pmk.make_pipeline(pmk.RobustScaler(columns=["a"]), pmk.OneHotEncoder(columns="city"))
    pipe.fit(lazy)
    assert pipe.fit_scans_ == scans[0] == 2  # the robust scaler's two passes, shared
    want = _step_by_step(
        [pmk.RobustScaler(columns=["a"]), pmk.OneHotEncoder(columns="city")], df.lazy()
    )
    assert pipe.transform(df).equals(want)


def test_dependent_steps_fit_on_the_output_before(mixed: tuple[pl.DataFrame, np.ndarray]) -> None:
    df, _ = mixed
    pipe = pmk.make_pipeline(
        pmk.StandardScaler(columns=["a", "b"]), pmk.MinMaxScaler(columns=["a", "c"])
    )
    pipe.fit(df)
    assert pipe.fit_scans_ == 2
    assert pipe["minmaxscaler"].params_["data_min"][0] == pytest.approx(
        ((df["a"] - df["a"].mean()) / df["a"].std(ddof=0)).min(), rel=1e-12
    )


def test_pipeline_json_protocol_and_errors(mixed: tuple[pl.DataFrame, np.ndarray]) -> None:
    df, _ = mixed
    pipe = pmk.make_pipeline(pmk.OneHotEncoder(columns="city"), pmk.StandardScaler())
    pipe.fit(df)
    again = pmk.load(pipe.to_json())
    assert again.transform(df).equals(pipe.transform(df))
    assert list(again.get_feature_names_out()) == pipe.transform(df).columns
    params = pipe.get_params()
    assert params["standardscaler__with_mean"] is True
    pipe.set_params(standardscaler__with_mean=False)
    assert pipe["standardscaler"].with_mean is False
    assert len(pipe) == 2
    assert isinstance(pipe[:1], pmk.Pipeline)
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="city"):
        pipe.transform(df.drop("city"))
    with pytest.raises(ValueError, match="unique"):
        pmk.Pipeline([("a", pmk.StandardScaler()), ("a", pmk.MinMaxScaler())]).fit(df)
    with pytest.raises(ValueError, match=r"pipeline document|format"):
        pmk.load('{"format": "polars-mlkit/pipeline", "version": 1, "steps": []}')


def test_pmk_steps_inside_sklearn_composites(mixed: tuple[pl.DataFrame, np.ndarray]) -> None:
    df, y = mixed
    ours = pipeline.make_pipeline(
        compose.make_column_transformer(
            (pmk.StandardScaler(), ["a", "b", "c"]),
            (pmk.OneHotEncoder(), ["city"]),
        ),
        linear_model.LogisticRegression(max_iter=2000),
    ).fit(df, y)
    theirs = _served(mixed)
    _close(ours.predict_proba(df), theirs.predict_proba(df.to_pandas()), rtol=1e-6)


@pytest.mark.parametrize(
    "pipe",
    [
        pmk.make_pipeline(pmk.StandardScaler()),
        pmk.make_pipeline(pmk.MinMaxScaler(), pmk.RobustScaler()),
    ],
    ids=repr,
)
def test_check_estimator_on_pipelines(pipe: pmk.Pipeline) -> None:
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(pipe, on_fail=None)
    failed = {r["check_name"] for r in results if r["status"] == "failed"}
    assert len(results) >= 40
    # Fitting fits the steps in place, so the `steps` parameter's objects
    # change: scikit-learn lists this very check as an expected failure of
    # its own Pipeline.
    assert failed <= {"check_estimators_overwrite_params"}


def test_pipeline_methods_follow_the_last_step(mixed: tuple[pl.DataFrame, np.ndarray]) -> None:
    scaler_only = pmk.make_pipeline(pmk.StandardScaler(columns=["a"]))
    assert not hasattr(scaler_only, "predict_proba")
    served = pmk.from_sklearn(_served(mixed))
    assert hasattr(served, "predict_proba")
    assert not hasattr(served, "transform")
    with pytest.raises(ValueError, match="X has 2 features"):
        pmk.make_pipeline(pmk.StandardScaler()).fit(np.ones((3, 3))).transform(np.ones((2, 2)))


FOLDABLE = [
    {"handle_unknown": "ignore"},
    {"min_frequency": 140, "handle_unknown": "infrequent_if_exist"},
    {"drop": "first", "handle_unknown": "ignore"},
]


@pytest.mark.parametrize("options", FOLDABLE, ids=repr)
@pytest.mark.parametrize("classes", [2, 3])
def test_folded_classifier_equals_step_by_step(
    mixed: tuple[pl.DataFrame, np.ndarray], options: dict, classes: int
) -> None:
    df, y = mixed
    target = y if classes == 2 else (df["a"].to_numpy() * 3).astype(int) % 3
    ct = compose.make_column_transformer(
        (preprocessing.StandardScaler(), ["a", "b"]),
        (preprocessing.RobustScaler(), ["c"]),
        (preprocessing.OneHotEncoder(**options), ["city"]),
    )
    sk = pipeline.make_pipeline(ct, linear_model.LogisticRegression(max_iter=3000))
    sk.fit(df.to_pandas(), target)
    ours = pmk.from_sklearn(sk)
    # Unseen and missing categories, and a Categorical column, at scoring time.
    test = df.with_columns(
        city=pl.when(pl.int_range(pl.len()) % 37 == 0)
        .then(pl.lit("elsewhere"))
        .when(pl.int_range(pl.len()) % 41 == 0)
        .then(None)
        .otherwise("city")
    )
    folded = test.select(ours.predict_proba_expr()).to_series()
    step_by_step = ours[-1].predict_proba(ours[:-1].transform(test))
    _close(np.stack(folded.to_list()), np.stack(step_by_step.to_list()), rtol=1e-12)
    assert test.select(ours.predict_expr()).to_series().to_list() == (
        ours[-1].predict(ours[:-1].transform(test)).to_list()
    )
    as_categorical = test.with_columns(pl.col("city").cast(pl.Categorical))
    again = as_categorical.lazy().select(ours.predict_proba_expr()).collect(engine="streaming")
    assert again.to_series().to_list() == folded.to_list()
    with warnings.catch_warnings():  # scikit-learn warns about the unseen category
        warnings.simplefilter("ignore", UserWarning)
        want = sk.predict_proba(test.to_pandas())
    _close(np.stack(folded.to_list()), want, rtol=1e-11)


def test_unfoldable_pipelines_score_step_by_step(mixed: tuple[pl.DataFrame, np.ndarray]) -> None:
    df, y = mixed
    sk = pipeline.make_pipeline(
        compose.make_column_transformer(
            (preprocessing.MinMaxScaler(clip=True), ["a"]),
            (preprocessing.OneHotEncoder(), ["city"]),  # handle_unknown="error"
        ),
        linear_model.LogisticRegression(max_iter=2000),
    ).fit(df.to_pandas(), y)
    ours = pmk.from_sklearn(sk)
    with pytest.raises(ValueError, match="do not fold"):
        ours.predict_proba_expr()
    _close(np.stack(ours.predict_proba(df).to_list()), sk.predict_proba(df.to_pandas()))


def test_from_sklearn_reaches_every_fitted_class(mixed: tuple[pl.DataFrame, np.ndarray]) -> None:
    """The classes that convert themselves (imputer, bins, target encoder,
    PCA), alone and as pipeline steps after a step with unnamed output."""
    from sklearn.decomposition import PCA
    from sklearn.impute import SimpleImputer

    df, y = mixed
    numeric = df.select("a", "b", "c").with_columns(
        pl.when(pl.col("a") > 1.2).then(None).otherwise("b").alias("b")
    )
    pandas = numeric.to_pandas()
    alone = [
        SimpleImputer(strategy="median").fit(pandas),
        preprocessing.KBinsDiscretizer(n_bins=4, encode="ordinal", subsample=None).fit(
            pandas.fillna(0.0)
        ),
        PCA(n_components=2).fit(pandas.fillna(0.0)),
    ]
    for sk in alone:
        rows = numeric if type(sk).__name__ == "SimpleImputer" else numeric.fill_null(0.0)
        got = pmk.from_sklearn(sk).transform(rows)
        _close(got.to_numpy(), sk.transform(rows.to_pandas()), rtol=1e-7)
    target = preprocessing.TargetEncoder(random_state=0).fit(df.select("city").to_pandas(), y)
    got = pmk.from_sklearn(target).transform(df.select("city"))
    _close(got.to_numpy(), target.transform(df.select("city").to_pandas()))
    # numpy in: the scaler's output has no names, so PCA's inputs are x0, x1, x2.
    chained = pipeline.make_pipeline(
        SimpleImputer(strategy="mean"), preprocessing.StandardScaler(), PCA(n_components=2)
    ).fit(numeric.to_numpy())
    ours = pmk.from_sklearn(chained)
    _close(ours.transform(numeric.to_numpy()), chained.transform(numeric.to_numpy()), rtol=1e-7)
