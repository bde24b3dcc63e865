"""A user's type checker sees the package's annotations (py.typed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GOOD = """
import polars as pl
import polars_mlkit as pmk

expr: pl.Expr = pmk.minmax_scale("x", feature_range=(0.0, 2.0))
values: list[float] = pmk.normalize([1.0, 2.0, 3.0])
scaler = pmk.StandardScaler(columns=["x"], with_mean=False)
exprs: list[pl.Expr] = scaler.expressions()
"""

BAD = """
import polars_mlkit as pmk

pmk.minmax_scale("x", feature_range="wide")
pmk.MinMaxScaler(feature_range="wide")
"""


def run_mypy(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    source = tmp_path / "user_code.py"
    source.write_text(code)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(source)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )


def test_correct_calls_type_check(tmp_path: Path) -> None:
    result = run_mypy(GOOD, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_wrong_argument_types_are_flagged(tmp_path: Path) -> None:
    result = run_mypy(BAD, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "user_code.py:4: error" in result.stdout  # minmax_scale(feature_range="wide")
    assert "user_code.py:5: error" in result.stdout  # MinMaxScaler(feature_range="wide")
    assert "feature_range" in result.stdout
