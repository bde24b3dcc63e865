"""One definition of the scaling rules: a fitted scaler's ``fit(X).transform(X)``
equals the ``ml`` expression on the same column bit for bit, for every
scaler and option, on columns near ±1e308, tiny subnormals, constant and
near-constant columns, NaN and nulls, Float32, vector columns and groups.

The expression is the reference here (it is tested against scikit-learn in
``test_scaling_properties.py``); this file says the fitted face is the same
computation. Deterministic: the "ci" hypothesis profile (conftest.py).
"""

from __future__ import annotations

import math
from typing import Any

import hypothesis.strategies as st
import numpy as np
import polars as pl
import polars_mlkit as pmk
import pytest
from hypothesis import given, settings

MAX = float(np.finfo(np.float64).max)
TINY = 5e-324

SCALERS: dict[str, tuple[type[Any], str]] = {
    "minmax": (pmk.MinMaxScaler, "minmax_scale"),
    "standard": (pmk.StandardScaler, "standard_scale"),
    "robust": (pmk.RobustScaler, "robust_scale"),
    "maxabs": (pmk.MaxAbsScaler, "maxabs_scale"),
}

OPTIONS = [
    ("minmax", {}),
    ("minmax", {"feature_range": (-1.0, 1.0)}),
    ("minmax", {"feature_range": (3.0, 7.5), "clip": True}),
    ("standard", {}),
    ("standard", {"with_mean": False}),
    ("standard", {"with_std": False}),
    ("standard", {"ddof": 1}),
    ("robust", {}),
    ("robust", {"quantile_range": (10.0, 90.0)}),
    ("robust", {"with_centering": False, "unit_variance": True}),
    ("robust", {"with_scaling": False}),
    ("maxabs", {}),
]

# Values that stress the rules: huge, tiny, subnormal, signed zeros, NaN, null.
SPECIAL = st.sampled_from(
    [0.0, -0.0, 1.0, -1.0, MAX, -MAX, 1.7e308, -1.7e308, 1e308, TINY, -TINY, 1e-310, math.nan]
)
FINITE = st.floats(allow_nan=False, allow_infinity=False)
ELEMENT = st.one_of(FINITE, SPECIAL, st.none())


def _column(draw: st.DrawFn) -> list[float | None]:
    kind = draw(st.sampled_from(["any", "constant", "near-constant", "huge", "tiny"]))
    n = draw(st.integers(1, 40))
    if kind == "constant":
        value = draw(st.one_of(FINITE, SPECIAL))
        return [value] * n
    if kind == "near-constant":
        base = draw(st.floats(min_value=-1e6, max_value=1e6))
        return [base + base * 1e-16 * draw(st.integers(-3, 3)) for _ in range(n)]
    if kind == "huge":
        return [
            draw(st.one_of(st.floats(min_value=1e300, max_value=MAX), SPECIAL))
            * draw(st.sampled_from([1.0, -1.0]))
            for _ in range(n)
        ]
    if kind == "tiny":
        return [draw(st.floats(min_value=-1e-300, max_value=1e-300)) for _ in range(n)]
    return [draw(ELEMENT) for _ in range(n)]


@st.composite
def columns(draw: st.DrawFn) -> list[float | None]:
    return _column(draw)


def bits(series: pl.Series) -> list[object]:
    """Each value's exact bits (NaN by its payload-free marker), None for null."""
    out: list[object] = []
    for v in series.to_list():
        if v is None:
            out.append(None)
        elif isinstance(v, list):
            out.append(
                [
                    None
                    if u is None
                    else ("nan" if math.isnan(u) else np.float64(u).view(np.uint64))
                    for u in v
                ]
            )
        else:
            out.append("nan" if math.isnan(v) else np.float64(v).view(np.uint64))
    return out


def fitted(method: str, options: dict[str, Any], frame: pl.DataFrame, **kw: Any) -> pl.Series:
    cls, _ = SCALERS[method]
    scaler = cls(columns="x", **kw, **options)
    return scaler.fit(frame).transform(frame)["x"]


def expression(method: str, options: dict[str, Any]) -> pl.Expr:
    return getattr(pl.col("x").ml, SCALERS[method][1])(**options)


def _fits(frame: pl.DataFrame) -> bool:
    """Whether the column can be fitted at all (no infinity; the expression
    raises on the same columns)."""
    try:
        frame.select(pl.col("x").ml.maxabs_scale())
    except pl.exceptions.ComputeError:
        return False
    return True


