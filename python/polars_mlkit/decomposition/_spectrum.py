"""From co-moments to a fitted PCA: the eigendecomposition of the
covariance and every attribute as scikit-learn's
``PCA(svd_solver="covariance_eigh")`` derives it (signs by ``svd_flip``
with ``u_based_decision=False``, clipped negative eigenvalues, the number
of components from an int, a variance fraction or Minka's MLE).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass
class Spectrum:
    """The fitted attributes of a PCA (all float64)."""

    mean: FloatArray
    components: FloatArray  # (k, d)
    explained_variance: FloatArray  # (k,)
    explained_variance_ratio: FloatArray  # (k,)
    singular_values: FloatArray  # (k,)
    noise_variance: float
    n_components: int
    n_samples: int


def check_n_components(value: Any, function: str) -> Any:
    """``None``, an int ≥ 0, a float in (0, 1) or ``"mle"`` (scikit-learn's rules)."""
    if value is None or (isinstance(value, str) and value == "mle"):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if value < 0:
            msg = f"{function}: n_components must be at least 0, got {value}"
            raise ValueError(msg)
        return int(value)
    if isinstance(value, (float, np.floating)) and 0.0 < float(value) < 1.0:
        return float(value)
    msg = (
        f"{function}: n_components must be None, an int >= 0, a float in (0.0, 1.0) "
        f"(a fraction of the variance) or 'mle', got {value!r}"
    )
    raise ValueError(msg)


def spectrum(
    count: int, mean: FloatArray, m2: FloatArray, n_components: Any, function: str
) -> Spectrum:
    """The fitted attributes from ``count`` rows' mean and centred cross
    products (``m2``, d x d)."""
    d = mean.shape[0]
    if count < 2:
        msg = (
            f"{function}: a covariance needs at least 2 samples without nulls, got {count} "
            f"sample{'s' if count != 1 else ''}"
        )
        raise ValueError(msg)
    limit = min(count, d)
    if n_components == "mle" and count < d:
        msg = f"{function}: n_components='mle' is only supported if n_samples >= n_features"
        raise ValueError(msg)
    if isinstance(n_components, int) and not 0 <= n_components <= limit:
        msg = (
            f"{function}: n_components={n_components} must be between 0 and "
            f"min(n_samples, n_features)={limit} with svd_solver='covariance_eigh'"
        )
        raise ValueError(msg)
    covariance = m2.reshape(d, d) / (count - 1)
    values, vectors = np.linalg.eigh(covariance)
    values = np.flip(values).copy()
    vectors = np.flip(vectors, axis=1)
    values[values < 0.0] = 0.0
    singular = np.sqrt(values * (count - 1))
    vt = svd_flip(np.ascontiguousarray(vectors.T))
    ratio = values / values.sum()
    if n_components is None:
        k = limit
    elif n_components == "mle":
        k = infer_dimension(values, count)
    elif isinstance(n_components, float):
        k = int(np.searchsorted(np.cumsum(ratio), n_components, side="right")) + 1
    else:
        k = n_components
    noise = float(np.mean(values[k:])) if k < min(d, count) else 0.0
    return Spectrum(
        mean=np.asarray(mean, dtype=np.float64).copy(),
        components=vt[:k].copy(),
        explained_variance=values[:k].copy(),
        explained_variance_ratio=ratio[:k].copy(),
        singular_values=singular[:k].copy(),
        noise_variance=noise,
        n_components=int(k),
        n_samples=int(count),
    )


def svd_flip(vt: FloatArray) -> FloatArray:
    """Rows signed so that each one's largest absolute entry is positive
    (scikit-learn's ``svd_flip(u_based_decision=False)``)."""
    if vt.size == 0:
        return vt
    rows = np.arange(vt.shape[0])
    signs = np.sign(vt[rows, np.argmax(np.abs(vt), axis=1)])
    flipped: FloatArray = vt * signs[:, np.newaxis]
    return flipped


def _assess_dimension(spectrum: FloatArray, rank: int, n_samples: int) -> float:
    """Log-likelihood of a rank ``rank`` dataset (Minka, NIPS 2000), as
    scikit-learn's ``_assess_dimension``."""
    n_features = spectrum.shape[0]
    eps = 1e-15
    if spectrum[rank - 1] < eps:
        return -math.inf
    pu = -rank * math.log(2.0)
    for i in range(1, rank + 1):
        pu += (
            math.lgamma((n_features - i + 1) / 2.0) - math.log(math.pi) * (n_features - i + 1) / 2.0
        )
    pl = -float(np.sum(np.log(spectrum[:rank]))) * n_samples / 2.0
    v = max(eps, float(np.sum(spectrum[rank:])) / (n_features - rank))
    pv = -math.log(v) * n_samples * (n_features - rank) / 2.0
    m = n_features * rank - rank * (rank + 1.0) / 2.0
    pp = math.log(2.0 * math.pi) * (m + rank) / 2.0
    spectrum_ = spectrum.copy()
    spectrum_[rank:n_features] = v
    pa = 0.0
    for i in range(rank):
        j = np.arange(i + 1, n_features)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.log((spectrum[i] - spectrum[j]) * (1.0 / spectrum_[j] - 1.0 / spectrum_[i]))
        pa += float(np.sum(terms + math.log(n_samples)))
    return float(pu + pl + pv + pp - pa / 2.0 - rank * math.log(n_samples) / 2.0)


def infer_dimension(spectrum: FloatArray, n_samples: int) -> int:
    """The rank of highest likelihood in ``[1, n_features - 1]``."""
    ll = np.empty_like(spectrum)
    ll[0] = -np.inf
    for rank in range(1, spectrum.shape[0]):
        ll[rank] = _assess_dimension(spectrum, rank, n_samples)
    return int(np.argmax(ll))
