"""Fitted scalers: `pmk.MinMaxScaler`, `StandardScaler`, `RobustScaler`,
`MaxAbsScaler`, `load_scaler` (DESIGN.md, "Fitted scalers").

Every number is checked against scikit-learn's scaler fitted on the same
training data and applied to other data.
"""

from __future__ import annotations

import json
import math
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from polars.exceptions import ColumnNotFoundError, ComputeError
from polars.testing import assert_frame_equal
from polars_mlkit.scalers import IncrementalScaler, NotFittedError, Scaler, merge_fitted
from sklearn import preprocessing as skp
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

OURS = {
    "minmax": pmk.MinMaxScaler,
    "standard": pmk.StandardScaler,
    "robust": pmk.RobustScaler,
    "maxabs": pmk.MaxAbsScaler,
}
THEIRS = {
    "minmax": skp.MinMaxScaler,
    "standard": skp.StandardScaler,
    "robust": skp.RobustScaler,
    "maxabs": skp.MaxAbsScaler,
}
CASES: list[tuple[str, dict[str, Any]]] = [
    ("minmax", {}),
    ("minmax", {"feature_range": (-1.0, 2.0)}),
    ("minmax", {"feature_range": (0.0, 1.0), "clip": True}),
    ("standard", {}),
    ("standard", {"with_mean": False}),
    ("standard", {"with_std": False}),
    ("robust", {}),
    ("robust", {"with_centering": False}),
    ("robust", {"quantile_range": (10.0, 90.0)}),
    ("robust", {"quantile_range": (5.0, 95.0), "unit_variance": True}),
    ("maxabs", {}),
]
IDS = [f"{m}-{'-'.join(f'{k}={v}' for k, v in o.items()) or 'default'}" for m, o in CASES]
MERGEABLE = ("minmax", "standard", "maxabs")


def frame(matrix: np.ndarray, prefix: str = "c") -> pl.DataFrame:
    return pl.DataFrame({f"{prefix}{j}": matrix[:, j] for j in range(matrix.shape[1])})


