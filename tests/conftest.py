"""Shared fixtures and reference helpers for the polars-mlkit test suite.

The helpers are exposed as *session-scoped fixtures* (not importable functions)
because pytest runs with ``--import-mode=importlib``, where ``conftest`` is not
importable from test modules.  Session scope also keeps them usable from
hypothesis ``@given`` tests without tripping the function-scoped-fixture
health check.

Reference semantics
-------------------
``sklearn_reference(values, scaler, **options)`` fits and applies the
scikit-learn scaler of the same name to ``values`` (nulls -> NaN) and returns a
numpy array of the same shape (1-D stays 1-D, 2-D is scaled per column).

``scaling_reference(values, method, **options)`` is the *scale-safe* reference
used for comparisons: it scales the input by an exact power of two when the
magnitudes are huge (so scikit-learn's own arithmetic does not overflow), runs
scikit-learn on that, maps the result back and returns an expected array plus
per-element error bounds derived from the conditioning of the column.  It
returns ``None`` when the column sits on scikit-learn's "near-constant"
decision boundary, where two correct f64 implementations may legitimately
disagree (hypothesis tests ``assume`` that away; fixed tests never hit it).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import settings
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

# --------------------------------------------------------------------------- #
# hypothesis: deterministic everywhere
# --------------------------------------------------------------------------- #
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    database=None,
)
settings.load_profile("ci")


@pytest.fixture(autouse=True, scope="session")
def _deterministic_hypothesis() -> None:
    """Make sure the deterministic hypothesis profile is active for every test."""
    settings.load_profile("ci")


# --------------------------------------------------------------------------- #
# reference implementation
# --------------------------------------------------------------------------- #
EPS = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)

METHODS = ("minmax", "standard", "robust", "maxabs")
SKLEARN_CLASSES = {
    "minmax": MinMaxScaler,
    "standard": StandardScaler,
    "robust": RobustScaler,
    "maxabs": MaxAbsScaler,
}
# options accepted by the polars-mlkit functions that scikit-learn knows too
SKLEARN_OPTIONS = {
    "minmax": {"feature_range", "clip"},
    "standard": {"with_mean", "with_std"},
    "robust": {"with_centering", "with_scaling", "quantile_range", "unit_variance"},
    "maxabs": set(),
}


def to_float_array(values: Any) -> np.ndarray:
    """Convert list / tuple / numpy / pl.Series to a float64 array, nulls -> NaN."""
    if isinstance(values, pl.Series):
        if isinstance(values.dtype, (pl.Array, pl.List)):
            rows = values.to_list()
            return np.array(
                [
                    [np.nan] * _width(rows)
                    if r is None
                    else [np.nan if v is None else v for v in r]
                    for r in rows
                ],
                dtype=np.float64,
            ).reshape(len(rows), _width(rows))
        values = values.cast(pl.Float64).to_list()
    if isinstance(values, np.ndarray):
        return values.astype(np.float64, copy=True)
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _width(rows: list[Any]) -> int:
    for r in rows:
        if r is not None:
            return len(r)
    return 0


def make_sklearn(method: str, **options: Any) -> Any:
    unknown = set(options) - SKLEARN_OPTIONS[method]
    if unknown:
        raise AssertionError(f"test bug: options {unknown} have no scikit-learn counterpart")
    return SKLEARN_CLASSES[method](**options)


def sklearn_reference(values: Any, scaler: Any, **options: Any) -> np.ndarray:
    """scikit-learn's fit_transform of ``values`` (nulls -> NaN), same shape as the input.

    ``scaler`` is a method name ("minmax", ...) or an (unfitted) sklearn estimator.
    """
    arr = to_float_array(values)
    one_d = arr.ndim == 1
    mat = arr.reshape(-1, 1) if one_d else arr
    if mat.shape[0] == 0:
        return arr.copy()
    est = make_sklearn(scaler, **options) if isinstance(scaler, str) else scaler
    with warnings.catch_warnings():
        # all-NaN columns make numpy/sklearn emit RuntimeWarnings
        warnings.simplefilter("ignore")
        out = np.asarray(est.fit_transform(mat), dtype=np.float64)
    return out.ravel() if one_d else out


@dataclass
class Reference:
    expected: np.ndarray  # float64, NaN where the output must be NaN or null
    atol: np.ndarray  # per-element absolute bound (already includes the rtol part)
    finite: bool  # whether the true answer is finite everywhere it is not NaN


def _exp2(k: int) -> float:
    return math.ldexp(1.0, k)


def scaling_reference(values: Any, method: str, **kwargs: Any) -> Reference | None:
    """Scale-safe scikit-learn reference for a 1-D column plus rigorous-ish error bounds.

    Returns ``None`` when the column is too close to a near-constant decision
    boundary for two correct implementations to be guaranteed to agree.
    Keyword arguments: ``float32`` (compare a Float32 result), ``c`` (error
    constant override) and the scaler options.
    """
    # bounds may overflow to inf for degenerate huge columns; that is fine
    with np.errstate(all="ignore"):
        return _scaling_reference(values, method, **kwargs)


def _scaling_reference(
    values: Any,
    method: str,
    *,
    float32: bool = False,
    c: float | None = None,
    **options: Any,
) -> Reference | None:
    x = to_float_array(values)
    assert x.ndim == 1
    valid = ~np.isnan(x)
    n = int(valid.sum())
    exp = np.full(x.shape, np.nan)
    if n == 0:
        return Reference(exp, np.zeros(x.shape), True)
    maxabs = float(np.max(np.abs(x[valid])))
    # exact power-of-two rescaling for huge magnitudes (no subnormals are created
    # because only columns with max|x| > 2**500 are rescaled, to max ~ 2**40)
    k = 0
    tiny_standard = (
        method == "standard" and options.get("with_std", True) and 0.0 < maxabs < 2.0**-450
    )
    if maxabs > 2.0**500 or tiny_standard:
        # (tiny columns: sklearn's variance underflows; the exactly computed
        # variance is used instead, and cases where the two disagree on the
        # near-constant decision are declared ambiguous below)
        k = math.frexp(maxabs)[1] - 40
    xs = np.ldexp(x, -k)
    maxabs_s = float(np.max(np.abs(xs[valid])))
    if c is not None:
        C = c
    elif method == "standard":
        C = 16.0 + 4.0 * math.sqrt(n)  # summation error of the mean / variance
    elif method == "robust":
        C = 16.0
    else:
        C = 8.0
    up = _exp2(k)

    mat = xs.reshape(-1, 1)
    est = make_sklearn(method, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out_s = np.asarray(est.fit_transform(mat), dtype=np.float64).ravel()

    if method == "minmax":
        fr0, fr1 = (float(v) for v in options.get("feature_range", (0.0, 1.0)))
        span = fr1 - fr0
        r_s = float(np.max(xs[valid]) - np.min(xs[valid]))
        r_true = r_s * up
        if (r_s < 10 * EPS) != (r_true < 10 * EPS):
            return None
        const = r_true < 10 * EPS
        if const:
            out = fr0 + (out_s - fr0) * up
            cond = maxabs * span if r_s > 0 else 0.0
        else:
            out = out_s
            cond = maxabs_s / r_s * span
        atol = C * EPS * (cond + abs(fr0) + abs(fr1)) + np.zeros(x.shape)
    elif method == "maxabs":
        const = maxabs < 10 * EPS  # max|x| is exact: no ambiguity
        out = out_s * up if const else out_s
        atol = C * EPS * np.abs(out)
    elif method == "standard":
        with_mean = options.get("with_mean", True)
        with_std = options.get("with_std", True)
        const = False
        scale_s = 1.0
        rel_scale = 0.0
        if with_std:
            var_s = float(est.var_[0])
            ub_term = (n * float(est.mean_[0]) * EPS) ** 2
            if var_s > 0:
                ratio = ub_term / var_s
                # on the boundary of sklearn's near-constant test
                if 1 / 16 < ratio < 64:
                    return None
            const = bool(var_s <= n * EPS * var_s + ub_term)
            if tiny_standard:
                plain = StandardScaler().fit(x[valid].reshape(-1, 1))
                var_u, mean_u = float(plain.var_[0]), float(plain.mean_[0])
                const_u = bool(var_u <= n * EPS * var_u + (n * mean_u * EPS) ** 2)
                if const_u != const:
                    return None
            if not const:
                scale_s = math.sqrt(var_s)
                rel_scale = C * EPS + 2.0 * ub_term / var_s
        out = out_s * up if const else out_s
        center_err = (C * EPS * maxabs_s) if with_mean else 0.0
        if const:
            atol = (
                C * EPS * maxabs_s * up + np.zeros(x.shape) if with_mean else C * EPS * np.abs(out)
            )
        else:
            atol = center_err / scale_s + (C * EPS + rel_scale) * np.abs(out)
    elif method == "robust":
        with_centering = options.get("with_centering", True)
        with_scaling = options.get("with_scaling", True)
        q0, q1 = options.get("quantile_range", (25.0, 75.0))
        const = False
        iqr_s = 1.0
        if with_scaling:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                qs = np.nanpercentile(xs, [q0, q1])
            iqr_s = float(qs[1] - qs[0])
            iqr_true = iqr_s * up
            if (iqr_s < 10 * EPS) != (iqr_true < 10 * EPS):
                return None
            # the quantiles carry rounding errors of a few eps * |q|, unless
            # they interpolate between equal order statistics (exact)
            srt = np.sort(xs[valid])
            brackets = [srt[math.floor(q / 100.0 * (n - 1))] for q in (q0, q1)] + [
                srt[math.ceil(q / 100.0 * (n - 1))] for q in (q0, q1)
            ]
            exact = all(b == brackets[0] for b in brackets)
            margin = 0.0 if exact else 8 * EPS * max(abs(float(qs[0])), abs(float(qs[1]))) * up
            if abs(iqr_true - 10 * EPS) <= margin:
                return None
            const = iqr_true < 10 * EPS
        out = out_s * up if const else out_s
        if const:
            atol = C * EPS * (maxabs_s * up + np.abs(out))
        else:
            q_err = C * EPS * maxabs_s
            atol = (q_err if with_centering else 0.0) / iqr_s + (
                (q_err / iqr_s + C * EPS) * np.abs(out) if with_scaling else 0.0
            )
            atol = atol + np.zeros(x.shape)
    else:  # pragma: no cover - test bug
        raise AssertionError(method)

    with np.errstate(all="ignore"):
        # a few units in the last place of the subnormal range
        atol = atol + 4 * float(np.finfo(np.float64).smallest_subnormal)
        out = np.where(valid, out, np.nan)
        finite = bool(np.all(np.isfinite(out[valid])))
        atol = np.where(valid, atol, 0.0)
        if float32:
            atol = atol + 8 * EPS32 * (np.abs(out) + 1.0) + 1e-6 * atol / (C * EPS)
    return Reference(out, atol, finite)


def series_parts(s: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values as float64 with NaN for null, null mask) of a numeric series."""
    null = s.is_null().to_numpy()
    vals = s.cast(pl.Float64).fill_null(float("nan")).to_numpy().astype(np.float64)
    return vals, null


