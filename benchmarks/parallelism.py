"""Does the kernels' own parallelism pay on 2 cores?

Runs the same queries in fresh subprocesses with the kernels' thread pool
limited to one thread (``RAYON_NUM_THREADS=1``) and at its default size, and
prints medians side by side: a large single-column eager call (where the
kernels split the work), a multi-column query (where Polars already runs
columns in parallel) and a streaming query (where Polars splits morsels).

Usage: ``python benchmarks/parallelism.py [--output FILE]`` (appends a
markdown section to FILE when given).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, statistics, time
import numpy as np
import polars as pl
import polars_mlkit  # noqa: F401

rng = np.random.default_rng(7)
one = pl.DataFrame({"x": rng.normal(size=10_000_000)})
many = pl.DataFrame({f"c{i}": rng.normal(size=2_500_000) for i in range(4)})
emb = pl.DataFrame({"a": rng.normal(size=(100_000, 768)).astype(np.float32),
                    "b": rng.normal(size=(100_000, 768)).astype(np.float32)})
q = rng.normal(size=(200, 384))
base = pl.DataFrame({"e": rng.normal(size=(100_000, 384)).astype(np.float32)})

import polars_mlkit as pmk

def median_ms(fn, repeat=7):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3

cases = {
    "standard_scale, 1 column x 10M (eager)": lambda: one.select(pl.col("x").ml.standard_scale()),
    "normalize, 4 columns x 2.5M (eager)": lambda: many.select(pl.all().ml.normalize()),
    "dot, 100k x Array(Float32, 768) (eager)": lambda: emb.select(pl.col("a").ml.dot("b")),
    "dot, same data (streaming engine)": (
        lambda: emb.lazy().select(pl.col("a").ml.dot("b")).collect(engine="streaming")
    ),
    "nearest, 200 queries over 100k x 384": lambda: pmk.nearest(base, "e", q, k=10),
}
print(json.dumps({name: median_ms(fn) for name, fn in cases.items()}))
"""


def run(threads: str | None) -> dict[str, float]:
    env = dict(os.environ)
    env.pop("RAYON_NUM_THREADS", None)
    if threads is not None:
        env["RAYON_NUM_THREADS"] = threads
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", help="append the table to this markdown file")
    args = parser.parse_args()
    serial = run("1")
    parallel = run(None)
    lines = [
        "## Kernel-level parallelism (2 cores)",
        "",
        "Same queries in fresh processes, kernels limited to 1 thread vs their default pool;"
        " medians of 7 runs.",
        "",
        "| query | kernels on 1 thread ms | default ms | speed-up |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, ms in serial.items():
        lines.append(f"| {name} | {ms:.1f} | {parallel[name]:.1f} | {ms / parallel[name]:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        with open(args.output, "a", encoding="utf-8") as handle:
            handle.write("\n" + text)


if __name__ == "__main__":
    main()
