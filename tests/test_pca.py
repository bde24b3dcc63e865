"""`pmk.PCA` against scikit-learn's `PCA(svd_solver="covariance_eigh")`,
and `ml.truncate_dim` against numpy (DESIGN.md, "Reduction and whole
pipelines")."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from polars.testing import assert_frame_equal
from sklearn import datasets
from sklearn.decomposition import PCA as SkPCA

LOADERS: dict[str, Callable[..., Any]] = {
    "wine": datasets.load_wine,
    "breast_cancer": datasets.load_breast_cancer,
    "diabetes": datasets.load_diabetes,
    "digits": datasets.load_digits,
}


def bundled(name: str) -> np.ndarray[Any, Any]:
    return np.asarray(LOADERS[name]().data, dtype=np.float64)


def offset_data(n: int = 3000, d: int = 12, seed: int = 0) -> np.ndarray[Any, Any]:
    """Correlated rows with a mean far larger than their spread."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) * np.linspace(3.0, 0.1, d)[:, None]
    return rng.normal(size=(n, d)) @ mixing + 1e6 * (1.0 + np.arange(d))


def frame(x: np.ndarray[Any, Any]) -> pl.DataFrame:
    return pl.DataFrame({f"f{j}": x[:, j] for j in range(x.shape[1])})


def vectors(x: np.ndarray[Any, Any], name: str = "e") -> pl.DataFrame:
    dtype = pl.Float32 if x.dtype == np.float32 else pl.Float64
    return pl.DataFrame({name: pl.Series(x, dtype=pl.Array(dtype, x.shape[1]))})


def separated(values: np.ndarray[Any, Any], gap: float = 1e-6) -> np.ndarray[Any, Any]:
    """Which eigenvalues are apart from every other by `gap` of the largest
    (only their eigenvectors are determined)."""
    scale = values[0] if values[0] > 0 else 1.0
    diffs = np.abs(values[:, None] - values[None, :])
    np.fill_diagonal(diffs, np.inf)
    return np.asarray(diffs.min(axis=1) > gap * scale)


