"""Shared timing and reporting helpers for ``benchmarks/bench.py`` and ``demo/demo.py``.

Kept dependency-free (standard library only) so it imports before anything heavy.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

__all__ = [
    "blas_description",
    "fmt_ms",
    "fmt_ratio",
    "interleaved_median_times",
    "machine_description",
    "markdown_table",
    "median_time",
    "single_threaded_blas",
]


def median_time(
    fn: Callable[[], Any], repeat: int = 7, warmup: int = 1, min_time: float = 0.0
) -> float:
    """Median wall-clock time of one ``fn()`` call in seconds over ``repeat`` samples.

    ``warmup`` untimed calls run first. With ``min_time > 0`` a sample is a batch
    of calls sized so that it lasts at least ``min_time`` seconds (like
    ``timeit.autorange``) and its time is divided by the batch size; this keeps
    sub-millisecond operations from being dominated by timer resolution or by a
    one-off stall (e.g. worker threads waking up). With the default ``0`` every
    sample is a single call. The garbage collector is collected once and then
    disabled while timing, so a stray collection does not land inside a sample.
    """
    if repeat < 1:
        raise ValueError(f"median_time: repeat must be >= 1, got {repeat}")
    for _ in range(warmup):
        fn()
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        number = 1
        if min_time > 0:
            start = time.perf_counter()
            fn()
            once = time.perf_counter() - start
            if once < min_time:
                number = max(1, min(10_000, math.ceil(min_time / max(once, 1e-7))))
        times: list[float] = []
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times.append((time.perf_counter() - start) / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    return statistics.median(times)


def interleaved_median_times(
    fns: Sequence[Callable[[], Any]], repeat: int = 7, warmup: int = 1, min_time: float = 0.0
) -> list[float]:
    """Like :func:`median_time` for several functions, sampled round-robin.

    Each round times one sample of every function in turn, so slow drift of the
    machine (frequency, noisy neighbours, background work) affects all of them
    alike and their ratios stay fair. Returns one median per function, in order.
    """
    if repeat < 1:
        raise ValueError(f"interleaved_median_times: repeat must be >= 1, got {repeat}")
    for fn in fns:
        for _ in range(warmup):
            fn()
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        numbers: list[int] = []
        for fn in fns:
            start = time.perf_counter()
            fn()
            once = time.perf_counter() - start
            n = 1
            if min_time > 0 and once < min_time:
                n = max(1, min(10_000, math.ceil(min_time / max(once, 1e-7))))
            numbers.append(n)
        samples: list[list[float]] = [[] for _ in fns]
        for _ in range(repeat):
            for i, (fn, n) in enumerate(zip(fns, numbers, strict=True)):
                start = time.perf_counter()
                for _ in range(n):
                    fn()
                samples[i].append((time.perf_counter() - start) / n)
    finally:
        if gc_was_enabled:
            gc.enable()
    return [statistics.median(t) for t in samples]


def _blas_info() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [i for i in threadpool_info() if i.get("user_api") == "blas"]


def blas_description() -> str:
    """numpy's BLAS and its thread count, e.g. ``'openblas 0.3.31 (Haswell), 2 threads'``."""
    infos = _blas_info()
    if not infos:
        return "unknown (threadpoolctl not installed or no BLAS loaded)"
    return "; ".join(
        f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}), "
        f"{i.get('num_threads')} threads"
        for i in infos
    )


def single_threaded_blas() -> contextlib.AbstractContextManager[Any]:
    """Context manager limiting BLAS (numpy's matmul/dot) to one thread.

    Used for an extra numpy baseline: on small VMs a multithreaded BLAS call can
    stall on thread wake-ups, which would flatter anything compared with it. A
    no-op if threadpoolctl is not installed.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _cpu_flags() -> str:
    """The SIMD features the kernels dispatch on, as present on this CPU."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    wanted = [
                        "avx2",
                        "fma",
                        "f16c",
                        "avx512f",
                        "avx512bw",
                        "avx512_vnni",
                        "amx_int8",
                    ]
                    return ", ".join(w for w in wanted if w in flags) or "none of avx2/fma/avx512f"
    except OSError:
        pass
    return "unknown"


