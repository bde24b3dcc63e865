"""polars-mlkit demo (``make demo``): ML preprocessing inside Polars, on the wine data.

Runs offline in well under a minute:

1. loads scikit-learn's bundled wine data into a Polars DataFrame;
2. scales columns with the ``ml`` expression namespace (min-max, standard,
   robust, max-abs), per class with ``.over("target")`` and inside a lazy
   query, and checks every result against scikit-learn;
3. encodes categorical columns derived from it (one-hot with infrequent
   grouping, ordinal codes of an Enum), checked against scikit-learn, and
   fills values punched out of it with each class's median;
4. serves a scikit-learn pipeline (scaler, one-hot, logistic regression)
   converted with ``pmk.from_sklearn`` inside a lazy query;
5. if the vector operations are built, turns the 13 standardised features
   into an embedding column and finds the wines most similar to wine 0;
6. reproduces the "classic table" this project answers (1M-element min-max
   normalization and dot product: pure Python, NumPy, Rust) on this machine,
   with native Polars and polars-mlkit added.

Every check prints its result; the script exits with status 1 if any step failed
(after running all the others), so ``make demo`` shows breakage.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
from sklearn import preprocessing as skp
from sklearn.datasets import load_wine
from sklearn.impute import SimpleImputer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from _timing import machine_description
from classic import classic

SEED = 42
#: Largest difference to scikit-learn that still counts as "the same numbers".
TOLERANCE = 1e-9
COLUMNS = ["alcohol", "malic_acid", "color_intensity", "proline"]

FAILED: list[str] = []
SKIPPED: list[str] = []
STEPS: list[str] = []


def banner(title: str) -> None:
    print()
    print("=" * 78)
    print(title)
    print("=" * 78)


def step(title: str, fn: Callable[[], None], *, needs: str | None = None) -> None:
    """Run one demo step (numbered in order); a failure is reported and
    remembered, not fatal."""
    STEPS.append(title)
    title = f"{len(STEPS)}. {title}"
    banner(title)
    if needs is not None and not hasattr(pmk, needs):
        print(f"(skipped: this build of polars_mlkit has no `pmk.{needs}` yet)")
        SKIPPED.append(title)
        return
    try:
        fn()
    except Exception:
        FAILED.append(title)
        print(f"FAILED: {title}")
        traceback.print_exc(limit=4, file=sys.stdout)


def max_abs_diff(ours: Any, theirs: Any) -> float:
    a = ours.to_numpy() if isinstance(ours, (pl.DataFrame, pl.Series)) else np.asarray(ours)
    b = theirs.to_numpy() if isinstance(theirs, (pl.DataFrame, pl.Series)) else theirs
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == b.size and a.ndim + b.ndim <= 3:  # (n, 1) frame vs (n,) array
        a, b = a.reshape(-1), b.reshape(-1)
    if a.shape != b.shape:
        raise AssertionError(f"shape {a.shape} differs from scikit-learn's {b.shape}")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def report_diff(label: str, diff: float, tol: float = TOLERANCE) -> None:
    ok = diff <= tol
    print(f"  {label:<52} max |diff| = {diff:.2e}  {'OK' if ok else 'MISMATCH'}")
    if not ok:
        raise AssertionError(f"{label}: max |diff| {diff:.3e} > {tol:.0e}")


# --------------------------------------------------------------------------- #
# Data
# --------------------------------------------------------------------------- #

wine = load_wine(as_frame=False)
FEATURES: list[str] = list(wine.feature_names)
df = pl.DataFrame({name: wine.data[:, i] for i, name in enumerate(FEATURES)}).with_columns(
    pl.Series("target", wine.target, dtype=pl.Int64)
)
X = wine.data[:, [FEATURES.index(c) for c in COLUMNS]]  # the same columns, as numpy


def tidy(e: pl.Expr) -> pl.Expr:
    """Round for display; ``+ 0.0`` turns -0.0 into 0.0."""
    return e.round(10) + 0.0


def column_stats(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per column: mean, std (ddof=0), min, max."""
    return pl.DataFrame(
        {
            "column": frame.columns,
            "mean": [frame.select(tidy(pl.col(c).mean())).item() for c in frame.columns],
            "std": [frame.select(tidy(pl.col(c).std(ddof=0))).item() for c in frame.columns],
            "min": [frame.select(tidy(pl.col(c).min())).item() for c in frame.columns],
            "max": [frame.select(tidy(pl.col(c).max())).item() for c in frame.columns],
        }
    )