def assert_like_sklearn(ours: pmk.PCA, sk: SkPCA, comp_tol: float = 1e-7) -> None:
    assert ours.n_components_ == sk.n_components_
    assert ours.n_samples_ == sk.n_samples_
    # Centred data (diabetes) have means near 0: an absolute floor.
    np.testing.assert_allclose(ours.mean_, sk.mean_, rtol=1e-12, atol=1e-15)
    ev_scale = max(float(sk.explained_variance_.max(initial=0.0)), 1e-300)
    np.testing.assert_allclose(
        ours.explained_variance_, sk.explained_variance_, rtol=1e-10, atol=1e-11 * ev_scale
    )
    np.testing.assert_allclose(
        ours.explained_variance_ratio_, sk.explained_variance_ratio_, rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(
        ours.singular_values_,
        sk.singular_values_,
        rtol=1e-10,
        atol=1e-6 * np.sqrt(ev_scale * sk.n_samples_),
    )
    np.testing.assert_allclose(
        ours.noise_variance_, sk.noise_variance_, rtol=1e-9, atol=1e-11 * ev_scale
    )
    assert ours.components_.shape == sk.components_.shape
    keep = separated(np.asarray(sk.explained_variance_))
    np.testing.assert_allclose(ours.components_[keep], sk.components_[keep], rtol=0, atol=comp_tol)


# ---------------------------------------------------------------- the fit


@pytest.mark.parametrize("name", list(LOADERS))
@pytest.mark.parametrize("n_components", [None, 3, 0.9, "mle"])
def test_bundled_data_like_sklearn(name: str, n_components: Any) -> None:
    x = bundled(name)
    sk = SkPCA(n_components=n_components, svd_solver="covariance_eigh").fit(x)
    ours = pmk.PCA(n_components=n_components).fit(frame(x))
    assert_like_sklearn(ours, sk)
    assert list(ours.get_feature_names_out()) == list(sk.get_feature_names_out())


@pytest.mark.parametrize("whiten", [False, True])
@pytest.mark.parametrize("name", ["wine", "digits"])
def test_transform_and_inverse_like_sklearn(name: str, whiten: bool) -> None:
    x = bundled(name)
    sk = SkPCA(n_components=5, whiten=whiten, svd_solver="covariance_eigh").fit(x)
    ours = pmk.PCA(n_components=5, whiten=whiten).fit(frame(x))
    out = ours.transform(frame(x))
    assert out.columns == [f"pca{i}" for i in range(5)]
    expected = sk.transform(x)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(out.to_numpy(), expected, rtol=0, atol=1e-7 * scale)
    back = ours.inverse_transform(out)
    assert back.columns == [f"f{j}" for j in range(x.shape[1])]
    np.testing.assert_allclose(
        back.to_numpy(), sk.inverse_transform(expected), rtol=0, atol=1e-7 * np.abs(x).max()
    )
    # numpy in, numpy out, as scikit-learn.
    np.testing.assert_allclose(ours.fit(x).transform(x), expected, rtol=0, atol=1e-7 * scale)


def test_large_mean_offset_is_exact() -> None:
    x = offset_data()
    ours = pmk.PCA().fit(frame(x))
    # The SVD of the centred data is the accurate reference here; the
    # covariance_eigh solver's Xᵀ X - n μ μᵀ loses digits to the offset.
    full = SkPCA(svd_solver="full").fit(x)
    np.testing.assert_allclose(ours.mean_, full.mean_, rtol=1e-13)
    np.testing.assert_allclose(ours.explained_variance_, full.explained_variance_, rtol=1e-9)
    keep = separated(full.explained_variance_)
    np.testing.assert_allclose(ours.components_[keep], full.components_[keep], atol=1e-8)
    eigh = SkPCA(svd_solver="covariance_eigh").fit(x)
    ours_err = np.abs(ours.explained_variance_ - full.explained_variance_).max()
    eigh_err = np.abs(eigh.explained_variance_ - full.explained_variance_).max()
    assert ours_err <= eigh_err


def test_float32_input() -> None:
    x = bundled("breast_cancer").astype(np.float32)
    exact = SkPCA(n_components=4, svd_solver="covariance_eigh").fit(x.astype(np.float64))
    ours = pmk.PCA(n_components=4).fit(vectors(x))
    # Float32 rows multiply in f32 (1,024 rows per block): errors of about
    # 1e-7 of the largest variance, far below scikit-learn's float32 fit.
    top = exact.explained_variance_[0]
    np.testing.assert_allclose(
        ours.explained_variance_, exact.explained_variance_, rtol=1e-5, atol=1e-6 * top
    )
    sk32 = SkPCA(n_components=4, svd_solver="covariance_eigh").fit(x)
    ours_err = np.abs(ours.explained_variance_ - exact.explained_variance_).max()
    assert ours_err <= np.abs(sk32.explained_variance_ - exact.explained_variance_).max()
    np.testing.assert_allclose(np.abs(ours.components_), np.abs(exact.components_), atol=1e-4)
    out = ours.transform(vectors(x))
    assert out.schema == pl.Schema({"e": pl.Array(pl.Float32, 4)})
    assert sk32.transform(x).dtype == np.float32
    assert pmk.PCA(n_components=4).fit(x).transform(x).dtype == np.float32
    expected = exact.transform(x.astype(np.float64))
    got = np.asarray(out["e"].to_list())
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * np.abs(expected).max())


def test_vector_column_equals_scalar_columns() -> None:
    x = bundled("wine")
    by_columns = pmk.PCA(n_components=4).fit(frame(x))
    by_vector = pmk.PCA(n_components=4).fit(vectors(x))
    np.testing.assert_array_equal(by_columns.components_, by_vector.components_)
    np.testing.assert_array_equal(by_columns.explained_variance_, by_vector.explained_variance_)
    as_list = pl.DataFrame({"e": x.tolist()})
    np.testing.assert_array_equal(
        pmk.PCA(n_components=4).fit(as_list).components_, by_vector.components_
    )
    out = by_vector.transform(vectors(x))
    assert out.schema == pl.Schema({"e": pl.Array(pl.Float64, 4)})
    np.testing.assert_allclose(
        np.asarray(out["e"].to_list()), by_columns.transform(frame(x)).to_numpy(), rtol=1e-13
    )
    assert by_vector.transform(as_list).schema == pl.Schema({"e": pl.List(pl.Float64)})
    back = by_vector.inverse_transform(out)
    assert back.schema == pl.Schema({"e": pl.Array(pl.Float64, 13)})