@pytest.mark.parametrize(("method", "options"), OPTIONS)
@settings(max_examples=60)
@given(values=columns(), float32=st.booleans())
def test_scalar_columns_bit_for_bit(
    method: str, options: dict[str, Any], values: list[float | None], float32: bool
) -> None:
    dtype = pl.Float32 if float32 else pl.Float64
    with np.errstate(over="ignore"):
        frame = pl.DataFrame({"x": pl.Series(values, dtype=pl.Float64).cast(dtype)})
    if not _fits(frame):
        return
    got = fitted(method, options, frame)
    want = frame.select(expression(method, options))["x"]
    assert got.dtype == want.dtype
    assert bits(got) == bits(want), (values, got.to_list(), want.to_list())


@pytest.mark.parametrize(("method", "options"), OPTIONS)
@settings(max_examples=25)
@given(
    lanes=st.lists(columns(), min_size=1, max_size=4),
    container=st.sampled_from(["array", "list"]),
    float32=st.booleans(),
    null_rows=st.lists(st.booleans(), max_size=40),
)
def test_vector_columns_bit_for_bit(
    method: str,
    options: dict[str, Any],
    lanes: list[list[float | None]],
    container: str,
    float32: bool,
    null_rows: list[bool],
) -> None:
    n = min(len(lane) for lane in lanes)
    # Nulls inside vectors are not vectors; whole rows may be null.
    rows: list[list[float] | None] = [
        [math.nan if lane[i] is None else float(lane[i]) for lane in lanes]  # type: ignore[arg-type]
        for i in range(n)
    ]
    rows = [None if i < len(null_rows) and null_rows[i] else r for i, r in enumerate(rows)]
    inner = pl.Float32 if float32 else pl.Float64
    width = len(lanes)
    dtype = pl.Array(inner, width) if container == "array" else pl.List(inner)
    with np.errstate(over="ignore"):
        series = pl.Series(rows, dtype=pl.List(pl.Float64)).cast(
            pl.Array(pl.Float64, width) if container == "array" else pl.List(pl.Float64)
        )
        frame = pl.DataFrame({"x": series.cast(dtype)})
    if all(r is None for r in rows):
        return
    try:
        want = frame.select(expression(method, options))["x"]
    except pl.exceptions.ComputeError:
        return  # infinity in a lane (after a Float32 cast): both faces refuse it
    got = fitted(method, options, frame)
    assert got.dtype == want.dtype
    assert bits(got) == bits(want), (rows, got.to_list(), want.to_list())


@pytest.mark.parametrize(("method", "options"), OPTIONS)
@settings(max_examples=30)
@given(
    values=columns(), groups=st.lists(st.sampled_from(["a", "b", "c"]), min_size=40, max_size=40)
)
def test_groups_bit_for_bit_with_over(
    method: str, options: dict[str, Any], values: list[float | None], groups: list[str]
) -> None:
    frame = pl.DataFrame({"g": groups[: len(values)], "x": pl.Series(values, dtype=pl.Float64)})
    if not _fits(frame):
        return
    got = fitted(method, options, frame, by="g")
    want = frame.select(expression(method, options).over("g"))["x"]
    assert bits(got) == bits(want), (values, got.to_list(), want.to_list())


@pytest.mark.parametrize("method", list(SCALERS))
def test_spans_wider_than_the_float_range(method: str) -> None:
    """The columns that used to differ: the fitted scalers give the
    expression's numbers, and those are scikit-learn's (computed on the
    column scaled by 2**-600, where scikit-learn does not overflow; every
    scaler's output is invariant under that exact scaling)."""
    from sklearn import preprocessing

    values = [-1.7e308, 1.7e308, 0.0, 1e308]
    frame = pl.DataFrame({"x": values})
    got = fitted(method, {}, frame)
    want = frame.select(expression(method, {}))["x"]
    assert bits(got) == bits(want)
    reference_cls = getattr(preprocessing, SCALERS[method][0].__name__)
    scaled = np.ldexp(np.asarray(values), -600).reshape(-1, 1)
    reference = reference_cls().fit_transform(scaled).ravel()
    np.testing.assert_allclose(got.to_numpy(), reference, rtol=1e-12, atol=1e-15)
    back = pmk_inverse(method, frame, got)
    np.testing.assert_allclose(back, values, rtol=1e-12)


def pmk_inverse(method: str, frame: pl.DataFrame, scaled: pl.Series) -> np.ndarray:
    cls, _ = SCALERS[method]
    scaler = cls().fit(frame)
    return scaler.inverse_transform(scaled.to_frame())["x"].to_numpy()
