"""polars-mlkit: fast, scikit-learn-exact ML preprocessing inside Polars.

Importing the package registers the ``ml`` namespace on ``pl.Expr`` and
``pl.Series``.
"""

from __future__ import annotations

import polars as _pl

from polars_mlkit._versions import check_polars_version as _check_polars_version

_check_polars_version(_pl.__version__)

from polars_mlkit import namespace as _namespace  # noqa: E402  (registers `ml`)
from polars_mlkit._internal import __version__  # noqa: E402
from polars_mlkit.compose import ColumnTransformer, Normalizer  # noqa: E402
from polars_mlkit.cpu import cpu_info  # noqa: E402
from polars_mlkit.decomposition import PCA  # noqa: E402
from polars_mlkit.encoding import one_hot, ordinal_encode  # noqa: E402
from polars_mlkit.gaussian import power_transform, quantile_transform  # noqa: E402
from polars_mlkit.linear_model import LinearModel  # noqa: E402
from polars_mlkit.multivector import maxsim  # noqa: E402
from polars_mlkit.pipeline import Pipeline, make_pipeline  # noqa: E402
from polars_mlkit.scalers import (  # noqa: E402
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    SimpleImputer,
    StandardScaler,
    TargetEncoder,
    load,
    load_scaler,
)
from polars_mlkit.scaling import (  # noqa: E402
    maxabs_scale,
    minmax_scale,
    normalize,
    robust_scale,
    standard_scale,
)
from polars_mlkit.search import knn_join, nearest  # noqa: E402
from polars_mlkit.sklearn_convert import from_sklearn  # noqa: E402
from polars_mlkit.vectors import (  # noqa: E402
    cosine_similarity,
    distance,
    dot,
    dot_product,
    hamming,
    norm,
    project,
    quantize,
    top_k_similar,
    truncate_dim,
    unit_normalize,
    vector_max,
    vector_mean,
    vector_min,
    vector_sum,
)

__all__ = [
    "PCA",
    "ColumnTransformer",
    "KBinsDiscretizer",
    "LinearModel",
    "MaxAbsScaler",
    "MinMaxScaler",
    "Normalizer",
    "OneHotEncoder",
    "OrdinalEncoder",
    "Pipeline",
    "PowerTransformer",
    "QuantileTransformer",
    "RobustScaler",
    "SimpleImputer",
    "StandardScaler",
    "TargetEncoder",
    "__version__",
    "cosine_similarity",
    "cpu_info",
    "distance",
    "dot",
    "dot_product",
    "from_sklearn",
    "hamming",
    "knn_join",
    "load",
    "load_scaler",
    "make_pipeline",
    "maxabs_scale",
    "maxsim",
    "minmax_scale",
    "nearest",
    "norm",
    "normalize",
    "one_hot",
    "ordinal_encode",
    "power_transform",
    "project",
    "quantile_transform",
    "quantize",
    "robust_scale",
    "standard_scale",
    "top_k_similar",
    "truncate_dim",
    "unit_normalize",
    "vector_max",
    "vector_mean",
    "vector_min",
    "vector_sum",
]
del _namespace
