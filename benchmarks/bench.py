"""Side-by-side benchmarks for polars-mlkit (``make bench``).

Run from the repository root::

    python benchmarks/bench.py [--quick] [--only SECTION]
                               [--output benchmarks/results.md]

Every comparison runs in one process on the same data: each implementation is
called once (as warm-up, and to check that the answers agree), then timed
``repeat`` times; the table shows medians. ``ratio`` is baseline time divided
by polars-mlkit time, so above 1 means polars-mlkit is faster. Polars
expressions run eagerly through ``DataFrame.select`` so the timings include
Polars' own engine, exactly as a user would call them. ``POLARS_MAX_THREADS``
is used as it is set (its value is recorded in the output).

Operations polars-mlkit does not (yet) provide are reported as missing instead
of failing the run; an operation that raises is reported with its error.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _best_blas_kernels() -> None:
    """faiss-cpu's bundled OpenBLAS (0.3.15) does not recognise recent Xeons
    and falls back to its generic "Prescott" kernels, 4x slower than its
    AVX-512 ones on this machine; the baselines get their best kernels (set
    before numpy or faiss load OpenBLAS; a value set by the user wins)."""
    import os

    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            avx512 = " avx512f" in f.read()
    except OSError:
        avx512 = False
    if avx512:
        os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")


_best_blas_kernels()

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _rss import AnonPeak as _AnonPeak  # noqa: E402
from _rss import peak_rss_bytes as _peak_rss_bytes  # noqa: E402
from _rss import reset_peak_rss as _reset_peak_rss  # noqa: E402
from _timing import (  # noqa: E402
    fmt_ms,
    fmt_ratio,
    interleaved_median_times,
    machine_description,
    markdown_table,
    median_time,
    single_threaded_blas,
)

try:
    import polars_mlkit as pmk
except ImportError as _exc:  # pragma: no cover - depends on the build
    sys.exit(f"bench.py: cannot import polars_mlkit ({_exc}); build it first (make develop).")
import category_memory  # noqa: E402
from classic import classic, throughput  # noqa: E402

SEED = 20240601
MIB = 1024**2
#: Shortest timed sample: faster operations are called in batches (see median_time).
MIN_SAMPLE_S = 0.02
#: Seconds a timed pure-Python loop may take in full before it is extrapolated instead.
LOOP_BUDGET_S = 60.0

HEADERS = (
    "operation",
    "size",
    "baseline",
    "baseline ms",
    "polars_mlkit ms",
    "ratio",
    "target",
    "met?",
    "max |Δ| vs baseline",
)


# --------------------------------------------------------------------------- #
# Configuration
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Config:
    quick: bool
    repeat: int
    classic_n: int
    scaling_sizes: tuple[int, ...]
    over_n: int
    over_groups: int
    vec_rows: int
    vec_dim: int
    nn_rows: int
    nn_dim: int
    nn_queries: int
    nn_k: int
    mem_scalar_n: int
    mem_vec_rows: int


FULL = Config(
    quick=False,
    repeat=7,
    classic_n=1_000_000,
    scaling_sizes=(1_000_000, 10_000_000),
    over_n=10_000_000,
    over_groups=1_000,
    vec_rows=100_000,
    vec_dim=768,
    nn_rows=100_000,
    nn_dim=384,
    nn_queries=200,
    nn_k=10,
    mem_scalar_n=10_000_000,
    mem_vec_rows=100_000,
)

QUICK = Config(
    quick=True,
    repeat=3,
    classic_n=200_000,
    scaling_sizes=(200_000,),
    over_n=1_000_000,
    over_groups=1_000,
    vec_rows=10_000,
    vec_dim=768,
    nn_rows=10_000,
    nn_dim=384,
    nn_queries=20,
    nn_k=10,
    mem_scalar_n=1_000_000,
    mem_vec_rows=10_000,
)


# --------------------------------------------------------------------------- #
# Result rows and the generic "time both sides" helper
# --------------------------------------------------------------------------- #


@dataclass
class Row:
    operation: str
    size: str
    baseline: str
    baseline_s: float | None
    mlkit_s: float | None
    target: float | None = None
    target_label: str = ""
    check: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline_s is None or self.mlkit_s is None or self.mlkit_s <= 0:
            return None
        return self.baseline_s / self.mlkit_s

    def cells(self) -> list[str]:
        ratio = self.ratio
        if self.target is None:
            target, met = self.target_label or "—", "—"
        else:
            target = self.target_label or f"≥ {self.target:g}x"
            met = "n/a" if ratio is None else ("yes" if ratio >= self.target else "NO")
        return [
            self.operation,
            self.size,
            self.baseline,
            fmt_ms(self.baseline_s),
            fmt_ms(self.mlkit_s),
            fmt_ratio(ratio),
            target,
            met,
            self.check or "—",
        ]


@dataclass
class Section:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    table: str | None = None  # a pre-rendered table (the memory section)
    more_tables: list[str] = field(default_factory=list)  # rendered after the rows

    def render(self) -> str:
        parts = [f"## {self.title}", ""]
        if self.table is not None:
            parts.append(self.table)
        elif self.rows:
            parts.append(markdown_table(HEADERS, [r.cells() for r in self.rows]))
        else:
            parts.append("_No measurements._")
        for table in self.more_tables:
            parts.extend(["", table])
        if self.notes:
            parts.append("")
            parts.extend(f"- {n}" for n in self.notes)
        return "\n".join(parts)


@dataclass
class Baseline:
    """One baseline of a comparison; ``measured`` reuses a timing taken elsewhere."""

    name: str
    fn: Callable[[], Any] | None
    target: float | None = None
    target_label: str = ""
    measured: Outcome | None = None


@dataclass
class Outcome:
    """One implementation, called once (warm-up + answer) then timed."""

    seconds: float | None
    result: Any
    error: str | None


def _short_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > 160:
        first = first[:157] + "..."
    return f"{type(exc).__name__}: {first}"


def run(fn: Callable[[], Any], repeat: int) -> Outcome:
    try:
        result = fn()
    except Exception as exc:
        return Outcome(None, None, _short_error(exc))
    return Outcome(median_time(fn, repeat=repeat, warmup=1, min_time=MIN_SAMPLE_S), result, None)


def run_blas1(fn: Callable[[], Any], repeat: int) -> Outcome:
    """Like :func:`run`, with numpy's BLAS limited to one thread."""
    with single_threaded_blas():
        return run(fn, repeat)


def progress(msg: str) -> None:
    print(f"  .. {msg}", file=sys.stderr, flush=True)


def _as_array(x: Any) -> np.ndarray:
    if isinstance(x, pl.DataFrame):
        x = x.to_series(0)
    if isinstance(x, pl.Series):
        x = x.to_numpy()
    return np.asarray(x, dtype=np.float64)


def max_abs_diff(a: Any, b: Any) -> str:
    """Largest absolute difference between two answers (NaN where both agree on NaN)."""
    try:
        x, y = _as_array(a), _as_array(b)
    except Exception as exc:
        return f"cannot compare ({type(exc).__name__})"
    if x.size != y.size:
        return f"SHAPE {x.shape} vs {y.shape}"
    x, y = x.ravel(), y.ravel()
    both_nan = np.isnan(x) & np.isnan(y)
    if np.any(np.isnan(x) != np.isnan(y)):
        return "NaN MISMATCH"
    if x.size == 0 or both_nan.all():
        return "0"
    d = float(np.max(np.abs(x[~both_nan] - y[~both_nan])))
    return "0" if d == 0 else f"{d:.1e}"


def _call(fn: Callable[[], Any]) -> Outcome:
    try:
        return Outcome(None, fn(), None)
    except Exception as exc:
        return Outcome(None, None, _short_error(exc))


def compare(
    section: Section,
    operation: str,
    size: str,
    mlkit_fn: Callable[[], Any] | None,
    baselines: Sequence[Baseline],
    repeat: int,
    check: Callable[[Any, Any], str] = max_abs_diff,
) -> None:
    """Time polars_mlkit against every baseline and append one row per baseline.

    Every implementation is first called once (its answer is kept for the
    agreement check); the ones that worked are then timed round-robin
    (:func:`interleaved_median_times`). A baseline with neither ``fn`` nor
    ``measured`` is unavailable (the row says so); ``measured`` reuses a timing
    taken elsewhere (slow pure-Python loops).
    """
    progress(f"{operation} [{size}]")
    mine = Outcome(None, None, "not provided by polars_mlkit")
    if mlkit_fn is not None:
        mine = _call(mlkit_fn)
    if mine.error:
        section.notes.append(f"{operation} [{size}]: polars_mlkit — {mine.error}")
    bases: list[Outcome | None] = []
    for bl in baselines:
        if bl.measured is not None:
            bases.append(bl.measured)
        elif bl.fn is None:
            bases.append(None)
        else:
            out = _call(bl.fn)
            if out.error:
                section.notes.append(f"{operation} [{size}]: baseline {bl.name} — {out.error}")
            bases.append(out)

    # Time everything that ran, interleaved.
    timed: list[tuple[Outcome, Callable[[], Any]]] = []
    if mlkit_fn is not None and not mine.error:
        timed.append((mine, mlkit_fn))
    for bl, out in zip(baselines, bases, strict=True):
        if out is not None and bl.measured is None and bl.fn is not None and not out.error:
            timed.append((out, bl.fn))
    if timed:
        seconds = interleaved_median_times(
            [fn for _, fn in timed], repeat=repeat, warmup=1, min_time=MIN_SAMPLE_S
        )
        for (out, _), sec_ in zip(timed, seconds, strict=True):
            out.seconds = sec_

    for bl, base in zip(baselines, bases, strict=True):
        if base is None:
            chk = "unavailable"
        elif base.error:
            chk = "baseline failed"
        elif mine.error:
            chk = "missing" if mlkit_fn is None else "mlkit failed"
        else:
            try:
                chk = check(mine.result, base.result)
            except Exception as exc:
                chk = f"check failed ({type(exc).__name__})"
        section.rows.append(
            Row(
                operation,
                size,
                bl.name,
                None if base is None else base.seconds,
                mine.seconds,
                bl.target,
                bl.target_label,
                chk,
            )
        )
    del mine, bases, timed
    gc.collect()


def has_free(name: str) -> bool:
    return hasattr(pmk, name)


def has_expr(name: str) -> bool:
    try:
        return hasattr(pl.col("__probe__").ml, name)
    except Exception:
        return False