def sklearn_fit_apply(method: str, train: np.ndarray, test: np.ndarray, **opts: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        est = THEIRS[method](**opts).fit(train)
        return est.transform(test)


def as_float(df: pl.DataFrame) -> np.ndarray:
    """Values as float64 with null -> NaN."""
    return df.select(pl.all().cast(pl.Float64).fill_null(np.nan)).to_numpy()


def generated(seed: int, n: int = 300, d: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.01, 1000.0, size=d) + rng.normal(size=d) * 100
    x[:, 1] = rng.exponential(3.0, size=n)  # skewed
    x[rng.random(n) < 0.05, 0] = np.nan
    x[:, 2] = 4.25  # constant
    return x


# --------------------------------------------------------------------------- #
# same numbers as scikit-learn
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(("method", "opts"), CASES, ids=IDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_fit_on_train_transform_test_matches_sklearn(
    method: str, opts: dict[str, Any], seed: int
) -> None:
    x = generated(seed)
    train, test = x[:200], x[200:]
    sc = OURS[method](**opts).fit(frame(train))
    got = as_float(sc.transform(frame(test)))
    expected = sklearn_fit_apply(method, train, test, **opts)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    if not opts.get("clip"):  # clipping loses information
        back = as_float(sc.inverse_transform(sc.transform(frame(test))))
        np.testing.assert_allclose(back, test, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize(("method", "opts"), CASES, ids=IDS)
@pytest.mark.parametrize("loader", [load_wine, load_diabetes], ids=["wine", "diabetes"])
def test_real_data_matches_sklearn(method: str, opts: dict[str, Any], loader: Any) -> None:
    data = loader()
    x = np.asarray(data.data, dtype=np.float64)
    rng = np.random.default_rng(7)
    order = rng.permutation(len(x))
    train, test = x[order[:100]], x[order[100:]]
    names = [str(n) for n in data.feature_names]
    to_df = lambda m: pl.DataFrame(dict(zip(names, m.T, strict=True)))  # noqa: E731
    sc = OURS[method](**opts).fit(to_df(train))
    got = sc.transform(to_df(test))
    assert got.columns == names
    expected = sklearn_fit_apply(method, train, test, **opts)
    np.testing.assert_allclose(as_float(got), expected, rtol=1e-12, atol=1e-12)


def test_params_match_sklearn_attributes() -> None:
    x = generated(3)
    df = frame(x)
    ref = skp.StandardScaler().fit(x)
    p = pmk.StandardScaler().fit(df).params_
    assert p.columns == ["column", "n_samples", "mean", "var", "scale"]
    assert p["column"].to_list() == df.columns
    np.testing.assert_allclose(p["mean"].to_numpy(), ref.mean_, rtol=1e-13)
    np.testing.assert_allclose(p["var"].to_numpy(), ref.var_, rtol=1e-12)
    np.testing.assert_allclose(p["scale"].to_numpy(), ref.scale_, rtol=1e-12)
    np.testing.assert_array_equal(p["n_samples"].to_numpy(), ref.n_samples_seen_)
    mm = skp.MinMaxScaler((-2.0, 3.0)).fit(x)
    p = pmk.MinMaxScaler(feature_range=(-2.0, 3.0)).fit(df).params_
    assert p.columns == ["column", "data_min", "data_max", "scale", "min"]
    np.testing.assert_array_equal(p["data_min"].to_numpy(), mm.data_min_)
    np.testing.assert_array_equal(p["data_max"].to_numpy(), mm.data_max_)
    np.testing.assert_allclose(p["scale"].to_numpy(), mm.scale_, rtol=1e-15)
    np.testing.assert_allclose(p["min"].to_numpy(), mm.min_, rtol=1e-15)
    rb = skp.RobustScaler(unit_variance=True).fit(x)
    p = pmk.RobustScaler(unit_variance=True).fit(df).params_
    assert p.columns == ["column", "center", "scale"]
    np.testing.assert_allclose(p["center"].to_numpy(), rb.center_, rtol=1e-14)
    np.testing.assert_allclose(p["scale"].to_numpy(), rb.scale_, rtol=1e-13)
    ma = skp.MaxAbsScaler().fit(x)
    p = pmk.MaxAbsScaler().fit(df).params_
    assert p.columns == ["column", "max_abs", "scale"]
    np.testing.assert_array_equal(p["max_abs"].to_numpy(), ma.max_abs_)
    np.testing.assert_array_equal(p["scale"].to_numpy(), ma.scale_)


@pytest.mark.parametrize("method", list(OURS))
def test_nulls_nan_and_constant_columns(method: str) -> None:
    train = pl.DataFrame(
        {
            "a": [1.0, None, 3.0, float("nan"), 7.0, 2.0],
            "const": [5.0] * 6,
            "tiny": [1.0, 1.0 + 2**-50, 1.0, 1.0, 1.0, 1.0],
        }
    )
    test = pl.DataFrame(
        {
            "a": [None, float("nan"), 4.0],
            "const": [5.0, 6.0, None],
            "tiny": [1.0, 2.0, float("nan")],
        }
    )
    out = OURS[method]().fit(train).transform(test)
    assert out["a"][0] is None
    assert np.isnan(out["a"][1])
    assert out["const"][2] is None
    assert np.isnan(out["tiny"][2])
    expected = sklearn_fit_apply(method, as_float(train), as_float(test))
    np.testing.assert_allclose(as_float(out), expected, rtol=1e-12, atol=1e-12, equal_nan=True)
    if method in ("standard", "robust"):
        assert out["const"][0] == 0.0
    if method == "minmax":
        assert out["const"][0] == 0.0


def test_near_constant_standard_follows_sklearn_test() -> None:
    rng = np.random.default_rng(11)
    x = (1e8 + rng.normal(size=(50, 1)) * 1e-9).astype(np.float64)
    got = as_float(pmk.StandardScaler().fit(frame(x)).transform(frame(x)))
    np.testing.assert_allclose(got, skp.StandardScaler().fit_transform(x), atol=1e-12)


def test_column_without_values_gets_nan_parameters() -> None:
    train = pl.DataFrame(
        {"a": [None, None], "b": [float("nan")] * 2, "c": [1.0, 2.0]},
        schema={"a": pl.Float64, "b": pl.Float64, "c": pl.Float64},
    )
    for cls in OURS.values():
        sc = cls().fit(train)
        out = sc.transform(pl.DataFrame({"a": [1.0, None], "b": [2.0, 3.0], "c": [1.0, 2.0]}))
        assert np.isnan(out["a"][0])
        assert out["a"][1] is None
        assert np.isnan(out["b"].to_numpy()).all()
        assert not np.isnan(out["c"].to_numpy()).any()


@pytest.mark.parametrize("method", list(OURS))
def test_dtypes_float32_int_decimal(method: str) -> None:
    rng = np.random.default_rng(5)
    train = pl.DataFrame(
        {
            "f32": rng.normal(10, 3, 100).astype(np.float32),
            "i": rng.integers(-50, 50, 100),
            "dec": pl.Series([Decimal(f"{v:.2f}") for v in rng.normal(size=100)]),
            "s": ["x"] * 100,
        }
    )
    sc = OURS[method]().fit(train)
    assert sc.columns_ == ["f32", "i", "dec"]  # the String column is skipped
    out = sc.transform(train)
    assert out.schema == pl.Schema(
        {"f32": pl.Float32, "i": pl.Float64, "dec": pl.Float64, "s": pl.String}
    )
    assert out["s"].to_list() == train["s"].to_list()
    x = as_float(train.drop("s"))
    expected = sklearn_fit_apply(method, x, x)
    np.testing.assert_allclose(as_float(out.select("i", "dec")), expected[:, 1:], rtol=1e-12)
    np.testing.assert_allclose(out["f32"].to_numpy(), expected[:, 0], rtol=2e-6, atol=2e-6)


def test_float32_constant_uses_float32_eps() -> None:
    # a range of 1e-6 is "zero" for float32 data (10 * eps32 ~ 1.2e-6), not float64
    train = pl.DataFrame({"x": pl.Series([1.0, 1.0 + 1e-6], dtype=pl.Float32)})
    p = pmk.MaxAbsScaler().fit(train).params_
    assert p["scale"][0] == pytest.approx(1.0, abs=1e-6)
    tiny = pl.DataFrame({"x": pl.Series([0.0, 1e-6], dtype=pl.Float32)})
    assert pmk.MinMaxScaler().fit(tiny).params_["scale"][0] == 1.0
    assert pmk.MinMaxScaler().fit(tiny.cast(pl.Float64)).params_["scale"][0] != 1.0


@pytest.mark.parametrize(("method", "opts"), CASES, ids=IDS)
@pytest.mark.parametrize("container", ["array", "list"])
def test_vector_columns_per_dimension(method: str, opts: dict[str, Any], container: str) -> None:
    rng = np.random.default_rng(9)
    m = rng.normal(size=(120, 4)) * [1.0, 10.0, 100.0, 0.1] + [0.0, 5.0, -3.0, 0.0]
    dtype = pl.Array(pl.Float64, 4) if container == "array" else pl.List(pl.Float64)
    to_df = lambda a: pl.DataFrame({"e": pl.Series(a.tolist(), dtype=dtype), "x": a[:, 0]})  # noqa: E731
    sc = OURS[method](**opts).fit(to_df(m[:80]))
    out = sc.transform(to_df(m[80:]))
    assert out.schema["e"] == dtype
    got = np.array(out["e"].to_list())
    expected = sklearn_fit_apply(method, m[:80], m[80:], **opts)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["x"].to_numpy(), expected[:, 0], rtol=1e-12, atol=1e-12)
    params = sc.params_
    assert params.schema["scale"] == pl.List(pl.Float64)
    assert [len(v) for v in params["scale"]] == [4, 1]
    if not opts.get("clip"):
        back = np.array(sc.inverse_transform(out)["e"].to_list())
        np.testing.assert_allclose(back, m[80:], rtol=1e-12, atol=1e-9)


def test_vector_float32_array_and_list_lengths() -> None:
    e = pl.Series([[1.0, 2.0], [3.0, None], None], dtype=pl.Array(pl.Float32, 2))
    out = pmk.MinMaxScaler().fit_transform(pl.DataFrame({"e": e}))
    assert out.schema["e"] == pl.Array(pl.Float32, 2)
    assert out["e"].to_list() == [[0.0, 0.0], [1.0, None], None]
    bad = pl.DataFrame({"e": [[1.0, 2.0], [1.0, 2.0, 3.0]]})
    with pytest.raises(ValueError, match=r"MinMaxScaler.fit: .*'e'.*different lengths \(2 and 3\)"):
        pmk.MinMaxScaler().fit(bad)


# --------------------------------------------------------------------------- #
# per-group parameters
# --------------------------------------------------------------------------- #
def grouped_data(seed: int, n: int = 400) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b", "c"], n)
    h = rng.choice([1, 2, None], n)
    x = rng.normal(size=n) * np.select([g == "a", g == "b"], [1.0, 10.0], 100.0)
    y = rng.exponential(size=n)
    e = rng.normal(size=(n, 3))
    return pl.DataFrame(
        {
            "g": g,
            "h": pl.Series(h.tolist(), dtype=pl.Int64),
            "x": x,
            "y": y,
            "e": pl.Series(e.tolist(), dtype=pl.Array(pl.Float64, 3)),
        }
    )


@pytest.mark.parametrize(("method", "opts"), CASES, ids=IDS)
def test_by_groups_match_per_group_sklearn(method: str, opts: dict[str, Any]) -> None:
    df = grouped_data(1)
    train, test = df[:300], df[300:]
    sc = OURS[method](by=["g", "h"], **opts).fit(train)
    assert sc.columns_ == ["x", "y", "e"]
    out = sc.transform(test)
    assert out.columns == test.columns
    assert_frame_equal(out.select("g", "h"), test.select("g", "h"))
    for (g, h), part in test.with_row_index().group_by("g", "h"):
        mask = train.select((pl.col("g") == g) & pl.col("h").eq_missing(h)).to_series()
        fit_on = train.filter(mask)
        mat = lambda f: np.column_stack(  # noqa: E731
            [f["x"].to_numpy(), f["y"].to_numpy(), np.array(f["e"].to_list())]
        )
        expected = sklearn_fit_apply(method, mat(fit_on), mat(part), **opts)
        got = out[part["index"].to_list()]
        np.testing.assert_allclose(mat(got), expected, rtol=1e-12, atol=1e-12)
    params = sc.params_
    assert params.columns[:3] == ["column", "g", "h"]
    assert params.schema["h"] == pl.Int64
    assert params.height == 3 * train.select("g", "h").n_unique()


def test_unknown_group_error_names_group_and_null_option() -> None:
    train = pl.DataFrame({"g": ["a", "b", "a"], "x": [1.0, 2.0, 3.0]})
    test = pl.DataFrame({"g": ["a", "zz"], "x": [1.0, 2.0]})
    sc = pmk.StandardScaler(by="g").fit(train)
    with pytest.raises(ComputeError, match=r'StandardScaler.transform: group "zz" was not seen'):
        sc.transform(test)
    lazy = sc.transform(test.lazy())
    assert isinstance(lazy, pl.LazyFrame)
    with pytest.raises(ComputeError, match="zz"):
        lazy.collect()
    out = pmk.StandardScaler(by="g", unknown_group="null").fit(train).transform(test)
    assert out["x"].to_list() == [-1.0, None]


def test_null_group_is_its_own_group() -> None:
    train = pl.DataFrame({"g": [None, None, "a", "a"], "x": [1.0, 3.0, 10.0, 30.0]})
    out = pmk.MinMaxScaler(by="g").fit(train).transform(train)
    assert out["x"].to_list() == [0.0, 1.0, 0.0, 1.0]


# --------------------------------------------------------------------------- #
# partial_fit
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("method", MERGEABLE)
@pytest.mark.parametrize("by", [None, ["g"]])
def test_partial_fit_equals_fit_on_all(method: str, by: list[str] | None) -> None:
    df = grouped_data(4).drop("h")
    full = OURS[method](by=by).fit(df)
    # batches of different sizes; group "c" absent from the first batch
    first = df.filter(pl.col("g") != "c")[:50]
    rest = df.join(first.with_row_index("__i"), on=df.columns, how="anti")
    inc = OURS[method](by=by)
    for batch in (first, rest[:7], rest[7:200], rest[200:]):
        inc.partial_fit(batch)
    assert inc.n_samples_seen_ == full.n_samples_seen_ == df.height
    a, b = inc.params_, full.params_
    if method == "standard":
        assert_frame_equal(a, b, check_exact=False, rel_tol=1e-12, abs_tol=1e-15)
    else:
        assert_frame_equal(a, b, check_exact=True)
    got, expected = inc.transform(df), full.transform(df)
    assert_frame_equal(got, expected, check_exact=method != "standard", rel_tol=1e-12)


def test_partial_fit_standard_matches_sklearn_partial_fit() -> None:
    x = generated(8)
    ours, theirs = pmk.StandardScaler(), skp.StandardScaler()
    for part in np.array_split(x, 5):
        ours.partial_fit(frame(part))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            theirs.partial_fit(part)
    np.testing.assert_allclose(
        as_float(ours.transform(frame(x))), theirs.transform(x), rtol=1e-12, atol=1e-12
    )


def test_robust_scaler_has_no_partial_fit() -> None:
    # As scikit-learn's: exact quantiles do not merge, so there is no method to call.
    assert not hasattr(pmk.RobustScaler(), "partial_fit")
    assert hasattr(pmk.MinMaxScaler(), "partial_fit")


def test_partial_fit_rejects_other_columns() -> None:
    sc = pmk.MinMaxScaler().partial_fit(pl.DataFrame({"x": [1.0]}))
    with pytest.raises(ValueError, match="partial_fit: the batch's columns"):
        sc.partial_fit(pl.DataFrame({"y": [1.0]}))


@pytest.mark.parametrize("method", MERGEABLE)
@pytest.mark.parametrize("by", [None, ["g"]])
def test_merge_fitted_equals_partial_fit(method: str, by: list[str] | None) -> None:
    df = grouped_data(4).drop("h")
    batches = (df[:50], df[50:57], df[57:])
    parts = [OURS[method](by=by).fit(batch) for batch in batches]
    merged = merge_fitted(OURS[method](by=by), parts, "merge")
    inc = OURS[method](by=by)
    for batch in batches:
        inc.partial_fit(batch)
    assert merged.n_samples_seen_ == inc.n_samples_seen_ == df.height
    assert_frame_equal(merged.params_, inc.params_, check_exact=True)


def test_merge_fitted_refuses_what_does_not_merge() -> None:
    df = pl.DataFrame({"x": [1.0, 2.0]})
    assert isinstance(pmk.RobustScaler(), Scaler)
    assert not isinstance(pmk.RobustScaler(), IncrementalScaler)
    with pytest.raises(TypeError, match="merge: the statistics of a RobustScaler do not merge"):
        merge_fitted(pmk.RobustScaler(), [pmk.RobustScaler().fit(df)], "merge")
    with pytest.raises(TypeError, match="merge: cannot merge a StandardScaler into a MinMaxScaler"):
        merge_fitted(pmk.MinMaxScaler(), [pmk.StandardScaler().fit(df)], "merge")
    with pytest.raises(NotFittedError):
        merge_fitted(pmk.MinMaxScaler(), [pmk.MinMaxScaler()], "merge")
    with pytest.raises(ValueError, match="merge: no data to fit"):
        merge_fitted(pmk.MinMaxScaler(), [], "merge")


# --------------------------------------------------------------------------- #
# JSON
# --------------------------------------------------------------------------- #
def _bits_equal(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.schema == b.schema
    for name in a.columns:
        s, t = a[name], b[name]
        if isinstance(s.dtype, (pl.Array, pl.List)):
            s, t = s.explode(), t.explode()
        if s.dtype.is_float():
            view = np.uint32 if s.dtype == pl.Float32 else np.uint64
            assert s.is_null().to_list() == t.is_null().to_list()
            np.testing.assert_array_equal(
                s.fill_null(0).to_numpy().view(view), t.fill_null(0).to_numpy().view(view)
            )
        else:
            assert s.to_list() == t.to_list()


@pytest.mark.parametrize(("method", "opts"), CASES, ids=IDS)
@pytest.mark.parametrize("by", [None, ["g", "h"]])
def test_json_round_trip_is_bit_identical(
    method: str, opts: dict[str, Any], by: list[str] | None
) -> None:
    df = grouped_data(2).with_columns(
        pl.col("y").cast(pl.Float32), pl.col("e").cast(pl.List(pl.Float64))
    )
    sc = OURS[method](by=by, **opts).fit(df[:300])
    text = sc.to_json()
    doc = json.loads(text)
    assert (doc["format"], doc["version"], doc["kind"]) == (
        "polars-mlkit/scaler",
        2,
        type(sc).__name__,
    )
    again = pmk.load_scaler(text)
    assert type(again) is type(sc)
    assert again.get_params() == {**sc.get_params(), "by": by}
    assert again.to_json() == text
    _bits_equal(again.transform(df), sc.transform(df))
    _bits_equal(again.inverse_transform(df), sc.inverse_transform(df))
    assert_frame_equal(again.params_, sc.params_)
    if method in MERGEABLE:
        more = df[300:]
        assert_frame_equal(
            again.partial_fit(more).params_, sc.partial_fit(more).params_, check_exact=True
        )


def _v1_document(kind: str, options: dict[str, Any], statistics: dict[str, Any]) -> str:
    return json.dumps(
        {
            "format": "polars-mlkit/scaler",
            "version": 1,
            "kind": kind,
            "options": {"columns": None, "by": None, "unknown_group": "error", **options},
            "columns": [{"name": "x", "dtype": "Float64", "container": "scalar", "width": 0}],
            "by": [],
            "groups": [],
            "statistics": {"x": statistics},
            "feature_names_in": ["x"],
            "n_features_in": 1,
            "n_samples_seen": 4,
        }
    )


def test_version_1_documents_still_load() -> None:
    """Version 1 kept moments without their extent and unit, and robust
    percentiles with ``absmax``; such a document scales as it did."""
    x = pl.DataFrame({"x": [1.0, 2.0, 4.0, 9.0]})
    standard = pmk.load_scaler(
        _v1_document(
            "StandardScaler",
            {"with_mean": True, "with_std": True, "ddof": 0},
            {"count": [[4.0]], "mean": [[4.0]], "m2": [[38.0]]},
        )
    )
    want = (x["x"].to_numpy() - 4.0) / math.sqrt(38.0 / 4.0)
    np.testing.assert_array_equal(standard.transform(x)["x"].to_numpy(), want)
    assert json.loads(standard.to_json())["version"] == 2
    robust = pmk.load_scaler(
        _v1_document(
            "RobustScaler",
            {
                "with_centering": True,
                "with_scaling": True,
                "quantile_range": [25.0, 75.0],
                "unit_variance": False,
            },
            {
                "count": [[4.0]],
                "median": [[3.0]],
                "q_low": [[1.75]],
                "q_high": [[5.25]],
                "absmax": [[9.0]],
            },
        )
    )
    np.testing.assert_array_equal(
        robust.transform(x)["x"].to_numpy(), (x["x"].to_numpy() - 3.0) / 3.5
    )
    assert_frame_equal(robust.params_, pmk.RobustScaler().fit(x).params_)


def test_load_scaler_errors() -> None:
    text = pmk.MaxAbsScaler().fit(pl.DataFrame({"x": [1.0, -2.0]})).to_json()
    doc = json.loads(text)
    with pytest.raises(ValueError, match=r"load_scaler: format version 3 is not supported"):
        pmk.load_scaler(json.dumps({**doc, "version": 3}))
    with pytest.raises(ValueError, match="load_scaler: format must be"):
        pmk.load_scaler(json.dumps({**doc, "format": "sklearn"}))
    with pytest.raises(ValueError, match="load_scaler: unknown kind 'Foo'"):
        pmk.load_scaler(json.dumps({**doc, "kind": "Foo"}))
    with pytest.raises(ValueError, match="load_scaler: the text is not valid JSON"):
        pmk.load_scaler(text[:-5])
    with pytest.raises(ValueError, match="load_scaler: malformed MaxAbsScaler"):
        pmk.load_scaler(json.dumps({k: v for k, v in doc.items() if k != "statistics"}))
    broken = {**doc, "statistics": {"x": {"count": [[1.0]], "min": [[1.0, 2.0]], "max": [[1]]}}}
    with pytest.raises(ValueError, match="load_scaler: statistic 'min' of column 'x'"):
        pmk.load_scaler(json.dumps(broken))


# --------------------------------------------------------------------------- #
# lazy, streaming, out of core, serialized plans
# --------------------------------------------------------------------------- #
def test_lazyframe_in_lazyframe_out_and_fit_on_lazy() -> None:
    df = grouped_data(3)
    sc = pmk.StandardScaler(by="g").fit(df.lazy())
    eager = pmk.StandardScaler(by="g").fit(df)
    assert_frame_equal(sc.params_, eager.params_)
    out = sc.transform(df.lazy())
    assert isinstance(out, pl.LazyFrame)
    assert isinstance(sc.inverse_transform(df.lazy()), pl.LazyFrame)
    assert_frame_equal(out.collect(engine="streaming"), eager.transform(df))
    assert_frame_equal(out.collect(engine="in-memory"), eager.transform(df))


def test_parquet_scan_sink_streams_and_equals_eager(tmp_path: Path) -> None:
    df = grouped_data(6, n=20_000)
    src, dst = tmp_path / "in.parquet", tmp_path / "out.parquet"
    df.write_parquet(src, row_group_size=1_000)
    for sc in (pmk.MinMaxScaler(by="g"), pmk.StandardScaler(), pmk.RobustScaler(by=["g", "h"])):
        sc.fit(pl.scan_parquet(src))
        pl.scan_parquet(src).with_columns(sc.expressions()).sink_parquet(dst)
        assert_frame_equal(pl.read_parquet(dst), sc.transform(df))
        # elementwise: a slice of the streamed scan equals the slice of the result
        part = pl.scan_parquet(src).with_columns(sc.expressions()).slice(5_000, 3_000)
        assert_frame_equal(part.collect(engine="streaming"), sc.transform(df)[5_000:8_000])


def test_serialized_plan_round_trip_with_ml_expressions() -> None:
    df = grouped_data(7)
    sc = pmk.StandardScaler(columns=["x", "e"], by="g").fit(df)
    mm = pmk.MinMaxScaler(columns="y").fit(df)
    lf = (
        df.lazy()
        .with_columns(sc.expressions())
        .with_columns(mm.expressions())
        .with_columns(
            pl.col("x").ml.normalize().alias("xn"),
            pl.col("e").ml.cosine_similarity([1.0, 0.5, -2.0]).alias("cos"),
        )
    )
    blob = lf.serialize()
    assert isinstance(blob, bytes)
    again = pl.LazyFrame.deserialize(blob)
    assert_frame_equal(again.collect(), lf.collect())
    assert_frame_equal(
        again.collect().select("x", "e", "y"),
        mm.transform(sc.transform(df)).select("x", "e", "y"),
    )


# --------------------------------------------------------------------------- #
# scikit-learn conventions
# --------------------------------------------------------------------------- #
def test_pipeline_on_polars_wine_matches_sklearn() -> None:
    data = load_wine()
    names = [str(n) for n in data.feature_names]
    x = pl.DataFrame(dict(zip(names, np.asarray(data.data).T, strict=True)))
    y = data.target
    ours = Pipeline(
        [("scale", pmk.StandardScaler()), ("clf", LogisticRegression(max_iter=2000))]
    ).fit(x, y)
    theirs = Pipeline(
        [("scale", skp.StandardScaler()), ("clf", LogisticRegression(max_iter=2000))]
    ).fit(x.to_numpy(), y)
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x.to_numpy()))
    np.testing.assert_allclose(
        ours.predict_proba(x), theirs.predict_proba(x.to_numpy()), rtol=1e-6, atol=1e-8
    )
    assert list(ours[:-1].get_feature_names_out()) == names


def test_column_transformer_with_polars_output() -> None:
    df = grouped_data(8).select("x", "y", "g")
    ct = ColumnTransformer(
        [
            ("mm", pmk.MinMaxScaler(), ["x"]),
            ("std", pmk.StandardScaler(), ["y"]),
        ],
        remainder="passthrough",
    ).set_output(transform="polars")
    out = ct.fit_transform(df)
    assert isinstance(out, pl.DataFrame)
    assert out.columns == ["mm__x", "std__y", "remainder__g"]
    x, y = df["x"].to_numpy()[:, None], df["y"].to_numpy()[:, None]
    np.testing.assert_allclose(out["mm__x"], skp.MinMaxScaler().fit_transform(x).ravel())
    np.testing.assert_allclose(out["std__y"], skp.StandardScaler().fit_transform(y).ravel())


def test_clone_get_set_params_and_repr() -> None:
    sc = pmk.RobustScaler(columns=["a"], quantile_range=(10.0, 90.0))
    assert sc.get_params() == {
        "columns": ["a"],
        "by": None,
        "with_centering": True,
        "with_scaling": True,
        "quantile_range": (10.0, 90.0),
        "unit_variance": False,
        "unknown_group": "error",
    }
    twin = clone(sc)
    assert type(twin) is pmk.RobustScaler
    assert twin.get_params() == sc.get_params()
    assert sc.set_params(with_scaling=False) is sc
    assert not sc.with_scaling
    assert (
        repr(sc) == "RobustScaler(columns=['a'], with_scaling=False, quantile_range=(10.0, 90.0))"
    )
    with pytest.raises(ValueError, match="invalid parameter 'nope'"):
        sc.set_params(nope=1)
    fitted = pmk.MinMaxScaler().fit(pl.DataFrame({"x": [1.0, 2.0]}))
    assert not hasattr(clone(fitted), "_state") or clone(fitted)._state is None


def test_not_fitted_error() -> None:
    sc = pmk.StandardScaler()
    for call in (
        lambda: sc.transform(pl.DataFrame({"x": [1.0]})),
        sc.expressions,
        lambda: sc.params_,
        sc.to_json,
        sc.get_feature_names_out,
    ):
        with pytest.raises(NotFittedError, match="StandardScaler instance is not fitted yet"):
            call()
    assert issubclass(NotFittedError, ValueError)
    assert issubclass(NotFittedError, AttributeError)
    from sklearn.utils.validation import check_is_fitted

    with pytest.raises(Exception, match="not fitted"):
        check_is_fitted(sc)
    check_is_fitted(sc.fit(pl.DataFrame({"x": [1.0]})))


def test_fitted_attributes_and_feature_names() -> None:
    df = pl.DataFrame({"a": [1.0, 2.0], "s": ["u", "v"], "b": [3, 4]})
    sc = pmk.MaxAbsScaler().fit(df)
    assert sc.n_features_in_ == 3
    assert list(sc.feature_names_in_) == ["a", "s", "b"]
    assert list(sc.get_feature_names_out()) == ["a", "s", "b"]
    assert list(sc.get_feature_names_out(["a", "s", "b"])) == ["a", "s", "b"]
    with pytest.raises(ValueError, match="input_features is not equal"):
        sc.get_feature_names_out(["x", "y", "z"])
    assert sc.columns_ == ["a", "b"]


def test_set_output_and_numpy_input(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.array([[1.0, 10.0], [3.0, 30.0]])
    sc = pmk.MinMaxScaler()
    out = sc.fit_transform(x)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, [[0.0, 0.0], [1.0, 1.0]])
    assert list(sc.get_feature_names_out()) == ["x0", "x1"]
    assert sc.set_output(transform="polars") is sc
    assert isinstance(sc.transform(x), pl.DataFrame)
    assert sc.set_output(transform=None) is sc
    with pytest.raises(ValueError, match="transform must be"):
        sc.set_output(transform="arrow")
    import importlib.util

    if importlib.util.find_spec("pandas") is not None:
        got = sc.set_output(transform="pandas").transform(pl.DataFrame({"x0": [2.0], "x1": [0]}))
        assert type(got).__name__ == "DataFrame"
        assert type(got).__module__.startswith("pandas")
        assert got["x0"].tolist() == [0.5]
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "pandas" else real(n, *a)
    )
    with pytest.raises(ImportError, match="needs pandas"):
        pmk.MinMaxScaler().set_output(transform="pandas")


