"""`pmk.SimpleImputer` beyond the numbers: JSON (`pmk.load`), built from a
fitted scikit-learn `SimpleImputer`, scikit-learn's `check_estimator` and
pipelines, and Ray fit and transform equal to the in-memory ones."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from polars.testing import assert_frame_equal
from sklearn.datasets import load_diabetes
from sklearn.impute import SimpleImputer as SkImputer
from sklearn.utils.estimator_checks import check_estimator

STRATEGIES = ["mean", "median", "most_frequent", "constant"]


@pytest.fixture(scope="module")
def diabetes() -> np.ndarray[Any, Any]:
    """The diabetes features, rounded, with a tenth of the values NaN (seeded)."""
    x = np.round(load_diabetes().data, 2)
    x[np.random.default_rng(0).random(x.shape) < 0.1] = np.nan
    return x


def _frame(x: np.ndarray[Any, Any]) -> pl.DataFrame:
    """Columns x0, x1, ...; even rows' missing values null, odd rows' NaN."""
    df = pl.DataFrame({f"x{j}": x[:, j] for j in range(x.shape[1])})
    odd = pl.int_range(pl.len()) % 2 == 1
    return df.with_columns(pl.when(odd).then(pl.all()).otherwise(pl.all().fill_nan(None)))


def _np(out: pl.DataFrame) -> np.ndarray[Any, Any]:
    return out.with_columns(pl.col(pl.Boolean).cast(pl.Float64)).to_numpy().astype(np.float64)


# --------------------------------------------------------------------------- #
# JSON, scikit-learn objects, conformance
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_json_round_trip(strategy: str) -> None:
    df = pl.DataFrame(
        {
            "g": [1, 2, 1, None, 2, 1],
            "x": [1.5, None, float("nan"), 2.0, 7.25, 1.5],
            "f": pl.Series([1.0, None, 3.0, 4.0, None, 1.0], dtype=pl.Float32),
            "i": [3, None, 3, 1, 1, None],
            "s": ["a", None, "b", "b", None, "a"],
            "empty": pl.Series([None] * 6, dtype=pl.Float64),
        }
    )
    columns = ["x", "f", "i", "empty"] if strategy in ("mean", "median") else None
    for by in (None, "g"):
        imp = pmk.SimpleImputer(strategy=strategy, columns=columns, by=by, add_indicator=True)
        imp.fit(df)
        text = imp.to_json()
        again = pmk.load(text)
        assert type(again) is pmk.SimpleImputer
        assert again.to_json() == text
        assert_frame_equal(again.transform(df), imp.transform(df))
        assert again.get_params() == imp.get_params()


def test_json_bad_documents() -> None:
    imp = pmk.SimpleImputer().fit(pl.DataFrame({"x": [1.0, None]}))
    text = imp.to_json()
    with pytest.raises(ValueError, match="version 9 is not supported"):
        pmk.load(text.replace('"version": 1', '"version": 9'))
    with pytest.raises(ValueError, match="malformed SimpleImputer document"):
        pmk.load(text.replace('"fills"', '"fillz"'))


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("names", [False, True])
def test_from_sklearn_transforms_as_sklearn(
    diabetes: np.ndarray[Any, Any], strategy: str, names: bool
) -> None:
    x = diabetes.copy()
    x[:, 2] = np.nan  # an empty column
    pd = pytest.importorskip("pandas")
    data: Any = pd.DataFrame(x, columns=[f"f{j}" for j in range(10)]) if names else x
    for keep in (False, True):
        sk = SkImputer(strategy=strategy, add_indicator=True, keep_empty_features=keep)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk.fit(data)
            want = sk.transform(data)
        ours = pmk.SimpleImputer._from_sklearn(sk)
        frame = pl.DataFrame(x, schema=[f"f{j}" if names else f"x{j}" for j in range(10)])
        got = ours.transform(frame)
        assert got.columns == list(sk.get_feature_names_out())
        np.testing.assert_array_equal(_np(got), want)
        assert_frame_equal(pmk.load(ours.to_json()).transform(frame), got)
        if strategy != "median":
            with pytest.raises(ValueError, match="holds no statistics"):
                ours.partial_fit(frame)


def test_from_sklearn_text_columns() -> None:
    x = np.array([["a", "x"], [np.nan, "y"], ["b", np.nan], ["b", "y"]], dtype=object)
    for strategy in ("most_frequent", "constant"):
        sk = SkImputer(strategy=strategy).fit(x)
        got = pmk.SimpleImputer._from_sklearn(sk).transform(
            pl.DataFrame({"x0": ["a", None, "b", "b"], "x1": ["x", "y", None, "y"]})
        )
        assert got.rows() == [tuple(r) for r in sk.transform(x).tolist()]


def test_from_sklearn_with_a_missing_value_given() -> None:
    rng = np.random.default_rng(6)
    x = rng.integers(-1, 4, size=(50, 3)).astype(np.float64)
    for strategy in STRATEGIES:
        sk = SkImputer(strategy=strategy, missing_values=-1, add_indicator=True).fit(x)
        ours = pmk.SimpleImputer._from_sklearn(sk)
        got = ours.transform(pl.DataFrame(x, schema=["x0", "x1", "x2"]))
        np.testing.assert_array_equal(_np(got), sk.transform(x))


@pytest.mark.parametrize(
    "make",
    [
        lambda: pmk.SimpleImputer(),
        lambda: pmk.SimpleImputer(strategy="median"),
        lambda: pmk.SimpleImputer(strategy="most_frequent", add_indicator=True),
        lambda: pmk.SimpleImputer(strategy="constant", keep_empty_features=True),
    ],
    ids=["mean", "median", "most_frequent", "constant"],
)
def test_check_estimator_passes(make: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results: list[dict[str, Any]] = check_estimator(make(), on_fail=None)
    failed = [
        f"{r['check_name']}: {str(r['exception']).splitlines()[0]}"
        for r in results
        if r["status"] == "failed"
    ]
    assert len(results) >= 40
    assert failed == []


def test_pipeline_with_polars_output(diabetes: np.ndarray[Any, Any]) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = pl.DataFrame({f"x{j}": diabetes[:, j] for j in range(10)})
    ct = ColumnTransformer([("imp", pmk.SimpleImputer(add_indicator=True), ["x0", "x1"])])
    ct.set_output(transform="polars")
    out = ct.fit_transform(df)
    sk = ColumnTransformer([("imp", SkImputer(add_indicator=True), ["x0", "x1"])])
    sk.set_output(transform="polars")
    want = sk.fit_transform(df)
    assert out.columns == want.columns
    np.testing.assert_allclose(_np(out), _np(want), rtol=1e-13)
    pipe = make_pipeline(pmk.SimpleImputer(strategy="median"), StandardScaler())
    ref = make_pipeline(SkImputer(strategy="median"), StandardScaler())
    np.testing.assert_allclose(pipe.fit_transform(diabetes), ref.fit_transform(diabetes))


# --------------------------------------------------------------------------- #
# Ray
# --------------------------------------------------------------------------- #
@pytest.mark.filterwarnings(r"ignore::DeprecationWarning")
def test_ray_fit_and_transform_equal_in_memory(diabetes: np.ndarray[Any, Any]) -> None:
    ray = pytest.importorskip("ray")
    pmk_ray = pytest.importorskip("polars_mlkit.ray")
    df = _frame(diabetes).with_columns(id=pl.int_range(pl.len()), g=pl.Series(np.arange(442) % 3))
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        ignore_reinit_error=True,
    )
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        ds = ray.data.from_arrow(df.to_arrow()).repartition(4)
        for strategy in STRATEGIES:
            opts = {"strategy": strategy, "by": "g", "add_indicator": True}
            opts["columns"] = ["x0", "x3", "x7"]
            fitted = pmk_ray.fit(pmk.SimpleImputer(**opts), ds)
            memory = pmk.SimpleImputer(**opts).fit(df)
            if strategy == "mean":
                assert_frame_equal(
                    fitted.group_statistics_, memory.group_statistics_, rel_tol=1e-13
                )
            else:
                assert fitted.to_json() == memory.to_json()
            tables = ray.get(pmk_ray.transform(memory, ds).to_arrow_refs())
            frames = [pl.from_arrow(t) for t in tables if t.num_rows]
            got = pl.concat([f for f in frames if isinstance(f, pl.DataFrame)]).sort("id")
            assert_frame_equal(got, memory.transform(df), check_dtypes=False)
    finally:
        ray.shutdown()


def test_the_documented_json_example_loads() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "imputer-json.md").read_text()
    text = doc.split("```json\n", 1)[1].split("```", 1)[0]
    imp = pmk.load(text)
    frame = pl.DataFrame({"g": ["a", "b", "b"], "x": [None, 1.0, None], "n": ["p", "q", "r"]})
    out = imp.transform(frame)
    assert out.columns == ["g", "x", "n", "missingindicator_x"]
    assert out["x"].to_list() == [1.5, 1.0, 4.75]
    # The documented statistics are those of a fit on the documented data.
    data = pl.DataFrame(
        {"g": ["a", "a", "a", "b", "b"], "x": [1.0, None, 2.0, 4.0, 5.5], "n": list("pqrst")}
    )
    fitted = pmk.SimpleImputer(by="g", add_indicator=True).fit(data)
    assert fitted.to_json() == imp.to_json()
    assert imp.to_json() == pmk.load(imp.to_json()).to_json()