def show_data() -> None:
    print(
        f"{df.height} wines, {len(FEATURES)} features, classes {sorted(set(wine.target.tolist()))}"
    )
    print(f"polars {pl.__version__}, polars_mlkit {getattr(pmk, '__version__', '?')}")
    print(df.select([*COLUMNS, "target"]).head(5))


# --------------------------------------------------------------------------- #
# Column scaling
# --------------------------------------------------------------------------- #


def minmax() -> None:
    out = df.with_columns(pl.col(c).ml.normalize() for c in COLUMNS)
    print("df.with_columns(pl.col(c).ml.normalize() for c in COLUMNS) -> each column in [0, 1]:")
    print(column_stats(out.select(COLUMNS)))
    report_diff(
        "min-max vs sklearn MinMaxScaler",
        max_abs_diff(out.select(COLUMNS), skp.MinMaxScaler().fit_transform(X)),
    )
    rng = df.select(pl.col("alcohol").ml.minmax_scale(feature_range=(-1.0, 1.0)))
    report_diff(
        "minmax_scale(feature_range=(-1, 1)) vs sklearn",
        max_abs_diff(
            rng, skp.MinMaxScaler(feature_range=(-1.0, 1.0)).fit_transform(X[:, :1]).ravel()
        ),
    )


def other_scalers() -> None:
    cases = [
        ("standard", pl.col(COLUMNS).ml.standard_scale(), skp.StandardScaler()),
        ("robust", pl.col(COLUMNS).ml.robust_scale(), skp.RobustScaler()),
        ("maxabs", pl.col(COLUMNS).ml.maxabs_scale(), skp.MaxAbsScaler()),
        ("normalize(method='robust')", pl.col(COLUMNS).ml.normalize(method="robust"), None),
    ]
    standard = df.select(pl.col(COLUMNS).ml.standard_scale())
    print("df.select(pl.col(COLUMNS).ml.standard_scale()) -> mean 0, std (ddof=0) 1:")
    print(column_stats(standard))
    robust_sk = skp.RobustScaler().fit_transform(X)
    for name, expr, scaler in cases:
        want = robust_sk if scaler is None else scaler.fit_transform(X)
        report_diff(f"{name} vs sklearn", max_abs_diff(df.select(expr), want))


def per_class() -> None:
    out = df.with_columns(pl.col(COLUMNS).ml.standard_scale().over("target"))
    print("df.with_columns(pl.col(COLUMNS).ml.standard_scale().over('target')):")
    print("each class is scaled on its own -> per class mean 0 and std 1")
    summary = (
        out.group_by("target", maintain_order=True)
        .agg(
            pl.len().alias("wines"),
            tidy(pl.col("alcohol").mean()).alias("alcohol mean"),
            tidy(pl.col("alcohol").std(ddof=0)).alias("alcohol std"),
            tidy(pl.col("proline").mean()).alias("proline mean"),
            tidy(pl.col("proline").std(ddof=0)).alias("proline std"),
        )
        .sort("target")
    )
    print(summary)
    want = np.empty_like(X)
    for cls in np.unique(wine.target):
        mask = wine.target == cls
        want[mask] = skp.StandardScaler().fit_transform(X[mask])
    report_diff("per-class standard vs sklearn per class", max_abs_diff(out.select(COLUMNS), want))
    mm = df.select(pl.col(COLUMNS).ml.minmax_scale().over("target"))
    for cls in np.unique(wine.target):
        want[wine.target == cls] = skp.MinMaxScaler().fit_transform(X[wine.target == cls])
    report_diff("per-class min-max vs sklearn per class", max_abs_diff(mm, want))


