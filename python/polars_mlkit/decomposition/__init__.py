"""Dimensionality reduction: :class:`PCA`.

# Where things are (each module imports only those listed above it):
#   _spectrum   co-moments -> components, variances, signs (scikit-learn's rules)
#   _pca        PCA: the fit from co-moments, the transform by project, JSON
"""

from __future__ import annotations

from polars_mlkit.decomposition._pca import PCA

__all__ = ["PCA"]