# --------------------------------------------------------------------------- #
# errors
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("method", list(OURS))
def test_infinity_is_an_error_naming_scaler_and_column(method: str) -> None:
    df = pl.DataFrame({"ok": [1.0, 2.0, 3.0], "bad": [1.0, float("-inf"), 2.0]})
    name = OURS[method].__name__
    with pytest.raises(ValueError, match=rf"{name}.fit: column 'bad' contains infinity"):
        OURS[method]().fit(df)
    vec = pl.DataFrame({"e": pl.Series([[1.0, float("inf")]], dtype=pl.Array(pl.Float64, 2))})
    with pytest.raises(ValueError, match=rf"{name}.fit: column 'e' contains infinity"):
        OURS[method]().fit(vec)


def test_argument_errors_before_any_query() -> None:
    df = pl.DataFrame({"x": [1.0, 2.0], "s": ["a", "b"]})
    with pytest.raises(ValueError, match="feature_range minimum must be smaller"):
        pmk.MinMaxScaler(feature_range=(1.0, 0.0)).fit(df)
    with pytest.raises(ValueError, match="ddof must be >= 0"):
        pmk.StandardScaler(ddof=-1).fit(df)
    with pytest.raises(ValueError, match="quantile_range"):
        pmk.RobustScaler(quantile_range=(80.0, 20.0)).fit(df)
    with pytest.raises(ValueError, match="unknown_group must be"):
        pmk.MaxAbsScaler(unknown_group="drop").fit(df)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"column 's' has dtype String"):
        pmk.StandardScaler(columns=["x", "s"]).fit(df)
    with pytest.raises(ColumnNotFoundError, match="column 'nope' is not in the frame"):
        pmk.StandardScaler(columns=["nope"]).fit(df)
    with pytest.raises(ColumnNotFoundError, match="by column 'g'"):
        pmk.StandardScaler(by="g").fit(df)
    with pytest.raises(TypeError, match="expected a polars DataFrame"):
        pmk.StandardScaler().fit({"x": [1.0]})
    # Lists of rows are array-likes, as in scikit-learn.
    assert pmk.StandardScaler().fit([[1.0], [3.0]]).params_["mean"].to_list() == [2.0]