def test_other_columns_pass_through_in_place() -> None:
    x = bundled("diabetes")[:, :4]
    df = frame(x).with_columns(pl.Series("id", range(len(x)))).select("id", "f0", "f1", "f2", "f3")
    df = df.with_columns(pl.lit("z").alias("s"))
    pca = pmk.PCA(n_components=2, columns=["f0", "f1", "f2", "f3"]).fit(df)
    assert pca.columns_ == ["f0", "f1", "f2", "f3"]
    assert pca.transform(df).columns == ["id", "pca0", "pca1", "s"]
    assert pmk.PCA().fit(df.drop("s")).columns_ == ["id", "f0", "f1", "f2", "f3"]


# ------------------------------------------------------- merges and passes


def test_partial_fit_and_batches_equal_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    x = offset_data(n=5000, d=9, seed=3)
    whole = pmk.PCA(n_components=5).fit(vectors(x))
    partial = pmk.PCA(n_components=5)
    for start in range(0, len(x), 1234):
        partial.partial_fit(vectors(x[start : start + 1234]))
    monkeypatch.setattr("polars_mlkit._batches.BATCH_ROWS", 700)
    lazy = pmk.PCA(n_components=5).fit(vectors(x).lazy())
    for other in (partial, lazy):
        np.testing.assert_allclose(other.mean_, whole.mean_, rtol=1e-15)
        np.testing.assert_allclose(other.explained_variance_, whole.explained_variance_, rtol=1e-10)
        np.testing.assert_allclose(other.components_, whole.components_, atol=1e-9)
        assert other.n_samples_ == whole.n_samples_


def test_chunked_and_sliced_input() -> None:
    x = bundled("wine")
    whole = pmk.PCA().fit(vectors(x))
    chunked = pl.concat([vectors(x[:50]), vectors(x[50:51]), vectors(x[51:])], rechunk=False)
    assert chunked["e"].n_chunks() == 3
    np.testing.assert_array_equal(pmk.PCA().fit(chunked).components_, whole.components_)
    padded = vectors(np.vstack([np.zeros((7, 13)), x, np.ones((5, 13))]))
    np.testing.assert_array_equal(
        pmk.PCA().fit(padded.slice(7, len(x))).components_, whole.components_
    )
    chunked_cols = pl.concat([frame(x[:60]), frame(x[60:])], rechunk=False)
    np.testing.assert_array_equal(pmk.PCA().fit(chunked_cols).components_, whole.components_)


def test_rows_with_nulls_are_left_out() -> None:
    x = bundled("wine")
    df = frame(x)
    holes = df.with_columns(
        pl.when(pl.int_range(pl.len()) % 10 == 3).then(None).otherwise(pl.col("f2")).alias("f2")
    )
    kept = holes.drop_nulls()
    a = pmk.PCA(n_components=3).fit(holes)
    b = pmk.PCA(n_components=3).fit(kept)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert a.n_samples_ == kept.height
    out = a.transform(holes)
    assert out["pca0"].null_count() == holes["f2"].null_count()
    # Vector column: a null row and a null element are both left out.
    rows: list[Any] = x.tolist()
    rows[4] = None
    rows[9] = [None, *rows[9][1:]]
    vec = pl.DataFrame({"e": pl.Series(rows, dtype=pl.Array(pl.Float64, 13))})
    complete = np.delete(x, [4, 9], axis=0)
    np.testing.assert_array_equal(
        pmk.PCA().fit(vec).components_, pmk.PCA().fit(vectors(complete)).components_
    )
    assert pmk.PCA().fit(vec).transform(vec)["e"].null_count() == 2


def test_lazy_streaming_and_schema() -> None:
    x = bundled("breast_cancer")
    pca = pmk.PCA(n_components=3, whiten=True).fit(frame(x))
    lf = frame(x).lazy()
    out = pca.transform(lf)
    assert isinstance(out, pl.LazyFrame)
    assert out.collect_schema() == pl.Schema({f"pca{i}": pl.Float64 for i in range(3)})
    assert_frame_equal(out.collect(), out.collect(engine="streaming"))
    assert_frame_equal(out.collect(), pca.transform(frame(x)))
    vpca = pmk.PCA(n_components=3).fit(vectors(x))
    vout = vpca.transform(vectors(x).lazy())
    assert_frame_equal(vout.collect(), vout.collect(engine="streaming"))


