"""``OneHotEncoder(by=...)`` against scikit-learn's OneHotEncoder fitted
separately on each group's rows with the same options: every group's rows
equal that encoder's output in the columns it has and 0 in the others; the
output columns are the union of the groups' names, in the documented order."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from polars.testing import assert_frame_equal
from sklearn import preprocessing as skp

SEED = 20261207
ENCODED = ["s", "i", "f", "b"]


def make_frame(n: int = 600, seed: int = SEED) -> pl.DataFrame:
    """Three groups (one of them the null group) whose category mixes
    differ: some categories are rare in one group and absent from another,
    so infrequent grouping, drop and unknown values differ per group."""
    rng = np.random.default_rng(seed)
    groups = rng.choice(["x", "y", None], size=n, p=[0.5, 0.35, 0.15]).tolist()
    mix = {
        "x": [0.4, 0.25, 0.15, 0.1, 0.06, 0.04],
        "y": [0.1, 0.5, 0.3, 0.1, 0.0, 0.0],
        None: [0.45, 0.45, 0.0, 0.0, 0.0, 0.1],
    }

    def pick(values: list[Any], nulls: bool = True) -> list[Any]:
        out = []
        for g in groups:
            p = np.array(mix[g][: len(values)])
            out.append(values[rng.choice(len(values), p=p / p.sum())])
        if nulls:
            for i in rng.choice(n, size=n // 20, replace=False):
                out[i] = None
        return out

    floats = pick([0.5, -1.0, 2.25, 0.0, 1e300, -0.125])
    for i in rng.choice(n, size=n // 25, replace=False):
        floats[i] = float("nan")
    return pl.DataFrame(
        {
            "g": pl.Series(groups, dtype=pl.String),
            "s": pl.Series(pick(["b", "a", "é", "Z", "bb", "a b"]), dtype=pl.String),
            "i": pl.Series(pick([3, -2, 10, 0, 7, -50]), dtype=pl.Int64),
            "n": pl.Series(rng.normal(size=n)),
            "f": pl.Series(floats, dtype=pl.Float64),
            "b": pl.Series(pick([True, False]), dtype=pl.Boolean),
        }
    )


def to_sklearn(frame: pl.DataFrame, columns: list[str]) -> np.ndarray[Any, Any]:
    """Floats with NaN; everything else objects with None for a null."""
    parts = []
    for name in columns:
        s = frame[name]
        if s.dtype.is_float():
            parts.append(s.cast(pl.Float64).fill_null(float("nan")).to_numpy().astype(object))
            continue
        if s.dtype == pl.Categorical or isinstance(s.dtype, pl.Enum):
            s = s.cast(pl.String)
        parts.append(np.array(s.to_list(), dtype=object))
    return np.column_stack(parts)


def reference(
    train: pl.DataFrame, test: pl.DataFrame, columns: list[str], options: dict[str, Any]
) -> tuple[dict[str, np.ndarray[Any, Any]], list[str]]:
    """scikit-learn fitted per group: each output name's column over the
    test rows (0 where the row's group's encoder lacks the name), and the
    union of the groups' names in the documented order."""
    sk_options = {k: v for k, v in options.items() if k != "dtype"}
    out: dict[str, np.ndarray[Any, Any]] = {}
    names_seen: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for (key,), part in train.group_by("g", maintain_order=True):
            enc = skp.OneHotEncoder(sparse_output=False, **sk_options)
            enc.fit(to_sklearn(part, columns))
            names = enc.get_feature_names_out(columns).tolist()
            names_seen.update(names)
            mask = (test["g"].is_null() if key is None else test["g"] == key).fill_null(False)
            rows = np.flatnonzero(mask.to_numpy())
            if rows.size == 0:
                continue
            encoded = enc.transform(to_sklearn(test[rows], columns))
            for j, name in enumerate(names):
                out.setdefault(name, np.zeros(test.height))[rows] = encoded[:, j]
        # The documented order: per column, the categories of all rows
        # (an un-grouped fit's), the missing one after them, infrequent last.
        whole = skp.OneHotEncoder(
            sparse_output=False, categories=sk_options.get("categories", "auto")
        )
        whole.fit(to_sklearn(train, columns))
        order = [
            f"{c}_{label}"
            for c, cats in zip(columns, whole.categories_, strict=True)
            for label in [*_labels(cats), "infrequent_sklearn"]
        ]
    ordered = [name for name in order if name in names_seen]
    assert set(ordered) == names_seen
    return {n: out.get(n, np.zeros(test.height)) for n in ordered}, ordered