def test_ddof_and_small_groups() -> None:
    df = pl.DataFrame({"g": ["a", "b", "b"], "x": [5.0, 1.0, 3.0]})
    p = pmk.StandardScaler(by="g", ddof=1).fit(df).params_
    assert p["scale"].to_list() == [1.0, pytest.approx(2**0.5)]
    assert p["var"].to_list() == [0.0, 2.0]


# --------------------------------------------------------------------------- #
# RobustScaler beyond memory: two passes over the batches of a LazyFrame
# --------------------------------------------------------------------------- #
ROBUST_OPTIONS = [
    {},
    {"quantile_range": (10.0, 90.0), "unit_variance": True},
    {"with_centering": False, "quantile_range": (0.0, 100.0)},
]


@pytest.mark.parametrize("opts", ROBUST_OPTIONS)
@pytest.mark.parametrize("by", [None, ["g", "h"]])
def test_robust_fit_on_lazy_batches_equals_in_memory(
    opts: dict[str, Any], by: list[str] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A LazyFrame is read in batches (here of 97 rows, so the censuses of
    many batches merge); the parameters are those of the in-memory fit bit
    for bit, for scalar, Float32, Array and List columns with nulls and NaN."""
    monkeypatch.setattr("polars_mlkit._batches.BATCH_ROWS", 97)
    df = grouped_data(7, n=1000).with_columns(
        pl.col("y").cast(pl.Float32),
        pl.col("e").cast(pl.List(pl.Float64)).alias("l"),
        pl.when(pl.int_range(pl.len()) % 13 == 0).then(float("nan")).otherwise("x").alias("x"),
    )
    memory = pmk.RobustScaler(by=by, **opts).fit(df)
    lazy = pmk.RobustScaler(by=by, **opts).fit(df.lazy())
    assert lazy.to_json() == memory.to_json()
    assert_frame_equal(lazy.params_, memory.params_, check_exact=True)
    assert lazy.n_samples_seen_ == df.height


def test_robust_fit_on_lazy_batches_edge_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("polars_mlkit._batches.BATCH_ROWS", 3)
    empty = pl.DataFrame({"x": pl.Series([], dtype=pl.Float64)})
    assert pmk.RobustScaler().fit(empty.lazy()).to_json() == pmk.RobustScaler().fit(empty).to_json()
    nan_only = pl.DataFrame({"x": [None, float("nan"), 1.0, float("nan")]})
    assert (
        pmk.RobustScaler().fit(nan_only.lazy()).to_json()
        == pmk.RobustScaler().fit(nan_only).to_json()
    )
    with pytest.raises(ValueError, match=r"RobustScaler.fit: column 'x' contains infinity"):
        pmk.RobustScaler().fit(pl.LazyFrame({"x": [1.0, 2.0, 3.0, float("inf")]}))


@pytest.mark.parametrize("budget", [1 << 20, 10, 0])
def test_robust_fit_on_crowded_and_tied_values(
    budget: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values that share their first order-key bits (all in [1000, 1004))
    and heavy ties: the refining passes (forced by a small gather budget)
    still give the in-memory parameters bit for bit."""
    monkeypatch.setattr("polars_mlkit._batches.BATCH_ROWS", 101)
    monkeypatch.setattr("polars_mlkit.scalers._passes.GATHER_VALUES", budget)
    rng = np.random.default_rng(21)
    df = pl.DataFrame(
        {
            "crowded": 1000.0 + 4.0 * rng.random(2000),
            "tied": rng.integers(0, 3, 2000).astype(float),
            "g": rng.integers(0, 2, 2000),
        }
    )
    for opts in ({}, {"by": "g", "quantile_range": (5.0, 95.0)}):
        memory = pmk.RobustScaler(**opts).fit(df)
        lazy = pmk.RobustScaler(**opts).fit(df.lazy())
        assert lazy.to_json() == memory.to_json()


def test_fit_in_passes_over_any_batches() -> None:
    """The public driver: any ``map_batches`` (here a list of frames)."""
    from polars_mlkit.scalers import fit_in_passes

    frames = [grouped_data(s, n=50 + 30 * s) for s in range(4)]
    whole = pl.concat(frames)

    def map_batches(fn: Any) -> Any:
        return (fn(f) for f in frames)

    for cls, opts in (
        (pmk.RobustScaler, {"by": "g"}),
        (pmk.MinMaxScaler, {}),
        (pmk.MaxAbsScaler, {"by": "g"}),
    ):
        fitted = fit_in_passes(cls(**opts), whole.schema, map_batches)
        assert_frame_equal(fitted.params_, cls(**opts).fit(whole).params_, check_exact=True)
    standard = fit_in_passes(pmk.StandardScaler(), whole.schema, map_batches)
    assert_frame_equal(standard.params_, pmk.StandardScaler().fit(whole).params_, rel_tol=1e-12)
