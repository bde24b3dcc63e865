"""Memory of the categorical and missing-data transformers (issue 23's
memory targets), for ``bench.py --only catmemory``:

- a transform's peak memory against the size of what it outputs: each
  encoder, imputer and binner fitted, then ``transform`` on a DataFrame in
  a fresh process; the peak RSS growth over the call (``VmHWM`` reset just
  before) and the anonymous RSS growth (sampled every 2 ms), against the
  size of the columns the transform makes;
- out-of-core fits: a parquet file whose data take 4x a memory budget once
  read, fitted through ``pl.scan_parquet`` by OneHotEncoder,
  SimpleImputer(median) and KBinsDiscretizer(quantile) in fresh processes;
  the peak against the budget (a quarter of the data).

Each measurement runs in its own process (``python category_memory.py
JSON``) so that one case's allocations do not hide another's.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _rss import AnonPeak, peak_rss_bytes, reset_peak_rss
from _timing import markdown_table

SEED = 20261207
MIB = 1024**2
#: What a transform may use beyond its output (issue 23: "its output plus a
#: small constant"), as the ``memory`` section's target for the expressions.
SLACK = 16 * MIB
LEVELS = [f"city_{i:02d}" for i in range(20)]


# --------------------------------------------------------------------------- #
# data
# --------------------------------------------------------------------------- #
def _frame(n: int, seed: int = SEED) -> pl.DataFrame:
    """A String column of 20 categories, a by column of 10 groups and three
    Float64 columns with ~10% nulls."""
    rng = np.random.default_rng(seed)
    floats = rng.normal(size=(n, 3)) * 10.0 + 3.0
    floats[rng.random((n, 3)) < 0.1] = np.nan
    codes = rng.integers(0, 20, n)
    return pl.DataFrame(
        {
            "c": pl.Series(np.array(LEVELS, dtype=object)[codes], dtype=pl.String),
            "g": pl.Series(rng.integers(0, 10, n), dtype=pl.Int32),
            **{f"x{j}": floats[:, j] for j in range(3)},
        }
    ).with_columns(pl.col("x0", "x1", "x2").fill_nan(None))


def _transformers() -> dict[str, tuple[Callable[[], Any], list[str], str]]:
    """name -> (estimator, columns it reads, input note)."""
    import polars_mlkit as pmk

    x = ["x0", "x1", "x2"]
    return {
        "OneHotEncoder": (lambda: pmk.OneHotEncoder(columns="c"), ["c"], "String"),
        "OneHotEncoder (Enum)": (lambda: pmk.OneHotEncoder(columns="c"), ["c"], "Enum"),
        "OneHotEncoder(by='g')": (
            lambda: pmk.OneHotEncoder(columns="c", by="g", min_frequency=0.04),
            ["c", "g"],
            "String, 10 groups",
        ),
        "OrdinalEncoder": (lambda: pmk.OrdinalEncoder(columns="c"), ["c"], "String"),
        "SimpleImputer(mean)": (lambda: pmk.SimpleImputer(columns=x), x, "3 x Float64"),
        "SimpleImputer(median)": (
            lambda: pmk.SimpleImputer(strategy="median", columns=x),
            x,
            "3 x Float64",
        ),
        "KBinsDiscretizer(ordinal)": (
            lambda: pmk.KBinsDiscretizer(columns=x, encode="ordinal"),
            x,
            "3 x Float64",
        ),
    }


# --------------------------------------------------------------------------- #
# children
# --------------------------------------------------------------------------- #
def _transform_child(spec: dict[str, Any]) -> dict[str, Any]:
    make, columns, note = _transformers()[spec["case"]]
    frame = _frame(spec["n"]).select(columns)
    if note == "Enum":
        frame = frame.with_columns(pl.col("c").cast(pl.Enum(LEVELS)))
    est = make().fit(frame)
    est.transform(frame.head(64))  # warm-up: library pages and plan caches
    gc.collect()
    exact = reset_peak_rss()
    before = peak_rss_bytes()
    sampler = AnonPeak()
    started = time.perf_counter()
    out = est.transform(frame)
    elapsed = time.perf_counter() - started
    anon = sampler.stop()
    after = peak_rss_bytes()
    made = [c for c in out.columns if c not in ("g",)]
    return {
        "growth": after - before,
        "anon": anon,
        "input": frame.estimated_size(),
        "output": out.select(made).estimated_size(),
        "s": elapsed,
        "exact": exact,
    }


#: The baseline of the fits: the batches a fit reads, read and dropped.
READ_ONLY = "(no fit: the same batches, read and dropped)"


def _fitters() -> dict[str, Callable[[], Any]]:
    import polars_mlkit as pmk

    x = ["x0", "x1", "x2"]
    return {
        "OneHotEncoder(columns='c')": lambda: pmk.OneHotEncoder(columns="c"),
        "OneHotEncoder(columns='c', by='g')": lambda: pmk.OneHotEncoder(columns="c", by="g"),
        "SimpleImputer(strategy='median')": lambda: pmk.SimpleImputer(strategy="median", columns=x),
        "KBinsDiscretizer(strategy='quantile')": lambda: pmk.KBinsDiscretizer(
            columns=x, encode="ordinal"
        ),
        READ_ONLY: lambda: None,
    }


def _fit_child(spec: dict[str, Any]) -> dict[str, Any]:
    make = _fitters()[spec["case"]]
    if spec["case"] != READ_ONLY:
        make().fit(_frame(64).lazy())  # warm-up
    gc.collect()
    exact = reset_peak_rss()
    before = peak_rss_bytes()
    sampler = AnonPeak()
    started = time.perf_counter()
    if spec["case"] == READ_ONLY:
        from polars_mlkit._batches import lazy_batches

        for _ in lazy_batches(pl.scan_parquet(spec["path"]))(lambda batch: batch.clear()):
            pass
    else:
        make().fit(pl.scan_parquet(spec["path"]))
    elapsed = time.perf_counter() - started
    anon = sampler.stop()
    after = peak_rss_bytes()
    return {"growth": after - before, "anon": anon, "s": elapsed, "exact": exact}


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), json.dumps(spec)]
    # Polars' jemalloc returns freed pages at once, so the RSS before a call
    # does not hold pages freed earlier that the call would reuse unseen
    # (importing polars sets its own default of this variable, replaced here).
    env = {**os.environ, "_RJEM_MALLOC_CONF": "dirty_decay_ms:0,muzzy_decay_ms:0"}
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=3600, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail[:160]}"}
    found: dict[str, Any] = json.loads(lines[-1])
    return found


def _write_parquet(path: Path, rows: int) -> int:
    """The data of :func:`_frame` in row groups, written chunk by chunk;
    their in-memory size (Polars' estimate)."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    size = 0
    writer = None
    try:
        for i, start in enumerate(range(0, rows, 1 << 21)):
            chunk = _frame(min(1 << 21, rows - start), seed=SEED + i)
            size += chunk.estimated_size()
            table = chunk.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="snappy")
            writer.write_table(table, row_group_size=1 << 20)
    finally:
        if writer is not None:
            writer.close()
    return size