def _labels(categories: np.ndarray[Any, Any]) -> list[str]:
    return [str(v) for v in categories]


def assert_matches(got: pl.DataFrame, expected: dict[str, np.ndarray[Any, Any]]) -> None:
    encoded = [n for n in got.columns if n in expected]
    assert encoded == list(expected)
    for name in encoded:
        np.testing.assert_array_equal(got[name].cast(pl.Float64).to_numpy(), expected[name])


OPTIONS: list[dict[str, Any]] = [
    {},
    {"drop": "first"},
    {"drop": "if_binary"},
    {"handle_unknown": "ignore"},
    {"min_frequency": 8},
    {"min_frequency": 0.1},
    {"max_categories": 3},
    {"max_categories": 1},
    {"min_frequency": 10, "max_categories": 3, "handle_unknown": "infrequent_if_exist"},
    {"min_frequency": 15, "drop": "first", "handle_unknown": "ignore"},
    {"max_categories": 2, "drop": "if_binary"},
    {"drop": ["a", -2, 0.5, True]},
    {"dtype": pl.Float32},
]


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_equals_sklearn_fitted_per_group(options: dict[str, Any]) -> None:
    train = make_frame()
    enc = pmk.OneHotEncoder(columns=ENCODED, by="g", **options).fit(train)
    expected, names = reference(train, train, ENCODED, options)
    got = enc.transform(train)
    assert_matches(got, expected)
    assert enc.get_feature_names_out().tolist() == got.columns
    encoded_names = [n for n in got.columns if n not in ("g", "n")]
    assert encoded_names == names
    dtype = options.get("dtype", pl.UInt8)
    assert all(got.schema[n] == dtype for n in names)


@pytest.mark.parametrize(
    "options",
    [
        {"handle_unknown": "ignore"},
        {"handle_unknown": "infrequent_if_exist", "min_frequency": 10},
        {"handle_unknown": "infrequent_if_exist", "max_categories": 2, "drop": "first"},
    ],
    ids=str,
)
def test_unseen_values_per_group_equal_sklearn(options: dict[str, Any]) -> None:
    train = make_frame()
    # Values unseen anywhere, and values another group saw but not this one.
    test = pl.DataFrame(
        {
            "g": ["x", "y", None, "y", None, "x"],
            "s": ["new", "bb", "é", "a b", None, "a"],
            "i": [99, 7, 10, 0, 3, None],
            "n": [0.0] * 6,
            "f": [9.5, 1e300, 2.25, float("nan"), None, 0.0],
            "b": [None, True, False, True, None, False],
        }
    )
    enc = pmk.OneHotEncoder(columns=ENCODED, by="g", **options).fit(train)
    expected, _ = reference(train, test, ENCODED, options)
    assert_matches(enc.transform(test), expected)


def test_given_categories_per_group_equal_sklearn() -> None:
    train = make_frame()
    categories = [["Z", "b", "a", "é", "bb", "a b", "zz"], [-50, -2, 0, 3, 7, 10], None, None]
    floats = sorted(v for v in set(train["f"].drop_nulls().drop_nans().to_list()))
    categories[2] = [*floats, float("nan")]
    categories[3] = [False, True, None]
    options = {"categories": categories, "handle_unknown": "ignore"}
    train = train.with_columns(pl.col("s").fill_null("zz"), pl.col("i").fill_null(0))
    enc = pmk.OneHotEncoder(columns=ENCODED, by="g", **options).fit(train)
    expected, names = reference(train, train, ENCODED, options)
    assert_matches(enc.transform(train), expected)
    # The given order (not sorted) is the output order.
    assert [n for n in names if n.startswith("s_")][:3] == ["s_Z", "s_b", "s_a"]


@pytest.mark.parametrize("dtype", ["categorical", "enum", "int32", "uint8"])
def test_input_dtypes_encode_as_their_values(dtype: str) -> None:
    train = make_frame()
    if dtype == "categorical":
        cast = {"s": pl.Categorical(), "g": pl.Categorical()}
    elif dtype == "enum":
        cast = {"s": pl.Enum(["a b", "Z", "é", "bb", "b", "a"]), "g": pl.Enum(["y", "x"])}
    elif dtype == "int32":
        cast = {"i": pl.Int32(), "g": pl.String()}
    else:
        cast = {"g": pl.String()}
        train = train.with_columns(pl.col("i").abs().cast(pl.UInt8))
    train = train.cast(cast)  # type: ignore[arg-type]
    options = {"min_frequency": 10}
    enc = pmk.OneHotEncoder(columns=ENCODED, by="g", **options).fit(train)
    expected, _ = reference(train.cast({"g": pl.String}), train, ENCODED, options)
    assert_matches(enc.transform(train), expected)


