"""Fitted scalers: learn parameters once, apply them anywhere.

:class:`MinMaxScaler`, :class:`StandardScaler`, :class:`RobustScaler` and
:class:`MaxAbsScaler` learn their parameters from training data with one
Polars query and turn them into *elementwise* expressions with the fitted
constants. So a fitted scaler runs lazily, under the streaming engine and out
of core (``scan_parquet(...).with_columns(sc.expressions()).sink_parquet(...)``),
saves to a documented, versioned JSON text (:meth:`~MinMaxScaler.to_json`,
:func:`load_scaler`; see ``docs/scaler-json.md``) and gives the numbers of the
scikit-learn scaler of the same name fitted on the same training data.

The estimators follow scikit-learn's conventions without depending on it: the
constructor only stores its arguments (checked by ``fit``), ``fit`` returns
the scaler, fitted attributes end in ``_``, ``get_params``/``set_params``,
``get_feature_names_out`` and ``set_output`` work, so they can sit in a
``sklearn.pipeline.Pipeline`` or a ``ColumnTransformer`` and be ``clone``-d.

Decisions (where scikit-learn or the design is silent):

- Statistics skip nulls and NaN, as in the ``ml`` scaling expressions;
  nulls stay null and NaN stays NaN. An infinite value is an error naming
  the scaler and the column.
- A column (or group) with no value to learn from gets NaN parameters, as
  scikit-learn learns NaN from an all-NaN column: its transform gives NaN
  (nulls stay null).
- Output dtype: Float32 when the column was Float32 at fit time, Float64
  otherwise (integers and Decimal included). Vector columns keep their
  container (``Array`` stays ``Array``, ``List`` stays ``List``).
- The options in force are those of the last ``fit``/``partial_fit``;
  ``set_params`` takes effect at the next fit, as the parameters are fitted
  values.
- With ``by=``, parameters are looked up per row by a string key rendered
  from the ``by`` columns (``cast(pl.String)``, nulls as their own group).
- ``params_`` has one parameter column per parameter; if any fitted column is
  a vector column, every parameter column is ``List(Float64)`` (scalar
  columns get one-element lists) so that the frame has one schema.
"""

# Where things are (each module imports only those listed above it):
#   _registry     the classes by JSON format and kind, the readers, load()
#   _inputs       numpy and pandas in and out
#   _state        the fitted state, the columns a fit takes, the exact merge
#   _statistics   the one statistics query and reading its result
#   _expressions  parameters and transforms from the extension, as expressions
#   _passes       statistics from passes over batches (the two-pass exact
#                 quantiles); functions that return statistics
#   _json         the scalers' JSON text (to_json, load_scaler)
#   _fitted       what every fitted transformer shares: parameters, set_output,
#                 NotFittedError, fit_in_passes
#   _base         the scalers' protocol: Scaler, IncrementalScaler, merge_fitted
#   _estimators   the four scalers: their options and statistics queries
#   _gaussian     QuantileTransformer and PowerTransformer (fit by the extension)
#   _categories   the encoders' categories, counts, infrequent groups, code tables
#   _encoder_inputs, _encoder_json   encoder input kinds, the encoders' JSON
#   _encoder_base the encoders' protocol: Encoder
#   _encoders     OneHotEncoder and OrdinalEncoder
#   _imputer_state  the imputer's columns, what is missing, the one-pass
#                 statistics of a batch and their exact merge
#   _imputer_fit  the imputer's fill values (median: _passes) and fitted state
#   _imputer_exprs  the imputer's transform expressions
#   _imputer_json the imputer's JSON text; the state of a scikit-learn imputer
#   _imputer      SimpleImputer
#   _target_stats the target encoder's target, statistics and encodings
#   _target_folds the target encoder's cross-fitting folds (scikit-learn's)
#   _target_json  the target encoder's fitted state and JSON, from scikit-learn
#   _target_encoder  TargetEncoder
#   _binning      KBinsDiscretizer's edge rules (numpy percentiles, k-means)
#   _kbins_fit    KBinsDiscretizer's fit from batches, its fitted state
#   _kbins_json   KBinsDiscretizer's JSON
#   _kbins        KBinsDiscretizer
#   polars_mlkit._batches  map_batches over LazyFrames (shared with search)
#   polars_mlkit._checks   the argument checks shared with the free functions

from __future__ import annotations

from polars_mlkit._batches import MapBatches
from polars_mlkit.scalers._base import IncrementalScaler, Scaler, merge_fitted
from polars_mlkit.scalers._encoder_base import Encoder
from polars_mlkit.scalers._encoders import OneHotEncoder, OrdinalEncoder
from polars_mlkit.scalers._estimators import (
    MaxAbsScaler,
    MinMaxScaler,
    RobustScaler,
    StandardScaler,
)
from polars_mlkit.scalers._fitted import FittedTransformer, NotFittedError, fit_in_passes
from polars_mlkit.scalers._gaussian import PowerTransformer, QuantileTransformer
from polars_mlkit.scalers._imputer import SimpleImputer
from polars_mlkit.scalers._json import FORMAT, FORMAT_VERSION, load_scaler
from polars_mlkit.scalers._kbins import KBinsDiscretizer
from polars_mlkit.scalers._registry import load
from polars_mlkit.scalers._target_encoder import TargetEncoder

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Encoder",
    "FittedTransformer",
    "IncrementalScaler",
    "KBinsDiscretizer",
    "MapBatches",
    "MaxAbsScaler",
    "MinMaxScaler",
    "NotFittedError",
    "OneHotEncoder",
    "OrdinalEncoder",
    "PowerTransformer",
    "QuantileTransformer",
    "RobustScaler",
    "Scaler",
    "SimpleImputer",
    "StandardScaler",
    "TargetEncoder",
    "fit_in_passes",
    "load",
    "load_scaler",
    "merge_fitted",
]