# --------------------------------------------------------------------------- #
# the section
# --------------------------------------------------------------------------- #
def _mib(v: float) -> str:
    return f"{v / MIB:.1f}"


def measure(quick: bool, progress: Callable[[str], None]) -> tuple[str, str, list[str]]:
    """Run every case; the section's title, table and notes."""
    n = 200_000 if quick else 2_000_000
    rows = []
    notes = []
    for case, (_, _, note) in _transformers().items():
        progress(f"category memory: {case}.transform, {n} rows")
        got = _child({"kind": "transform", "case": case, "n": n})
        if "error" in got:
            notes.append(f"{case}: {got['error']}")
            continue
        over = got["growth"] - got["output"]
        rows.append(
            [
                f"{case}.transform",
                f"{n:,} rows, {note}",
                _mib(got["input"]),
                _mib(got["output"]),
                _mib(got["growth"]),
                _mib(got["anon"]),
                _mib(over),
                "yes" if over <= SLACK else "NO",
            ]
        )
    table = markdown_table(
        (
            "operation",
            "input",
            "input MiB",
            "output MiB (columns made)",
            "peak RSS growth MiB",
            "anon RSS growth MiB",
            "growth - output MiB",
            f"≤ output + {SLACK // MIB} MiB?",
        ),
        rows,
    )

    data_rows = 2_000_000 if quick else 24_000_000
    fit_rows = []
    with tempfile.TemporaryDirectory(prefix="pmk-catmem-") as tmp:
        path = Path(tmp) / "data.parquet"
        progress(f"category memory: writing {data_rows:,} rows")
        size = _write_parquet(path, data_rows)
        budget = size / 4
        for case in _fitters():
            progress(f"category memory: {case}.fit(scan_parquet), {data_rows:,} rows")
            got = _child({"kind": "fit", "case": case, "path": str(path)})
            if "error" in got:
                notes.append(f"{case}: {got['error']}")
                continue
            fit_rows.append(
                [
                    case if case == READ_ONLY else f"{case}.fit(pl.scan_parquet(path))",
                    f"{data_rows:,}",
                    _mib(size),
                    f"{path.stat().st_size / MIB:.0f}",
                    _mib(got["anon"]),
                    _mib(got["growth"]),
                    f"{got['s']:.1f}",
                    f"≤ {_mib(budget)}",
                    "yes" if got["anon"] <= budget else "NO",
                ]
            )
    table += "\n\n" + markdown_table(
        (
            "out-of-core fit",
            "rows",
            "data in memory MiB",
            "file MiB",
            "peak anon RSS growth MiB",
            "peak RSS growth MiB",
            "s",
            "target: data / 4 MiB",
            "met?",
        ),
        fit_rows,
    )
    notes += [
        "Transforms: a fresh process fits the transformer on the frame, transforms 64 rows "
        "(warm-up), resets the peak-RSS counter (/proc/self/clear_refs) and calls "
        "`transform` on the whole DataFrame. Peak RSS growth = VmHWM after the call minus "
        "the RSS before it; anon = the anonymous RSS (allocations) sampled every 2 ms. "
        "Output = Polars' estimated size of the columns the transform makes (the "
        "one-hot columns, or the replaced columns).",
        "Out-of-core fits: the data (a String column of 20 categories, an Int32 by column "
        "of 10 groups, 3 Float64 columns with ~10% nulls) written as snappy parquet in row "
        "groups of 2**20 rows; `data in memory` is Polars' estimated size of that data "
        "read whole; each fit reads `pl.scan_parquet(path)` in batches of 2**20 rows in a "
        "fresh process. The target is issue 23's: a fit of a file 4x the memory allowed "
        "uses no more than a quarter of it. The peak counts the parquet reader's buffers.",
        "Why the fits exceed a quarter of the data: Polars' `collect_batches` (and "
        "`sink_batches`) run the query ahead of the consumer and keep the batches not yet "
        "taken, so while a fit works on one batch the reader goes on decoding the file; "
        "the last row (the same batches read and dropped at once) shows the reader's own "
        "peak. Bounding it needs a reader with back-pressure, not a change in the fits, "
        "whose own state is the counts, censuses and at most a batch's worth of gathered "
        "values.",
        "Every child runs with `_RJEM_MALLOC_CONF=dirty_decay_ms:0,muzzy_decay_ms:0` "
        "(Polars' allocator returns freed pages at once), so the RSS before a call holds "
        "no freed pages that the call could reuse unseen.",
    ]
    return "Categorical and missing data: transform and out-of-core fit memory", table, notes


def main() -> None:
    spec = json.loads(sys.argv[1])
    found = _transform_child(spec) if spec["kind"] == "transform" else _fit_child(spec)
    print(json.dumps(found))


if __name__ == "__main__":
    main()
