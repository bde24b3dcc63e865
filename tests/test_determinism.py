"""Determinism (DESIGN.md, "Errors" and "Portable speed"): results are
bit-identical whatever the thread count (``POLARS_MAX_THREADS=1`` and
``2``), however the input is chunked, and at every CPU level this machine
offers (``POLARS_MLKIT_ISA``).

Each run happens in a fresh subprocess (the thread count is fixed when
Polars starts). It computes every operation on contiguous and on chunked
input and prints a SHA-256 of the raw bytes of each output (values and
validity). A large column (2.2M rows, above the kernels' 2^20 parallel
threshold) exercises the multi-threaded reductions, transforms and row-wise
paths; ``top_k_similar`` and ``nearest`` run on 200k rows (several parallel
row ranges).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

SCRIPT = r'''
import hashlib, json
import numpy as np
import polars as pl
import polars_mlkit as pmk

rng = np.random.default_rng(12345)
N = 2_200_000          # > 2^20: the parallel paths inside the kernels
D = 4
big = pl.Series("x", rng.standard_normal(N) * 1e3 + 7.0)
vec = pl.Series("v", rng.standard_normal((N // 2, D)))            # Array(f64, 4): 4.4M elements
vec32 = pl.Series("v", rng.standard_normal((N // 2, D)).astype(np.float32))
lst = vec.cast(pl.List(pl.Float64))
search = pl.Series("e", rng.standard_normal((200_000, 8)))
queries = rng.standard_normal((37, 8))
# The Float32 and narrow searches, past the query counts where their kernels change.
search32 = pl.Series("e", rng.standard_normal((60_000, 64)).astype(np.float32))
many_queries = rng.standard_normal((130, 64))
MATRIX = np.arange(D * 3, dtype=float).reshape(D, 3) / 7


def chunked(s, parts=7):
    """The same values as several chunks of uneven length."""
    n = s.len()
    cuts = sorted({0, n, *[int(n * f) for f in (0.013, 0.2, 0.37, 0.5001, 0.77, 0.93)]})
    out = pl.concat([s.slice(a, b - a) for a, b in zip(cuts, cuts[1:])], rechunk=False)
    assert out.n_chunks() > 1
    return out


def digest(s):
    if isinstance(s, pl.DataFrame):
        return "|".join(digest(c) for c in s.get_columns())
    h = hashlib.sha256()
    if isinstance(s.dtype, (pl.List, pl.Array)):
        h.update(s.is_null().to_numpy().tobytes())
        s = s.explode() if isinstance(s.dtype, pl.List) else s.arr.explode()
    h.update(s.is_null().to_numpy().tobytes())
    h.update(np.ascontiguousarray(s.fill_null(0).to_numpy()).tobytes())
    return h.hexdigest()


def column_ops():
    return {
        "minmax": lambda e: e.ml.minmax_scale(),
        "minmax_range": lambda e: e.ml.minmax_scale(feature_range=(-3.0, 2.0), clip=True),
        "standard": lambda e: e.ml.standard_scale(),
        "standard_ddof": lambda e: e.ml.standard_scale(ddof=1),
        "robust": lambda e: e.ml.robust_scale(),
        "robust_unit": lambda e: e.ml.robust_scale(quantile_range=(10.0, 90.0), unit_variance=True),
        "maxabs": lambda e: e.ml.maxabs_scale(),
    }


def vector_ops(q):
    return {
        "dot": lambda e: e.ml.dot(q),
        "cosine": lambda e: e.ml.cosine_similarity(q),
        "norm2": lambda e: e.ml.norm(),
        "norm1": lambda e: e.ml.norm(ord=1),
        "euclid": lambda e: e.ml.distance(q),
        "cosdist": lambda e: e.ml.distance(q, metric="cosine"),
        "unit": lambda e: e.ml.unit_normalize(),
        "project": lambda e: e.ml.project(MATRIX, bias=[1.0, 2.0, 3.0]),
        "dot_self": lambda e: e.ml.dot(pl.col("v")),
        "scale_vectors": lambda e: e.ml.standard_scale(),
    }


out = {}
for name, series in (("big", big),):
    for variant, s in (("contiguous", series), ("chunked", chunked(series))):
        frame = s.to_frame()
        for op, build in column_ops().items():
            out[f"{name}/{op}/{variant}"] = digest(frame.select(build(pl.col("x"))).to_series())
        # group context: per-group scaling
        g = frame.with_columns(g=(pl.int_range(pl.len()) % 13))
        over = g.select(pl.col("x").ml.standard_scale().over("g")).to_series()
        out[f"{name}/over/{variant}"] = digest(over)
for name, series in (("vec", vec), ("vec32", vec32), ("list", lst)):
    q = [0.5, -1.0, 2.0, 0.25]
    for variant, s in (("contiguous", series), ("chunked", chunked(series))):
        frame = s.to_frame()
        for op, build in vector_ops(q).items():
            out[f"{name}/{op}/{variant}"] = digest(frame.select(build(pl.col("v"))).to_series())
for variant, s in (("contiguous", search), ("chunked", chunked(search))):
    frame = s.to_frame()
    for metric in ("cosine", "dot", "euclidean"):
        out[f"topk/{metric}/{variant}"] = digest(
            frame.select(pl.col("e").ml.top_k_similar(queries[0], k=25, metric=metric)).to_series()
        )
        found = pmk.nearest(frame, "e", queries, k=10, metric=metric)
        out[f"nearest/{metric}/{variant}"] = digest(found)
frame32 = search32.to_frame().with_columns(
    half=pl.col("e").cast(pl.Array(pl.Float16, 64)),
    codes=pl.col("e").ml.quantize("int8"),
    bits=pl.col("e").ml.quantize("binary"),
)
for m in (1, 10, 40, 130):
    q = many_queries[:m]
    integer_q = np.clip(np.round(q * 40), -127, 127)  # the exact integer kernels
    for metric in ("cosine", "dot", "euclidean"):
        for column, queries_of in (("e", q), ("half", q), ("codes", q), ("codes", integer_q)):
            found = pmk.nearest(frame32, column, queries_of, k=10, metric=metric)
            exact = "int" if queries_of is integer_q else "float"
            out[f"nearest_{column}_{exact}/{m}/{metric}"] = digest(found)
    bit_queries = np.packbits(q > 0, axis=1).astype(float)
    found = pmk.nearest(frame32, "bits", bit_queries, k=10, metric="hamming")
    out[f"nearest_bits/{m}"] = digest(found)
a, b = rng.standard_normal(50_000), rng.standard_normal(50_000)
out["data_face/dot"] = np.float64(pmk.dot_product(a, b)).tobytes().hex()
out["data_face/cosine"] = np.float64(pmk.cosine_similarity(a, b)).tobytes().hex()
out["data_face/normalize"] = hashlib.sha256(pmk.normalize(a).tobytes()).hexdigest()
out["level"] = pmk.cpu_info()["active"]
print("@@RESULT " + json.dumps(out))
'''


def _run(threads: int, level: str | None = None) -> dict[str, str]:
    env = {**os.environ, "POLARS_MAX_THREADS": str(threads)}
    env.pop("POLARS_MLKIT_ISA", None)
    if level is not None:
        env["POLARS_MLKIT_ISA"] = level
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, (
        f"threads={threads}, level={level}: exit {proc.returncode}\n{proc.stderr[-4000:]}"
    )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("@@RESULT "))
    return dict(json.loads(line[len("@@RESULT ") :]))


@pytest.fixture(scope="module")
def runs() -> dict[int, dict[str, str]]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        one, two = pool.map(_run, (1, 2))
    return {1: one, 2: two}


def test_same_bits_on_one_and_two_threads(runs: dict[int, dict[str, str]]) -> None:
    assert runs[1].keys() == runs[2].keys()
    differ = sorted(k for k in runs[1] if runs[1][k] != runs[2][k])
    assert not differ, f"outputs differ between POLARS_MAX_THREADS=1 and 2: {differ}"


def _lower_levels() -> list[str]:
    """Every level this CPU offers below its highest (which `runs` used)."""
    import polars_mlkit as pmk

    return list(pmk.cpu_info()["levels"][:-1])


@pytest.mark.parametrize("level", ["portable", "avx2", "avx512", "vnni"])
def test_same_bits_at_every_cpu_level(runs: dict[int, dict[str, str]], level: str) -> None:
    if level not in _lower_levels():
        pytest.skip(f"{level} is not below this CPU's highest level")
    capped = _run(2, level)
    assert capped.pop("level") == level
    default = {k: v for k, v in runs[2].items() if k != "level"}
    assert capped.keys() == default.keys()
    differ = sorted(k for k in default if capped[k] != default[k])
    assert not differ, f"outputs differ between POLARS_MLKIT_ISA={level} and the default: {differ}"


@pytest.mark.parametrize("threads", [1, 2])
def test_same_bits_chunked_and_contiguous(runs: dict[int, dict[str, str]], threads: int) -> None:
    digests = runs[threads]
    pairs = [k for k in digests if k.endswith("/contiguous")]
    assert len(pairs) > 40
    differ = sorted(
        k.removesuffix("/contiguous")
        for k in pairs
        if digests[k] != digests[k.replace("/contiguous", "/chunked")]
    )
    assert not differ, f"chunked input gives different bits (threads={threads}): {differ}"
