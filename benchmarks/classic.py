"""The classic table this project answers, measured on this machine: the
1M-element min-max normalization and dot product with list input and numpy
input side by side (pure Python, numpy, native Polars, polars-mlkit), and the
article's "parallel processing" row: Python threads calling
``pmk.dot_product`` at once. Shared by ``make demo`` and ``make bench``.

The article (unknown hardware): dot product of 1M elements — pure Python
245 ms, NumPy 12 ms, Rust via PyO3 8 ms; min-max normalization of 1M elements
— 180 / 15 / 6 ms; "parallel processing, 4 threads" — 2 ms.
"""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk
from _timing import (
    fmt_ms,
    fmt_ratio,
    interleaved_median_times,
    markdown_table,
    median_time,
    single_threaded_blas,
)

SEED = 42


def py_minmax(values: list[float]) -> list[float]:
    lo, hi = min(values), max(values)
    span = hi - lo
    return [(v - lo) / span for v in values]


def py_dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@dataclass
class Classic:
    """The tables as markdown, and any result that disagreed with numpy."""

    tables: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


@dataclass
class _Row:
    name: str
    data: str  # "list" or "numpy"
    fn: Callable[[], Any]
    article: str = ""
    target: str = ""


def _table(title: str, rows: list[_Row], py_s: float, np_s: float, times: list[float]) -> str:
    body = [["pure Python", "list", fmt_ms(py_s), "1.00x", fmt_ratio(np_s / py_s), "", ""]]
    for row, t in zip(rows, times, strict=True):
        body.append(
            [
                row.name,
                row.data,
                fmt_ms(t),
                fmt_ratio(py_s / t),
                fmt_ratio(np_s / t),
                row.article,
                row.target,
            ]
        )
    headers = [
        "implementation",
        "input",
        "ms",
        "vs pure Python",
        "vs numpy",
        "article ms",
        "target",
    ]
    return f"**{title}**\n\n" + markdown_table(headers, body)


def _check(result: Classic, label: str, got: Any, want: Any, rtol: float) -> None:
    if not np.allclose(np.asarray(got, float), np.asarray(want, float), rtol=rtol, atol=rtol):
        result.failures.append(label)


def _normalization(result: Classic, n: int, repeat: int) -> None:
    rng = np.random.default_rng(SEED)
    x = rng.random(n)
    x_list = x.tolist()
    frame = pl.DataFrame({"x": x})
    col = pl.col("x")
    native = (col - col.min()) / (col.max() - col.min())
    py_s = median_time(lambda: py_minmax(x_list), repeat=3)
    rows = [
        _Row(
            "numpy (x - x.min()) / (x.max() - x.min())",
            "numpy",
            lambda: (x - x.min()) / (x.max() - x.min()),
            "15",
        ),
        _Row("native Polars (x - min) / (max - min)", "Series", lambda: frame.select(native)),
        _Row(
            "polars-mlkit df.select(col.ml.normalize())",
            "Series",
            lambda: frame.select(col.ml.normalize()),
        ),
        _Row(
            "polars-mlkit pmk.normalize(list)",
            "list",
            lambda: pmk.normalize(x_list),
            "6 (Rust)",
            "≥ 3x pure Python",
        ),
        _Row(
            "polars-mlkit pmk.normalize(ndarray)",
            "numpy",
            lambda: pmk.normalize(x),
            "6 (Rust)",
            "≥ 2x numpy",
        ),
    ]
    times = interleaved_median_times([r.fn for r in rows], repeat=repeat, min_time=0.02)
    want = (x - x.min()) / (x.max() - x.min())
    _check(result, "pmk.normalize(ndarray)", pmk.normalize(x), want, 1e-12)
    _check(result, "pmk.normalize(list)", pmk.normalize(x_list), want, 1e-12)
    title = f"Min-max normalization of {n:,} float64 values"
    result.tables.append(_table(title, rows, py_s, times[0], times))