def assert_matches_reference(
    got: Any,
    values: Any,
    method: str,
    *,
    float32: bool = False,
    **options: Any,
) -> Reference | None:
    """Compare an implementation result (Series / ndarray / list) with the reference.

    Null positions of the input must be null in the output, NaN positions NaN,
    everything else within the reference error bound.
    Returns the reference (or None when the case sits on a decision boundary).
    """
    in_arr = to_float_array(values)
    if isinstance(values, pl.Series):
        in_null = values.is_null().to_numpy()
    elif isinstance(values, np.ndarray):
        in_null = np.zeros(in_arr.shape, dtype=bool)
    else:
        in_null = np.array([v is None for v in values], dtype=bool)
    in_nan = np.isnan(in_arr) & ~in_null

    if isinstance(got, pl.Series):
        got_vals, got_null = series_parts(got)
    elif isinstance(got, np.ndarray):
        got_vals = got.astype(np.float64)
        got_null = np.zeros(got_vals.shape, dtype=bool)
    else:
        got_null = np.array([v is None for v in got], dtype=bool)
        got_vals = np.array([np.nan if v is None else v for v in got], dtype=np.float64)

    assert got_vals.shape == in_arr.shape, (got_vals.shape, in_arr.shape)
    np.testing.assert_array_equal(got_null, in_null, err_msg="null mask changed")
    got_nan = np.isnan(got_vals) & ~got_null
    np.testing.assert_array_equal(got_nan, in_nan, err_msg="NaN mask changed")

    ref = scaling_reference(in_arr, method, float32=float32, **options)
    if ref is None:
        return None
    ok = ~np.isnan(in_arr)
    if ref.finite:
        assert np.all(np.isfinite(got_vals[ok])), f"non-finite output: {got_vals[ok]}"
    diff = np.abs(got_vals[ok] - ref.expected[ok])
    bad = ~(diff <= ref.atol[ok])
    if bad.any():
        idx = np.flatnonzero(ok)[bad]
        raise AssertionError(
            f"{method}{options} mismatch at rows {idx[:10].tolist()}:\n"
            f" input    {in_arr[idx[:10]].tolist()}\n"
            f" got      {got_vals[idx[:10]].tolist()}\n"
            f" expected {ref.expected[idx[:10]].tolist()}\n"
            f" bound    {ref.atol[idx[:10]].tolist()}"
        )
    return ref


