"""Encoder input: Polars frames as they are, numpy and pandas converted.

Encoders take strings and other non-numeric values, so a numpy array is not
converted to float64 as the scalers' input is (``_inputs``): numeric arrays
keep their dtype, string and object arrays become String (or numeric)
columns, with ``None`` and NaN as missing values, as scikit-learn's encoders
read them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from polars_mlkit.scalers._inputs import Frame, _as_array, _as_frame, _checked_array


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _object_column(name: str, values: np.ndarray[Any, Any], function: str) -> pl.Series:
    cleaned = [None if _missing(v) else v for v in values.tolist()]
    present = [v for v in cleaned if v is not None]
    if all(isinstance(v, str) for v in present):
        return pl.Series(name, cleaned, dtype=pl.String)
    if all(isinstance(v, (int, float, bool, np.number)) for v in present):
        return pl.Series(name, cleaned, strict=False)
    msg = (
        f"{function}: column {name!r} holds a mix of strings and numbers; encoders need "
        "all strings or all numbers per column"
    )
    raise TypeError(msg)


def encoder_input(x: Any, function: str, fitting: bool = False) -> tuple[Frame, str]:
    """The Polars frame for ``x`` and the kind it came as (``"lazy"``,
    ``"polars"``, ``"pandas"`` or ``"numpy"``)."""
    known = _as_frame(x, function)
    if known is not None:
        return known
    if not isinstance(x, np.ndarray):
        x = _as_array(x, function, dtype=object if _has_strings(x) else None)
    if x.dtype.kind in "biuf" or np.iscomplexobj(x):
        x = _checked_array(x, function, fitting)
        frame = pl.DataFrame({f"x{j}": x[:, j] for j in range(x.shape[1])}, height=x.shape[0])
        return frame, "numpy"
    if x.dtype.kind in "US":
        x = x.astype(object)
    if x.ndim != 2:
        # The numeric rules give scikit-learn's messages for other shapes.
        _checked_array(np.zeros(x.shape), function, fitting)
    if fitting:
        _checked_array(np.zeros(x.shape), function, fitting)
    columns = [_object_column(f"x{j}", x[:, j], function) for j in range(x.shape[1])]
    return pl.DataFrame(columns, height=x.shape[0]), "numpy"


def _has_strings(x: Any) -> bool:
    """Whether a list-like holds strings (it must then stay objects)."""
    try:
        return any(isinstance(v, str) for row in x for v in row)
    except TypeError:
        return False