def fmt_size(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return f"{n:,}"


# --------------------------------------------------------------------------- #
# Native Polars formulations (the baselines users would otherwise write)
# --------------------------------------------------------------------------- #


def native_minmax(x: pl.Expr) -> pl.Expr:
    return (x - x.min()) / (x.max() - x.min())


def native_standard(x: pl.Expr) -> pl.Expr:
    return (x - x.mean()) / x.std(ddof=0)


def native_robust(x: pl.Expr) -> pl.Expr:
    return (x - x.median()) / (x.quantile(0.75, "linear") - x.quantile(0.25, "linear"))


def native_maxabs(x: pl.Expr) -> pl.Expr:
    return x / x.abs().max()


def _probe_vector_arith() -> bool | None:
    """How this Polars composes vector math natively.

    True: Array arithmetic + ``arr.sum()`` works; False: only after casting to List
    (``list.sum()``); None: neither works.
    """
    probe = pl.DataFrame({"a": np.ones((2, 3), dtype=np.float32)})
    for use_arr in (True, False):
        a = pl.col("a") if use_arr else pl.col("a").cast(pl.List(pl.Float32))

        def total(e: pl.Expr, use_arr: bool = use_arr) -> pl.Expr:
            return e.arr.sum() if use_arr else e.list.sum()

        try:
            probe.select(total(a * a) / total(a * a).sqrt())
            probe.select(a / total(a * a).sqrt())
        except Exception:
            continue
        return use_arr
    return None


_ARR_ARITH = _probe_vector_arith()


def _vec(name: str) -> pl.Expr:
    col = pl.col(name)
    return col if _ARR_ARITH else col.cast(pl.List(pl.Float32))


def _vsum(e: pl.Expr) -> pl.Expr:
    return e.arr.sum() if _ARR_ARITH else e.list.sum()


def native_cosine() -> pl.Expr | None:
    if _ARR_ARITH is None:
        return None
    a, b = _vec("a"), _vec("b")
    return (_vsum(a * b) / (_vsum(a * a).sqrt() * _vsum(b * b).sqrt())).alias("cos")


def native_unit_normalize() -> pl.Expr | None:
    if _ARR_ARITH is None:
        return None
    a = _vec("a")
    return (a / _vsum(a * a).sqrt()).alias("unit")


def native_arr_dot() -> pl.Expr | None:
    if not hasattr(pl.col("a").arr, "dot"):
        return None
    return pl.col("a").arr.dot(pl.col("b"))


# --------------------------------------------------------------------------- #
# a. classic table
# --------------------------------------------------------------------------- #


def section_classic(cfg: Config) -> Section:
    """The classic table (``classic.py``, shared with ``make demo``)."""
    progress(f"classic [{fmt_size(cfg.classic_n)}] lists, numpy, threads")
    result = classic(cfg.classic_n, cfg.repeat)
    sec = Section(f"Classic table: 1-D vectors of {fmt_size(cfg.classic_n)} float64 values")
    sec.table = "\n\n".join(result.tables)
    sec.notes.extend(f"result differs from numpy: {f}" for f in result.failures)
    sec.notes.append(
        "The article this project answers (unknown hardware): dot product of 1M elements — "
        "pure Python 245 ms, NumPy 12 ms, Rust via PyO3 8 ms; min-max normalization of 1M "
        "elements — 180 / 15 / 6 ms; 'parallel processing, 4 threads' 2 ms."
    )
    sec.notes.append(
        "List rows include reading the Python lists (and building the output list); "
        "pure Python timings are medians of 3 runs. np.dot is shown with BLAS at its default "
        "thread count and limited to 1 thread (threadpoolctl)."
    )
    return sec


# --------------------------------------------------------------------------- #
# a2. the data face per call: numpy arrays from 3 to 1M elements
# --------------------------------------------------------------------------- #

#: Vector lengths at which a data-face call must cost no more than numpy's.
DATAFACE_SIZES = (3, 384, 4_096, 50_000, 1_000_000)
#: After a call numpy's OpenBLAS threads busy-wait about 0.1 s for the next
#: one; a polars-mlkit sample starts this much later, so that it does not
#: share the cores with them (numpy is timed as a user calls it, its threads
#: awake).
BLAS_SPIN_S = 0.2


def _cpu_flags_line() -> str:
    """The CPU's flags, as ``lscpu | grep Flags`` prints them."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return "Flags: " + line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "Flags: unknown"


def _batch_size(fn: Callable[..., Any], args: tuple[Any, ...]) -> int:
    """Calls per timed sample so that a sample lasts about ``MIN_SAMPLE_S``."""
    start = time.perf_counter()
    fn(*args)
    once = time.perf_counter() - start
    return max(1, min(100_000, int(MIN_SAMPLE_S / max(once, 1e-7)) + 1))


def _mine_then_numpy(
    mine: Callable[..., Any], numpy_fn: Callable[..., Any], args: tuple[Any, ...], repeat: int
) -> tuple[float, float]:
    """Median seconds per call of ``mine(*args)`` and of ``numpy_fn(*args)``,
    sampled in turn (a sample is a batch of calls lasting about
    ``MIN_SAMPLE_S``), each sample of ``mine`` ``BLAS_SPIN_S`` after numpy's
    last call."""
    for fn in (mine, numpy_fn, mine, numpy_fn):
        fn(*args)
    fns = (mine, numpy_fn)
    sizes = [_batch_size(fn, args) for fn in fns]
    samples: tuple[list[float], list[float]] = ([], [])
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeat):
            time.sleep(BLAS_SPIN_S)
            for fn, n, out in zip(fns, sizes, samples, strict=True):
                start = time.perf_counter()
                for _ in range(n):
                    fn(*args)
                out.append((time.perf_counter() - start) / n)
    finally:
        gc.enable()
    return statistics.median(samples[0]), statistics.median(samples[1])


def _threads_ratio(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Calls per second of one Python thread and of two calling ``fn`` at
    once (medians of ``repeat`` alternated measurements of 0.5 s)."""
    one: list[float] = []
    two: list[float] = []
    for _ in range(repeat):
        time.sleep(BLAS_SPIN_S)
        one.append(throughput(1, fn))
        two.append(throughput(2, fn))
    return statistics.median(one), statistics.median(two)


def _np_cosine(a: np.ndarray, b: np.ndarray) -> Any:
    """numpy's cosine similarity: of two vectors, or of each row of ``a`` and ``b``."""
    if a.ndim == 1:
        return a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return a @ b / (np.linalg.norm(a, axis=1) * np.linalg.norm(b))


def _np_minmax(a: np.ndarray) -> np.ndarray:
    return (a - a.min()) / (a.max() - a.min())


def _fmt_us(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    us = seconds * 1e6
    return f"{us:,.0f}" if us >= 100 else f"{us:.2f}"


def _dataface_table(rows: Sequence[Row]) -> str:
    """The rows with times in microseconds (most calls take a few)."""
    headers = (
        "operation",
        "size",
        "baseline",
        "baseline µs",
        "polars_mlkit µs",
        "ratio",
        "target",
        "met?",
        "check",
    )
    body = []
    for row in rows:
        cells = row.cells()
        cells[3], cells[4] = _fmt_us(row.baseline_s), _fmt_us(row.mlkit_s)
        body.append(cells)
    return markdown_table(headers, body)


def section_dataface(cfg: Config) -> Section:
    """``pmk.dot_product``, ``pmk.cosine_similarity`` and ``pmk.normalize``
    on numpy arrays against numpy's own call, per call, and Python threads
    calling them at once."""
    sec = Section("The data face per call: numpy arrays in, numpy's own call as the baseline")
    rng = np.random.default_rng(SEED + 7)
    repeat = max(cfg.repeat, 7)
    cases = (
        ("pmk.dot_product(a, b)", pmk.dot_product, "np.dot(a, b)", np.dot, 2),
        (
            "pmk.cosine_similarity(a, b)",
            pmk.cosine_similarity,
            "a @ b / (norm(a) * norm(b))",
            _np_cosine,
            2,
        ),
        ("pmk.normalize(a)", pmk.normalize, "(a - a.min()) / (a.max() - a.min())", _np_minmax, 1),
    )
    rows: list[Row] = []
    for dtype in ("float64", "float32"):
        for n in DATAFACE_SIZES:
            progress(f"dataface [{n:,} {dtype}]")
            data = (rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype))
            for name, mine, baseline, ref, arity in cases:
                args = data[:arity]
                mine_s, ref_s = _mine_then_numpy(mine, ref, args, repeat)
                mine_out, ref_out = mine(*args), ref(*args)
                check = (_scalar_rel_diff if arity == 2 else max_abs_diff)(mine_out, ref_out)
                target = 2.0 if arity == 1 and n == DATAFACE_SIZES[-1] else 1.0
                rows.append(
                    Row(
                        name,
                        f"{n:,} {dtype}",
                        baseline,
                        ref_s,
                        mine_s,
                        target,
                        f"≥ {target:g}x",
                        check,
                    )
                )
    progress("dataface cosine [2,000 x 256 rows]")
    matrix = (rng.standard_normal((2_000, 256)), rng.standard_normal(256))
    mine_s, ref_s = _mine_then_numpy(pmk.cosine_similarity, _np_cosine, matrix, repeat)
    check = max_abs_diff(pmk.cosine_similarity(*matrix), _np_cosine(*matrix))
    rows.append(
        Row(
            "pmk.cosine_similarity(x, q)",
            "2,000 x 256 float64",
            "x @ q / (norm(x, axis=1) * norm(q))",
            ref_s,
            mine_s,
            1.0,
            "≥ 1x",
            check,
        )
    )
    progress("dataface two Python threads")
    a, b = rng.standard_normal(50_000), rng.standard_normal(50_000)
    threaded = (
        ("pmk.dot_product(a, b)", "50,000 float64", 1.0, lambda: pmk.dot_product(a, b)),
        (
            "pmk.cosine_similarity(x, q)",
            "2,000 x 256 float64",
            1.7,
            lambda: pmk.cosine_similarity(*matrix),
        ),
    )
    for name, size, target, call in threaded:
        one, two = _threads_ratio(call, 5)
        rows.append(
            Row(
                f"2 Python threads: {name}",
                size,
                "1 Python thread",
                1.0 / one,
                1.0 / two,
                target,
                f"≥ {target:g}x",
            )
        )
    sec.table = _dataface_table(rows)
    sec.notes.append(_cpu_flags_line())
    sec.notes.append(
        f"Per-call medians of {repeat} samples, each a batch of calls lasting about "
        f"{MIN_SAMPLE_S * 1e3:.0f} ms; polars-mlkit and numpy sampled in turn, each "
        f"polars-mlkit sample {BLAS_SPIN_S:.1f} s after numpy's last call (OpenBLAS's "
        "threads busy-wait about 0.1 s after a call). numpy runs as a user calls it: BLAS at "
        "its default thread count."
    )
    sec.notes.append(
        "float32: numpy accumulates in float32, polars-mlkit in float64 (the check column "
        "is the relative difference of the two answers, or the largest absolute one)."
    )
    sec.notes.append(
        "Thread rows: calls per second of two Python threads calling at once against one "
        "thread (the µs columns are per call of all threads together; medians of 5 "
        "alternated measurements of 0.5 s each)."
    )
    return sec


def _scalar_rel_diff(a: Any, b: Any) -> str:
    try:
        x, y = float(np.asarray(a, dtype=np.float64)), float(np.asarray(b, dtype=np.float64))
    except Exception as exc:
        return f"cannot compare ({type(exc).__name__})"
    rel = abs(x - y) / max(abs(y), 1e-300)
    return "0" if rel == 0 else f"rel {rel:.1e}"


# --------------------------------------------------------------------------- #
# b. column scaling
# --------------------------------------------------------------------------- #


def section_scaling(cfg: Config) -> Section:
    from sklearn import preprocessing as skp

    sec = Section("Column scaling (Float64, eager DataFrame.select)")
    rng = np.random.default_rng(SEED + 1)
    cases = [
        # name, ml method, native builder, sklearn class, target ratio vs native
        ("min-max", "minmax_scale", native_minmax, skp.MinMaxScaler, 1.3),
        ("standard", "standard_scale", native_standard, skp.StandardScaler, 1.3),
        ("robust", "robust_scale", native_robust, skp.RobustScaler, 2.0),
        ("max-abs", "maxabs_scale", native_maxabs, skp.MaxAbsScaler, None),
    ]
    for n in cfg.scaling_sizes:
        size = fmt_size(n)
        x = rng.normal(50.0, 10.0, n)
        df = pl.DataFrame({"x": x})
        x2d = x.reshape(-1, 1)
        for name, method, native, sk_cls, target in cases:
            mlkit_fn = (
                (lambda m=method, df=df: df.select(getattr(pl.col("x").ml, m)()))
                if has_expr(method)
                else None
            )
            compare(
                sec,
                f"{name}: pl.col('x').ml.{method}()",
                size,
                mlkit_fn,
                [
                    Baseline(
                        "native Polars expression",
                        lambda f=native, df=df: df.select(f(pl.col("x"))),
                        target,
                    ),
                    Baseline(
                        f"sklearn {sk_cls.__name__}().fit_transform",
                        lambda c=sk_cls, x2d=x2d: c().fit_transform(x2d),
                    ),
                ],
                cfg.repeat,
            )
        x = df = x2d = None
        gc.collect()

    # Per-group scaling with .over("g").
    n, groups = cfg.over_n, cfg.over_groups
    size = f"{fmt_size(n)} rows, {groups:,} groups"
    x = rng.normal(50.0, 10.0, n)
    g = rng.integers(0, groups, n, dtype=np.int32)
    df = pl.DataFrame({"x": x, "g": g})
    x = g = None
    compare(
        sec,
        "per-group min-max: pl.col('x').ml.minmax_scale().over('g')",
        size,
        (lambda: df.select(pl.col("x").ml.minmax_scale().over("g")))
        if has_expr("minmax_scale")
        else None,
        [
            Baseline(
                "native ((x - min) / (max - min)).over('g')",
                lambda: df.select(native_minmax(pl.col("x")).over("g")),
                1.0,
                "≥ 1x (no slower)",
            )
        ],
        cfg.repeat,
    )
    # Fitting a fitted scaler on a LazyFrame costs about one aggregation.
    n = cfg.scaling_sizes[-1]
    lf = pl.DataFrame({"x": rng.normal(50.0, 10.0, n)}).lazy()
    x = pl.col("x")
    fits = [
        ("StandardScaler", (x.mean().alias("m"), x.std(ddof=0).alias("s")), "select(mean, std)"),
        ("MinMaxScaler", (x.min().alias("lo"), x.max().alias("hi")), "select(min, max)"),
        ("MaxAbsScaler", (x.abs().max().alias("m"),), "select(abs().max())"),
        (
            "RobustScaler",
            (
                x.median().alias("m"),
                x.quantile(0.25, "linear").alias("lo"),
                x.quantile(0.75, "linear").alias("hi"),
            ),
            "select(median, quantile(0.25), quantile(0.75))",
        ),
    ]
    for cls_name, aggs, label in fits:
        cls = getattr(pmk, cls_name, None)
        compare(
            sec,
            f"fit: pmk.{cls_name}(columns=['x']).fit(LazyFrame)",
            fmt_size(n),
            (lambda c=cls: c(columns=["x"]).fit(lf)) if cls is not None else None,
            [
                Baseline(
                    f"native lf.{label}.collect()",
                    lambda a=aggs: lf.select(*a).collect(),
                    1 / 1.5,
                    "cost ≤ 1.5x native",
                )
            ],
            cfg.repeat,
            check=lambda _mine, _base: "—",
        )
    lf = None
    sec.notes.append(
        "sklearn timings use a pre-built (n, 1) numpy array (conversion from Polars not timed)."
    )
    sec.notes.append(
        "Native robust uses median and quantile(…, 'linear'), which match sklearn's RobustScaler."
    )
    return sec


# --------------------------------------------------------------------------- #
# c. vector operations
# --------------------------------------------------------------------------- #


def _np_unit_rows(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return m / norms


def np_topk(q: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    """Cosine top-k row positions per query (best first) with numpy argpartition."""
    s = _np_unit_rows(q) @ _np_unit_rows(x).T
    k = min(k, s.shape[1])
    idx = np.argpartition(-s, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(s, idx, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1)


def _topk_lists(x: Any) -> list[list[int]]:
    if isinstance(x, pl.DataFrame):  # pmk.nearest output
        return (
            x.sort("query", "rank")
            .group_by("query", maintain_order=True)
            .agg(pl.col("index"))
            .get_column("index")
            .to_list()
        )
    return [[int(i) for i in v] for v in x]


def _topk_agreement(mine: Any, ref: Any) -> str:
    """Share of (query, position) pairs that polars_mlkit and the baseline both return."""
    try:
        got, want = _topk_lists(mine), _topk_lists(ref)
    except Exception as exc:
        return f"cannot compare ({type(exc).__name__})"
    pairs = [(a, b) for a, b in zip(got, want, strict=False) if b]  # skip unchecked queries
    if len(got) < len(want) or not pairs:
        return f"QUERIES {len(got)} vs {len(want)}"
    same = sum(len(set(a) & set(b)) for a, b in pairs)
    total = sum(len(b) for _, b in pairs)
    return f"top-k overlap {100.0 * same / max(total, 1):.1f}%"


def section_vectors(cfg: Config) -> Section:
    sec = Section("Vector operations on embedding columns")
    rng = np.random.default_rng(SEED + 2)
    _vectors_rowwise(sec, cfg, rng)
    gc.collect()
    _vectors_nearest(sec, cfg, rng)
    _vectors_constants(sec, cfg, rng)
    return sec


def _vectors_rowwise(sec: Section, cfg: Config, rng: np.random.Generator) -> None:
    from sklearn.preprocessing import normalize as sk_normalize

    n, d = cfg.vec_rows, cfg.vec_dim
    size = f"{fmt_size(n)} x Array(Float32, {d})"
    a_np = rng.standard_normal((n, d), dtype=np.float32)
    b_np = rng.standard_normal((n, d), dtype=np.float32)
    df = pl.DataFrame([pl.Series("a", a_np), pl.Series("b", b_np)])
    if _ARR_ARITH is False:
        sec.notes.append("Array arithmetic is unsupported here; composed baselines cast to List.")

    # dot
    arr_dot = native_arr_dot()
    if arr_dot is None:
        sec.notes.append(
            "Native `arr.dot` does not exist in this Polars; that baseline is skipped."
        )
    compare(
        sec,
        "row-wise dot: pl.col('a').ml.dot(pl.col('b'))",
        size,
        (lambda: df.select(pl.col("a").ml.dot(pl.col("b")))) if has_expr("dot") else None,
        [
            Baseline(
                "native arr.dot", (lambda: df.select(arr_dot)) if arr_dot is not None else None, 3.0
            ),
            Baseline(
                'numpy einsum("ij,ij->i")',
                lambda: np.einsum("ij,ij->i", a_np, b_np),
                1.0,
                "≥ 1x (no slower)",
            ),
        ],
        cfg.repeat,
    )

    # cosine similarity
    cos_native = native_cosine()
    if cos_native is None:
        sec.notes.append("Composed native cosine could not be expressed in this Polars; skipped.")

    def np_cos() -> np.ndarray:
        num = np.einsum("ij,ij->i", a_np, b_np)
        return num / (np.linalg.norm(a_np, axis=1) * np.linalg.norm(b_np, axis=1))

    compare(
        sec,
        "cosine similarity: pl.col('a').ml.cosine_similarity(pl.col('b'))",
        size,
        (lambda: df.select(pl.col("a").ml.cosine_similarity(pl.col("b"))))
        if has_expr("cosine_similarity")
        else None,
        [
            Baseline(
                "native composed sum(a*b) / (sqrt(sum a²) · sqrt(sum b²))",
                (lambda: df.select(cos_native)) if cos_native is not None else None,
                5.0,
            ),
            Baseline("numpy einsum / (norm · norm)", np_cos),
        ],
        cfg.repeat,
    )

    # unit normalize
    unit_native = native_unit_normalize()
    compare(
        sec,
        "unit normalize (l2): pl.col('a').ml.unit_normalize()",
        size,
        (lambda: df.select(pl.col("a").ml.unit_normalize()))
        if has_expr("unit_normalize")
        else None,
        [
            Baseline(
                "native composed a / sqrt(sum a²)",
                (lambda: df.select(unit_native)) if unit_native is not None else None,
                2.0,
            ),
            Baseline("sklearn.preprocessing.normalize", lambda: sk_normalize(a_np)),
        ],
        cfg.repeat,
    )


def _vectors_nearest(sec: Section, cfg: Config, rng: np.random.Generator) -> None:
    """Nearest neighbours: many queries at once vs a loop of top_k_similar vs numpy."""
    m, dn, nq, k = cfg.nn_rows, cfg.nn_dim, cfg.nn_queries, cfg.nn_k
    size = f"{nq} queries over {fmt_size(m)} x Array(Float32, {dn}), k={k}"
    x_np = rng.standard_normal((m, dn), dtype=np.float32)
    q_np = rng.standard_normal((nq, dn), dtype=np.float32)
    frame = pl.DataFrame([pl.Series("emb", x_np)])
    loop, loop_label = _topk_loop(sec, frame, q_np, k, cfg)
    compare(
        sec,
        "nearest (cosine): pmk.nearest(frame, 'emb', queries, k)",
        size,
        (lambda: pmk.nearest(frame, "emb", q_np, k=k)) if has_free("nearest") else None,
        [
            Baseline(loop_label, None, 10.0, measured=loop),
            Baseline("numpy Q @ X.T + argpartition", lambda: np_topk(q_np, x_np, k)),
            Baseline(
                "numpy Q @ X.T + argpartition (BLAS 1 thread)",
                None,
                measured=run_blas1(lambda: np_topk(q_np, x_np, k), cfg.repeat),
            ),
        ],
        cfg.repeat,
        check=_topk_agreement,
    )


def _vectors_constants(sec: Section, cfg: Config, rng: np.random.Generator) -> None:
    """What it costs to hand nearest's queries to the plugin, against the search.

    The queries cross as one Arrow literal row. The old route (a pickled list
    of Python floats in the kwargs) is timed as what it did: ``tolist`` and
    ``pickle.dumps``. The transfer is timed on a 1-row frame (the search
    itself is then negligible) and compared with a real search."""
    nq, dn = (20_000, 384) if not cfg.quick else (2_000, 384)
    rows = cfg.nn_rows
    q_np = rng.standard_normal((nq, dn), dtype=np.float32)
    tiny = pl.DataFrame([pl.Series("emb", q_np[:1])])
    corpus = pl.DataFrame([pl.Series("emb", rng.standard_normal((rows, dn), dtype=np.float32))])
    transfer, old_route = interleaved_median_times(
        [
            lambda: pmk.nearest(tiny, "emb", q_np, k=1),
            lambda: pickle.dumps({"queries": q_np.astype(np.float64).ravel().tolist()}),
        ],
        repeat=cfg.repeat,
    )
    progress(f"nearest: {nq:,} queries over {rows:,} rows (one timed run)")
    search = median_time(lambda: pmk.nearest(corpus, "emb", q_np, k=10), repeat=1, warmup=0)
    size = f"{nq:,} x {dn} queries"
    sec.rows.append(
        Row(
            "nearest: queries handed to the plugin (Arrow literal) vs the old pickled list",
            size,
            "tolist + pickle.dumps (old route)",
            old_route,
            transfer,
        )
    )
    share = transfer / search
    sec.notes.append(
        f"nearest with {nq:,} x {dn} queries: transfer {transfer * 1e3:.1f} ms (1-row frame) "
        f"vs the search over {rows:,} x {dn} Float32 rows {search:.2f} s: {share:.2%} of the "
        f"search (target < 5%: {'yes' if share < 0.05 else 'NO'})."
    )


def _topk_loop(
    sec: Section, frame: pl.DataFrame, q_np: np.ndarray, k: int, cfg: Config
) -> tuple[Outcome | None, str]:
    """Measure a Python loop of ``top_k_similar`` (one select per query).

    The full loop is timed when it fits into the budget; otherwise the median
    per-query time is multiplied by the number of queries and the label says
    "EXTRAPOLATED" (only the measured queries are then checked).
    """
    label = f"Python loop of {len(q_np)} x ml.top_k_similar"
    if not has_expr("top_k_similar"):
        return None, label
    queries = [q.tolist() for q in q_np]

    def one(i: int) -> list[int]:
        out = frame.select(pl.col("emb").ml.top_k_similar(queries[i], k))
        return [int(v) for v in out.to_series(0).to_list()]

    def loop() -> list[list[int]]:
        return [one(i) for i in range(len(queries))]

    try:
        one(0)
    except Exception as exc:
        return Outcome(None, None, _short_error(exc)), label
    probe_n = min(3, len(queries))
    progress(f"top_k_similar loop: probing {probe_n} queries")
    per_query = median_time(lambda: [one(i) for i in range(probe_n)], repeat=3, warmup=0) / probe_n
    estimate = per_query * len(queries)
    budget = LOOP_BUDGET_S / (4 if cfg.quick else 1)
    if estimate <= budget:
        repeat = max(1, min(3, cfg.repeat, int(budget // max(estimate, 1e-9))))
        progress(f"top_k_similar loop: timing all {len(queries)} queries x {repeat}")
        return run(loop, repeat), label
    answers: list[list[int]] = [one(i) for i in range(probe_n)]
    answers += [[] for _ in range(len(queries) - probe_n)]
    sec.notes.append(
        f"The top_k_similar loop would take ~{estimate:.0f} s, so its time is EXTRAPOLATED "
        f"from {probe_n} measured queries (median per query x {len(queries)}); only those "
        f"{probe_n} queries are checked."
    )
    return Outcome(estimate, answers, None), f"{label} (EXTRAPOLATED)"


# --------------------------------------------------------------------------- #
# d. peak memory (each case in its own subprocess)
# --------------------------------------------------------------------------- #

MEMORY_CASES: dict[str, tuple[str, Callable[[], pl.Expr], Callable[[], pl.Expr | None]]] = {
    # name: (kind, mlkit expr, native expr)
    "min-max scale": (
        "scalar",
        lambda: pl.col("x").ml.minmax_scale(),
        lambda: native_minmax(pl.col("x")),
    ),
    "standard scale": (
        "scalar",
        lambda: pl.col("x").ml.standard_scale(),
        lambda: native_standard(pl.col("x")),
    ),
    "robust scale": (
        "scalar",
        lambda: pl.col("x").ml.robust_scale(),
        lambda: native_robust(pl.col("x")),
    ),
    "per-group min-max .over('g')": (
        "grouped",
        lambda: pl.col("x").ml.minmax_scale().over("g"),
        lambda: native_minmax(pl.col("x")).over("g"),
    ),
    "row-wise dot": (
        "vector",
        lambda: pl.col("a").ml.dot(pl.col("b")),
        native_arr_dot,
    ),
    "cosine similarity": (
        "vector",
        lambda: pl.col("a").ml.cosine_similarity(pl.col("b")),
        native_cosine,
    ),
    "unit normalize": (
        "vector",
        lambda: pl.col("a").ml.unit_normalize(),
        native_unit_normalize,
    ),
}
#: The data face (numpy in, numpy out): name -> (kind, polars-mlkit, numpy).
DATA_MEMORY_CASES: dict[str, tuple[str, Callable[..., Any], Callable[..., Any]]] = {
    "pmk.normalize(ndarray)": (
        "data-scalar",
        lambda x: pmk.normalize(x),
        lambda x: (x - x.min()) / (x.max() - x.min()),
    ),
    "pmk.cosine_similarity(ndarray, q)": (
        "data-vector",
        lambda x, q: pmk.cosine_similarity(x, q),
        lambda x, q: (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q)),
    ),
}
QUICK_MEMORY = ("min-max scale", "per-group min-max .over('g')", "cosine similarity")
MEMORY_SLACK = 16 * MIB


def _build_memory_frame(kind: str, n: int) -> pl.DataFrame:
    rng = np.random.default_rng(SEED + 3)
    if kind == "vector":
        return pl.DataFrame(
            [
                pl.Series("a", rng.standard_normal((n, 768), dtype=np.float32)),
                pl.Series("b", rng.standard_normal((n, 768), dtype=np.float32)),
            ]
        )
    data: dict[str, Any] = {"x": rng.normal(50.0, 10.0, n)}
    if kind == "grouped":
        data["g"] = rng.integers(0, 1_000, n, dtype=np.int32)
    return pl.DataFrame(data)


def memory_child(spec_json: str) -> None:
    """Run one memory case and print a JSON line (called in a fresh subprocess)."""
    spec = json.loads(spec_json)
    if spec["case"] in DATA_MEMORY_CASES:
        _data_memory_child(spec)
        return
    kind, mlkit_expr, native_expr = MEMORY_CASES[spec["case"]]
    try:
        expr = mlkit_expr() if spec["impl"] == "mlkit" else native_expr()
    except AttributeError as exc:
        print(json.dumps({"error": f"not available ({_short_error(exc)})"}))
        return
    if expr is None:
        print(json.dumps({"error": "not available in this Polars"}))
        return
    try:
        # Warm up on a tiny frame so one-off costs (library pages, plan caches) are not counted.
        _build_memory_frame(kind, 64).select(expr)
        df = _build_memory_frame(kind, spec["n"])
        gc.collect()
        exact = _reset_peak_rss()
        before = _peak_rss_bytes()
        out = df.select(expr)
        after = _peak_rss_bytes()
    except Exception as exc:
        print(json.dumps({"error": _short_error(exc)}))
        return
    print(
        json.dumps(
            {
                "growth": after - before,
                "input": df.estimated_size(),
                "output": out.estimated_size(),
                "exact": exact,
            }
        )
    )


def _memory_data(kind: str, n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(SEED + 3)
    if kind == "data-vector":
        return rng.standard_normal((n, 768), dtype=np.float32), rng.standard_normal(768)
    return (rng.normal(50.0, 10.0, n),)


def _data_memory_child(spec: dict[str, Any]) -> None:
    """A data-face case: peak RSS growth of one call on numpy arrays."""
    kind, mlkit_fn, numpy_fn = DATA_MEMORY_CASES[spec["case"]]
    fn = mlkit_fn if spec["impl"] == "mlkit" else numpy_fn
    fn(*_memory_data(kind, 64))
    data = _memory_data(kind, spec["n"])
    gc.collect()
    exact = _reset_peak_rss()
    before = _peak_rss_bytes()
    out = fn(*data)
    after = _peak_rss_bytes()
    print(
        json.dumps(
            {
                "growth": after - before,
                "input": int(sum(a.nbytes for a in data)),
                "output": int(np.asarray(out).nbytes),
                "exact": exact,
            }
        )
    )


def _child(flag: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run this script with ``flag`` and ``spec`` in a fresh process; its last
    JSON line, or an ``error``."""
    cmd = [sys.executable, str(Path(__file__).resolve()), flag, json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=3600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail[:160]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _memory_in_subprocess(case: str, impl: str, n: int) -> dict[str, Any]:
    return _child("--memory-child", {"case": case, "impl": impl, "n": n})


def section_memory(cfg: Config) -> Section:
    sec = Section("Peak memory (RSS growth while the operation runs, fresh subprocess each)")
    names = QUICK_MEMORY if cfg.quick else tuple(MEMORY_CASES)
    rows = []
    exact_all = True
    for case in (*names, *DATA_MEMORY_CASES):
        kind = (MEMORY_CASES.get(case) or DATA_MEMORY_CASES[case])[0]
        n = cfg.mem_vec_rows if kind.endswith("vector") else cfg.mem_scalar_n
        size = {
            "vector": f"{fmt_size(n)} x Array(Float32, 768) x2",
            "data-vector": f"{fmt_size(n)} x 768 float32 ndarray",
            "data-scalar": f"{fmt_size(n)} float64 ndarray",
        }.get(kind, fmt_size(n))
        progress(f"memory: {case} [{size}]")
        mine = _memory_in_subprocess(case, "mlkit", n)
        native = _memory_in_subprocess(case, "native", n)
        ref = mine if "error" not in mine else native

        def mib(v: Any) -> str:
            if v is None:
                return "—"
            return f"{v / MIB:.1f}" if abs(v) >= MIB else f"{v / MIB:.2f}"

        if "error" in mine:
            met = "n/a"
            sec.notes.append(f"{case}: polars_mlkit — {mine['error']}")
        else:
            exact_all = exact_all and bool(mine.get("exact"))
            met = "yes" if mine["growth"] <= mine["output"] + MEMORY_SLACK else "NO"
        if "error" in native:
            sec.notes.append(f"{case}: native — {native['error']}")
        rows.append(
            [
                case,
                size,
                mib(ref.get("input")),
                mib(ref.get("output")),
                mib(mine.get("growth")),
                mib(native.get("growth")),
                f"≤ output + {MEMORY_SLACK // MIB} MiB",
                met,
            ]
        )
    sec.table = markdown_table(
        (
            "operation",
            "size",
            "input MiB",
            "output MiB",
            "polars_mlkit peak growth MiB",
            "native (numpy for the data face) peak growth MiB",
            "target",
            "met?",
        ),
        rows,
    )
    sec.notes.append(
        "For `.over('g')` the growth includes Polars' window machinery (group indices, "
        "gathers), which the native expression pays too."
    )
    sec.notes.append(
        "Peak growth = peak RSS (VmHWM, else ru_maxrss) after the select minus RSS just before "
        "it, after a warm-up on 64 rows; the peak counter is reset through /proc/self/clear_refs"
        + ("." if exact_all else " where possible (otherwise the earlier peak is the floor).")
    )
    return sec


# --------------------------------------------------------------------------- #
# g. vector aggregations per group
# --------------------------------------------------------------------------- #


def section_aggregations(cfg: Config) -> Section:
    """``ml.vector_mean`` per group against the fastest native ways."""
    sec = Section("Vector aggregations: the centroid of each group")
    rng = np.random.default_rng(SEED + 13)
    n, d, groups = (100_000, 384, 1_000) if cfg.quick else (1_000_000, 384, 1_000)
    df = pl.DataFrame(
        {"g": rng.integers(0, groups, n), "e": rng.standard_normal((n, d), dtype=np.float32)}
    )
    progress(f"aggregations: vector_mean over {fmt_size(n)} x {d}, {groups} groups")

    def as_matrix(out: pl.DataFrame) -> np.ndarray:
        out = out.sort("g")
        if "e" in out.columns and isinstance(out.schema["e"], pl.Array):
            return np.asarray(out["e"].to_list())
        return out.drop("g").to_numpy()

    def in_group_by() -> np.ndarray:
        return as_matrix(df.group_by("g").agg(pl.col("e").ml.vector_mean()))

    native = [
        Baseline(
            "native arr.get(i).mean() per dimension",
            lambda: as_matrix(
                df.group_by("g").agg(
                    [pl.col("e").arr.get(i).mean().alias(f"e{i}") for i in range(d)]
                )
            ),
            5.0,
            "≥ 5x",
        ),
        Baseline(
            "native arr.to_struct + unnest + mean",
            lambda: as_matrix(
                df.select("g", pl.col("e").arr.to_struct())
                .unnest("e")
                .group_by("g")
                .agg(pl.all().mean())
            ),
            5.0,
            "≥ 5x",
        ),
    ]
    size = f"{fmt_size(n)} x Array(Float32, {d}), {groups:,} groups"
    repeats = 3 if not cfg.quick else cfg.repeat
    compare(
        sec, "pl.col('e').ml.vector_mean() in group_by('g').agg", size, in_group_by, native, repeats
    )
    compare(
        sec,
        "pmk.vector_mean(df, 'e', by='g') (rows read in place)",
        size,
        lambda: as_matrix(pmk.vector_mean(df, "e", by="g")),
        [
            *native,
            Baseline("group_by('g').agg(pl.col('e').ml.vector_mean())", in_group_by, 1.0, "≥ 1x"),
        ],
        repeats,
    )
    sec.notes.append(
        "Inside `group_by().agg`, Polars copies every group's rows into a new list column "
        "(the whole 1.5 GB column, gathered) before it calls a plugin; no plugin option "
        "avoids that copy. The frame form lets Polars group only the row numbers and reads "
        "the rows in place; the same vectors, bit for bit."
    )
    return sec


# --------------------------------------------------------------------------- #
# h. quantized and low-precision embeddings
# --------------------------------------------------------------------------- #


def _clustered(rng: np.random.Generator, n: int, d: int, clusters: int = 100) -> np.ndarray:
    """Embeddings with cluster structure: centres plus noise, Float32."""
    centres = rng.standard_normal((clusters, d), dtype=np.float32)
    noise = rng.standard_normal((n, d), dtype=np.float32)
    return centres[rng.integers(0, clusters, n)] + 0.6 * noise


def _recall(found: pl.DataFrame, exact: pl.DataFrame) -> float:
    return found.join(exact, on=["query", "index"], how="inner").height / max(exact.height, 1)


def _quantized_memory(n: int, d: int) -> list[str]:
    """Peak anonymous-RSS growth of scans over Int8 and Float16 columns (the
    codes must never be expanded to a float column)."""
    rng = np.random.default_rng(SEED + 17)
    x = _clustered(rng, n, d)
    frame = pl.DataFrame({"e": x}).select(
        pl.col("e").ml.quantize("int8").alias("i8"),
        pl.col("e").cast(pl.Array(pl.Float16, d)).alias("f16"),
    )
    del x
    gc.collect()
    lines = []
    q8 = [float(v) for v in frame["i8"][0]]
    q16 = frame["f16"][0].to_numpy().astype(np.float64)
    for column, query in (("i8", q8), ("f16", q16)):
        size = frame[column].estimated_size()
        for name, fn in (
            (
                "top_k_similar",
                lambda c=column, q=query: frame.select(pl.col(c).ml.top_k_similar(q, k=10)),
            ),
            (
                "nearest, 100 queries",
                lambda c=column, q=query: pmk.nearest(frame, c, np.tile(q, (100, 1)), k=10),
            ),
        ):
            fn()
            peak = _AnonPeak()
            fn()
            grown = peak.stop()
            lines.append(
                f"{name} on the {column} column ({size / 2**20:,.0f} MiB): peak anonymous RSS "
                f"+{grown / 2**20:,.1f} MiB"
            )
    return lines


# Queries up to which nearest scans Float16 rows with their own tiled kernel
# (HALF_SCAN_MAX_QUERIES in src/expressions/vector.rs).
HALF_SCAN_QUERIES = 47


def _half_by_queries(
    frame: pl.DataFrame, rng: np.random.Generator, d: int, counts: tuple[int, ...]
) -> str:
    """nearest on the Float16 column against the Float32 column as the
    queries grow (medians of 3, timed round-robin): what the Float16 column
    saves is the reading of half the bytes, a fixed time, which the ratio
    shows only while reading is most of the search."""
    parts = []
    for m in counts:
        queries = rng.standard_normal((m, d)).astype(np.float32) + frame["e"][:m].to_numpy()
        wide, half = interleaved_median_times(
            [
                lambda q=queries: pmk.nearest(frame, "e", q, k=10),
                lambda q=queries: pmk.nearest(frame, "f16", q, k=10),
            ],
            repeat=3,
        )
        parts.append(
            f"{m}: {wide * 1e3:,.0f} / {half * 1e3:,.0f} ms = {wide / half:.2f}x "
            f"(saves {(wide - half) * 1e3:,.0f} ms)"
        )
    return (
        f"nearest(k=10) by number of queries, Float32 / Float16 column: {'; '.join(parts)}. "
        f"Up to {HALF_SCAN_QUERIES} queries the Float16 rows are scanned by their own tiled "
        "kernel; from 48 both columns are screened by the same Int8 product, and Float16 saves "
        "only the reading of half the bytes, a fixed time: the 1.5x target of a scan does not "
        "apply there."
    )


def section_quantized(cfg: Config) -> Section:
    """Scans over Float16, Int8 and binary codes against the same scan over
    the Float32 column, and the recall of binary screening + rescoring."""
    sec = Section("Quantized embeddings: Float16, Int8 and binary scans against Float32")
    rng = np.random.default_rng(SEED + 19)
    n, d = (100_000, 384) if cfg.quick else (1_000_000, 384)
    x = _clustered(rng, n, d)
    ranges = np.vstack((x.min(axis=0), x.max(axis=0)))
    frame = pl.DataFrame({"e": x}).with_columns(
        pl.col("e").cast(pl.Array(pl.Float16, d)).alias("f16"),
        pl.col("e").ml.quantize("int8", ranges=ranges).alias("i8"),
        pl.col("e").ml.quantize("binary").alias("bin"),
    )
    del x
    gc.collect()
    size = f"{fmt_size(n)} x {d}"
    progress(f"quantized: scans over {size}")
    codes = {
        "Float16": ("f16", lambda q: q, "cosine", 1.5),
        "Int8": ("i8", lambda q: pmk.quantize(q, ranges=ranges).astype(np.float64), "cosine", 2.0),
        "binary (hamming)": (
            "bin",
            lambda q: np.packbits(q > 0, axis=-1).astype(np.float64),
            "hamming",
            8.0,
        ),
    }
    query = rng.standard_normal(d).astype(np.float32) + frame["e"][0].to_numpy()
    for label, (column, encode, metric, target) in codes.items():
        q = encode(query)
        compare(
            sec,
            f"top_k_similar(k=10) on the {label} column",
            size,
            lambda c=column, q=q, m=metric: frame.select(
                pl.col(c).ml.top_k_similar(q, k=10, metric=m)
            ),
            [
                Baseline(
                    "the same scan on the Float32 column (cosine)",
                    lambda: frame.select(pl.col("e").ml.top_k_similar(query, k=10)),
                    target,
                    f"≥ {target:g}x",
                )
            ],
            cfg.repeat,
            check=lambda a, b: (
                f"top-10 overlap {len(set(a.to_series()) & set(b.to_series())) * 10}%"
            ),
        )
    for m in (1, 10, 100):
        queries = rng.standard_normal((m, d)).astype(np.float32) + frame["e"][:m].to_numpy()
        for label, (column, encode, metric, target) in codes.items():
            q = encode(queries)
            # The Float16 target is a scan's (half the bytes to read); past
            # HALF_SCAN_QUERIES both columns go through the same Int8 screen
            # and the ratio is reported (see the sweep in the notes).
            scan = label != "Float16" or m <= HALF_SCAN_QUERIES
            compare(
                sec,
                f"nearest(k=10), {m} queries, on the {label} column",
                size,
                lambda c=column, q=q, mt=metric: pmk.nearest(frame, c, q, k=10, metric=mt),
                [
                    Baseline(
                        "the same search on the Float32 column (cosine)",
                        lambda queries=queries: pmk.nearest(frame, "e", queries, k=10),
                        target if scan else None,
                        f"≥ {target:g}x" if scan else "reported: not a scan",
                    )
                ],
                3 if m >= 100 else cfg.repeat,
                check=_topk_agreement,
            )
    sec.notes.append(_half_by_queries(frame, rng, d, (16, 32, 47, 48, 100, 200)))
    # Recall@10 of binary screening + exact rescoring, against exact search.
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    digits = StandardScaler().fit_transform(load_digits().data)
    synthetic = frame["e"][: 100_000 if not cfg.quick else 20_000].to_numpy()
    for name, data, n_queries in (
        ("standard-scaled digits (1,797 x 64), every row a query", digits, len(digits)),
        (
            f"clustered synthetic ({fmt_size(len(synthetic))} x {d}), 1,000 queries",
            synthetic,
            1_000,
        ),
    ):
        corpus = pl.DataFrame({"e": data}).with_columns(
            pl.col("e").ml.quantize("binary").alias("b")
        )
        queries = data[:n_queries]
        exact = pmk.nearest(corpus, "e", queries, k=10)
        recalls = []
        for o in (1, 4, 10):
            found = pmk.nearest(corpus, "b", queries, 10, "hamming", rescore="e", oversample=o)
            recalls.append(f"oversample {o}: {_recall(found, exact):.3f}")
        sec.notes.append(
            f"recall@10 of binary + rescore (cosine) on the {name}: " + ", ".join(recalls)
        )
    sec.notes.extend(_quantized_memory(n, d))
    sec.notes.append(
        "Int8 queries are quantized with the corpus's ranges, so they are integers and the Int8 "
        "column is ranked by exact integer kernels; binary queries are the queries' sign bits. "
        "Int8 rows with 6 queries or more are scored in blocks by an exact integer product, on "
        "AMX tiles where the CPU and OS offer them, else AVX-512 VNNI (fewer: scanned row by "
        "row); Float16 rows with up to 47 queries are "
        "searched with their own tiled kernel, more go through the Float32 matrix-product screen "
        "that the Float32 column uses, so Float16 gains only its smaller reads there. "
        "The binary rows are a screen (Hamming distance), not the "
        "same ranking: their overlap with the Float32 answer is shown, not required. From 48 "
        "queries the Float32 baseline itself screens with an exact-bounded Int8 product (AVX-512 "
        "VNNI or AVX2), so at 100 queries it is no longer a Float32 scan: the ratios there "
        "compare two compute-bound searches."
    )
    return sec


# --------------------------------------------------------------------------- #
# f. search at scale: nearest against faiss and numpy
# --------------------------------------------------------------------------- #


def _np_search(q: np.ndarray, x: np.ndarray, k: int, chunk: int = 1000) -> np.ndarray:
    """numpy cosine top-k (rows pre-normalised), in chunks of queries so the
    score matrix stays small."""
    out = []
    for start in range(0, q.shape[0], chunk):
        out.append(np_topk(q[start : start + chunk], x, k))
    return np.concatenate(out)


def section_search(cfg: Config) -> Section:
    """``pmk.nearest`` and ``pmk.knn_join`` against faiss and numpy on the
    same Float32 data and thread count, query counts from 1 to 20,000."""
    sec = Section("Search: nearest and knn_join (k=10) against faiss and numpy")
    try:
        import faiss  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        sec.notes.append("faiss-cpu is not installed (pip install -r requirements-dev.txt)")
        return sec
    rng = np.random.default_rng(SEED + 7)
    n = 10_000 if cfg.quick else 100_000
    counts = (1, 10, 200) if cfg.quick else (1, 10, 200, 2_000, 20_000)
    k = 10
    for dim in (384,) if cfg.quick else (384, 768):
        x = rng.standard_normal((n, dim), dtype=np.float32)
        x_unit = x / np.linalg.norm(x, axis=1, keepdims=True)
        frame = pl.DataFrame([pl.Series("emb", x)])
        index = faiss.IndexFlatIP(dim)
        index.add(x_unit)
        for nq in counts:
            q = rng.standard_normal((nq, dim), dtype=np.float32)
            q_unit = q / np.linalg.norm(q, axis=1, keepdims=True)
            repeat = 1 if nq >= 20_000 else (3 if nq >= 2_000 else cfg.repeat)
            progress(f"search: {nq:,} queries over {fmt_size(n)} x {dim}")
            compare(
                sec,
                "pmk.nearest(frame, 'emb', queries, k=10)",
                f"{nq:,} queries over {fmt_size(n)} x Array(Float32, {dim})",
                lambda q=q, frame=frame: pmk.nearest(frame, "emb", q, k=k),
                [
                    Baseline(
                        "faiss IndexFlatIP.search (unit rows)",
                        lambda q_unit=q_unit, index=index: index.search(q_unit, k)[1],
                        1.0,
                        "≥ 1x",
                    ),
                    Baseline(
                        "numpy Q @ X.T + argpartition (unit rows)",
                        (lambda q_unit=q_unit, x_unit=x_unit: _np_search(q_unit, x_unit, k))
                        if nq <= 2_000
                        else None,
                        1.0,
                        "≥ 1x",
                    ),
                ],
                repeat,
                check=_topk_agreement,
            )
    if not cfg.quick:
        _search_euclidean_and_join(sec, cfg, rng, faiss, n, counts, k)
    sec.notes.append(
        "faiss and numpy search rows normalised beforehand (an index is built once); "
        "pmk.nearest takes the raw Float32 column and normalises as it scores, with a Float32 "
        "screen and an exact f64 rescoring of the survivors. faiss runs with its default "
        f"OpenMP threads ({faiss.omp_get_max_threads()}), the same as Polars' pool here. numpy "
        "is skipped at 20,000 queries (chunked, it takes minutes)."
    )
    return sec


def _join_lists(x: Any) -> list[list[int]]:
    """A knn_join result (or its faiss equivalent) as matched ids per query."""
    return _topk_lists(x.select(pl.col("qid").alias("query"), "rank", pl.col("id").alias("index")))


def _search_euclidean_and_join(
    sec: Section, cfg: Config, rng: np.random.Generator, faiss: Any, n: int, counts: Any, k: int
) -> None:
    """Euclidean ``nearest`` against faiss ``IndexFlatL2``, and ``knn_join``
    against faiss's search plus the join a user would write, on 384 wide rows."""
    dim = 384
    x = rng.standard_normal((n, dim), dtype=np.float32)
    frame = pl.DataFrame([pl.Series("emb", x)])
    index = faiss.IndexFlatL2(dim)
    index.add(x)
    for nq in counts:
        q = rng.standard_normal((nq, dim), dtype=np.float32)
        repeat = 1 if nq >= 20_000 else (3 if nq >= 2_000 else cfg.repeat)
        progress(f"search: euclidean, {nq:,} queries over {fmt_size(n)} x {dim}")
        compare(
            sec,
            "pmk.nearest(frame, 'emb', queries, k=10, metric='euclidean')",
            f"{nq:,} queries over {fmt_size(n)} x Array(Float32, {dim})",
            lambda q=q: pmk.nearest(frame, "emb", q, k=k, metric="euclidean"),
            [
                Baseline(
                    "faiss IndexFlatL2.search",
                    lambda q=q: index.search(q, k)[1],
                    1.0,
                    "≥ 1x",
                )
            ],
            repeat,
            check=_topk_agreement,
        )
    nq = 2_000
    q = rng.standard_normal((nq, dim), dtype=np.float32)
    left = pl.DataFrame({"qid": np.arange(nq), "q": q})
    right = pl.DataFrame({"id": np.arange(n), "emb": x})
    x_unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    q_unit = q / np.linalg.norm(q, axis=1, keepdims=True)
    ip = faiss.IndexFlatIP(dim)
    ip.add(x_unit)

    def faiss_join() -> pl.DataFrame:
        scores, found = ip.search(q_unit, k)
        return pl.concat(
            [left[np.repeat(np.arange(nq), k)], right[found.ravel()]], how="horizontal"
        ).with_columns(
            rank=pl.Series(np.tile(np.arange(1, k + 1), nq), dtype=pl.UInt32),
            score=pl.Series(scores.ravel().astype(np.float64)),
        )

    progress(f"search: knn_join, {nq:,} queries over {fmt_size(n)} x {dim}")
    compare(
        sec,
        "pmk.knn_join(left, right, on='q', right_on='emb', k=10)",
        f"{nq:,} query rows x {fmt_size(n)} corpus rows, Array(Float32, {dim})",
        lambda: pmk.knn_join(left, right, on="q", right_on="emb", k=k),
        [
            Baseline(
                "faiss IndexFlatIP.search (unit rows) + gather and join", faiss_join, 1.0, "≥ 1x"
            )
        ],
        3,
        check=lambda mine, ref: _topk_agreement(_join_lists(mine), _join_lists(ref)),
    )


def _write_corpus(path: Path, rows: int, dim: int, row_group: int = 1 << 16) -> None:
    """A parquet corpus of ``rows`` random vectors, in row groups of ``row_group`` rows."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    rng = np.random.default_rng(SEED + 11)
    chunk = row_group
    with pq.ParquetWriter(path, pa.schema([("emb", pa.list_(pa.float32(), dim))])) as w:
        for start in range(0, rows, chunk):
            m = min(chunk, rows - start)
            values = pa.array(rng.standard_normal(m * dim, dtype=np.float32))
            w.write_table(pa.table({"emb": pa.FixedSizeListArray.from_arrays(values, dim)}))


def search_child(spec_json: str) -> None:
    """One nearest over a parquet corpus in a fresh process (JSON line)."""
    spec = json.loads(spec_json)
    q = np.random.default_rng(SEED + 12).standard_normal((spec["queries"], spec["dim"]))
    tiny = pl.DataFrame([pl.Series("emb", np.ones((4, spec["dim"]), dtype=np.float32))])
    pmk.nearest(tiny.lazy(), "emb", q[:1], k=1)
    gc.collect()
    sampler = _AnonPeak()
    started = time.perf_counter()
    if spec["how"] == "out-of-core":
        found = pmk.nearest(pl.scan_parquet(spec["path"]), "emb", q, k=10)
    else:
        found = pmk.nearest(pl.read_parquet(spec["path"]), "emb", q, k=10)
    elapsed = time.perf_counter() - started
    anon = sampler.stop()
    digest = found.hash_rows().sum()
    print(json.dumps({"s": elapsed, "anon": anon, "digest": int(digest)}))


#: The searches whose peak memory the filtered section compares, on one
#: corpus: name -> (which unfiltered search it is compared with, the call).
FILTERED_MEMORY_CASES: dict[str, tuple[str, Callable[[pl.DataFrame, pl.DataFrame], Any]]] = {
    "pmk.nearest(corpus, 'e', q, k=10)": (
        "",
        lambda corpus, left: pmk.nearest(corpus, "e", left["e"].to_numpy(), k=10),
    ),
    "pmk.nearest(..., filter=pl.col('bucket') == 0) (1% pass)": (
        "pmk.nearest(corpus, 'e', q, k=10)",
        lambda corpus, left: pmk.nearest(
            corpus, "e", left["e"].to_numpy(), k=10, filter=pl.col("bucket") == 0
        ),
    ),
    "pmk.nearest(..., filter=pl.col('bucket') < 50) (50% pass)": (
        "pmk.nearest(corpus, 'e', q, k=10)",
        lambda corpus, left: pmk.nearest(
            corpus, "e", left["e"].to_numpy(), k=10, filter=pl.col("bucket") < 50
        ),
    ),
    "pmk.nearest(..., by=left.select('g')) (a key per query)": (
        "pmk.nearest(corpus, 'e', q, k=10)",
        lambda corpus, left: pmk.nearest(
            corpus, "e", left["e"].to_numpy(), k=10, by=left.select("g")
        ),
    ),
    "pmk.knn_join(left, corpus, on='e', k=10)": (
        "",
        lambda corpus, left: pmk.knn_join(left, corpus, on="e", k=10),
    ),
    "pmk.knn_join(..., by='g')": (
        "pmk.knn_join(left, corpus, on='e', k=10)",
        lambda corpus, left: pmk.knn_join(left, corpus, on="e", k=10, by="g"),
    ),
    "pmk.knn_join(..., by='g', filter=pl.col('bucket') < 50)": (
        "pmk.knn_join(left, corpus, on='e', k=10)",
        lambda corpus, left: pmk.knn_join(
            left, corpus, on="e", k=10, by="g", filter=pl.col("bucket") < 50
        ),
    ),
}


def _filtered_memory_data(n: int, dim: int, nq: int, groups: int) -> tuple[pl.DataFrame, ...]:
    """The corpus (``id``, ``g`` in ``groups`` keys, ``bucket`` = id % 100,
    ``e``) and ``nq`` left rows (``qid``, ``g``, ``e``) of the memory cases."""
    rng = np.random.default_rng(SEED + 26)
    corpus = pl.DataFrame(
        {
            "id": np.arange(n),
            "g": rng.integers(0, groups, n),
            "bucket": np.arange(n) % 100,
            "e": rng.standard_normal((n, dim), dtype=np.float32),
        }
    )
    left = pl.DataFrame(
        {
            "qid": np.arange(nq),
            "g": rng.integers(0, groups, nq),
            "e": rng.standard_normal((nq, dim), dtype=np.float32),
        }
    )
    return corpus, left


def filtered_memory_child(spec_json: str) -> None:
    """One search of :data:`FILTERED_MEMORY_CASES` in a fresh process: its
    time and the growth of the peak RSS over the RSS before the call (JSON)."""
    spec = json.loads(spec_json)
    search = FILTERED_MEMORY_CASES[spec["case"]][1]
    corpus, left = _filtered_memory_data(spec["n"], spec["dim"], spec["queries"], spec["groups"])
    search(corpus.head(2_000), left.head(8))  # library pages and thread pools, not counted
    gc.collect()
    exact = _reset_peak_rss()
    before = _peak_rss_bytes()
    started = time.perf_counter()
    found = search(corpus, left)
    elapsed = time.perf_counter() - started
    after = _peak_rss_bytes()
    print(
        json.dumps(
            {
                "s": elapsed,
                "growth": after - before,
                "corpus": corpus.estimated_size(),
                "output": found.estimated_size(),
                "exact": exact,
            }
        )
    )


def _filtered_memory_table(sec: Section, cfg: Config) -> None:
    """Peak memory of the filtered and grouped searches against the same
    search unfiltered, each in its own process on one corpus."""
    n, dim, nq, groups = (40_000, 128, 200, 20) if cfg.quick else (200_000, 128, 1_000, 100)
    spec = {"n": n, "dim": dim, "queries": nq, "groups": groups}
    results: dict[str, dict[str, Any]] = {}
    for case in FILTERED_MEMORY_CASES:
        progress(f"filtered: peak memory of {case}")
        results[case] = _child("--filtered-memory-child", {**spec, "case": case})
    rows = []
    exact = True
    for case, (unfiltered, _) in FILTERED_MEMORY_CASES.items():
        got = results[case]
        if "error" in got:
            sec.notes.append(f"peak memory of {case}: {got['error']}")
            continue
        exact = exact and bool(got["exact"])
        base = results.get(unfiltered, {}) if unfiltered else got
        ratio = (
            f"{got['growth'] / base['growth']:.2f}"
            if "growth" in base and base["growth"] > 0
            else "—"
        )
        met = "—" if not unfiltered or ratio == "—" else ("yes" if float(ratio) <= 1.1 else "NO")
        rows.append(
            [
                case,
                f"{got['s'] * 1e3:.0f}",
                f"{got['growth'] / MIB:.1f}",
                f"{got['output'] / MIB:.2f}",
                ratio,
                met,
            ]
        )
    sec.more_tables.append(
        f"Peak memory, {fmt_size(n)} x Array(Float32, {dim}) corpus "
        f"({spec['n'] * dim * 4 / MIB:.0f} MiB of vectors), {nq} queries, {groups} groups:\n\n"
        + markdown_table(
            (
                "search",
                "ms",
                "peak RSS growth MiB",
                "result MiB",
                "peak / unfiltered peak",
                "met? (≤ 1.1x)",
            ),
            rows,
        )
    )
    sec.notes.append(
        "Peak memory: each search runs in a fresh process after a warm-up on 2,000 rows; the "
        "growth of the peak RSS (VmHWM, "
        + ("reset before the call" if exact else "not resettable here: an upper bound")
        + ") over the RSS before the call. The filtered and grouped rows are compared with "
        "the unfiltered search of the same kind (nearest or knn_join) on the same corpus."
    )


def section_filtered(cfg: Config) -> Section:
    """Filtered, grouped and multi-vector search: ``knn_join(by=...)``
    against a loop of faiss searches per group, a filter passing 1% of the
    corpus against searching that 1% alone, and ``ml.maxsim`` against a
    numpy loop."""
    sec = Section("Filtered, grouped and multi-vector search")
    rng = np.random.default_rng(SEED + 25)
    k = 10
    # knn_join(by=): left x right x d, in `groups` groups, cosine.
    n_left, n_right, dim, groups = (
        (2_000, 40_000, 128, 20) if cfg.quick else (10_000, 200_000, 128, 100)
    )
    right = pl.DataFrame(
        {
            "id": np.arange(n_right),
            "g": rng.integers(0, groups, n_right),
            "e": rng.standard_normal((n_right, dim), dtype=np.float32),
        }
    )
    left = pl.DataFrame(
        {
            "qid": np.arange(n_left),
            "g": rng.integers(0, groups, n_left),
            "e": rng.standard_normal((n_left, dim), dtype=np.float32),
        }
    )
    try:
        import faiss  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        faiss = None
        sec.notes.append("faiss-cpu is not installed (pip install -r requirements-dev.txt)")

    def faiss_by_group() -> pl.DataFrame:
        """What a user writes: split both frames by key, build an index per
        group, search it, and gather the matches into one frame."""
        assert faiss is not None
        qids, ids = [], []
        parts = right.partition_by("g", as_dict=True)
        for (g,), asks in left.partition_by("g", as_dict=True).items():
            part = parts.get((g,))
            if part is None:
                continue
            x = part["e"].to_numpy()
            index = faiss.IndexFlatIP(dim)
            index.add(x / np.linalg.norm(x, axis=1, keepdims=True))
            q = asks["e"].to_numpy()
            _, idx = index.search(q / np.linalg.norm(q, axis=1, keepdims=True), k)
            found = idx >= 0
            qids.append(np.repeat(asks["qid"].to_numpy(), found.sum(axis=1)))
            ids.append(part["id"].to_numpy()[idx[found]])
        return pl.DataFrame({"qid": np.concatenate(qids), "id": np.concatenate(ids)})

    def pmk_by_group() -> pl.DataFrame:
        return pmk.knn_join(left, right, on="e", k=k, by="g")

    def matches(frame: pl.DataFrame) -> dict[int, set[int]]:
        lists = frame.group_by("qid").agg("id")
        return {q: set(ids) for q, ids in zip(lists["qid"], lists["id"].to_list(), strict=True)}

    def same_matches(mine: pl.DataFrame, ref: pl.DataFrame) -> str:
        got, expected = matches(mine), matches(ref)
        hits = sum(len(got.get(q, set()) & ids) for q, ids in expected.items())
        total = sum(len(ids) for ids in expected.values())
        return f"{hits / max(total, 1):.4f} of faiss's matches"

    progress("filtered: knn_join(by=)")
    compare(
        sec,
        "pmk.knn_join(left, right, on='e', k=10, by='g')",
        f"{n_left:,} x {n_right:,} x Array(Float32, {dim}), {groups} groups",
        pmk_by_group,
        [
            Baseline(
                "faiss IndexFlatIP per group (partition, build, search)",
                faiss_by_group if faiss is not None else None,
                5.0,
                "≥ 5x",
            )
        ],
        cfg.repeat,
        check=same_matches,
    )
    # A filter passing 1% of the rows, against searching those rows alone.
    n, dim = (100_000, 384) if cfg.quick else (1_000_000, 384)
    corpus = pl.DataFrame(
        {
            "bucket": np.arange(n) % 100,
            "e": rng.standard_normal((n, dim), dtype=np.float32),
        }
    )
    alone = corpus.filter(pl.col("bucket") == 0)
    for nq in (1, 100):
        q = rng.standard_normal((nq, dim))
        progress(f"filtered: {nq} queries, 1% of {n:,}")
        compare(
            sec,
            "pmk.nearest(frame, 'e', q, k=10, filter=pl.col('bucket') == 0)",
            f"{nq} queries, 1% of {fmt_size(n)} x Array(Float32, {dim}) pass",
            lambda q=q, c=corpus: pmk.nearest(c, "e", q, k=k, filter=pl.col("bucket") == 0)[
                "score"
            ],
            [
                Baseline(
                    "pmk.nearest on a pre-built frame of the 1% (target: ≤ 2x its time)",
                    lambda q=q, a=alone: pmk.nearest(a, "e", q, k=k)["score"],
                    0.5,
                    "≥ 0.5x",
                )
            ],
            cfg.repeat,
        )
    del corpus, alone
    # MaxSim: documents of 20-60 tokens, a 32-token query.
    docs_n, dim = (4_000, 128) if cfg.quick else (20_000, 128)
    counts = rng.integers(20, 61, docs_n)
    flat = rng.standard_normal((int(counts.sum()), dim), dtype=np.float32)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    docs = [flat[offsets[i] : offsets[i + 1]] for i in range(docs_n)]
    frame = pl.DataFrame(
        [
            pl.Series("t", flat)
            .to_frame()
            .with_columns(pl.Series("doc", np.repeat(np.arange(docs_n), counts)))
            .group_by("doc", maintain_order=True)
            .agg("t")["t"]
        ]
    )
    query = rng.standard_normal((32, dim), dtype=np.float32)

    def numpy_loop() -> np.ndarray:
        return np.array([float((query @ d.T).max(axis=1).sum()) for d in docs])

    progress("filtered: maxsim")
    compare(
        sec,
        "pl.col('t').ml.maxsim(query)",
        f"{docs_n:,} documents of 20-60 x Array(Float32, {dim}) tokens, 32-token query",
        lambda: frame.select(pl.col("t").ml.maxsim(query))["t"].to_numpy(),
        [Baseline("numpy loop: (Q @ D.T).max(1).sum() per document", numpy_loop, 10.0, "≥ 10x")],
        cfg.repeat,
        check=lambda a, b: f"rel {np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-30)):.1e}",
    )
    _filtered_memory_table(sec, cfg)
    sec.notes.append(
        "knn_join(by=): one call searches every group's rows alone, groups in parallel; the "
        "faiss baseline partitions both frames by key, normalises, builds an IndexFlatIP per "
        "group and searches it, as a user would write it, and gathers the matches into one frame "
        "(knn_join's frame also carries both sides' columns, the vectors included). The filter "
        "row compares the search "
        "of the whole corpus with filter= (the predicate evaluated, the passing rows gathered "
        "by position and searched) with the search of a frame holding only those rows. maxsim "
        "scores every product exactly in f64 after a Float32 screen; numpy computes Float32 "
        "products."
    )
    return sec


def section_search_out_of_core(cfg: Config) -> Section:
    import tempfile

    sec = Section("Search beyond memory: pmk.nearest over a parquet corpus (LazyFrame)")
    dim, nq = 384, 200
    # (rows, row-group rows): two corpus sizes with the same row groups show
    # that the peak does not grow with the corpus; smaller row groups show
    # what sets it (Polars' parquet reader decodes whole row groups).
    cases = (
        ((50_000, 1 << 14), (200_000, 1 << 14), (200_000, 1 << 12))
        if cfg.quick
        else ((1_000_000, 1 << 16), (3_000_000, 1 << 16), (3_000_000, 1 << 13))
    )
    table = []
    with tempfile.TemporaryDirectory(prefix="pmk-bench-") as tmp:
        for rows, row_group in cases:
            path = Path(tmp) / f"corpus{rows}-{row_group}.parquet"
            progress(f"search out of core: writing {fmt_size(rows)} x {dim}")
            _write_corpus(path, rows, dim, row_group)
            mib = path.stat().st_size / MIB
            results = {}
            for how in ("out-of-core", "in-memory"):
                spec = {"path": str(path), "how": how, "dim": dim, "queries": nq}
                results[how] = _child("--search-child", spec)
            path.unlink()
            ooc, mem = results["out-of-core"], results["in-memory"]
            if "error" in ooc or "error" in mem:
                sec.notes.append(f"{fmt_size(rows)}: {ooc.get('error') or mem.get('error')}")
                continue
            speed = rows / ooc["s"] / (rows / mem["s"])
            table.append(
                [
                    f"{fmt_size(rows)} x {dim}",
                    f"{row_group:,}",
                    f"{mib:.0f}",
                    f"{ooc['anon'] / MIB:.0f}",
                    f"{rows / ooc['s'] / 1e3:.0f}",
                    f"{mem['anon'] / MIB:.0f}",
                    f"{rows / mem['s'] / 1e3:.0f}",
                    f"{speed:.2f}",
                    "yes" if ooc["digest"] == mem["digest"] else "NO",
                    "yes" if speed >= 0.8 and ooc["anon"] <= mib * MIB / 4 else "NO",
                ]
            )
    sec.table = markdown_table(
        (
            "corpus (Float32)",
            "row group rows",
            "file MiB",
            "out-of-core peak MiB",
            "out-of-core k rows/s",
            "in-memory peak MiB",
            "in-memory k rows/s",
            "speed out-of-core / in-memory",
            "same result",
            "met? (≥ 0.8, peak ≤ file / 4)",
        ),
        table,
    )
    sec.notes.append(
        f"{nq} cosine queries, k=10. Out of core = `pmk.nearest(pl.scan_parquet(path), ...)` "
        "(batches of about 64 MiB of vectors, top-k merged); in memory = the same on "
        "`pl.read_parquet(path)`, reading included. Peak = growth of the anonymous RSS, "
        "sampled every 2 ms. Most of the out-of-core peak is Polars' parquet reader, which "
        "decodes whole row groups, several at a time: it follows the file's row-group size, "
        "not the corpus size."
    )
    return sec


# --------------------------------------------------------------------------- #
# e. RobustScaler.fit beyond memory
# --------------------------------------------------------------------------- #


def _write_parquet(path: Path, rows: int) -> None:
    """N(50, 10) float64 in row groups of 2**20 rows, written chunk by chunk."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    rng = np.random.default_rng(SEED + 5)
    schema = pa.schema([("x", pa.float64())])
    with pq.ParquetWriter(path, schema, compression="none") as writer:
        done = 0
        while done < rows:
            n = min(1 << 22, rows - done)
            writer.write_table(pa.table({"x": rng.normal(50.0, 10.0, n)}), row_group_size=1 << 20)
            done += n


#: The scalers whose fit reads exact quantiles (in passes beyond memory).
QUANTILE_SCALERS = {
    "RobustScaler": lambda: pmk.RobustScaler(columns=["x"]),
    "QuantileTransformer": lambda: pmk.QuantileTransformer(columns=["x"]),
}


def fit_child(spec_json: str) -> None:
    """Fit RobustScaler or QuantileTransformer on a parquet file in a fresh
    process: time and peak RSS growth (one JSON line)."""
    spec = json.loads(spec_json)
    path, how = spec["path"], spec["how"]
    make = QUANTILE_SCALERS[spec.get("scaler", "RobustScaler")]
    # Warm-up on a tiny frame: library pages and plan caches are not counted.
    make().fit(pl.LazyFrame({"x": [1.0, 2.0]}))
    make().fit(pl.DataFrame({"x": [1.0, 2.0]}))
    gc.collect()
    exact = _reset_peak_rss()
    before = _peak_rss_bytes()
    sampler = _AnonPeak()
    started = time.perf_counter()
    if how == "out-of-core":
        text = make().fit(pl.scan_parquet(path)).to_json()
    elif how == "in-memory":
        text = make().fit(pl.read_parquet(path)).to_json()
    else:  # native streaming quantiles, for scale
        x = pl.col("x")
        pl.scan_parquet(path).select(
            x.median().alias("median"),
            x.quantile(0.25, "linear").alias("lo"),
            x.quantile(0.75, "linear").alias("hi"),
        ).collect(engine="streaming")
        text = ""
    elapsed = time.perf_counter() - started
    anon = sampler.stop()
    after = _peak_rss_bytes()
    print(
        json.dumps(
            {"s": elapsed, "growth": after - before, "anon": anon, "json": text, "exact": exact}
        )
    )


def _out_of_core_row(
    sec: Section,
    rows_out: list[list[str]],
    scaler: str,
    rows: int,
    file_mib: float,
    results: dict[str, dict[str, Any]],
) -> None:
    """One row of the out-of-core table from the children's results."""
    ooc, mem = results["out-of-core"], results["in-memory"]
    native = results.get("native", {"error": "none"})
    if "error" in ooc:
        sec.notes.append(f"{scaler} {fmt_size(rows)}: out of core — {ooc['error']}")
        return
    equal = "—" if "error" in mem else ("yes" if mem["json"] == ooc["json"] else "NO")
    budget = file_mib / 4

    def peak(r: dict[str, Any]) -> str:
        if "error" in r:
            return "—"
        return f"{r['anon'] / MIB:.0f} ({r['growth'] / MIB:.0f})"

    def speed(r: dict[str, Any]) -> str:
        return "—" if "error" in r else f"{rows / r['s'] / 1e6:.1f}"

    rows_out.append(
        [
            scaler,
            fmt_size(rows),
            f"{file_mib:.0f}",
            peak(ooc),
            speed(ooc),
            peak(mem),
            speed(mem),
            peak(native),
            speed(native),
            equal,
            f"≤ {budget:.0f}",
            "yes" if ooc["anon"] <= budget * MIB and equal == "yes" else "NO",
        ]
    )


def section_out_of_core(cfg: Config) -> Section:
    import tempfile

    sec = Section(
        "RobustScaler.fit and QuantileTransformer.fit beyond memory "
        "(parquet file, fresh subprocess each)"
    )
    sizes = (1 << 20, 1 << 22) if cfg.quick else (1 << 25, 1 << 28)
    rows_out = []
    with tempfile.TemporaryDirectory(prefix="pmk-bench-") as tmp:
        for rows in sizes:
            path = Path(tmp) / f"x{rows}.parquet"
            progress(f"out of core: writing {fmt_size(rows)} rows")
            _write_parquet(path, rows)
            file_mib = path.stat().st_size / MIB
            for scaler in QUANTILE_SCALERS:
                results = {}
                hows = ("out-of-core", "in-memory", "native")
                for how in hows if scaler == "RobustScaler" else hows[:2]:
                    progress(f"out of core: {scaler} {how} fit of {fmt_size(rows)} rows")
                    spec = {"path": str(path), "how": how, "scaler": scaler}
                    results[how] = _child("--fit-child", spec)
                _out_of_core_row(sec, rows_out, scaler, rows, file_mib, results)
            path.unlink()

    sec.table = markdown_table(
        (
            "fit",
            "rows",
            "file MiB",
            "out-of-core peak MiB",
            "out-of-core M rows/s",
            "in-memory fit peak MiB",
            "in-memory M rows/s",
            "native streaming quantiles peak MiB",
            "native M rows/s",
            "same params as in memory",
            "target peak MiB (file / 4)",
            "met?",
        ),
        rows_out,
    )
    sec.notes.append(
        "Out of core = `pmk.RobustScaler(columns=['x']).fit(pl.scan_parquet(path))` (and "
        "QuantileTransformer's, n_quantiles=1000): passes over the file's batches (a census of "
        "order-key buckets, refining censuses while the buckets holding the wanted ranks hold "
        "more than a batch's worth of values, then a gather of those buckets). In memory = "
        "the same fit on `pl.read_parquet(path)` "
        "(reading included). Native = `scan_parquet(...).select(median, quantile(0.25), "
        "quantile(0.75)).collect(engine='streaming')`. Data: N(50, 10) float64, uncompressed "
        "parquet. Peak = growth of the anonymous RSS over the call, sampled every 2 ms (memory "
        "the process allocated); in parentheses the growth of the whole peak RSS (VmHWM), which "
        "also counts the pages of the memory-mapped file that the kernel can drop at will."
    )
    return sec


# --------------------------------------------------------------------------- #
# gaussianizing transforms against scikit-learn
# --------------------------------------------------------------------------- #


def section_gaussianize(cfg: Config) -> Section:
    """``ml.quantile_transform`` / ``ml.power_transform`` on 20 lognormal
    columns against scikit-learn's ``fit_transform``, and the fitted
    transforms under the streaming engine against the expressions in memory."""
    from sklearn.preprocessing import PowerTransformer, QuantileTransformer

    sec = Section("Gaussianizing transforms (QuantileTransformer, PowerTransformer)")
    rng = np.random.default_rng(SEED + 17)
    n, k = (100_000, 20) if cfg.quick else (1_000_000, 20)
    X = rng.lognormal(0.0, 1.0, (n, k))
    df = pl.DataFrame({f"x{j}": X[:, j] for j in range(k)})
    size = f"{fmt_size(n)} x {k} lognormal Float64"
    cases = [
        ("power_transform() (Yeo-Johnson)", lambda e: e.ml.power_transform(),
         lambda: PowerTransformer(), pmk.PowerTransformer),
        ('power_transform("box-cox")', lambda e: e.ml.power_transform("box-cox"),
         lambda: PowerTransformer(method="box-cox"),
         lambda: pmk.PowerTransformer(method="box-cox")),
        ("quantile_transform() (uniform)", lambda e: e.ml.quantile_transform(),
         lambda: QuantileTransformer(n_quantiles=1000, subsample=None),
         pmk.QuantileTransformer),
        ('quantile_transform(output_distribution="normal")',
         lambda e: e.ml.quantile_transform(output_distribution="normal"),
         lambda: QuantileTransformer(
             n_quantiles=1000, output_distribution="normal", subsample=None),
         lambda: pmk.QuantileTransformer(output_distribution="normal")),
    ]  # fmt: skip

    def frame_diff(a: Any, b: Any) -> str:
        a = a.collect() if isinstance(a, pl.LazyFrame) else a
        b = b.collect() if isinstance(b, pl.LazyFrame) else b
        return max_abs_diff(
            a.to_numpy() if isinstance(a, pl.DataFrame) else a,
            b.to_numpy() if isinstance(b, pl.DataFrame) else b,
        )

    for name, build, sklearn, fitted_cls in cases:
        # scikit-learn once (a Box-Cox fit of 1M x 20 takes about a minute).
        progress(f"gaussianize: scikit-learn {name} [{size}]")
        start = time.perf_counter()
        try:
            ref = Outcome(None, sklearn().fit_transform(X), None)
            ref.seconds = time.perf_counter() - start
        except Exception as exc:
            ref = Outcome(None, None, _short_error(exc))
        compare(
            sec,
            f"pl.all().ml.{name}",
            size,
            lambda build=build: df.select(build(pl.all())),  # type: ignore[misc]
            [
                Baseline(
                    "scikit-learn fit_transform (one run)",
                    None,
                    20.0,
                    "≥ 20x (issue 13: ≥ 10x)",
                    measured=ref,
                )
            ],
            cfg.repeat if cfg.quick else 5,
            check=frame_diff,
        )
        fitted = fitted_cls().fit(df)
        compare(
            sec,
            f"fitted {type(fitted).__name__}.expressions(), streaming engine",
            size,
            lambda fitted=fitted: (
                df.lazy()  # type: ignore[misc]
                .with_columns(fitted.expressions())
                .collect(engine="streaming")
            ),
            [
                Baseline(
                    f"the expression pl.all().ml.{name.split('(')[0]}(...) in memory",
                    lambda build=build: (
                        df.lazy()  # type: ignore[misc]
                        .select(build(pl.all()))
                        .collect(engine="in-memory")
                    ),
                    1.0,
                    "≥ 1.0x",
                )
            ],
            cfg.repeat if cfg.quick else 5,
            check=frame_diff,
        )
    sec.notes.append(
        "scikit-learn 1.9 with SciPy's optimizers, run once per transform (its Box-Cox fit of "
        "1M x 20 takes about a minute); polars-mlkit: median of the timed repeats. "
        "QuantileTransformer with subsample=None (exact quantiles, as polars-mlkit computes)."
    )
    return sec


def section_encoders(cfg: Config) -> Section:
    """OneHotEncoder / OrdinalEncoder fit + transform on a String column of
    20 categories against scikit-learn's (dense output) and native
    ``to_dummies``; the ``ml.one_hot`` expression against ``to_dummies``."""
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    sec = Section("Encoders (OneHotEncoder, OrdinalEncoder)")
    rng = np.random.default_rng(SEED + 23)
    n = 200_000 if cfg.quick else 2_000_000
    levels = [f"city_{i:02d}" for i in range(20)]
    values = np.array(levels, dtype=object)[rng.integers(0, 20, n)]
    df = pl.DataFrame({"c": pl.Series(values.tolist(), dtype=pl.String)})
    categorical = df.with_columns(pl.col("c").cast(pl.Enum(levels)))
    X = values.reshape(-1, 1)
    size = f"{fmt_size(n)} rows, 20 categories"

    def dense(a: Any, b: Any) -> str:
        a = a.collect() if isinstance(a, pl.LazyFrame) else a
        b = b.collect() if isinstance(b, pl.LazyFrame) else b
        return max_abs_diff(
            a.to_numpy().astype(np.float64) if isinstance(a, pl.DataFrame) else a,
            b.to_numpy().astype(np.float64) if isinstance(b, pl.DataFrame) else b,
        )

    repeat = cfg.repeat if cfg.quick else 5
    compare(
        sec,
        "OneHotEncoder().fit(df).transform(df)",
        size + " (String)",
        lambda: pmk.OneHotEncoder().fit(df).transform(df),
        [
            Baseline(
                "scikit-learn OneHotEncoder(sparse_output=False).fit_transform",
                lambda: OneHotEncoder(sparse_output=False).fit_transform(X),
                10.0,
                "≥ 10x (issue 23)",
            ),
            Baseline("native df.to_dummies()", lambda: df.to_dummies(), 1.0, "≥ 1x (issue 23)"),
        ],
        repeat,
        check=dense,
    )
    compare(
        sec,
        "OrdinalEncoder().fit(df).transform(df)",
        size + " (String)",
        lambda: pmk.OrdinalEncoder().fit(df).transform(df),
        [
            Baseline(
                "scikit-learn OrdinalEncoder().fit_transform",
                lambda: OrdinalEncoder().fit_transform(X),
                10.0,
                "≥ 10x (issue 23)",
            )
        ],
        repeat,
        check=dense,
    )
    compare(
        sec,
        "OneHotEncoder().fit(df).transform(df)",
        size + " (Enum)",
        lambda: pmk.OneHotEncoder().fit(categorical).transform(categorical),
        [Baseline("native df.to_dummies()", lambda: categorical.to_dummies(), 1.0, "≥ 1x")],
        repeat,
        check=lambda a, b: "n/a (column names differ)",
    )
    compare(
        sec,
        "pl.col(c).ml.one_hot().struct.unnest() (Enum, no fit)",
        size + " (Enum)",
        lambda: categorical.select(pl.col("c").ml.one_hot().struct.unnest()),
        [Baseline("native df.to_dummies()", lambda: categorical.to_dummies(), 1.0, "≥ 1x")],
        repeat,
        check=lambda a, b: "n/a (column names differ)",
    )
    sec.notes.append(
        "A fitted encoder reads the frame's schema and passes an Enum column to the "
        "extension as its ids (the categories in the call's arguments); the ml.one_hot() "
        "expression has no schema, so Polars rebuilds the Enum column from its strings on "
        "the way in (most of its time here)."
    )
    return sec


def section_category_memory(cfg: Config) -> Section:
    """Issue 23's memory figures: transform peak against output, and
    out-of-core fits against a quarter of the data (``category_memory``)."""
    title, table, notes = category_memory.measure(cfg.quick, progress)
    return Section(title, table=table, notes=notes)


def section_imputer(cfg: Config) -> Section:
    """SimpleImputer(strategy="median") fit + transform on a few Float64
    columns with ~10% nulls against scikit-learn's (the same rows, NaN as
    missing) and polars-ds's ``impute`` (where installed)."""
    from sklearn.impute import SimpleImputer

    sec = Section("Imputer (SimpleImputer)")
    rng = np.random.default_rng(SEED + 29)
    n, k = (1_000_000, 3) if cfg.quick else (10_000_000, 3)
    X = rng.normal(size=(n, k)) * 10.0 + 3.0
    X[rng.random((n, k)) < 0.1] = np.nan
    df = pl.DataFrame({f"x{j}": X[:, j] for j in range(k)}).with_columns(pl.all().fill_nan(None))
    size = f"{fmt_size(n)} x {k} Float64, ~10% null"
    baselines = [
        Baseline(
            'scikit-learn SimpleImputer(strategy="median").fit_transform',
            lambda: SimpleImputer(strategy="median").fit_transform(X),
            10.0,
            "≥ 10x",
        )
    ]
    try:
        from polars_ds.pipeline.transforms import impute as pds_impute
    except ImportError:
        baselines.append(Baseline('polars-ds impute(method="median") (not installed)', None))
    else:
        baselines.append(
            Baseline(
                'polars-ds df.with_columns(impute(df, cols, "median"))',
                lambda: df.with_columns(pds_impute(df, df.columns, "median")),
                1.0,
                "≥ 1x",
            )
        )

    def frame_diff(a: Any, b: Any) -> str:
        return max_abs_diff(
            a.to_numpy() if isinstance(a, pl.DataFrame) else a,
            b.to_numpy() if isinstance(b, pl.DataFrame) else b,
        )

    compare(
        sec,
        'SimpleImputer(strategy="median").fit(df).transform(df)',
        size,
        lambda: pmk.SimpleImputer(strategy="median").fit(df).transform(df),
        baselines,
        cfg.repeat if cfg.quick else 3,
        check=frame_diff,
    )
    sec.notes.append(
        "A DataFrame's medians are selected in one query with the other statistics "
        "(RobustScaler's in-memory selection; a LazyFrame or Ray Dataset takes its exact "
        "quantile passes instead); the transform is fill_nan/fill_null with the fitted "
        "constants. scikit-learn gets "
        "the same rows as a numpy array with NaN."
    )
    return sec


def section_pipeline(cfg: Config) -> Section:
    """A fitted scikit-learn pipeline (StandardScaler on 3 numeric columns +
    OneHotEncoder on one categorical column + LogisticRegression) scoring
    rows: converted with ``pmk.from_sklearn`` against scikit-learn's own
    ``predict_proba`` and onnxruntime running the skl2onnx conversion."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    sec = Section("Pipelines (a fitted scikit-learn pipeline served as Polars expressions)")
    rng = np.random.default_rng(SEED + 24)
    n = 200_000 if cfg.quick else 2_000_000
    levels = np.array([f"city_{i:02d}" for i in range(20)], dtype=object)
    df = pl.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(50.0, 9.0, size=n),
            "c": rng.exponential(size=n),
            "city": pl.Series(levels[rng.integers(0, 20, n)].tolist(), dtype=pl.String),
        }
    )
    signal = df["a"].to_numpy() + np.isin(df["city"].to_numpy(), levels[:5]) * 1.5
    y = (signal + rng.normal(size=n) > 0.6).astype(np.int64)
    pandas = df.to_pandas()
    train = min(n, 200_000)
    sk = make_pipeline(
        make_column_transformer(
            (StandardScaler(), ["a", "b", "c"]), (OneHotEncoder(handle_unknown="ignore"), ["city"])
        ),
        LogisticRegression(max_iter=1000),
    ).fit(pandas.iloc[:train], y[:train])
    served = pmk.from_sklearn(sk)
    size = f"{fmt_size(n)} rows, 3 numeric + 1 String (20 categories)"

    def proba(a: Any, b: Any) -> str:
        a = np.stack(a.to_list()) if isinstance(a, pl.Series) else a
        b = b[1] if isinstance(b, list) else b
        return max_abs_diff(a, b)

    baselines = [
        Baseline(
            "scikit-learn pipeline.predict_proba (pandas)",
            lambda: sk.predict_proba(pandas),
            10.0,
            "≥ 10x (issue 24)",
        )
    ]
    try:
        import onnxruntime
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import FloatTensorType, StringTensorType

        types = [(c, FloatTensorType([None, 1])) for c in ("a", "b", "c")]
        types.append(("city", StringTensorType([None, 1])))
        onnx_model = to_onnx(
            sk, initial_types=types, options={id(sk[-1]): {"zipmap": False}}, target_opset=17
        )
        session = onnxruntime.InferenceSession(
            onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        feeds = {c: df[c].to_numpy().astype(np.float32).reshape(-1, 1) for c in ("a", "b", "c")}
        feeds["city"] = df["city"].to_numpy().astype(object).reshape(-1, 1)
        baselines.append(
            Baseline(
                "onnxruntime (skl2onnx conversion; inputs already numpy, float32)",
                lambda: session.run(None, feeds),
                1.0,
                "≥ 1x (issue 24)",
            )
        )
        sec.notes.append(
            "onnxruntime computes in float32 (ONNX's LinearClassifier), so its "
            "probabilities differ from scikit-learn's near 1e-7; the max |Δ| column "
            "compares against each baseline's own answer."
        )
    except ImportError as exc:
        sec.notes.append(f"onnxruntime baseline unavailable ({exc})")
    repeat = cfg.repeat if cfg.quick else 5
    compare(
        sec,
        "pmk.from_sklearn(pipe).predict_proba(df)",
        size,
        lambda: served.predict_proba(df),
        baselines,
        repeat,
        check=proba,
    )
    return sec


def section_target_encoder(cfg: Config) -> Section:
    """TargetEncoder on a String column of 20 categories: the cross-fitted
    ``fit_transform`` plus ``transform`` against scikit-learn's on the same
    rows and the same folds (an int ``cv`` drawn by both, and a fold column
    against scikit-learn's ``PredefinedSplit``), and ``fit`` + ``transform``
    against scikit-learn's and polars-ds' ``target_encode``."""
    from sklearn.model_selection import KFold, PredefinedSplit
    from sklearn.preprocessing import TargetEncoder

    sec = Section("TargetEncoder")
    rng = np.random.default_rng(SEED + 29)
    n = 200_000 if cfg.quick else 2_000_000
    levels = [f"city_{i:02d}" for i in range(20)]
    values = np.array(levels, dtype=object)[rng.integers(0, 20, n)]
    effect = rng.normal(0.0, 1.0, 20)[rng.integers(0, 20, n)]
    y = effect + rng.normal(0.0, 1.0, n)
    folds = rng.integers(0, 5, n)
    df = pl.DataFrame({"c": pl.Series(values.tolist(), dtype=pl.String)})
    with_folds = df.with_columns(fold=pl.Series(folds), y=pl.Series(y))
    X = values.reshape(-1, 1)
    size = f"{fmt_size(n)} rows, 20 categories, 5 folds"
    repeat = cfg.repeat if cfg.quick else 5

    def first_column(a: Any, b: Any) -> str:
        mine = (a.collect() if isinstance(a, pl.LazyFrame) else a).get_column("c")
        return max_abs_diff(mine, b[:, 0] if isinstance(b, np.ndarray) else b.get_column("c"))

    def pmk_int() -> pl.DataFrame:
        enc = pmk.TargetEncoder(cv=5, random_state=0)
        out = enc.fit_transform(df, y)
        enc.transform(df)
        return out

    def sk_int() -> np.ndarray:
        enc = TargetEncoder(cv=KFold(5, shuffle=True, random_state=0))
        out = enc.fit_transform(X, y)
        enc.transform(X)
        return out

    compare(
        sec,
        "TargetEncoder(cv=5, random_state=0).fit_transform + transform",
        size + " (String)",
        pmk_int,
        [Baseline("scikit-learn TargetEncoder (same folds)", sk_int, 10.0, "≥ 10x")],
        repeat,
        check=first_column,
    )

    def pmk_fold() -> pl.DataFrame:
        enc = pmk.TargetEncoder(cv="fold")
        out = enc.fit_transform(with_folds, "y")
        enc.transform(with_folds)
        return out

    def sk_fold() -> np.ndarray:
        enc = TargetEncoder(cv=PredefinedSplit(folds))
        out = enc.fit_transform(X, y)
        enc.transform(X)
        return out

    compare(
        sec,
        'TargetEncoder(cv="fold").fit_transform + transform (a fold column)',
        size + " (String)",
        pmk_fold,
        [Baseline("scikit-learn TargetEncoder(cv=PredefinedSplit)", sk_fold, 10.0, "≥ 10x")],
        repeat,
        check=first_column,
    )

    def pmk_fit() -> pl.DataFrame:
        enc = pmk.TargetEncoder(columns="c").fit(with_folds, "y")
        out: pl.DataFrame = enc.transform(with_folds)
        return out

    baselines = [
        Baseline(
            "scikit-learn TargetEncoder().fit(X, y).transform(X)",
            lambda: TargetEncoder().fit(X, y).transform(X),
            10.0,
            "≥ 10x",
        )
    ]
    try:
        from polars_ds.pipeline.transforms import target_encode

        baselines.append(
            Baseline(
                "polars-ds target_encode (fit + transform; its own formula)",
                lambda: with_folds.with_columns(
                    target_encode(with_folds, ["c"], target="y", default="mean")
                ),
                1.0,
                "≥ 1x",
            )
        )
    except ImportError:
        baselines.append(Baseline("polars-ds target_encode (not installed)", None, 1.0, "≥ 1x"))

    def fit_check(a: Any, b: Any) -> str:
        if isinstance(b, pl.DataFrame):
            return "n/a (polars-ds encodes another way)"
        return first_column(a, b)

    compare(
        sec,
        'TargetEncoder(columns="c").fit(df, "y").transform(df)',
        fmt_size(n) + " rows, 20 categories (String)",
        pmk_fit,
        baselines,
        repeat,
        check=fit_check,
    )
    sec.notes.append(
        "fit_transform is cross-fitted: each row encoded by the fit on the other folds, the "
        "folds being scikit-learn's (KFold(5, shuffle=True, random_state=0), drawn by both; "
        "and the same fold column). polars-ds' target_encode is not cross-fitted and uses "
        "category_encoders' smoothing, so only its time compares."
    )
    return sec


def section_kbins(cfg: Config) -> Section:
    """KBinsDiscretizer fit + transform of 5 normal Float64 columns
    (quantile strategy, one-hot and ordinal) against scikit-learn's
    ``KBinsDiscretizer(subsample=None)`` on the same rows (dense one-hot,
    as polars-mlkit gives), and the transform under the streaming engine."""
    from sklearn.preprocessing import KBinsDiscretizer

    sec = Section("Binning (KBinsDiscretizer)")
    rng = np.random.default_rng(SEED + 29)
    n, k = (200_000, 5) if cfg.quick else (2_000_000, 5)
    X = rng.normal(size=(n, k))
    df = pl.DataFrame({f"x{j}": X[:, j] for j in range(k)})
    size = f"{fmt_size(n)} x {k} Float64"
    repeat = cfg.repeat if cfg.quick else 5

    def dense(a: Any, b: Any) -> str:
        a = a.collect() if isinstance(a, pl.LazyFrame) else a
        b = b.collect() if isinstance(b, pl.LazyFrame) else b
        return max_abs_diff(
            a.to_numpy() if isinstance(a, pl.DataFrame) else a,
            b.to_numpy() if isinstance(b, pl.DataFrame) else b,
        )

    for encode, sk_encode in (("onehot", "onehot-dense"), ("ordinal", "ordinal")):
        compare(
            sec,
            f'KBinsDiscretizer(encode="{encode}").fit(df).transform(df) (quantile)',
            size,
            lambda encode=encode: (
                pmk.KBinsDiscretizer(encode=encode).fit(df).transform(df)  # type: ignore[misc]
            ),
            [
                Baseline(
                    f'scikit-learn KBinsDiscretizer(encode="{sk_encode}", subsample=None)'
                    ".fit(X).transform(X)",
                    lambda sk_encode=sk_encode: (
                        KBinsDiscretizer(encode=sk_encode, subsample=None)  # type: ignore[misc]
                        .fit(X)
                        .transform(X)
                    ),
                    10.0,
                    "≥ 10x",
                )
            ],
            repeat,
            check=dense,
        )
    fitted = pmk.KBinsDiscretizer().fit(df)
    compare(
        sec,
        "fitted KBinsDiscretizer().transform(lazy), streaming engine",
        size,
        lambda: fitted.transform(df.lazy()).collect(engine="streaming"),
        [Baseline("the same transform in memory", lambda: fitted.transform(df), 1.0, "≥ 1x")],
        repeat,
        check=dense,
    )
    sec.notes.append(
        "scikit-learn 1.9 with subsample=None (exact edges, as polars-mlkit computes); "
        "its onehot-dense output, as polars-mlkit's one-hot columns are dense. polars-ds "
        "0.13.0 has no binning transformer (no KBinsDiscretizer, cut or qcut step), so "
        "there is no polars-ds row."
    )
    return sec


def section_pca(cfg: Config) -> Section:
    """``pmk.PCA`` fit against scikit-learn's covariance_eigh fit; its
    transform against numpy's ``(x - mean) @ components.T``."""
    from sklearn.decomposition import PCA as SkPCA

    sec = Section("PCA: fit on Array(Float32, 384), transform by project")
    rng = np.random.default_rng(SEED + 29)
    n, d, k = (100_000, 384, 32) if cfg.quick else (1_000_000, 384, 32)
    progress(f"pca: {fmt_size(n)} x {d} Float32")
    x = rng.standard_normal((n, d), dtype=np.float32)
    x *= np.linspace(2.0, 0.1, d, dtype=np.float32)
    x += np.float32(5.0)
    df = pl.DataFrame({"e": pl.Series("e", x)})
    size = f"{fmt_size(n)} x Array(Float32, {d}), k={k}"
    repeats = 3 if not cfg.quick else cfg.repeat

    def variance_check(mine: Any, base: Any) -> str:
        rel = np.abs(mine.explained_variance_ - base.explained_variance_) / base.explained_variance_
        return f"explained_variance_ max rel diff {rel.max():.1e}"

    compare(
        sec,
        "pmk.PCA(n_components=32).fit(df)",
        size,
        lambda: pmk.PCA(n_components=k).fit(df),
        [
            Baseline(
                "sklearn PCA(svd_solver='covariance_eigh').fit(x) (numpy float32)",
                lambda: SkPCA(n_components=k, svd_solver="covariance_eigh").fit(x),
                1.0,
                "≥ 1x",
            )
        ],
        repeats,
        check=variance_check,
    )
    pca = pmk.PCA(n_components=k).fit(df)
    mean32 = pca.mean_.astype(np.float32)
    comp32 = np.ascontiguousarray(pca.components_.T.astype(np.float32))
    compare(
        sec,
        "pca.transform(df)",
        size,
        lambda: pca.transform(df)["e"].to_numpy(),
        [
            Baseline(
                "numpy (x - mean) @ components.T (float32)",
                lambda: (x - mean32) @ comp32,
                1.0,
                "≥ 1x",
            )
        ],
        repeats,
    )
    sec.notes.append(
        "Our fit reads the rows once in blocks of 1,024: each block centred on its own mean in "
        "f64, multiplied in f32 (only the panels on and above the diagonal of the symmetric "
        "product), merged in f64 (Chan et al.); scikit-learn multiplies the uncentred float32 "
        "matrix once (Xᵀ X - n μ μᵀ, which cancels when the mean is large). "
        "The transform is one `project` per row (f64 accumulation, Float32 out). "
        + _cpu_flags_line()
    )
    return sec


# --------------------------------------------------------------------------- #
# main
# --------------------------------------------------------------------------- #

SECTIONS: dict[str, Callable[[Config], Section]] = {
    "classic": section_classic,
    "dataface": section_dataface,
    "scaling": section_scaling,
    "vectors": section_vectors,
    "memory": section_memory,
    "outofcore": section_out_of_core,
    "aggregations": section_aggregations,
    "quantized": section_quantized,
    "search": section_search,
    "searchoutofcore": section_search_out_of_core,
    "filtered": section_filtered,
    "gaussianize": section_gaussianize,
    "encoders": section_encoders,
    "imputer": section_imputer,
    "catmemory": section_category_memory,
    "pipeline": section_pipeline,
    "target_encoder": section_target_encoder,
    "kbins": section_kbins,
    "pca": section_pca,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 3 repeats (CI smoke)")
    parser.add_argument("--only", choices=tuple(SECTIONS), help="run one section only")
    parser.add_argument(
        "--output",
        default=str(Path(__file__).resolve().parent / "results.md"),
        help="markdown file to write (default: benchmarks/results.md)",
    )
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--fit-child", help=argparse.SUPPRESS)
    parser.add_argument("--search-child", help=argparse.SUPPRESS)
    parser.add_argument("--filtered-memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.memory_child:
        memory_child(args.memory_child)
        return 0
    if args.fit_child:
        fit_child(args.fit_child)
        return 0
    if args.search_child:
        search_child(args.search_child)
        return 0
    if args.filtered_memory_child:
        filtered_memory_child(args.filtered_memory_child)
        return 0

    cfg = QUICK if args.quick else FULL
    started = time.perf_counter()
    machine = machine_description()
    print("# polars-mlkit benchmarks\n")
    print(machine)
    print(flush=True)

    sections: list[Section] = []
    for name, fn in SECTIONS.items():
        if args.only and name != args.only:
            continue
        print(f"running section {name!r} ...", file=sys.stderr, flush=True)
        try:
            sec = fn(cfg)
        except Exception as exc:  # keep the other sections' results
            sec = Section(name, notes=[f"section failed: {_short_error(exc)}"])
        sections.append(sec)
        print(sec.render(), end="\n\n", flush=True)
        gc.collect()

    elapsed = time.perf_counter() - started
    mode = "quick (small sizes)" if cfg.quick else "full"
    header = [
        "# polars-mlkit benchmarks",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S %Z')} by "
        f"`python benchmarks/bench.py{' --quick' if cfg.quick else ''}"
        f"{' --only ' + args.only if args.only else ''}` — mode: {mode}, "
        f"{cfg.repeat} timed repeats (median), seed {SEED}, total {elapsed:.0f} s.",
        "",
        "`ratio` = baseline time / polars_mlkit time (above 1 means polars_mlkit is faster). "
        "Polars expressions run eagerly through `DataFrame.select`; both sides see the same "
        "in-memory data. `max |Δ|` is the largest absolute difference between the answers.",
        "",
        "## Machine",
        "",
        machine,
    ]
    text = "\n".join(header) + "\n\n" + "\n\n".join(s.render() for s in sections) + "\n"
    out_path = Path(args.output)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(text, encoding="utf-8")
    print(f"wrote {out_path} ({elapsed:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