# Ray warns about its own deprecated settings while it configures itself.
@pytest.mark.filterwarnings(r"ignore::DeprecationWarning:ray(\..*)?")
def test_ray_fit_equals_in_memory() -> None:
    ray_mod = pytest.importorskip("ray")
    pmk_ray = pytest.importorskip("polars_mlkit.ray")
    ray_mod.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        ignore_reinit_error=True,
    )
    try:
        x = offset_data(n=4000, d=6, seed=5)
        df = vectors(x)
        ds = ray_mod.data.from_arrow(df.to_arrow()).repartition(4)
        fitted = pmk_ray.fit(pmk.PCA(n_components=3), ds)
        whole = pmk.PCA(n_components=3).fit(df)
        np.testing.assert_allclose(
            fitted.explained_variance_, whole.explained_variance_, rtol=1e-10
        )
        np.testing.assert_allclose(fitted.components_, whole.components_, atol=1e-9)
        assert fitted.n_samples_ == 4000
    finally:
        ray_mod.shutdown()


# ------------------------------------------------------------ JSON, sklearn


def test_json_round_trip() -> None:
    x = bundled("wine")
    for pca in (pmk.PCA(n_components=0.95, whiten=True).fit(frame(x)), pmk.PCA(2).fit(vectors(x))):
        text = pca.to_json()
        again = pmk.load(text)
        assert isinstance(again, pmk.PCA)
        assert again.get_params() == pca.get_params()
        for attr in ("components_", "explained_variance_", "singular_values_", "mean_"):
            np.testing.assert_array_equal(getattr(again, attr), getattr(pca, attr))
        data = frame(x) if not pca._state.vector else vectors(x)
        assert_frame_equal(again.transform(data), pca.transform(data))
        # partial_fit continues from the saved co-moments.
        np.testing.assert_allclose(
            again.partial_fit(data).explained_variance_,
            type(pca)(**pca.get_params()).fit(pl.concat([data, data])).explained_variance_,
            rtol=1e-12,
        )
    document = json.loads(text)
    document["version"] = 99
    with pytest.raises(ValueError, match="version 99"):
        pmk.load(json.dumps(document))
    document["version"] = 1
    del document["components"]
    with pytest.raises(ValueError, match="malformed PCA"):
        pmk.load(json.dumps(document))


@pytest.mark.parametrize("solver", ["full", "covariance_eigh", "randomized", "arpack"])
@pytest.mark.parametrize("whiten", [False, True])
def test_from_sklearn(solver: str, whiten: bool) -> None:
    x = bundled("wine")
    sk = SkPCA(n_components=4, whiten=whiten, svd_solver=solver, random_state=0).fit(x)
    ours = pmk.PCA._from_sklearn(sk)
    expected = sk.transform(x)
    got = ours.transform(frame(x).rename({f"f{j}": f"x{j}" for j in range(13)}))
    np.testing.assert_allclose(
        got.to_numpy(), expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max()
    )
    np.testing.assert_allclose(
        ours.inverse_transform(got).to_numpy(),
        sk.inverse_transform(expected),
        rtol=1e-12,
        atol=1e-12 * np.abs(x).max(),
    )
    with pytest.raises(ValueError, match="keeps no co-moments"):
        ours.partial_fit(x)
    named = SkPCA(n_components=2, svd_solver=solver, random_state=0).fit(frame(x))
    converted = pmk.PCA._from_sklearn(named)
    assert list(converted.feature_names_in_) == [f"f{j}" for j in range(13)]
    np.testing.assert_allclose(
        converted.transform(frame(x)).to_numpy(), named.transform(frame(x)), rtol=1e-12, atol=1e-9
    )
    assert_frame_equal(
        pmk.load(converted.to_json()).transform(frame(x)), converted.transform(frame(x))
    )


# -------------------------------------------------------------- bad input


def test_bad_input() -> None:
    x = bundled("wine")
    df = frame(x)
    with pytest.raises(ValueError, match="must be between 0 and"):
        pmk.PCA(n_components=20).fit(df)
    for bad in ("abc", 1.0, -1, 1.5):
        with pytest.raises(ValueError, match="n_components must be"):
            pmk.PCA(n_components=bad).fit(df)
    with pytest.raises(TypeError, match="whiten"):
        pmk.PCA(whiten="yes").fit(df)
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="'nope'"):
        pmk.PCA(columns=["nope"]).fit(df)
    with pytest.raises(TypeError, match="expected a numeric column"):
        pmk.PCA(columns=["f0", "s"]).fit(df.with_columns(s=pl.lit("a")))
    with pytest.raises(ValueError, match="one vector column or several scalar"):
        pmk.PCA().fit(df.with_columns(vectors(x)))
    with pytest.raises(ValueError, match="NaN or inf"):
        pmk.PCA().fit(df.with_columns(pl.lit(float("nan")).alias("f0")))
    with pytest.raises(ValueError, match="1 sample"):
        pmk.PCA().fit(df.head(1))
    with pytest.raises(ValueError, match="0 sample"):
        pmk.PCA().fit(df.head(0))
    pca = pmk.PCA(n_components=2).fit(x)
    with pytest.raises(ValueError, match="X has 3 features, but PCA is expecting 13"):
        pca.transform(np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        pca.transform(np.full((2, 13), np.nan))
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="'f3'"):
        pmk.PCA().fit(df).transform(df.drop("f3"))
    with pytest.raises(pmk.scalers.NotFittedError):
        pmk.PCA().transform(df)


