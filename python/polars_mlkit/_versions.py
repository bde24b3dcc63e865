"""The supported range of the Python ``polars`` package.

The extension is compiled against one Polars plugin ABI; the range below is
the set of ``polars`` releases it is tested with in CI (lowest and newest).
"""

from __future__ import annotations

import re

#: Inclusive lower and exclusive upper bound, as (major, minor).
POLARS_MIN = (2, 0)
POLARS_MAX_EXCLUSIVE = (2, 2)
SUPPORTED_POLARS = ">=2.0,<2.2"


def _major_minor(version: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None:
        return (0, 0)
    return (int(match.group(1)), int(match.group(2)))


def check_polars_version(version: str) -> None:
    """Raise ``ImportError`` if ``version`` is outside the supported range.

    Examples
    --------
    >>> check_polars_version("2.1.0")
    >>> check_polars_version("1.30.0")
    Traceback (most recent call last):
    ...
    ImportError: polars-mlkit supports polars >=2.0,<2.2, but polars 1.30.0 is installed
    """
    if not POLARS_MIN <= _major_minor(version) < POLARS_MAX_EXCLUSIVE:
        msg = f"polars-mlkit supports polars {SUPPORTED_POLARS}, but polars {version} is installed"
        raise ImportError(msg)
