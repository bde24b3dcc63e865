"""The CPU levels the kernels can use (``POLARS_MLKIT_ISA``)."""

from __future__ import annotations

from typing import Any

from polars_mlkit import _internal


def cpu_info() -> dict[str, Any]:
    """The instruction-set level the kernels use, and what this CPU offers.

    The levels, lowest first: ``"portable"`` (the baseline of the
    architecture: SSE2 on x86_64, NEON on aarch64), ``"avx2"`` (AVX2, FMA,
    F16C), ``"avx512"`` (AVX-512 F/BW/VL/DQ/CD), ``"vnni"`` (AVX-512 VNNI,
    VPOPCNTDQ, BITALG) and ``"amx"`` (AMX tiles, granted by the OS). Each
    includes the ones below it. The environment variable
    ``POLARS_MLKIT_ISA`` caps the level used (set it before importing
    ``polars_mlkit``); a level above what the CPU has is capped, never run,
    and an unknown value makes the import fail, naming the allowed ones.
    Results are bit-identical at every level: only the speed changes.

    Returns
    -------
    dict
        ``detected`` (the highest level this CPU offers), ``active`` (the
        one in use), ``levels`` (every level this CPU offers, lowest first),
        ``features`` (the CPU features behind them), ``arch`` and
        ``POLARS_MLKIT_ISA`` (the variable's value, or None).

    Examples
    --------
    >>> import polars_mlkit as pmk
    >>> info = pmk.cpu_info()
    >>> info["active"] in info["levels"] and info["detected"] == info["levels"][-1]
    True
    """
    return _internal.cpu_info()