def test_several_by_columns_and_integer_keys() -> None:
    train = make_frame().with_columns(h=pl.col("i").fill_null(0) % 2)
    enc = pmk.OneHotEncoder(columns=["s"], by=["g", "h"], min_frequency=5).fit(train)
    got = enc.transform(train)
    keyed = train.with_columns(pl.concat_str("g", "h", separator="|", ignore_nulls=True).alias("g"))
    expected, _ = reference(keyed, keyed, ["s"], {"min_frequency": 5})
    assert_matches(got, expected)


# --------------------------------------------------------------------------- #
# lazy, streaming, chunked, out of core, partial_fit, JSON
# --------------------------------------------------------------------------- #
OUT_OF_CORE = {"columns": ENCODED, "by": "g", "max_categories": 4, "drop": "if_binary"}


def test_lazy_streaming_and_chunked_equal_eager(tmp_path: Path) -> None:
    train = make_frame()
    enc = pmk.OneHotEncoder(**OUT_OF_CORE).fit(train)
    eager = enc.transform(train)
    lazy = enc.transform(train.lazy())
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect_schema() == eager.schema
    assert_frame_equal(lazy.collect(engine="streaming"), eager)
    assert_frame_equal(lazy.collect(engine="in-memory"), eager)
    chunked = pl.concat(
        [train.slice(0, 150), train.slice(150, 100), train.slice(250)], rechunk=False
    )
    assert chunked["s"].n_chunks() == 3
    assert_frame_equal(enc.transform(chunked), eager)
    assert_frame_equal(enc.transform(train.slice(37, 211)), eager.slice(37, 211))
    assert pmk.OneHotEncoder(**OUT_OF_CORE).fit(chunked).to_json() == enc.to_json()
    # The schema is known without reading the data.
    path = tmp_path / "data.parquet"
    train.write_parquet(path)
    scanned = enc.transform(pl.scan_parquet(path))
    path.unlink()
    assert scanned.collect_schema().names() == enc.get_feature_names_out().tolist()


def test_out_of_core_fit_equals_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("polars_mlkit._batches.BATCH_ROWS", 37)
    train = make_frame(1000)
    path = tmp_path / "train.parquet"
    train.write_parquet(path, row_group_size=100)
    lazy_fit = pmk.OneHotEncoder(**OUT_OF_CORE).fit(pl.scan_parquet(path))
    memory_fit = pmk.OneHotEncoder(**OUT_OF_CORE).fit(train)
    assert lazy_fit.to_json() == memory_fit.to_json()
    out = pl.scan_parquet(path).pipe(lazy_fit.transform).collect(engine="streaming")
    assert_frame_equal(out, memory_fit.transform(train))


def test_partial_fit_equals_fit() -> None:
    train = make_frame()
    options = {"columns": ENCODED, "by": "g", "min_frequency": 0.05}
    whole = pmk.OneHotEncoder(**options).fit(train)
    parts = pmk.OneHotEncoder(**options)
    # The first batch lacks a group that a later one brings.
    ordered = train.sort("g", nulls_last=True)
    for start in range(0, ordered.height, 170):
        parts.partial_fit(ordered.slice(start, 170))
    assert parts.to_json() == whole.to_json()
    assert parts.n_samples_seen_ == train.height


def test_json_round_trip() -> None:
    train = make_frame()
    options = {"drop": ["a", -2, 0.5, True], "min_frequency": 5, "dtype": pl.Int16}
    enc = pmk.OneHotEncoder(columns=ENCODED, by="g", **options).fit(train)
    text = enc.to_json()
    document = json.loads(text)
    assert document["version"] == 2
    assert [e["name"] for e in document["by"]] == ["g"]
    assert len(document["groups"]) == 3
    again = pmk.load(text)
    assert again.to_json() == text
    assert_frame_equal(again.transform(train), enc.transform(train))
    # Without by, the text stays version 1 (readable by older versions).
    plain = json.loads(pmk.OneHotEncoder(columns=ENCODED).fit(train).to_json())
    assert plain["version"] == 1
    assert "groups" not in plain


