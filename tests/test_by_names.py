"""A ``by`` column may have any name, including the names the fits use
for their own columns: every class that takes ``by=`` gives the same result
with a by column named like an internal column as with an innocuous name,
in memory and from a LazyFrame (the out-of-core passes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from polars.testing import assert_frame_equal

# Names that fits used (or could use) beside the by columns: group keys,
# row counts, census parts and their fields, per-column statistics, the
# params_ layout; and names made like the internal ones.
NAMES = [
    "key",
    "rows",
    "part",
    "census",
    "buckets",
    "counts",
    "min",
    "max",
    "infinite",
    "count",
    "value",
    "n0",
    "lo0",
    "hi0",
    "v0",
    "0_0",
    "1_0",
    "__rows",
    "__key",
    "vc",
]

FACTORIES: dict[str, Callable[[], Any]] = {
    "standard": lambda: pmk.StandardScaler(by="g"),
    "minmax": lambda: pmk.MinMaxScaler(by="g"),
    "maxabs": lambda: pmk.MaxAbsScaler(by="g"),
    "robust": lambda: pmk.RobustScaler(by="g"),
    "quantile": lambda: pmk.QuantileTransformer(n_quantiles=20, by="g"),
    "power": lambda: pmk.PowerTransformer(by="g"),
    "impute_mean": lambda: pmk.SimpleImputer(strategy="mean", by="g"),
    "impute_median": lambda: pmk.SimpleImputer(strategy="median", by="g"),
    "impute_frequent": lambda: pmk.SimpleImputer(strategy="most_frequent", by="g"),
    "kbins_quantile": lambda: pmk.KBinsDiscretizer(n_bins=3, encode="ordinal", by="g"),
    "kbins_uniform": lambda: pmk.KBinsDiscretizer(
        n_bins=3, encode="ordinal", strategy="uniform", by="g"
    ),
    "kbins_kmeans": lambda: pmk.KBinsDiscretizer(
        n_bins=3, encode="ordinal", strategy="kmeans", by="g"
    ),
    "onehot": lambda: pmk.OneHotEncoder(columns=["c"], by="g"),
}


def _frame(by: str) -> pl.DataFrame:
    rng = np.random.default_rng(23)
    n = 300
    x = rng.normal(size=n) * 3.0 + 1.0
    y = rng.exponential(size=n) + 0.5
    x[rng.random(n) < 0.1] = np.nan
    return pl.DataFrame(
        {
            by: rng.choice(["a", "b", "c"], size=n),
            "x": x,
            "y": y,
            "c": rng.choice(["p", "q", "r", "s"], size=n),
        }
    ).with_columns(pl.col("x").fill_nan(None))


def _columns(kind: str) -> list[str]:
    return ["c"] if kind == "onehot" else ["x", "y"]


def _fitted(kind: str, by: str, lazy: bool) -> tuple[Any, pl.DataFrame]:
    frame = _frame(by).select(by, *_columns(kind))
    est = FACTORIES[kind]()
    est.set_params(by=by)
    est.fit(frame.lazy() if lazy else frame)
    return est, frame


@pytest.mark.parametrize("lazy", [False, True], ids=["frame", "lazy"])
@pytest.mark.parametrize("kind", list(FACTORIES))
def test_by_column_named_like_an_internal_column(kind: str, lazy: bool) -> None:
    reference, frame = _fitted(kind, "g", lazy)
    expected = reference.transform(frame)
    for name in NAMES:
        est, renamed = _fitted(kind, name, lazy)
        got = est.transform(renamed).rename({name: "g"})
        assert_frame_equal(got, expected, check_exact=True)
        again = pmk.load(est.to_json()).transform(renamed).rename({name: "g"})
        assert_frame_equal(again, expected, check_exact=True)


@pytest.mark.parametrize("kind", ["robust", "quantile", "impute_median", "kbins_quantile"])
def test_several_by_columns_named_like_internal_columns(kind: str) -> None:
    base = _frame("g").with_columns(pl.col("g").alias("h")).select("g", "h", *_columns(kind))
    reference = FACTORIES[kind]().set_params(by=["g", "h"]).fit(base.lazy())
    expected = reference.transform(base)
    renamed = base.rename({"g": "key", "h": "part"})
    est = FACTORIES[kind]().set_params(by=["key", "part"]).fit(renamed.lazy())
    got = est.transform(renamed).rename({"key": "g", "part": "h"})
    assert_frame_equal(got, expected, check_exact=True)


@pytest.mark.parametrize("kind", list(FACTORIES))
def test_a_by_column_with_the_reserved_prefix_is_refused(kind: str) -> None:
    frame = _frame("__pmk_key").select("__pmk_key", *_columns(kind))
    est = FACTORIES[kind]().set_params(by="__pmk_key")
    with pytest.raises(ValueError, match="reserves for its internal columns"):
        est.fit(frame)
