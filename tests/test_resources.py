"""Resources (issue 6): no leaks, no deadlocks.

* 300 repeated calls of the vector and scaling operations on 20k x 64 data
  grow resident memory (``VmRSS`` from ``/proc/self/status``) by less than
  64 MB after a warm-up.
* 8 Python threads running 64 lazy queries with ``ml`` expressions at once
  all get the single-threaded reference answers, with no deadlock.

Both run in a fresh subprocess with a timeout, so a leak elsewhere in the
test session does not count and a deadlock fails the test instead of hanging it.
"""

from __future__ import annotations

import subprocess
import sys

PRELUDE = r"""
import numpy as np
import polars as pl
import polars_mlkit as pmk

rng = np.random.default_rng(7)
N, D = 20_000, 64
data = rng.standard_normal((N, D))
frame = pl.DataFrame({
    "v": pl.Series(data),                                  # Array(f64, 64)
    "l": pl.Series(data.astype(np.float32)).cast(pl.List(pl.Float32)),
    "x": data[:, 0] * 100.0,
    "g": np.arange(N) % 17,
})
q = data[1].tolist()
matrix = rng.standard_normal((D, 8))


def queries(i):
    e = pl.col("v")
    ops = [
        e.ml.dot(q), e.ml.cosine_similarity(q), e.ml.norm(), e.ml.distance(q),
        e.ml.unit_normalize(), e.ml.project(matrix), pl.col("l").ml.dot(pl.col("l")),
        pl.col("x").ml.normalize(), pl.col("x").ml.standard_scale(), pl.col("x").ml.robust_scale(),
        pl.col("x").ml.maxabs_scale(), pl.col("x").ml.minmax_scale().over("g"),
        e.ml.standard_scale(), e.ml.minmax_scale(),
    ]
    return ops[i % len(ops)].alias("out")
"""

MEMORY = (
    PRELUDE
    + r"""
def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def one_round():
    frame.select(
        pl.col("v").ml.dot(q).alias("a"),
        pl.col("v").ml.cosine_similarity(q).alias("b"),
        pl.col("v").ml.distance(q, metric="manhattan").alias("c"),
        pl.col("v").ml.unit_normalize().alias("d"),
        pl.col("v").ml.project(matrix).alias("e"),
        pl.col("v").ml.standard_scale().alias("f"),
        pl.col("x").ml.robust_scale().alias("h"),
        pl.col("x").ml.minmax_scale().alias("i"),
    )
    frame.select(pl.col("v").ml.top_k_similar(q, k=10))
    pmk.nearest(frame, "v", data[:4], k=5)


for _ in range(20):
    one_round()
before = rss_mb()
for _ in range(300):
    one_round()
after = rss_mb()
print(f"@@RSS {before:.1f} {after:.1f}")
"""
)

THREADS = (
    PRELUDE
    + r"""
import threading
from concurrent.futures import ThreadPoolExecutor

lazy = frame.lazy()
reference = [lazy.select(queries(i)).collect()["out"] for i in range(64)]


def run(i):
    got = lazy.filter(pl.lit(True)).select(queries(i)).collect()["out"]
    return i, got


barrier = threading.Barrier(8)


def worker(w):
    barrier.wait()
    return [run(i) for i in range(w, 64, 8)]


with ThreadPoolExecutor(max_workers=8) as pool:
    results = [r for part in pool.map(worker, range(8)) for r in part]
assert len(results) == 64
bad = [i for i, got in results if not got.equals(reference[i])]
assert not bad, f"queries with different answers under concurrency: {bad}"
print("@@OK")
"""
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=50, check=False
    )


def test_repeated_calls_do_not_grow_memory() -> None:
    proc = _run(MEMORY)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("@@RSS "))
    before, after = map(float, line.split()[1:])
    assert after - before < 64.0, f"RSS grew from {before:.0f} MB to {after:.0f} MB"


def test_concurrent_lazy_queries_agree_without_deadlock() -> None:
    # A deadlock shows up as subprocess.TimeoutExpired (the process is killed).
    proc = _run(THREADS)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "@@OK" in proc.stdout
