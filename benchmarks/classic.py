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
    # Not interleaved: after each call numpy's BLAS threads busy-wait for
    # about 0.1 s, and would take the cores from whatever is timed next. The
    # polars-mlkit rows run first, then numpy's.
    times = [0.0] * len(rows)
    for i in (3, 2, 1, 0):
        times[i] = median_time(rows[i].fn, repeat=repeat, min_time=0.02)
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


def throughput(threads: int, fn: Callable[[], Any], seconds: float = 0.5) -> float:
    """Calls per second while ``threads`` Python threads call ``fn`` for ``seconds``."""
    barrier = threading.Barrier(threads + 1)
    counts = [0] * threads

    def work(slot: int) -> None:
        barrier.wait()
        stop = time.perf_counter() + seconds
        calls = 0
        while time.perf_counter() < stop:
            fn()
            calls += 1
        counts[slot] = calls

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


def _parallel(result: Classic, n: int, repeat: int) -> None:
    """The article's "parallel processing" row: Python threads calling the
    data face at once. The GIL is released while a kernel runs, so threads
    run in parallel: a call that keeps one core busy for a while (the 2-D
    cosine) scales with the threads; a 20 us call spends about as long
    waiting for the GIL to be handed back as computing; a 1M-element dot
    product already uses every core in one call."""
    rng = np.random.default_rng(SEED + 2)
    cases = [
        ("dot_product", "100,000", rng.random(100_000), rng.random(100_000)),
        ("cosine_similarity", "2,000 x 256", rng.random((2_000, 256)), rng.random(256)),
        ("dot_product", f"{n:,}", rng.random(n), rng.random(n)),
    ]
    body = []
    for name, size, a, b in cases:
        function = getattr(pmk, name)

        def call(f: Any = function, a: np.ndarray = a, b: np.ndarray = b) -> Any:
            return f(a, b)

        one_call_s = median_time(call, repeat=repeat, min_time=0.02)
        base = None
        for threads in (1, 2, 4):
            rate = statistics.median(throughput(threads, call) for _ in range(3))
            base = base or rate
            body.append(
                [
                    f"pmk.{name}",
                    size,
                    threads,
                    fmt_ms(one_call_s),
                    f"{rate:,.0f}",
                    fmt_ratio(rate / base),
                ]
            )
    headers = ["call", "size", "Python threads", "ms per call", "calls/s", "vs 1 thread"]
    result.tables.append(
        f"**Parallel processing: Python threads calling the data face at once "
        f"({os.cpu_count()} cores; target: 2 threads ≥ 1.7x one)**\n\n"
        + markdown_table(headers, body)
    )


def classic(n: int = 1_000_000, repeat: int = 7) -> Classic:
    """Measures the classic table; every polars-mlkit result is checked."""
    result = Classic()
    _normalization(result, n, repeat)
    _dot(result, n, repeat)
    _parallel(result, n, repeat)
    return result
