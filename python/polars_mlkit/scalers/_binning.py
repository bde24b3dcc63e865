"""KBinsDiscretizer's rules for bin edges, written once and as scikit-learn
1.9 writes them (``sklearn.preprocessing.KBinsDiscretizer`` with
``subsample=None`` and no sample weights):

- ``uniform``: ``np.linspace(min, max, n_bins + 1)``;
- ``quantile``: ``np.percentile(column, np.linspace(0, 100, n_bins + 1),
  method=quantile_method)``. numpy reads at most two order statistics per
  level (the ranks :func:`percentile_ranks` names) and interpolates them
  (:func:`percentile_values`), so the edges are found exactly from those
  ranks alone: the exact passes over batches find them without holding a
  column;
- ``kmeans``: scikit-learn's ``KMeans(n_clusters, init=uniform midpoints,
  n_init=1)`` (Lloyd's algorithm: data centred on its mean, at most 300
  iterations, tolerance ``1e-4 * var``, empty clusters relocated as
  scikit-learn relocates them), then the midpoints of the sorted centres,
  between the extent (:func:`kmeans_edges`);
- then bins narrower than 1e-8 are removed (quantile and k-means), with
  scikit-learn's warning (:func:`drop_tiny_bins`); a constant column has one
  bin, ``[-inf, inf]``.

Everything here is plain numpy on one column (or group) at a time.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: scikit-learn's ``quantile_method`` options (numpy's Hyndman-Fan methods).
QUANTILE_METHODS = (
    "inverted_cdf",
    "averaged_inverted_cdf",
    "closest_observation",
    "interpolated_inverted_cdf",
    "hazen",
    "weibull",
    "linear",
    "median_unbiased",
    "normal_unbiased",
)

#: The (alpha, beta) of numpy's continuous methods (``linear`` is apart:
#: numpy computes its index as ``(n - 1) * q``).
_ALPHA_BETA = {
    "interpolated_inverted_cdf": (0.0, 1.0),
    "hazen": (0.5, 0.5),
    "weibull": (0.0, 0.0),
    "median_unbiased": (1 / 3.0, 1 / 3.0),
    "normal_unbiased": (3 / 8.0, 3 / 8.0),
}

#: scikit-learn's k-means settings (KMeans defaults).
KMEANS_MAX_ITER = 300
KMEANS_TOL = 1e-4


def levels(n_bins: int) -> FloatArray:
    """The quantile levels numpy sees: ``linspace(0, 100, n_bins + 1) / 100``."""
    return np.asarray(np.true_divide(np.linspace(0, 100, n_bins + 1), 100), dtype=np.float64)


def _discrete(index: FloatArray, at_previous: Any) -> IntArray:
    previous = np.floor(index)
    gamma = index - previous
    chosen = np.where(at_previous(gamma, index), previous, previous + 1).astype(np.intp)
    chosen[chosen < 0] = 0
    return chosen


def percentile_ranks(n: int, n_bins: int, method: str) -> tuple[IntArray, IntArray, FloatArray]:
    """numpy's percentile plan for ``n`` sorted values at the ``n_bins + 1``
    levels: (previous rank, next rank, gamma) per level, as
    ``numpy.percentile`` computes them (gamma is NaN for the discrete
    methods, which read one rank)."""
    q = levels(n_bins)
    if method == "inverted_cdf":
        index = _discrete(n * q - 1, lambda g, _: g == 0)
        return index, index, np.full(q.shape, np.nan)
    if method == "closest_observation":
        index = _discrete(n * q - 1 - 0.5, lambda g, i: (g == 0) & (np.floor(i) % 2 == 1))
        return index, index, np.full(q.shape, np.nan)
    if method == "linear":
        virtual = (n - 1) * q
    elif method == "averaged_inverted_cdf":
        virtual = n * q - 1
    else:
        alpha, beta = _ALPHA_BETA[method]
        virtual = n * q + (alpha + q * (1 - alpha - beta)) - 1
    previous = np.floor(virtual)
    following = previous + 1
    above = virtual >= n - 1
    previous[above] = n - 1
    following[above] = n - 1
    below = virtual < 0
    previous[below] = 0
    following[below] = 0
    # numpy takes gamma from the clipped previous index, and its "above"
    # index is -1 (the last), so gamma there is virtual + 1.
    gamma = virtual - np.where(above, -1.0, previous)
    if method == "averaged_inverted_cdf":
        gamma = np.where(gamma == 0, 0.5, 1.0)
    return previous.astype(np.intp), following.astype(np.intp), gamma


def percentile_values(
    previous: FloatArray, following: FloatArray, gamma: FloatArray, method: str
) -> FloatArray:
    """The percentiles from the values at the planned ranks (numpy's
    ``_lerp``: from below under gamma 0.5, from above from it)."""
    if method in ("inverted_cdf", "closest_observation"):
        return np.asarray(previous, dtype=np.float64)
    diff = following - previous
    out = previous + diff * gamma
    high = gamma >= 0.5
    out[high] = (following - diff * (1 - gamma))[high]
    return np.asarray(out, dtype=np.float64)


def quantile_edges(at_rank: dict[int, float], n: int, n_bins: int, method: str) -> FloatArray:
    """``np.percentile`` edges from the values at the planned ranks."""
    previous, following, gamma = percentile_ranks(n, n_bins, method)
    a = np.array([at_rank[int(r)] for r in previous], dtype=np.float64)
    b = np.array([at_rank[int(r)] for r in following], dtype=np.float64)
    return percentile_values(a, b, gamma, method)


def uniform_edges(low: float, high: float, n_bins: int) -> FloatArray:
    return np.asarray(np.linspace(low, high, n_bins + 1), dtype=np.float64)


def _labels(x: FloatArray, centers: FloatArray) -> IntArray:
    """scikit-learn's assignment: argmin of ``|c|^2 - 2 x c`` (first on ties)."""
    distances = (centers * centers)[None, :] + (-2.0 * x)[:, None] * centers[None, :]
    return np.asarray(np.argmin(distances, axis=1), dtype=np.intp)