# ------------------------------------------------------------ truncate_dim


def _truncate_reference(x: np.ndarray[Any, Any], n: int, renormalize: bool) -> np.ndarray[Any, Any]:
    head = x[:, :n].astype(np.float64)
    if not renormalize:
        return head
    norms = np.linalg.norm(head, axis=1, keepdims=True)
    eps = np.finfo(x.dtype).eps
    return head / np.where(norms < 10 * eps, 1.0, norms)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("renormalize", [True, False])
def test_truncate_dim_like_numpy(dtype: Any, renormalize: bool) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 64)).astype(dtype)
    x[3] = 0.0
    df = vectors(x)
    out = df.select(pl.col("e").ml.truncate_dim(16, renormalize=renormalize))
    inner = pl.Float32 if dtype == np.float32 else pl.Float64
    assert out.schema == pl.Schema({"e": pl.Array(inner, 16)})
    got = np.asarray(out["e"].to_list())
    tol = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(got, _truncate_reference(x, 16, renormalize), rtol=tol, atol=tol)
    assert (got[3] == 0).all()
    # List stays List; lazy, streaming and the Series/free faces agree.
    as_list = pl.DataFrame({"e": pl.Series(x.tolist(), dtype=pl.List(inner))})
    listed = as_list.select(pmk.truncate_dim("e", 16, renormalize))
    assert listed.schema == pl.Schema({"e": pl.List(inner)})
    np.testing.assert_array_equal(np.asarray(listed["e"].to_list()), got)
    lf = df.lazy().select(pl.col("e").ml.truncate_dim(16, renormalize))
    assert lf.collect_schema() == out.schema
    assert_frame_equal(lf.collect(engine="streaming"), out)
    assert_frame_equal(df["e"].ml.truncate_dim(16, renormalize).to_frame(), out)
    np.testing.assert_allclose(pmk.truncate_dim(x, 16, renormalize), got, rtol=tol, atol=tol)


def test_truncate_dim_nulls_chunks_and_errors() -> None:
    s = pl.Series(
        "e",
        [[3.0, 4.0, 1.0], None, [None, 1.0, 2.0], [0.0, 0.0, 5.0]],
        dtype=pl.Array(pl.Float64, 3),
    )
    out = s.ml.truncate_dim(2).to_list()
    assert out == [[0.6, 0.8], None, None, [0.0, 0.0]]
    chunked = pl.concat([s.slice(0, 2), s.slice(2, 2)], rechunk=False)
    assert chunked.ml.truncate_dim(2).to_list() == out
    assert s.slice(1, 3).ml.truncate_dim(2).to_list() == out[1:]
    with pytest.raises(pl.exceptions.PolarsError, match="n = 4 is more than the vectors' 3"):
        pl.DataFrame({"e": s}).lazy().select(pl.col("e").ml.truncate_dim(4)).collect_schema()
    with pytest.raises(ValueError, match="at least 1"):
        pl.col("e").ml.truncate_dim(0)
    with pytest.raises(TypeError, match="n must be an int"):
        pl.col("e").ml.truncate_dim(2.0)  # type: ignore[arg-type]
    ragged = pl.Series("e", [[1.0, 2.0, 3.0], [1.0]])
    with pytest.raises(pl.exceptions.ComputeError, match="row 1 has 1 values, fewer than n = 2"):
        ragged.ml.truncate_dim(2)
    with pytest.raises(pl.exceptions.PolarsError, match="scalar column"):
        pl.Series("x", [1.0, 2.0]).ml.truncate_dim(1)
    with pytest.raises(ValueError, match="n = 5 is more than"):
        pmk.truncate_dim([1.0, 2.0], 5)
