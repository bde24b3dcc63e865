"""The compiled extension. Its plugin functions are reached through
``polars.plugins.register_plugin_function``; the functions below are the
data face (plain numpy arrays, lists and tuples straight to the kernels)."""

from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str

def cpu_info() -> dict[str, Any]: ...
def pairwise(function: str, op: str, x: Any, other: Any) -> Any: ...

# The free functions' first step: plain data (numpy arrays, lists, tuples)
# computed at once, NotImplemented for anything else.
def try_dot(x: Any, other: Any) -> Any: ...
def try_cosine_similarity(x: Any, other: Any) -> Any: ...
def norm(function: str, ord: str, x: Any) -> Any: ...
def unit_normalize(function: str, norm: str, x: Any) -> Any: ...
def project(
    function: str,
    x: Any,
    matrix: npt.NDArray[np.float64],
    bias: npt.NDArray[np.float64] | None = None,
) -> Any: ...
def top_k_similar(
    function: str, x: Any, query: npt.NDArray[np.float64], k: int, metric: str
) -> Any: ...
def nearest(
    function: str, x: Any, queries: npt.NDArray[np.float64], k: int, metric: str
) -> tuple[
    npt.NDArray[np.uint32],
    npt.NDArray[np.uint32],
    npt.NDArray[np.uint32],
    npt.NDArray[np.float64],
]: ...
def scale(x: Any, options: dict[str, Any]) -> Any: ...

class ScalePlan:
    """Scaling options (the dict ``scale`` takes) parsed once."""

    def __init__(self, options: dict[str, Any]) -> None: ...

# ``scale`` with a plan on plain data; NotImplemented for anything else.
def try_scale(x: Any, plan: ScalePlan) -> Any: ...

# quantile_transform / power_transform on plain data (see src/plain/mod.rs).
def gaussianize(x: Any, options: dict[str, Any]) -> Any: ...

# The fitted scalers' rules (see src/fitted.rs): statistics in, parameters,
# transform coefficients, merged statistics and exact quantiles out.
def fitted_scaler(
    options: dict[str, Any], statistics: dict[str, npt.NDArray[np.float64]], float32: bool
) -> dict[str, npt.NDArray[np.float64]]: ...
def merge_statistics(
    method: str,
    a: dict[str, npt.NDArray[np.float64]],
    b: dict[str, npt.NDArray[np.float64]],
) -> dict[str, npt.NDArray[np.float64]]: ...

# PCA's partial co-moments (count, mean, row-major m2) merged (src/fitted.rs).
def merge_comoments(
    count_a: int,
    mean_a: npt.NDArray[np.float64],
    m2_a: npt.NDArray[np.float64],
    count_b: int,
    mean_b: npt.NDArray[np.float64],
    m2_b: npt.NDArray[np.float64],
) -> tuple[int, npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...

class OrderSearch:
    """Exact order statistics of data read in passes (see scalers/_passes.py)."""

    def __init__(
        self,
        target: str,
        rows: int,
        buckets: npt.NDArray[np.uint32],
        counts: npt.NDArray[np.uint64],
        min: float,
        max: float,
        quantile_range: tuple[float, float] | None = None,
        n_quantiles: int | None = None,
        budget: int = ...,
    ) -> None: ...
    def stage(self) -> tuple[str, int]: ...
    def refine_bits(self) -> int: ...
    def wanted(self) -> npt.NDArray[np.uint64]: ...
    def add_census(
        self,
        buckets: npt.NDArray[np.uint64],
        counts: npt.NDArray[np.uint64],
        mins: npt.NDArray[np.float64],
        maxs: npt.NDArray[np.float64],
    ) -> None: ...
    def refine(self, function: str) -> None: ...
    def finish(
        self, values: npt.NDArray[np.float64], function: str
    ) -> dict[str, npt.NDArray[np.float64]]: ...
