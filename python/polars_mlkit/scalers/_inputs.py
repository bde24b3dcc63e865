"""Input and output kinds: Polars frames, numpy arrays, pandas DataFrames.

Every estimator method works on Polars; these convert on the way in (with
scikit-learn's ``check_array`` rules for arrays) and back on the way out.
"""

from __future__ import annotations

import importlib.util
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl

Frame: TypeAlias = "pl.DataFrame | pl.LazyFrame"


def _as_frame(x: Any, function: str) -> tuple[Frame, str] | None:
    """``x`` as a Polars frame with the kind it came as (``"lazy"``,
    ``"polars"``, ``"pandas"``), or ``None`` for array data; sparse data is
    refused as scikit-learn refuses it."""
    if isinstance(x, pl.LazyFrame):
        return x, "lazy"
    if isinstance(x, pl.DataFrame):
        return x, "polars"
    if type(x).__module__.startswith("pandas"):
        return pl.from_pandas(x), "pandas"
    if type(x).__module__.startswith("scipy.sparse"):
        msg = (
            f"{function}: sparse data was passed, but dense data is required. "
            "Use '.toarray()' to convert to a dense numpy array."
        )
        raise TypeError(msg)
    return None


def _as_array(x: Any, function: str, dtype: Any = None) -> np.ndarray[Any, Any]:
    """Array data as a numpy array (``np.asarray``, with ``dtype``), or a
    clear error for anything else."""
    if isinstance(x, np.ndarray):
        return x
    if not (hasattr(x, "__array__") or isinstance(x, (list, tuple))):
        msg = (
            f"{function}: expected a polars DataFrame or LazyFrame (or a 2-D numpy array / "
            f"pandas DataFrame), got {type(x).__name__}"
        )
        raise TypeError(msg)
    return np.asarray(x, dtype=dtype)


def _to_polars(x: Any, function: str, fitting: bool = False) -> tuple[Frame, str]:
    """The Polars frame for ``x`` and the kind it came as.

    Arrays follow scikit-learn's ``check_array``: array-likes go through
    ``np.asarray``, object arrays must convert to float64, complex and
    sparse data are refused, a 1-D array asks to be reshaped, and ``fit``
    refuses arrays without samples or features.
    """
    known = _as_frame(x, function)
    if known is not None:
        return known
    x = _checked_array(_as_array(x, function), function, fitting)
    frame = pl.DataFrame({f"x{j}": x[:, j] for j in range(x.shape[1])}, height=x.shape[0])
    return frame, "numpy"


def _checked_array(x: npt.NDArray[Any], function: str, fitting: bool) -> npt.NDArray[Any]:
    """A 2-D numeric array, or scikit-learn's error for what it is instead."""
    if np.iscomplexobj(x):
        msg = f"{function}: Complex data not supported\n{x!r}"
        raise ValueError(msg)
    if x.dtype.kind not in "biuf":
        try:
            x = x.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{function}: {err}") from err
    if x.ndim == 1:
        msg = (
            f"{function}: Expected 2D array, got 1D array instead:\narray={x!r}.\n"
            "Reshape your data either using array.reshape(-1, 1) if your data has a single "
            "feature or array.reshape(1, -1) if it contains a single sample."
        )
        raise ValueError(msg)
    if x.ndim != 2:
        msg = f"{function}: expected a 2-D array (rows are samples), got {x.ndim} dimensions"
        raise ValueError(msg)
    if fitting:
        for axis, what in ((0, "sample(s)"), (1, "feature(s)")):
            if x.shape[axis] == 0:
                msg = (
                    f"{function}: Found array with 0 {what} (shape={x.shape}) while a "
                    "minimum of 1 is required."
                )
                raise ValueError(msg)
    return x


def _require_pandas(function: str) -> None:
    if importlib.util.find_spec("pandas") is None:
        msg = f'{function}: output "pandas" needs pandas, which is not installed'
        raise ImportError(msg)


def _from_polars(frame: Frame, kind: str, output: str | None, function: str) -> Any:
    """``frame`` as the kind the input came as, or as ``set_output`` chose."""
    if output == "pandas" or (output in (None, "default") and kind == "pandas"):
        _require_pandas(function)
        return (frame.collect() if isinstance(frame, pl.LazyFrame) else frame).to_pandas()
    if output in (None, "default") and kind == "numpy":
        assert isinstance(frame, pl.DataFrame)
        return frame.to_numpy()
    return frame