def lazy_pipeline() -> None:
    lf = (
        df.lazy()
        .with_columns(
            pl.col("alcohol").ml.standard_scale().alias("alcohol_z"),
            pl.col("proline").ml.robust_scale().alias("proline_robust"),
            pl.col("color_intensity").ml.minmax_scale().over("target").alias("color_in_class"),
        )
        # A filter *after* the scaling: the statistics must still come from all rows,
        # so the optimiser may not push this filter below the ml expressions.
        .filter(pl.col("target") == 0)
        .select("target", "alcohol", "alcohol_z", "proline_robust", "color_in_class")
    )
    print("Query plan (lf.explain()):")
    print(lf.explain())
    got = lf.collect()
    print(got.head(5))
    eager = (
        df.with_columns(
            pl.col("alcohol").ml.standard_scale().alias("alcohol_z"),
            pl.col("proline").ml.robust_scale().alias("proline_robust"),
            pl.col("color_intensity").ml.minmax_scale().over("target").alias("color_in_class"),
        )
        .filter(pl.col("target") == 0)
        .select(got.columns)
    )
    report_diff("lazy result vs eager result", max_abs_diff(got, eager))
    z_sk = skp.StandardScaler().fit_transform(X[:, :1]).ravel()[wine.target == 0]
    report_diff(
        "lazy alcohol_z vs sklearn (fitted on all rows)", max_abs_diff(got["alcohol_z"], z_sk)
    )


def fitted_scaler() -> None:
    rng = np.random.default_rng(SEED)
    is_train = rng.random(df.height) < 0.7
    train, test = df.filter(pl.Series(is_train)), df.filter(pl.Series(~is_train))
    sc = pmk.StandardScaler(columns=COLUMNS).fit(train)
    print(f"pmk.StandardScaler(columns=COLUMNS).fit(train)  # {train.height} train rows")
    print(sc.params_)
    got = sc.transform(test.lazy()).collect().select(COLUMNS)
    want = skp.StandardScaler().fit(X[is_train]).transform(X[~is_train])
    report_diff(
        f"transform({test.height} test rows, lazy) vs sklearn", max_abs_diff(got, want), 1e-9
    )


def encoders() -> None:
    """Categorical columns derived from the wine data (cultivar as a name,
    alcohol in bands with a few values missing), one-hot and ordinal
    encoded, against scikit-learn."""
    names = pl.Enum(["barolo", "grignolino", "barbera"])
    bands = pl.col("alcohol").cut([12.0, 13.0, 14.0], labels=["low", "mid", "high", "top"])
    cats = df.select(
        pl.col("target").replace_strict([0, 1, 2], ["barolo", "grignolino", "barbera"])
        .cast(names).alias("cultivar"),
        pl.when(pl.int_range(pl.len()) % 17 == 0).then(None).otherwise(bands.cast(pl.String))
        .alias("band"),
        "proline",
    )  # fmt: skip
    enc = pmk.OneHotEncoder(columns=["cultivar", "band"], min_frequency=20).fit(cats.lazy())
    out = enc.transform(cats.lazy())
    print("pmk.OneHotEncoder(columns=['cultivar', 'band'], min_frequency=20).fit(lazy)")
    print(f"output schema, known before any data is read: {out.collect_schema().names()}")
    print(out.collect().head(4))
    x = np.column_stack(
        [
            cats["cultivar"].cast(pl.String).to_numpy(),
            np.array(cats["band"].to_list(), dtype=object),
        ]
    )
    want = skp.OneHotEncoder(min_frequency=20, sparse_output=False).fit_transform(x)
    got = out.collect().drop("proline")
    report_diff("one-hot vs sklearn OneHotEncoder", max_abs_diff(got, want), 0.0)
    codes = cats.select(pl.col("cultivar").ml.ordinal_encode())
    print(
        f"pl.col('cultivar').ml.ordinal_encode() on the Enum: {codes['cultivar'].head(3).to_list()}"
    )