def _dot(result: Classic, n: int, repeat: int) -> None:
    rng = np.random.default_rng(SEED + 1)
    a, b = rng.random(n), rng.random(n)
    a_list, b_list = a.tolist(), b.tolist()
    frame = pl.DataFrame({"a": a, "b": b})
    py_s = median_time(lambda: py_dot(a_list, b_list), repeat=3)
    rows = [
        _Row("numpy np.dot (BLAS default threads)", "numpy", lambda: np.dot(a, b), "12"),
        _Row(
            "native Polars pl.col('a').dot(pl.col('b'))",
            "Series",
            lambda: frame.select(pl.col("a").dot(pl.col("b"))),
        ),
        _Row(
            "polars-mlkit pmk.dot_product(list, list)",
            "list",
            lambda: pmk.dot_product(a_list, b_list),
            "8 (Rust)",
            "≥ 3x pure Python",
        ),
        _Row(
            "polars-mlkit pmk.dot_product(ndarray, ndarray)",
            "numpy",
            lambda: pmk.dot_product(a, b),
            "8 (Rust)",
            "≥ 1.0x numpy",
        ),
    ]
    times = interleaved_median_times([r.fn for r in rows], repeat=repeat, min_time=0.02)
    with single_threaded_blas():
        np1_s = median_time(lambda: np.dot(a, b), repeat=repeat, min_time=0.02)
    rows.insert(1, _Row("numpy np.dot (BLAS 1 thread)", "numpy", lambda: None))
    times.insert(1, np1_s)
    want = math_fsum_dot(a, b)
    _check(result, "pmk.dot_product(ndarray)", pmk.dot_product(a, b), want, 1e-12)
    _check(result, "pmk.dot_product(list)", pmk.dot_product(a_list, b_list), want, 1e-12)
    title = f"Dot product of two {n:,}-element float64 vectors"
    result.tables.append(_table(title, rows, py_s, times[0], times))


def math_fsum_dot(a: np.ndarray, b: np.ndarray) -> float:
    return math.fsum((a * b).tolist())


def _throughput(threads: int, calls: int, fn: Callable[[], Any]) -> float:
    """Calls per second when ``threads`` Python threads each make ``calls`` calls."""
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        barrier.wait()
        for _ in range(calls):
            fn()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    return threads * calls / (time.perf_counter() - start)


def _parallel(result: Classic, n: int, repeat: int) -> None:
    """The article's "parallel processing" row: Python threads calling the
    data face at once. The GIL is released while a kernel runs, so threads
    run in parallel. Vectors below the kernels' own parallel threshold show
    that alone; 1M-element vectors already use every core in one call."""
    rng = np.random.default_rng(SEED + 2)
    body = []
    for size in (100_000, n):
        a, b = rng.random(size), rng.random(size)
        calls = max(20, 20_000_000 // size)
        one_call_s = median_time(
            lambda a=a, b=b: pmk.dot_product(a, b), repeat=repeat, min_time=0.02
        )
        base = None
        for threads in (1, 2, 4):
            rates = [
                _throughput(threads, calls, lambda a=a, b=b: pmk.dot_product(a, b))
                for _ in range(max(3, repeat // 2))
            ]
            rate = statistics.median(rates)
            base = base or rate
            body.append(
                [
                    f"{size:,}",
                    threads,
                    fmt_ms(one_call_s),
                    f"{rate:,.0f}",
                    fmt_ratio(rate / base),
                    fmt_ms(1 / rate),
                ]
            )
    headers = [
        "vector length",
        "Python threads",
        "ms per call (1 thread)",
        "calls/s",
        "throughput vs 1 thread",
        "ms per call, effective",
    ]
    result.tables.append(
        f"**Parallel processing: Python threads calling pmk.dot_product at once "
        f"({os.cpu_count()} cores)**\n\n" + markdown_table(headers, body)
    )


def classic(n: int = 1_000_000, repeat: int = 7) -> Classic:
    """Measures the classic table; every polars-mlkit result is checked."""
    result = Classic()
    _normalization(result, n, repeat)
    _dot(result, n, repeat)
    _parallel(result, n, repeat)
    return result
