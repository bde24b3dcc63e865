"""OneHotEncoder, OrdinalEncoder and the ``ml.one_hot`` / ``ml.ordinal_encode``
expressions (DESIGN.md, "Categorical and missing data"), checked against
scikit-learn's encoders fitted on the same generated data."""

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


# --------------------------------------------------------------------------- #
# data and the scikit-learn reference
# --------------------------------------------------------------------------- #
def make_frame(n: int = 400, seed: int = SEED, nulls: bool = True) -> pl.DataFrame:
    """Skewed categories (so some are infrequent), nulls and NaN."""
    rng = np.random.default_rng(seed)
    p = np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])

    def pick(values: list[Any]) -> list[Any]:
        chosen = rng.choice(len(values), size=n, p=p[: len(values)] / p[: len(values)].sum())
        out = [values[i] for i in chosen]
        if nulls:
            for i in rng.choice(n, size=n // 20, replace=False):
                out[i] = None
        return out

    floats = pick([0.5, -1.0, 2.25, 0.0, 1e300, -0.125])
    if nulls:
        for i in rng.choice(n, size=n // 25, replace=False):
            floats[i] = float("nan")
    return pl.DataFrame(
        {
            "s": pl.Series(pick(["b", "a", "é", "Z", "bb", "a b"]), dtype=pl.String),
            "n": pl.Series(rng.normal(size=n)),
            "i": pl.Series(pick([3, -2, 10, 0, 7, -50]), dtype=pl.Int64),
            "f": pl.Series(floats, dtype=pl.Float64),
            "b": pl.Series(pick([True, False]), dtype=pl.Boolean),
        }
    )


ENCODED = ["s", "i", "f", "b"]


def to_sklearn(
    frame: pl.DataFrame, columns: list[str], missing: Any = None
) -> np.ndarray[Any, Any]:
    """The columns as scikit-learn's encoders read them: floats with NaN,
    everything else an object array with ``missing`` for a null (``None``,
    or NaN: what pandas gives for a missing string, which scikit-learn's
    OrdinalEncoder encodes as ``encoded_missing_value``)."""
    parts = []
    for name in columns:
        s = frame[name]
        if s.dtype.is_float():
            parts.append(s.cast(pl.Float64).fill_null(float("nan")).to_numpy().astype(object))
            continue
        if s.dtype == pl.Categorical or isinstance(s.dtype, pl.Enum):
            s = s.cast(pl.String)
        parts.append(np.array([missing if v is None else v for v in s.to_list()], dtype=object))
    return np.column_stack(parts)


def _missing_of(cls: type) -> Any:
    # A null is scikit-learn's missing value: NaN for OrdinalEncoder (whose
    # encoded_missing_value applies to NaN only); for OneHotEncoder None and
    # NaN encode alike and None gives our names ({column}_None).
    return float("nan") if cls is skp.OrdinalEncoder else None


def sk_fit(cls: type, frame: pl.DataFrame, columns: list[str], **options: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if cls is skp.OneHotEncoder:
            options = {"sparse_output": False, **options}
        return cls(**options).fit(to_sklearn(frame, columns, _missing_of(cls)))


def sk_transform(enc: Any, frame: pl.DataFrame, columns: list[str]) -> np.ndarray[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = to_sklearn(frame, columns, _missing_of(type(enc)))
        return np.asarray(enc.transform(x), dtype=np.float64)


def ours(frame: pl.DataFrame | pl.LazyFrame, out_names: list[str]) -> np.ndarray[Any, Any]:
    got = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    if not out_names:
        # Every category dropped: a Polars frame without columns has no rows
        # (scikit-learn gives n x 0); compare the shape that can exist.
        return np.empty((0, 0))
    return got.select(out_names).cast(pl.Float64).to_numpy()


def same_categories(mine: list[Any], theirs: list[Any]) -> None:
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs, strict=True):
        a_list = [None if (isinstance(v, float) and np.isnan(v)) else v for v in a.tolist()]
        b_list = [None if (isinstance(v, float) and np.isnan(v)) else v for v in b.tolist()]
        assert a_list == b_list


ONE_HOT_OPTIONS: list[dict[str, Any]] = [
    {},
    {"drop": "first"},
    {"drop": "if_binary"},
    {"handle_unknown": "ignore"},
    {"min_frequency": 30},
    {"min_frequency": 0.1},
    {"max_categories": 3},
    {"max_categories": 1},
    {"min_frequency": 25, "max_categories": 3, "handle_unknown": "infrequent_if_exist"},
    {"min_frequency": 40, "drop": "first", "handle_unknown": "ignore"},
    {"max_categories": 2, "drop": "if_binary"},
    {"drop": ["a", 10, 2.25, True]},
    {"drop": ["a", None, float("nan"), None], "min_frequency": 2},
    {"dtype": pl.Float32},
    {"dtype": pl.Boolean},
]


def _sk_options(options: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in options.items() if k != "dtype"}
    return out


# --------------------------------------------------------------------------- #
# OneHotEncoder
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("options", ONE_HOT_OPTIONS, ids=str)
def test_one_hot_equals_sklearn(options: dict[str, Any]) -> None:
    train = make_frame()
    enc = pmk.OneHotEncoder(columns=ENCODED, **options).fit(train)
    ref = sk_fit(skp.OneHotEncoder, train, ENCODED, **_sk_options(options))
    names = ref.get_feature_names_out(ENCODED).tolist()
    out = enc.transform(train)
    assert out.columns == [*names[: len(names)], "n"] or set(names) <= set(out.columns)
    # The encoded columns replace their source, in place: s_*, n, i_*, f_*, b_*.
    expected_order = [c for c in names if c.startswith("s_")] + ["n"]
    expected_order += [c for c in names if not c.startswith("s_")]
    assert out.columns == expected_order
    assert enc.get_feature_names_out().tolist() == expected_order
    np.testing.assert_array_equal(ours(out, names), sk_transform(ref, train, ENCODED))
    same_categories(enc.categories_, ref.categories_)
    if options.get("drop") is not None:
        assert enc.drop_idx_ is not None
        assert [None if v is None else int(v) for v in enc.drop_idx_] == [
            None if v is None else int(v) for v in ref.drop_idx_
        ]
    if "min_frequency" in options or "max_categories" in options:
        mine = enc.infrequent_categories_
        theirs = ref.infrequent_categories_
        assert [m is None for m in mine] == [t is None for t in theirs]
        same_categories([m for m in mine if m is not None], [t for t in theirs if t is not None])
    dtype = options.get("dtype", pl.UInt8)
    assert all(out[c].dtype == dtype for c in names)


@pytest.mark.parametrize(
    "options",
    [
        {"handle_unknown": "ignore"},
        {"handle_unknown": "infrequent_if_exist", "min_frequency": 30},
        {"handle_unknown": "infrequent_if_exist"},
        {"handle_unknown": "ignore", "drop": "first", "max_categories": 3},
        {"handle_unknown": "infrequent_if_exist", "max_categories": 2, "drop": "first"},
    ],
    ids=str,
)
def test_one_hot_unseen_values_equal_sklearn(options: dict[str, Any]) -> None:
    train = make_frame(nulls=False)
    test = make_frame(200, seed=SEED + 1).with_columns(
        pl.when(pl.col("n") > 1).then(pl.lit("unseen")).otherwise(pl.col("s")).alias("s"),
        pl.when(pl.col("n") < -1).then(pl.lit(999)).otherwise(pl.col("i")).alias("i"),
        pl.when(pl.col("n") > 0.5).then(pl.lit(3.5)).otherwise(pl.col("f")).alias("f"),
    )
    enc = pmk.OneHotEncoder(columns=ENCODED, **options).fit(train)
    ref = sk_fit(skp.OneHotEncoder, train, ENCODED, **options)
    names = ref.get_feature_names_out(ENCODED).tolist()
    np.testing.assert_array_equal(
        ours(enc.transform(test), names), sk_transform(ref, test, ENCODED)
    )


def test_one_hot_given_categories_equal_sklearn() -> None:
    train = make_frame(nulls=False)
    categories = [
        ["Z", "a", "b", "zz"],
        [-2, 3, 10],
        [-1.0, 0.5, 2.25, float("nan")],
        [False, True],
    ]
    options: dict[str, Any] = {"categories": categories, "handle_unknown": "ignore"}
    enc = pmk.OneHotEncoder(columns=ENCODED, **options).fit(train)
    ref = sk_fit(skp.OneHotEncoder, train, ENCODED, **options)
    names = ref.get_feature_names_out(ENCODED).tolist()
    assert [c for c in enc.get_feature_names_out() if c != "n"] == names
    test = make_frame(100, seed=3)
    np.testing.assert_array_equal(
        ours(enc.transform(test), names), sk_transform(ref, test, ENCODED)
    )
    with pytest.raises(ValueError, match="unknown categories"):
        pmk.OneHotEncoder(columns=ENCODED, categories=categories).fit(train)
    with pytest.raises(ValueError, match="not sorted"):
        pmk.OneHotEncoder(columns=["i"], categories=[[3, -2]]).fit(train)


# --------------------------------------------------------------------------- #
# OrdinalEncoder
# --------------------------------------------------------------------------- #
ORDINAL_OPTIONS: list[dict[str, Any]] = [
    {},
    {"encoded_missing_value": -1},
    {"encoded_missing_value": float("nan")},
    {"handle_unknown": "use_encoded_value", "unknown_value": -7},
    {"handle_unknown": "use_encoded_value", "unknown_value": float("nan")},
    {"min_frequency": 30},
    {"max_categories": 3, "encoded_missing_value": -2},
    {"min_frequency": 0.2, "handle_unknown": "use_encoded_value", "unknown_value": 99},
]


@pytest.mark.parametrize("options", ORDINAL_OPTIONS, ids=str)
def test_ordinal_equals_sklearn(options: dict[str, Any]) -> None:
    train = make_frame()
    test = make_frame(150, seed=SEED + 2)
    if options.get("handle_unknown") == "use_encoded_value":
        test = test.with_columns(
            pl.when(pl.col("n") > 1).then(pl.lit("new")).otherwise(pl.col("s")).alias("s")
        )
    enc = pmk.OrdinalEncoder(columns=ENCODED, **options).fit(train)
    sk_options = {"encoded_missing_value": np.nan, **options}
    ref = sk_fit(skp.OrdinalEncoder, train, ENCODED, **sk_options)
    got = enc.transform(test)
    assert got.columns == test.columns
    assert all(got[c].dtype == pl.Float64 for c in ENCODED)
    # Our default missing code is null (scikit-learn's NaN); to_numpy gives NaN.
    np.testing.assert_array_equal(ours(got, ENCODED), sk_transform(ref, test, ENCODED))
    same_categories(enc.categories_, ref.categories_)
    if options.get("encoded_missing_value") is None:
        # A missing value stays null (not scikit-learn's NaN).
        assert got.filter(test["s"].is_null())["s"].null_count() == test["s"].null_count()
        assert not got.filter(test["s"].is_null())["s"].is_nan().any()


def test_ordinal_option_errors_as_sklearn() -> None:
    train = make_frame()
    with pytest.raises(TypeError, match="unknown_value should only be set"):
        pmk.OrdinalEncoder(unknown_value=1).fit(train)
    with pytest.raises(TypeError, match=r"unknown_value should be an integer or np\.nan"):
        pmk.OrdinalEncoder(handle_unknown="use_encoded_value").fit(train)
    with pytest.raises(ValueError, match="already used for encoding"):
        pmk.OrdinalEncoder(columns="s", handle_unknown="use_encoded_value", unknown_value=1).fit(
            train
        )
    with pytest.raises(ValueError, match="encoded_missing_value"):
        pmk.OrdinalEncoder(columns="s", encoded_missing_value=0).fit(train)


# --------------------------------------------------------------------------- #
# inputs: Categorical, Enum, integer kinds, chunked and sliced
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("dtype", ["categorical", "enum", "string"])
def test_text_dtypes_encode_by_value(dtype: str) -> None:
    train = make_frame()
    levels = ["Z", "a", "a b", "b", "bb", "é", "never"]
    cast = {"categorical": pl.Categorical(), "enum": pl.Enum(levels), "string": pl.String()}[dtype]
    typed = train.with_columns(pl.col("s").cast(cast))
    enc = pmk.OneHotEncoder(columns="s").fit(typed)
    ref = sk_fit(skp.OneHotEncoder, train, ["s"])
    names = ref.get_feature_names_out(["s"]).tolist()
    np.testing.assert_array_equal(
        ours(enc.transform(typed), names), sk_transform(ref, train, ["s"])
    )
    # Fitted on one text dtype, applied to another text dtype: the values decide.
    np.testing.assert_array_equal(
        ours(enc.transform(train), names), sk_transform(ref, train, ["s"])
    )


@pytest.mark.parametrize("dtype", [pl.Int8, pl.UInt16, pl.Int32, pl.UInt64, pl.Float32])
def test_numeric_dtypes(dtype: pl.DataType) -> None:
    base = pl.DataFrame({"x": [3, 1, 3, 2, None, 1, 3]})
    frame = base.with_columns(pl.col("x").cast(dtype))
    enc = pmk.OneHotEncoder().fit(frame)
    ref = sk_fit(skp.OneHotEncoder, frame, ["x"])
    names = ref.get_feature_names_out(["x"]).tolist()
    assert enc.get_feature_names_out().tolist() == names
    np.testing.assert_array_equal(
        ours(enc.transform(frame), names), sk_transform(ref, frame, ["x"])
    )


def test_float32_names_render_as_sklearn() -> None:
    frame = pl.DataFrame({"x": pl.Series([0.1, 0.2, 0.1], dtype=pl.Float32)})
    enc = pmk.OneHotEncoder().fit(frame)
    ref = skp.OneHotEncoder().fit(frame.to_numpy())
    assert enc.get_feature_names_out().tolist() == ref.get_feature_names_out(["x"]).tolist()


def test_string_codes_match_replace_strict_for_short_and_long_values() -> None:
    """Values up to 12 bytes sit inside their Arrow view, longer ones in a
    buffer: both kinds, nulls, chunked and sliced, against Polars'
    replace_strict."""
    rng = np.random.default_rng(23)
    cats = ["x" * n for n in range(0, 40, 3)] + ["é" * 6, "a\0b", "twelve_bytes", "thirteen_byte"]
    picks = rng.integers(0, len(cats) + 1, 3000)
    values = [None if i == len(cats) else cats[i] for i in picks]
    column = pl.Series("c", values, dtype=pl.String)
    layouts = {
        "one chunk": column,
        "chunked": pl.concat([column[:1000], column[1000:1700], column[1700:]], rechunk=False),
        "sliced": column[123:2900],
    }
    for name, series in layouts.items():
        got = pl.select(series.ml.ordinal_encode(categories=cats)).to_series()
        expected = series.replace_strict(cats, list(range(len(cats))), return_dtype=pl.UInt32)
        assert got.to_list() == expected.to_list(), name
    unknown = pl.Series("c", [cats[3], "x" * 41, None], dtype=pl.String)
    with pytest.raises(pl.exceptions.ComputeError, match=r"x{41}"):
        pl.select(unknown.ml.ordinal_encode(categories=cats))


def test_long_columns_split_across_threads_match_polars_and_scikit_learn() -> None:
    """From 2**19 rows on, lookups and fit counts split the rows across the
    threads: codes, counts (through infrequent grouping) and the row an
    unknown value is reported at must not depend on the split."""
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(29)
    n = 700_001
    cats = [f"level_{i:02d}" for i in range(30)] + ["a rarer value longer than 12 bytes"]
    weights = np.r_[np.full(30, 1.0), 0.002]
    picks = rng.choice(len(cats) + 1, n, p=np.r_[weights, 0.3] / np.r_[weights, 0.3].sum())
    values = [None if i == len(cats) else cats[i] for i in picks]
    column = pl.Series("c", values, dtype=pl.String)
    chunked = pl.concat([column[:300_000], column[300_000:]], rechunk=False)
    for series in (column, chunked):
        got = pl.select(series.ml.ordinal_encode(categories=cats)).to_series()
        expected = series.replace_strict(cats, list(range(len(cats))), return_dtype=pl.UInt32)
        assert got.to_list() == expected.to_list()
        frame = series.to_frame()
        enc = pmk.OneHotEncoder(min_frequency=5_000).fit(frame)
        ref = OneHotEncoder(min_frequency=5_000, sparse_output=False).fit(
            np.array(values, dtype=object).reshape(-1, 1)
        )
        assert enc.get_feature_names_out().tolist() == ref.get_feature_names_out(["c"]).tolist()
        assert [c.tolist() for c in enc.infrequent_categories_] == [
            c.tolist() for c in ref.infrequent_categories_
        ]
    # Unknown values in both parts: the first row is reported, every time.
    late = column.clone()
    late[650_000] = "never seen"
    late[340_000] = "seen first"
    for _ in range(8):
        with pytest.raises(pl.exceptions.ComputeError, match=r"seen first.*\(row 340000\)"):
            pl.select(late.ml.ordinal_encode(categories=cats))
    late[340_000] = cats[0]
    with pytest.raises(pl.exceptions.ComputeError, match=r"never seen.*\(row 650000\)"):
        pl.select(late.ml.ordinal_encode(categories=cats))


def test_enum_columns_reach_the_lookup_as_ids_with_the_same_codes() -> None:
    """An Enum column is looked up by its ids (its dtype carried alongside):
    codes, one-hot fields, errors and schemas must equal those of the same
    values as String, chunked, sliced, lazy and streaming."""
    from sklearn.preprocessing import OneHotEncoder

    levels = ["red", "green", "a blue longer than twelve bytes", "grey"]
    rng = np.random.default_rng(31)
    picks = rng.integers(0, len(levels) + 1, 5000)
    values = [None if i == len(levels) else levels[i] for i in picks]
    text = pl.DataFrame({"c": pl.Series(values, dtype=pl.String)})
    enum = text.with_columns(pl.col("c").cast(pl.Enum(levels)))
    chunked = pl.concat([enum.slice(0, 1234), enum.slice(1234)], rechunk=False)
    sliced = enum.slice(77, 4000)
    for frame in (enum, chunked, sliced):
        codes = frame.select(pl.col("c").ml.ordinal_encode())["c"]
        expected = (
            frame["c"]
            .cast(pl.String)
            .replace_strict(levels, list(range(len(levels))), return_dtype=pl.UInt32)
        )
        assert codes.to_list() == expected.to_list()
        hot = frame.select(pl.col("c").ml.one_hot().struct.unnest())
        assert hot.columns == [f"c_{v}" for v in levels]
        assert hot.to_numpy().argmax(axis=1).tolist() == [
            levels.index(v) if v is not None else 0 for v in frame["c"].to_list()
        ]
        assert hot.sum_horizontal().to_list() == [int(v is not None) for v in frame["c"]]
    lazy = enum.lazy().select(pl.col("c").ml.one_hot())
    assert lazy.collect_schema() == enum.select(pl.col("c").ml.one_hot()).schema
    # One lookup for all the fields, in both engines: an input of an Enum
    # dtype next to the ids kept Polars' streaming engine from computing the
    # Struct once.
    fitted = pmk.OneHotEncoder().fit(enum).transform(enum.lazy())
    assert fitted.explain().count("one_hot(") == 1
    assert fitted.explain(engine="streaming").count("one_hot(") == 1
    # Per group and in aggregations the fields keep the column's name.
    grouped = enum.with_columns(g=pl.int_range(pl.len()) % 3)
    over = grouped.select(pl.col("c").ml.one_hot().over("g"))
    assert_frame_equal(over, grouped.select(pl.col("c").ml.one_hot()))
    agg = grouped.group_by("g").agg(pl.col("c").ml.one_hot())
    assert agg.schema["c"] == pl.List(over.schema["c"])
    # Fitted on the String values, transformed as String, Enum, Categorical.
    seen = text.filter((pl.col("c") != "grey") | pl.col("c").is_null())
    for cls in (pmk.OneHotEncoder, pmk.OrdinalEncoder):
        enc = cls(handle_unknown="error").fit(seen)
        want = enc.transform(seen)
        for frame in (
            seen.with_columns(pl.col("c").cast(pl.Enum(levels))),
            seen.with_columns(pl.col("c").cast(pl.Categorical)),
        ):
            assert_frame_equal(enc.transform(frame), want)
            assert_frame_equal(enc.transform(frame.lazy()).collect(engine="streaming"), want)
        with pytest.raises(pl.exceptions.ComputeError, match=r'"grey"'):
            enc.transform(enum)
    ref = OneHotEncoder(sparse_output=False).fit(np.array(values, dtype=object).reshape(-1, 1))
    got = pmk.OneHotEncoder().fit(enum).transform(enum)
    np.testing.assert_array_equal(
        got.to_numpy(), ref.transform(np.array(values, dtype=object).reshape(-1, 1))
    )


def test_chunked_and_sliced_input() -> None:
    train = make_frame()
    enc = pmk.OneHotEncoder(columns=ENCODED, min_frequency=20).fit(train)
    chunked = pl.concat(
        [train.slice(0, 150), train.slice(150, 100), train.slice(250)], rechunk=False
    )
    assert chunked["s"].n_chunks() == 3
    assert_frame_equal(enc.transform(chunked), enc.transform(train))
    sliced = train.slice(37, 211)
    assert_frame_equal(enc.transform(sliced), enc.transform(train).slice(37, 211))
    fitted_chunked = pmk.OneHotEncoder(columns=ENCODED, min_frequency=20).fit(chunked)
    assert fitted_chunked.to_json() == enc.to_json()


# --------------------------------------------------------------------------- #
# lazy, streaming, out of core, partial_fit
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("cls", [pmk.OneHotEncoder, pmk.OrdinalEncoder], ids=lambda c: c.__name__)
def test_lazy_and_streaming_equal_eager(cls: type) -> None:
    train = make_frame()
    enc = cls(columns=ENCODED, min_frequency=10).fit(train)
    eager = enc.transform(train)
    lazy = enc.transform(train.lazy())
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect_schema() == eager.schema
    assert_frame_equal(lazy.collect(engine="streaming"), eager)
    assert_frame_equal(lazy.collect(engine="in-memory"), eager)
    assert_frame_equal(
        train.lazy().select(enc.expressions()).collect(engine="streaming"),
        train.select(enc.expressions()),
    )


def test_schema_known_without_reading_data(tmp_path: Path) -> None:
    train = make_frame()
    enc = pmk.OneHotEncoder(columns=["s", "i"]).fit(train)
    path = tmp_path / "data.parquet"
    train.write_parquet(path)
    lazy = enc.transform(pl.scan_parquet(path))
    path.unlink()  # nothing reads the data for the schema
    schema = lazy.collect_schema()
    assert schema.names() == enc.get_feature_names_out().tolist()


@pytest.mark.parametrize("cls", [pmk.OneHotEncoder, pmk.OrdinalEncoder], ids=lambda c: c.__name__)
def test_out_of_core_fit_equals_in_memory(
    cls: type, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("polars_mlkit._batches.BATCH_ROWS", 37)
    train = make_frame(1000)
    path = tmp_path / "train.parquet"
    train.write_parquet(path, row_group_size=100)
    options = {"columns": ENCODED, "max_categories": 4}
    lazy_fit = cls(**options).fit(pl.scan_parquet(path))
    memory_fit = cls(**options).fit(train)
    assert lazy_fit.to_json() == memory_fit.to_json()
    out = pl.scan_parquet(path).pipe(lazy_fit.transform).collect(engine="streaming")
    assert_frame_equal(out, memory_fit.transform(train))


@pytest.mark.parametrize("cls", [pmk.OneHotEncoder, pmk.OrdinalEncoder], ids=lambda c: c.__name__)
def test_partial_fit_equals_fit(cls: type) -> None:
    train = make_frame(600)
    options = {"columns": ENCODED, "min_frequency": 0.05}
    whole = cls(**options).fit(train)
    parts = cls(**options)
    for start in range(0, 600, 170):
        parts.partial_fit(train.slice(start, 170))
    assert parts.to_json() == whole.to_json()
    assert parts.n_samples_seen_ == 600


# --------------------------------------------------------------------------- #
# JSON and load
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (pmk.OneHotEncoder, {"drop": ["a", None, float("nan"), None], "dtype": pl.Int16}),
        (pmk.OneHotEncoder, {"max_categories": 3, "handle_unknown": "infrequent_if_exist"}),
        (
            pmk.OrdinalEncoder,
            {"handle_unknown": "use_encoded_value", "unknown_value": float("nan")},
        ),
        (pmk.OrdinalEncoder, {"encoded_missing_value": -1, "min_frequency": 5}),
    ],
    ids=str,
)
def test_json_round_trip(cls: type, options: dict[str, Any]) -> None:
    train = make_frame()
    enc = cls(columns=ENCODED, **options).fit(train)
    text = enc.to_json()
    document = json.loads(text)
    assert document["format"] == "polars-mlkit/encoder"
    assert document["kind"] == cls.__name__
    for load in (pmk.load, pmk.load_scaler):
        again = load(text)
        assert type(again) is cls
        assert again.to_json() == text
        assert_frame_equal(again.transform(train), enc.transform(train))


def test_load_errors() -> None:
    text = pmk.OneHotEncoder().fit(pl.DataFrame({"c": ["a"]})).to_json()
    doc = json.loads(text)
    with pytest.raises(ValueError, match="load: format version 9 is not supported"):
        pmk.load(json.dumps({**doc, "version": 9}))
    with pytest.raises(ValueError, match="load: unknown kind 'Foo'"):
        pmk.load(json.dumps({**doc, "kind": "Foo"}))
    with pytest.raises(ValueError, match="load: format must be"):
        pmk.load(json.dumps({**doc, "format": "x"}))
    with pytest.raises(ValueError, match="load: malformed OneHotEncoder"):
        pmk.load(json.dumps({k: v for k, v in doc.items() if k != "columns"}))
    with pytest.raises(TypeError, match="load: expected the JSON text"):
        pmk.load(3)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- #
# expressions
# --------------------------------------------------------------------------- #
def test_one_hot_expression_equals_sklearn_with_given_categories() -> None:
    frame = make_frame(nulls=False)
    cats = ["Z", "a", "a b", "b", "bb", "é"]
    got = frame.select(pl.col("s").ml.one_hot(cats)).unnest("s")
    ref = skp.OneHotEncoder(categories=[cats], sparse_output=False).fit(to_sklearn(frame, ["s"]))
    assert got.columns == ref.get_feature_names_out(["s"]).tolist()
    np.testing.assert_array_equal(ours(got, got.columns), sk_transform(ref, frame, ["s"]))
    dropped = frame.select(pl.col("s").ml.one_hot(cats, drop="a")).unnest("s")
    ref = skp.OneHotEncoder(categories=[cats], drop=["a"], sparse_output=False).fit(
        to_sklearn(frame, ["s"])
    )
    assert dropped.columns == ref.get_feature_names_out(["s"]).tolist()
    np.testing.assert_array_equal(ours(dropped, dropped.columns), sk_transform(ref, frame, ["s"]))


def test_ordinal_expression_and_enum_without_categories() -> None:
    levels = ["low", "mid", "high"]
    frame = pl.DataFrame({"c": pl.Series(["mid", None, "high", "low"], dtype=pl.Enum(levels))})
    assert frame.select(pl.col("c").ml.ordinal_encode())["c"].to_list() == [1, None, 2, 0]
    hot = frame.lazy().select(pl.col("c").ml.one_hot())
    assert hot.collect_schema()["c"] == pl.Struct({f"c_{v}": pl.UInt8 for v in levels})
    assert hot.collect().unnest("c").rows() == [(0, 1, 0), (0, 0, 0), (0, 0, 1), (1, 0, 0)]
    s = pl.Series("x", [2.5, None, 1.0])
    assert s.ml.ordinal_encode([1.0, 2.5, None]).to_list() == [1, 2, 0]
    assert s.ml.one_hot([1.0, 2.5]).struct.fields == ["x_1.0", "x_2.5"]
    assert pmk.ordinal_encode("i", [0, 3]).meta.output_name() == "i"


def test_expressions_stream_and_keep_schema() -> None:
    frame = make_frame()
    exprs = [
        pl.col("s").ml.one_hot(["a", "b", None], handle_unknown="ignore"),
        pl.col("i").ml.ordinal_encode([-2, 3, 10], handle_unknown="ignore"),
    ]
    lazy = frame.lazy().select(exprs)
    eager = frame.select(exprs)
    assert lazy.collect_schema() == eager.schema
    assert_frame_equal(lazy.collect(engine="streaming"), eager)
    codes = eager["i"].to_list()
    expected = [{-2: 0, 3: 1, 10: 2}.get(v) for v in frame["i"].to_list()]
    assert codes == expected


# --------------------------------------------------------------------------- #
# bad input
# --------------------------------------------------------------------------- #
def test_unknown_category_names_column_and_value() -> None:
    enc = pmk.OneHotEncoder(columns="s").fit(pl.DataFrame({"s": ["a", "b"]}))
    with pytest.raises(pl.exceptions.ComputeError, match=r'column "s" has the value "zebra"'):
        enc.transform(pl.DataFrame({"s": ["a", "zebra"]}))
    with pytest.raises(pl.exceptions.ComputeError, match=r'column "s" has a missing value'):
        enc.transform(pl.DataFrame({"s": ["a", None]}))
    ordinal = pmk.OrdinalEncoder().fit(pl.DataFrame({"k": [1, 2]}))
    with pytest.raises(pl.exceptions.ComputeError, match=r'column "k" has the value 7'):
        ordinal.transform(pl.DataFrame({"k": [7]}))
    with pytest.raises(
        pl.exceptions.ComputeError, match=r'ordinal_encode: column "c" has the value "q"'
    ):
        pl.DataFrame({"c": ["q"]}).select(pl.col("c").ml.ordinal_encode(["a"]))


def test_fitted_on_string_applied_to_int_is_a_schema_error() -> None:
    enc = pmk.OneHotEncoder().fit(pl.DataFrame({"c": ["1", "2"]}))
    lazy = enc.transform(pl.LazyFrame({"c": [1, 2]}))
    # Raised while Polars resolves the plan's schema, before any data is read
    # (Polars reports a plugin's schema-time error as a ComputeError).
    with pytest.raises(pl.exceptions.ComputeError, match=r'column "c" holds integers \(i64\)'):
        lazy.collect_schema()
    with pytest.raises(pl.exceptions.ComputeError, match="fitted on a column of another dtype"):
        enc.transform(pl.DataFrame({"c": [1, 2]}))


def test_argument_errors() -> None:
    frame = pl.DataFrame({"c": ["a", "b"], "l": [[1], [2]]})
    with pytest.raises(ValueError, match="handle_unknown must be one of"):
        pmk.OneHotEncoder(handle_unknown="zero").fit(frame)
    with pytest.raises(ValueError, match="min_frequency"):
        pmk.OneHotEncoder(min_frequency=0).fit(frame)
    with pytest.raises(ValueError, match="max_categories"):
        pmk.OneHotEncoder(max_categories=0).fit(frame)
    with pytest.raises(ValueError, match="drop must be"):
        pmk.OneHotEncoder(drop="last").fit(frame)
    with pytest.raises(TypeError, match=r"column 'l' has dtype List\(Int64\)"):
        pmk.OneHotEncoder().fit(frame)
    with pytest.raises(ValueError, match="was supposed to be dropped"):
        pmk.OneHotEncoder(columns="c", drop=["zz"]).fit(frame)
    with pytest.raises(ValueError, match="because it is infrequent"):
        pmk.OneHotEncoder(columns="c", drop=["b"], min_frequency=2).fit(
            pl.DataFrame({"c": ["a", "a", "b"]})
        )
    with pytest.raises(TypeError, match="dtype must be"):
        pmk.OneHotEncoder(columns="c", dtype=pl.String).fit(frame)
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="'c'"):
        pmk.OneHotEncoder(columns="c").fit(frame).transform(pl.DataFrame({"x": [1]}))
    with pytest.raises(ValueError, match="categories has 2 lists but 1 columns"):
        pmk.OneHotEncoder(columns="c", categories=[["a"], ["b"]]).fit(frame)
    with pytest.raises(ValueError, match=r"OneHotEncoder.fit: .*9223372036854775813"):
        pmk.OneHotEncoder().fit(pl.DataFrame({"u": pl.Series([2**63 + 5], dtype=pl.UInt64)}))
    with pytest.raises(pmk.scalers.NotFittedError):
        pmk.OneHotEncoder().transform(frame)
    with pytest.raises(ValueError, match="drop needs categories"):
        pmk.one_hot("c", drop="first")
    with pytest.raises(pl.exceptions.ComputeError, match="pass categories="):
        frame.lazy().select(pl.col("c").ml.one_hot()).collect_schema()


# --------------------------------------------------------------------------- #
# scikit-learn protocol
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("cls", [pmk.OneHotEncoder, pmk.OrdinalEncoder], ids=lambda c: c.__name__)
def test_check_estimator_passes(cls: type) -> None:
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results: list[dict[str, Any]] = check_estimator(cls(), on_fail=None)
    failed = [
        f"{r['check_name']}: {str(r['exception']).splitlines()[0]}"
        for r in results
        if r["status"] == "failed"
    ]
    assert len(results) >= 40
    assert failed == []


def test_numpy_and_pipeline() -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline

    x = np.array([["a", 1], ["b", 2], [None, 1]], dtype=object)
    mine = pmk.OneHotEncoder().fit_transform(x)
    ref = skp.OneHotEncoder(sparse_output=False).fit_transform(x)
    np.testing.assert_array_equal(mine, ref)
    # In a ColumnTransformer with Polars output: scikit-learn's numbers and names.
    train = make_frame()
    ct = ColumnTransformer([("hot", pmk.OneHotEncoder(), ["s", "i"])], remainder="drop")
    ct.set_output(transform="polars")
    out = ct.fit_transform(train)
    ref_enc = sk_fit(skp.OneHotEncoder, train, ["s", "i"])
    names = [f"hot__{n}" for n in ref_enc.get_feature_names_out(["s", "i"])]
    assert out.columns == names
    np.testing.assert_array_equal(
        out.cast(pl.Float64).to_numpy(), sk_transform(ref_enc, train, ["s", "i"])
    )
    # In a Pipeline: the ordinal codes are scaled by the next step.
    pipe = make_pipeline(pmk.OrdinalEncoder(columns=["s"]), pmk.StandardScaler(columns=["s"]))
    scaled = pipe.fit_transform(train)
    codes = pmk.OrdinalEncoder(columns=["s"]).fit_transform(train)["s"]
    expected = skp.StandardScaler().fit_transform(codes.to_numpy().reshape(-1, 1)).ravel()
    np.testing.assert_allclose(scaled["s"].to_numpy(), expected, rtol=1e-12, equal_nan=True)


# --------------------------------------------------------------------------- #
# generated frames (hypothesis) against scikit-learn
# --------------------------------------------------------------------------- #
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_frames = st.integers(min_value=1, max_value=40).flatmap(
    lambda n: st.fixed_dictionaries(
        {
            "s": st.lists(st.sampled_from(["x", "y", "zz", "", None]), min_size=n, max_size=n),
            "i": st.lists(st.sampled_from([-1, 0, 5, None]), min_size=n, max_size=n),
            "f": st.lists(
                # -0.0 is left out: it is 0.0's category here (test below),
                # while numpy.unique keeps whichever zero its sort puts first.
                st.sampled_from([0.0, 1.5, -2.0, float("inf"), float("nan"), None]),
                min_size=n,
                max_size=n,
            ),
        }
    )
)
_infrequent = st.fixed_dictionaries(
    {},
    optional={
        "min_frequency": st.one_of(st.integers(1, 6), st.sampled_from([0.1, 0.3, 0.5])),
        "max_categories": st.integers(1, 5),
    },
)


def _frame_of(data: dict[str, list[Any]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "s": pl.Series(data["s"], dtype=pl.String),
            "i": pl.Series(data["i"], dtype=pl.Int32),
            "f": pl.Series(data["f"], dtype=pl.Float64),
        }
    )


@given(
    data=_frames,
    extra=_infrequent,
    drop=st.sampled_from([None, "first", "if_binary"]),
    handle=st.sampled_from(["ignore", "infrequent_if_exist"]),
)
def test_generated_one_hot_equals_sklearn(
    data: dict[str, list[Any]], extra: dict[str, Any], drop: Any, handle: str
) -> None:
    frame = _frame_of(data)
    columns = ["s", "i", "f"]
    options = {"drop": drop, "handle_unknown": handle, **extra}
    enc = pmk.OneHotEncoder(**options).fit(frame)
    ref = sk_fit(skp.OneHotEncoder, frame, columns, **options)
    names = ref.get_feature_names_out(columns).tolist()
    assert enc.get_feature_names_out().tolist() == names
    # Fitted on the frame, applied to its reverse plus unseen values.
    test = pl.concat([frame.reverse(), _frame_of({"s": ["new"], "i": [77], "f": [2.5]})])
    expected = sk_transform(ref, test, columns) if names else np.empty((0, 0))
    np.testing.assert_array_equal(ours(enc.transform(test), names), expected)
    lazy = enc.transform(test.lazy())
    assert_frame_equal(lazy.collect(engine="streaming"), enc.transform(test))


@given(data=_frames, extra=_infrequent, missing=st.sampled_from([None, -1, 99]))
def test_generated_ordinal_equals_sklearn(
    data: dict[str, list[Any]], extra: dict[str, Any], missing: Any
) -> None:
    frame = _frame_of(data)
    columns = ["s", "i", "f"]
    options = {"handle_unknown": "use_encoded_value", "unknown_value": -5, **extra}
    enc = pmk.OrdinalEncoder(encoded_missing_value=missing, **options).fit(frame)
    sk_missing = np.nan if missing is None else missing
    ref = sk_fit(skp.OrdinalEncoder, frame, columns, encoded_missing_value=sk_missing, **options)
    test = pl.concat([frame.reverse(), _frame_of({"s": ["new"], "i": [77], "f": [2.5]})])
    np.testing.assert_array_equal(
        ours(enc.transform(test), columns), sk_transform(ref, test, columns)
    )
    same_categories(enc.categories_, ref.categories_)


def test_signed_zeros_are_one_category() -> None:
    frame = pl.DataFrame({"f": [0.0, -0.0, 1.0, -0.0]})
    enc = pmk.OneHotEncoder().fit(frame)
    assert enc.get_feature_names_out().tolist() == ["f_0.0", "f_1.0"]
    ref = skp.OneHotEncoder(sparse_output=False).fit(frame.to_numpy())
    assert len(ref.categories_[0]) == 2  # numpy.unique has them as one too
    np.testing.assert_array_equal(enc.transform(frame).to_numpy(), ref.transform(frame.to_numpy()))


@pytest.mark.parametrize("cls", [pmk.OneHotEncoder, pmk.OrdinalEncoder], ids=lambda c: c.__name__)
def test_serialized_plan_round_trips(cls: type) -> None:
    import io

    train = make_frame()
    enc = cls(columns=ENCODED, max_categories=3).fit(train)
    plan = enc.transform(train.lazy())
    again = pl.LazyFrame.deserialize(io.BytesIO(plan.serialize()))
    assert_frame_equal(again.collect(), enc.transform(train))


def test_boolean_with_nulls_and_pandas_input() -> None:
    # pandas comes with the Ray extra; the lowest-polars run installs neither.
    pytest.importorskip("pandas")
    frame = pl.DataFrame({"b": [True, None, False, True], "s": ["u", "v", None, "u"]})
    enc = pmk.OneHotEncoder().fit(frame.to_pandas())
    ref = sk_fit(skp.OneHotEncoder, frame, ["b", "s"])
    names = ref.get_feature_names_out(["b", "s"]).tolist()
    assert enc.get_feature_names_out().tolist() == names
    out = enc.transform(frame.to_pandas())
    assert type(out).__name__ == "DataFrame"
    assert type(out).__module__.startswith("pandas")
    np.testing.assert_array_equal(
        out.to_numpy().astype(float), sk_transform(ref, frame, ["b", "s"])
    )
    polars_out = enc.set_output(transform="polars").transform(frame)
    assert polars_out.columns == names