def test_json_with_mismatched_groups_is_refused() -> None:
    train = make_frame()
    document = json.loads(pmk.OneHotEncoder(columns=["s"], by="g").fit(train).to_json())
    document["groups"][0]["key"] = "nope"
    with pytest.raises(ValueError, match="group keys do not match"):
        pmk.load(json.dumps(document))


def test_fitted_attributes_with_by() -> None:
    train = make_frame()
    enc = pmk.OneHotEncoder(columns=["s"], by="g", min_frequency=5, drop="first").fit(train)
    whole = skp.OneHotEncoder().fit(to_sklearn(train, ["s"]))
    assert enc.categories_[0].tolist() == whole.categories_[0].tolist()
    assert enc.n_samples_seen_ == train.height
    with pytest.raises(AttributeError, match="by="):
        _ = enc.infrequent_categories_
    with pytest.raises(AttributeError, match="by="):
        _ = enc.drop_idx_


# --------------------------------------------------------------------------- #
# groups and bad input
# --------------------------------------------------------------------------- #
def test_unseen_group_is_an_error_naming_it() -> None:
    enc = pmk.OneHotEncoder(columns=["s"], by="g").fit(make_frame())
    test = pl.DataFrame({"g": ["x", "w"], "s": ["a", "a"], "i": [1, 1]})
    with pytest.raises(pl.exceptions.ComputeError, match=r'group "w" was not seen at fit time'):
        enc.transform(test)


def test_null_group_is_a_group_of_its_own() -> None:
    train = pl.DataFrame({"g": ["x", None, None], "s": ["a", "b", "c"]})
    enc = pmk.OneHotEncoder(by="g").fit(train)
    got = enc.transform(pl.DataFrame({"g": [None, "x"], "s": ["c", "a"]}))
    assert got.columns == ["g", "s_a", "s_b", "s_c"]
    assert got.select("s_a", "s_b", "s_c").rows() == [(0, 0, 1), (1, 0, 0)]
    without = pmk.OneHotEncoder(by="g").fit(train.filter(pl.col("g").is_not_null()))
    with pytest.raises(pl.exceptions.ComputeError, match="was not seen at fit time"):
        without.transform(pl.DataFrame({"g": [None], "s": ["a"]}))


def test_value_of_another_group_is_unknown_under_error() -> None:
    train = pl.DataFrame({"g": ["x", "x", "y"], "s": ["a", "b", "a"]})
    enc = pmk.OneHotEncoder(by="g").fit(train)
    with pytest.raises(pl.exceptions.ComputeError, match=r'"b" \(row 1\).*group "y"'):
        enc.transform(pl.DataFrame({"g": ["x", "y"], "s": ["b", "b"]}))


def test_bad_input() -> None:
    train = make_frame()
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="by column 'zz'"):
        pmk.OneHotEncoder(columns=["s"], by="zz").fit(train)
    with pytest.raises(ValueError, match="'g' is also a by column"):
        pmk.OneHotEncoder(columns=["g", "s"], by="g").fit(train)
    with pytest.raises(TypeError, match="by must be a column name"):
        pmk.OneHotEncoder(columns=["s"], by=3).fit(train)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"group g='y'.*not found in the training data"):
        pmk.OneHotEncoder(columns=["s"], by="g", drop=["a b"]).fit(train)
    with pytest.raises(ValueError, match=r"group g=.*unknown categories"):
        pmk.OneHotEncoder(columns=["s"], by="g", categories=[["a", "b"]]).fit(
            train.filter(pl.col("s").is_in(["a", "b", "é"]))
        )
    with pytest.raises(ValueError, match="no data to fit"):
        pmk.OneHotEncoder(columns=["s"], by="g").fit(train.clear())
    enc = pmk.OneHotEncoder(columns=["s"], by="g").fit(train)
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="by column 'g'"):
        enc.transform(train.drop("g"))
    with pytest.raises(pl.exceptions.ComputeError, match="fitted on a column of another dtype"):
        enc.transform(train.with_columns(pl.col("i").alias("s")))


def test_columns_none_skips_the_by_columns() -> None:
    train = make_frame().select("g", "s", "b")
    enc = pmk.OneHotEncoder(by="g").fit(train)
    assert enc.columns_ == ["s", "b"]
    assert enc.transform(train).columns[0] == "g"
