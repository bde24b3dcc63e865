"""The CPU-level layer (DESIGN.md, "Portable speed"): ``pmk.cpu_info()``
and ``POLARS_MLKIT_ISA``. The variable is read at import, so each case runs
in a fresh interpreter. That the results are the same bits at every level
is checked in test_determinism.py (and, kernel by kernel, by the Rust
tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import polars_mlkit as pmk
import pytest

LEVELS = ["portable", "avx2", "avx512", "vnni", "amx"]


def _import_with(value: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "POLARS_MLKIT_ISA"}
    if value is not None:
        env["POLARS_MLKIT_ISA"] = value
    code = "import json, polars_mlkit as pmk; print(json.dumps(pmk.cpu_info()))"
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def _info_with(value: str | None) -> dict[str, object]:
    proc = _import_with(value)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_cpu_info_reports_detected_and_active_levels() -> None:
    info = pmk.cpu_info()
    levels = info["levels"]
    assert levels == LEVELS[: len(levels)]
    assert info["detected"] == levels[-1]
    assert info["active"] in levels
    assert info["arch"] in {"x86_64", "aarch64"} or info["detected"] == "portable"
    if info["detected"] != "portable":
        assert {"avx2", "fma"} <= set(info["features"])


def test_without_the_variable_the_detected_level_is_active() -> None:
    info = _info_with(None)
    assert info["active"] == info["detected"]
    assert info["POLARS_MLKIT_ISA"] is None


@pytest.mark.parametrize("value", LEVELS)
def test_the_variable_caps_the_level(value: str) -> None:
    info = _info_with(value.upper() if value == "avx2" else value)
    levels = list(info["levels"])  # type: ignore[call-overload]
    expected = value if value in levels else info["detected"]
    assert info["active"] == expected, info


def test_an_unknown_level_refuses_the_import_naming_the_allowed_ones() -> None:
    proc = _import_with("sse9")
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr
    assert "POLARS_MLKIT_ISA" in proc.stderr
    assert "sse9" in proc.stderr
    assert "portable, avx2, avx512, vnni, amx" in proc.stderr