def assert_bits_equal(a: pl.Series, b: pl.Series) -> None:
    """Exact (bitwise) equality of two float series including null masks."""
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert a.len() == b.len()
    np.testing.assert_array_equal(a.is_null().to_numpy(), b.is_null().to_numpy())
    fa = a.fill_null(0.0).to_numpy()
    fb = b.fill_null(0.0).to_numpy()
    view = np.uint32 if fa.dtype == np.float32 else np.uint64
    np.testing.assert_array_equal(fa.view(view), fb.view(view))


class _Helpers:
    """Namespace handed to tests through the ``ref`` fixture."""

    EPS = EPS
    METHODS = METHODS
    to_float_array = staticmethod(to_float_array)
    sklearn_reference = staticmethod(sklearn_reference)
    scaling_reference = staticmethod(scaling_reference)
    assert_matches_reference = staticmethod(assert_matches_reference)
    assert_bits_equal = staticmethod(assert_bits_equal)
    series_parts = staticmethod(series_parts)
    make_sklearn = staticmethod(make_sklearn)


@pytest.fixture(scope="session")
def ref() -> type[_Helpers]:
    """Reference helpers (see module docstring)."""
    return _Helpers


@pytest.fixture(scope="session", name="sklearn_reference")
def sklearn_reference_fixture() -> Any:
    """``sklearn_reference(values, scaler, **options)`` -> numpy array."""
    return sklearn_reference