def imputer() -> None:
    """A tenth of four wine columns punched out (seeded), filled with each
    class's median and marked by indicator columns, against scikit-learn."""
    rng = np.random.default_rng(SEED)
    holes = rng.random((df.height, len(COLUMNS))) < 0.1
    gappy = df.select(
        *[
            pl.when(pl.Series(holes[:, j])).then(None).otherwise(pl.col(c)).alias(c)
            for j, c in enumerate(COLUMNS)
        ],
        "target",
    )
    imp = pmk.SimpleImputer(strategy="median", add_indicator=True, by="target")
    out = imp.fit(gappy.lazy()).transform(gappy.lazy()).collect()
    print("pmk.SimpleImputer(strategy='median', add_indicator=True, by='target').fit(lazy)")
    shown = ["alcohol", "proline", "target", "missingindicator_alcohol", "missingindicator_proline"]
    print(out.filter(pl.Series(holes[:, [0, 3]].any(axis=1))).select(shown).head(4))
    for k in range(3):
        rows = wine.target == k
        x = np.where(holes, np.nan, X)[rows]
        want = SimpleImputer(strategy="median", add_indicator=True).fit_transform(x)
        got = out.filter(pl.col("target") == k).drop("target")
        got = got.with_columns(pl.col(pl.Boolean).cast(pl.Float64))
        report_diff(f"class {k}: median imputation vs sklearn", max_abs_diff(got, want), 0.0)


def served_model() -> None:
    """A scikit-learn pipeline (scaler + one-hot + logistic regression)
    fitted on the training rows, converted with ``pmk.from_sklearn`` and
    scoring the test rows inside a lazy Polars query."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(SEED)
    is_train = rng.random(df.height) < 0.7
    bands = pl.col("alcohol").cut([12.0, 13.0, 14.0], labels=["low", "mid", "high", "top"])
    frame = df.with_columns(band=bands.cast(pl.String))
    train, test = frame.filter(pl.Series(is_train)), frame.filter(pl.Series(~is_train))
    sk = make_pipeline(
        make_column_transformer(
            (skp.StandardScaler(), COLUMNS), (skp.OneHotEncoder(handle_unknown="ignore"), ["band"])
        ),
        LogisticRegression(max_iter=5000),
    ).fit(train.to_pandas(), train["target"].to_numpy())
    served = pmk.from_sklearn(sk)
    print(f"pmk.from_sklearn(sklearn pipeline) -> {served!r}"[:300])
    query = served.predict_proba(test.lazy())
    print(f"predict_proba(test.lazy()) is a {type(query).__name__}; collected:")
    proba = query.collect()
    print(proba.head(3))
    want = sk.predict_proba(test.to_pandas())
    report_diff(
        "predict_proba vs sklearn", max_abs_diff(np.stack(proba.to_series().to_list()), want)
    )
    pipe = pmk.make_pipeline(pmk.OneHotEncoder(columns="band"), pmk.StandardScaler(columns=COLUMNS))
    pipe.fit(train.lazy())
    print(f"pmk.make_pipeline(OneHotEncoder, StandardScaler).fit(lazy): {pipe.fit_scans_} scan")


def bins() -> None:
    """The wine's alcohol in four quantile bins (ordinal codes), against
    scikit-learn's KBinsDiscretizer."""
    kb = pmk.KBinsDiscretizer(columns=["alcohol"], n_bins=4, encode="ordinal").fit(df)
    out = kb.transform(df.lazy()).select("alcohol", "target").collect()
    print("pmk.KBinsDiscretizer(columns=['alcohol'], n_bins=4, encode='ordinal').fit(df)")
    print(f"bin edges: {[round(e, 3) for e in kb.bin_edges_[0].tolist()]}")
    print(out.group_by("alcohol").agg(pl.len(), pl.col("target").mean()).sort("alcohol"))
    ref = skp.KBinsDiscretizer(n_bins=4, encode="ordinal", subsample=None)
    want = ref.fit_transform(df.select("alcohol").to_numpy())
    report_diff("bins vs sklearn KBinsDiscretizer", max_abs_diff(out.select("alcohol"), want), 0.0)


# --------------------------------------------------------------------------- #
# Vector operations
# --------------------------------------------------------------------------- #


def _positions(result: pl.DataFrame) -> list[int]:
    s = result.to_series(0)
    if isinstance(s.dtype, (pl.List, pl.Array)):
        s = s.explode()
    return [int(v) for v in s.to_list()]