def _lloyd_step(x: FloatArray, centers: FloatArray) -> tuple[IntArray, FloatArray, FloatArray]:
    """One of scikit-learn's Lloyd iterations (``lloyd_iter_chunked_dense``):
    labels, new centres, centre shifts."""
    k = centers.size
    labels = _labels(x, centers)
    sums = np.bincount(labels, weights=x, minlength=k).astype(np.float64)
    weights = np.bincount(labels, minlength=k).astype(np.float64)
    empty = np.flatnonzero(weights == 0)
    if empty.size:
        # _relocate_empty_clusters_dense: the farthest points start the empty clusters.
        distances = (x - centers[labels]) ** 2
        if np.max(distances) != 0:
            far = np.argpartition(distances, -empty.size)[: -empty.size - 1 : -1]
            for new, i in zip(empty, far, strict=False):
                old = labels[i]
                sums[old] -= x[i]
                sums[new] = x[i]
                weights[new] = 1.0
                weights[old] -= 1.0
    # _average_centers: in cluster order, an empty one takes the (possibly
    # not yet averaged) centre of the heaviest cluster, as scikit-learn does.
    heaviest = int(np.argmax(weights))
    for j in range(k):
        if weights[j] > 0:
            sums[j] *= 1.0 / weights[j]
        else:
            sums[j] = sums[heaviest]
    return labels, sums, np.abs(sums - centers)


def kmeans_centers(values: FloatArray, n_clusters: int, function: str) -> FloatArray:
    """scikit-learn's ``KMeans(n_clusters, init=uniform midpoints,
    n_init=1).fit(values[:, None]).cluster_centers_[:, 0]`` (unsorted)."""
    n = values.size
    if n < n_clusters:
        msg = f"{function}: n_samples={n} should be >= n_clusters={n_clusters}."
        raise ValueError(msg)
    low, high = float(values.min()), float(values.max())
    uniform = np.linspace(low, high, n_clusters + 1)
    init = (uniform[1:] + uniform[:-1]) * 0.5
    tol = float(np.mean(np.var(values[:, None], axis=0)) * KMEANS_TOL)
    mean = values.mean()
    x = values - mean
    centers = init - mean
    labels_old = np.full(n, -1, dtype=np.intp)
    strict = False
    labels = labels_old
    for _ in range(KMEANS_MAX_ITER):
        labels, centers, shift = _lloyd_step(x, centers)
        if np.array_equal(labels, labels_old):
            strict = True
            break
        if float((shift**2).sum()) <= tol:
            break
        labels_old = labels
    if not strict:
        labels = _labels(x, centers)
    distinct = np.unique(labels).size
    if distinct < n_clusters:
        warnings.warn(
            f"Number of distinct clusters ({distinct}) found smaller than n_clusters "
            f"({n_clusters}). Possibly due to duplicate points in X.",
            _convergence_warning(),
            stacklevel=4,
        )
    return np.asarray(centers + mean, dtype=np.float64)


def _convergence_warning() -> type[Warning]:
    """scikit-learn's ``ConvergenceWarning`` when it is installed."""
    try:
        exceptions = importlib.import_module("sklearn.exceptions")
    except ImportError:  # scikit-learn is optional
        return UserWarning
    found: type[Warning] = exceptions.ConvergenceWarning
    return found


def kmeans_edges(values: FloatArray, n_bins: int, function: str) -> FloatArray:
    """The k-means edges: extent, then midpoints of the sorted centres."""
    centers = np.sort(kmeans_centers(values, n_bins, function))
    inner = (centers[1:] + centers[:-1]) * 0.5
    return np.asarray(np.r_[values.min(), inner, values.max()], dtype=np.float64)


def drop_tiny_bins(edges: FloatArray, n_bins: int, feature: str) -> FloatArray:
    """scikit-learn's removal of bins no wider than 1e-8, with its warning."""
    kept = edges[np.ediff1d(edges, to_begin=np.inf) > 1e-8]
    if kept.size - 1 != n_bins:
        warnings.warn(
            f"Bins whose width are too small (i.e., <= 1e-8) in feature {feature} are "
            "removed. Consider decreasing the number of bins.",
            UserWarning,
            stacklevel=4,
        )
    return np.asarray(kept, dtype=np.float64)


def constant_edges() -> FloatArray:
    """A constant column's one bin (scikit-learn's ``[-inf, inf]``)."""
    return np.array([-np.inf, np.inf])