def _ram() -> str:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    kib = int(line.split()[1])
                    return f"{kib / 1024**2:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "unknown"


def _version(dist: str, module: str | None = None) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        pass
    if module is not None:
        try:
            mod = __import__(module)
        except Exception as exc:
            return f"not importable ({type(exc).__name__})"
        return str(getattr(mod, "__version__", "unknown"))
    return "not installed"


def _cpu_level() -> str:
    """The level the kernels ran at, of the ones this CPU offers."""
    try:
        import polars_mlkit as pmk

        info = pmk.cpu_info()
    except Exception as exc:
        return f"unknown ({type(exc).__name__})"
    cap = info.get("POLARS_MLKIT_ISA")
    capped = f", POLARS_MLKIT_ISA={cap}" if cap else ""
    return f"{info['active']} (detected {info['detected']}{capped})"


def machine_description() -> str:
    """A markdown bullet list describing this machine and the library versions."""
    threads_env = os.environ.get("POLARS_MAX_THREADS")
    try:
        import polars as pl

        pool = str(pl.thread_pool_size())
    except Exception:
        pool = "unknown"
    lines = [
        f"- CPU: {_cpu_model()} (SIMD: {_cpu_flags()})",
        f"- Logical cores: {os.cpu_count()}",
        f"- RAM: {_ram()}",
        f"- OS: {platform.platform()}",
        f"- Python: {platform.python_version()} ({sys.implementation.name})",
        f"- polars: {_version('polars', 'polars')}",
        f"- numpy: {_version('numpy', 'numpy')}",
        f"- scikit-learn: {_version('scikit-learn', 'sklearn')}",
        f"- numpy BLAS: {blas_description()}",
        f"- polars-mlkit: {_version('polars-mlkit', 'polars_mlkit')}",
        f"- polars-mlkit CPU level: {_cpu_level()}",
        f"- POLARS_MAX_THREADS: {threads_env if threads_env is not None else '(unset)'}"
        f" -> Polars thread pool size {pool}",
    ]
    return "\n".join(lines)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Render ``rows`` under ``headers`` as a GitHub-flavoured markdown table.

    Columns are padded so the table is also readable as plain text. Cells whose
    text looks numeric (``12.3``, ``4.5x``, ``1,000``) are right-aligned.
    """
    str_rows = [[_cell(v) for v in row] for row in rows]
    for row in str_rows:
        if len(row) != len(headers):
            raise ValueError(
                f"markdown_table: row has {len(row)} cells, expected {len(headers)}: {row}"
            )
    widths = [len(_cell(h)) for h in headers]
    for row in str_rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def numeric(text: str) -> bool:
        t = text.replace(",", "").replace("_", "").rstrip("x%").strip()
        try:
            float(t)
        except ValueError:
            return False
        return True

    right = [
        bool(str_rows) and all(numeric(r[i]) or r[i] in ("", "—", "-") for r in str_rows)
        for i in range(len(headers))
    ]
    out = [
        "| " + " | ".join(_cell(h).ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "| "
        + " | ".join(
            ("-" * (w - 1) + ":") if r else "-" * w for w, r in zip(widths, right, strict=True)
        )
        + " |",
    ]
    for row in str_rows:
        cells = [
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right, strict=True)
        ]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def fmt_ms(seconds: float | None) -> str:
    """Seconds -> milliseconds with sensible precision ('—' for missing)."""
    if seconds is None:
        return "—"
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:,.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def fmt_ratio(ratio: float | None) -> str:
    """A speed ratio as ``'12.3x'`` ('—' for missing)."""
    if ratio is None:
        return "—"
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    if ratio >= 10:
        return f"{ratio:.1f}x"
    return f"{ratio:.2f}x"