def similar_wines() -> None:
    from sklearn.metrics.pairwise import cosine_similarity

    emb = df.select(
        pl.concat_arr(pl.col(FEATURES).ml.standard_scale()).alias("emb"), "target"
    ).with_row_index("wine")
    print(f"embedding column: {emb.schema['emb']} (13 standard-scaled features per wine)")
    query = emb["emb"][0].to_list()
    k = 6
    ranked = (
        emb.with_columns(pl.col("emb").ml.cosine_similarity(query).alias("cosine"))
        .sort("cosine", descending=True, maintain_order=True)
        .head(k)
        .select("wine", "target", "cosine")
    )
    print(f"wines most similar to wine 0 (class {wine.target[0]}), by ml.cosine_similarity:")
    print(ranked)
    mat = emb["emb"].to_numpy()
    all_cos = emb.select(pl.col("emb").ml.cosine_similarity(query)).to_series()
    report_diff(
        "cosine_similarity vs sklearn cosine_similarity",
        max_abs_diff(all_cos, cosine_similarity(mat, mat[:1]).ravel()),
        1e-12,
    )
    if hasattr(pl.col("emb").ml, "top_k_similar"):
        top = _positions(emb.select(pl.col("emb").ml.top_k_similar(query, k)))
        print(f"pl.col('emb').ml.top_k_similar(query, {k}) -> rows {top}")
        if top != ranked["wine"].to_list():
            raise AssertionError(
                f"top_k_similar {top} != cosine ranking {ranked['wine'].to_list()}"
            )
        print("  same rows, same order as sorting by cosine similarity: OK")
    if hasattr(pmk, "nearest"):
        queries = mat[[0, 59, 130]]  # one wine of each class
        nn = pmk.nearest(emb, "emb", queries, k=3)
        print("pmk.nearest(emb, 'emb', wines [0, 59, 130], k=3):")
        print(
            nn.join(
                emb.select("wine", "target"), left_on="index", right_on="wine", how="left"
            ).sort("query", "rank")
        )


# --------------------------------------------------------------------------- #
# The classic table
# --------------------------------------------------------------------------- #


def classic_table() -> None:
    """The classic table with list and numpy input side by side, and Python
    threads calling the data face at once (``benchmarks/classic.py``)."""
    print("Medians of repeated runs on this machine:")
    print(machine_description())
    result = classic()
    for table in result.tables:
        print()
        print(table)
    for failure in result.failures:
        print(f"  FAILED: {failure} differs from numpy")
        FAILED.append(f"classic table: {failure}")
    print(
        "\nThe article's numbers are from unknown hardware: dot product 245 / 12 / 8 ms "
        "(pure Python / NumPy / Rust), min-max 180 / 15 / 6 ms, 'parallel processing, "
        "4 threads' 2 ms."
    )


def main() -> int:
    started = time.perf_counter()
    pl.Config.set_tbl_cols(10)
    pl.Config.set_tbl_width_chars(120)
    pl.Config.set_float_precision(4)
    step("The wine data as a Polars DataFrame", show_data)
    step("Min-max normalization with pl.col(c).ml.normalize()", minmax)
    step("Standard, robust and max-abs scaling vs scikit-learn", other_scalers)
    step("Per-class scaling with .over('target')", per_class)
    step("A lazy pipeline", lazy_pipeline)
    step("A fitted scaler: fit on train, transform test", fitted_scaler, needs="StandardScaler")
    step("Categories: one-hot and ordinal encoding", encoders, needs="OneHotEncoder")
    step("Missing values: SimpleImputer per class", imputer, needs="SimpleImputer")
    step("Bins: KBinsDiscretizer on alcohol", bins, needs="KBinsDiscretizer")
    step("Train in scikit-learn, serve in Polars", served_model, needs="from_sklearn")
    step("Embeddings: wines most similar to wine 0", similar_wines, needs="cosine_similarity")
    step("The classic table, reproduced on this machine", classic_table)
    banner("Summary")
    print(f"demo finished in {time.perf_counter() - started:.1f} s")
    if SKIPPED:
        print("skipped (not in this build): " + "; ".join(SKIPPED))
    if FAILED:
        print("FAILED steps: " + "; ".join(FAILED))
        return 1
    print("all steps OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
