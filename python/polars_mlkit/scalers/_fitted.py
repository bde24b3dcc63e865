"""What every fitted transformer of the package shares, scalers and encoders
alike: scikit-learn's parameter protocol (``get_params``, ``set_params``,
``repr``), ``set_output``, the not-fitted error, and :func:`fit_in_passes`,
the fit from data that is only reached batch by batch.

A fitted transformer keeps what it learned in ``self._state`` (``None``
before ``fit``); the fit from batches is its ``_fit_from_batches`` method,
which returns that state and never writes it, so the one place a state is
set is the fitting method itself.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit import _checks
from polars_mlkit._batches import MapBatches
from polars_mlkit.scalers._inputs import _require_pandas


def _differs(a: Any, b: Any) -> bool:
    try:
        return bool(a != b)
    except (TypeError, ValueError):
        return True


class NotFittedError(ValueError, AttributeError):
    """A scaler or encoder was used before ``fit``.

    Like scikit-learn's ``NotFittedError`` it is both a ``ValueError`` and an
    ``AttributeError`` (scikit-learn is not a dependency, so it is not that
    very class).

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> pmk.MinMaxScaler().transform(pl.DataFrame({"x": [1.0]}))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    polars_mlkit.scalers.NotFittedError: This MinMaxScaler instance is not fitted yet. ...
    >>> issubclass(pmk.scalers.NotFittedError, ValueError)
    True
    """


# Users see and catch it as polars_mlkit.scalers.NotFittedError (tracebacks, pickles).
NotFittedError.__module__ = "polars_mlkit.scalers"


_F = TypeVar("_F", bound="FittedTransformer")


class FittedTransformer:
    """The base class of every fitted transformer (scalers, encoders).

    Subclasses name their constructor arguments in ``_param_names``, the
    JSON format their ``to_json`` writes in ``_json_format``, and fit from
    batches in ``_fit_from_batches``.

    Examples
    --------
    >>> import polars_mlkit as pmk
    >>> from polars_mlkit.scalers import FittedTransformer
    >>> isinstance(pmk.StandardScaler(), FittedTransformer)
    True
    >>> isinstance(pmk.OneHotEncoder(), FittedTransformer)
    True
    """

    _param_names: ClassVar[tuple[str, ...]]
    _json_format: ClassVar[str]
    #: scikit-learn's tags: the dtypes ``transform`` keeps, the inputs it
    #: takes besides 2-D arrays, and whether ``fit`` needs ``y``.
    _preserves: ClassVar[list[str]] = ["float64", "float32"]
    _input_tags: ClassVar[dict[str, bool]] = {"allow_nan": True}
    _needs_target: ClassVar[bool] = False

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's estimator tags (only called by scikit-learn)."""
        utils = importlib.import_module("sklearn.utils")
        return utils.Tags(
            estimator_type=None,
            target_tags=utils.TargetTags(required=self._needs_target),
            transformer_tags=utils.TransformerTags(preserves_dtype=list(self._preserves)),
            input_tags=utils.InputTags(two_d_array=True, **self._input_tags),
            requires_fit=True,
        )

    # ----------------------------------------------------------------- params
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments, as scikit-learn's ``get_params``.

        Parameters
        ----------
        deep
            Accepted for scikit-learn compatibility (a scaler has no
            sub-estimators).

        Returns
        -------
        dict
            Each constructor argument's name and value, in constructor order.

        Examples
        --------
        >>> import polars_mlkit as pmk
        >>> pmk.MaxAbsScaler(columns=["x"]).get_params()
        {'columns': ['x'], 'by': None, 'unknown_group': 'error'}
        >>> pmk.StandardScaler(ddof=1).get_params()["ddof"]
        1
        """
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self: _F, **params: Any) -> _F:
        """Set constructor arguments (checked by the next ``fit``); returns the scaler.

        As scikit-learn's ``set_params``. A fitted scaler keeps transforming
        with its fitted parameters until it is fitted again.

        Parameters
        ----------
        **params
            Constructor arguments by name; an unknown name is a ``ValueError``.

        Returns
        -------
        The scaler (the same object).

        Examples
        --------
        >>> import polars_mlkit as pmk
        >>> pmk.StandardScaler().set_params(with_mean=False, ddof=1)
        StandardScaler(with_mean=False, ddof=1)
        >>> pmk.StandardScaler().set_params(colour="red")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: StandardScaler.set_params: invalid parameter 'colour'; valid parameters are ...
        """
        for name, value in params.items():
            if name not in self._param_names:
                msg = (
                    f"{type(self).__name__}.set_params: invalid parameter {name!r}; "
                    f"valid parameters are {', '.join(self._param_names)}"
                )
                raise ValueError(msg)
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = type(self)().get_params()
        shown = [f"{k}={v!r}" for k, v in self.get_params().items() if _differs(v, defaults[k])]
        return f"{type(self).__name__}({', '.join(shown)})"

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, "_state", None) is not None

    # ------------------------------------------------------------- checking
    def _name(self, what: str) -> str:
        return f"{type(self).__name__}.{what}"

    def _fitted(self, function: str) -> Any:
        state = getattr(self, "_state", None)
        if state is None:
            msg = (
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' "
                f"with appropriate arguments before using {function!r}."
            )
            raise NotFittedError(msg)
        return state

    def _fit_from_batches(self, schema: pl.Schema, map_batches: MapBatches, function: str) -> Any:
        """The fitted state learned from data reached batch by batch."""
        raise NotImplementedError

    def fit(self: _F, X: Any, y: Any = None) -> _F:
        raise NotImplementedError

    def transform(self, X: Any) -> Any:
        raise NotImplementedError

    def to_json(self) -> str:
        raise NotImplementedError

    # ------------------------------------------------------ shared members
    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        """``fit(X, y)`` then ``transform(X)``.

        Parameters
        ----------
        X
            The training data, which is also transformed (see :meth:`fit`).
        y
            Ignored (scikit-learn compatibility).
        **fit_params
            Ignored (scikit-learn compatibility).

        Returns
        -------
        ``X`` transformed, of the kind :meth:`transform` gives.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> import numpy as np
        >>> pmk.StandardScaler().fit_transform(pl.DataFrame({"x": [1.0, 3.0]}))["x"].to_list()
        [-1.0, 1.0]
        >>> pmk.MaxAbsScaler().fit_transform(np.array([[1.0, -2.0], [2.0, 4.0]])).tolist()
        [[0.5, -0.5], [1.0, 1.0]]
        """
        return self.fit(X, y).transform(X)

    @property
    def n_features_in_(self) -> int:
        """How many columns the frame passed to ``fit`` had.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> train = pl.DataFrame({"x": [0.0, 4.0], "y": [1, 2], "label": ["a", "b"]})
        >>> pmk.MinMaxScaler(columns="x").fit(train).n_features_in_
        3
        """
        return int(self._fitted("n_features_in_").n_features_in)

    @property
    def feature_names_in_(self) -> npt.NDArray[np.object_]:
        """The column names of the frame passed to ``fit`` (a numpy object array).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> train = pl.DataFrame({"x": [0.0, 4.0], "label": ["a", "b"]})
        >>> pmk.MinMaxScaler().fit(train).feature_names_in_.tolist()
        ['x', 'label']
        """
        names = self._fitted("feature_names_in_").feature_names_in
        if names is None:
            msg = f"{type(self).__name__} has no feature_names_in_"
            raise AttributeError(msg)
        return np.asarray(names, dtype=object)

    def set_output(self: _F, *, transform: str | None = None) -> _F:
        """Choose the output container, as scikit-learn's ``set_output``.

        ``"polars"`` always gives Polars frames (a LazyFrame stays lazy),
        ``"default"`` gives back the kind that came in, ``"pandas"`` gives a
        pandas DataFrame (pandas must be installed); ``None`` changes nothing.

        Parameters
        ----------
        transform
            ``"default"``, ``"polars"``, ``"pandas"`` or ``None``.

        Returns
        -------
        The scaler (the same object).

        Examples
        --------
        >>> import polars_mlkit as pmk
        >>> import numpy as np
        >>> X = np.array([[1.0, -2.0], [2.0, 4.0]])
        >>> type(pmk.MaxAbsScaler().fit_transform(X)).__name__
        'ndarray'
        >>> pmk.MaxAbsScaler().set_output(transform="polars").fit_transform(X)
        shape: (2, 2)
        ┌─────┬──────┐
        │ x0  ┆ x1   │
        │ --- ┆ ---  │
        │ f64 ┆ f64  │
        ╞═════╪══════╡
        │ 0.5 ┆ -0.5 │
        │ 1.0 ┆ 1.0  │
        └─────┴──────┘
        """
        if transform is None:
            return self
        _checks.output(transform, self._name("set_output"))
        if transform == "pandas":
            _require_pandas(self._name("set_output"))
        self._sklearn_output_config = {"transform": transform}
        return self

    def _output(self) -> str | None:
        config: dict[str, str] = getattr(self, "_sklearn_output_config", {})
        return config.get("transform")


def fit_in_passes(
    fitted: FittedTransformer,
    schema: pl.Schema,
    map_batches: MapBatches,
    function: str = "fit_in_passes",
) -> Any:
    """Fit ``fitted`` on data that is only reached batch by batch.

    ``map_batches(fn)`` must apply ``fn`` (DataFrame to DataFrame) to every
    batch of the data and yield the results; ``polars_mlkit.ray.fit`` passes
    one that runs ``fn`` on the blocks of a Ray Dataset. Min-max, standard
    and max-abs scalers fit each batch and merge; ``RobustScaler`` and
    ``QuantileTransformer`` take two passes or more (a census of order-key
    buckets, then a gather of the buckets that hold the wanted ranks; three
    when a ``List`` column's length must be found first); the encoders count
    categories in one pass. The parameters equal those of ``fit`` on all the
    data in memory (robust, min-max, max-abs and the encoders bit for bit;
    standard to rounding).

    Parameters
    ----------
    fitted
        The transformer to fit (its options are checked first).
    schema
        The schema of the batches.
    map_batches
        Runs a function on every batch and yields its results.
    function
        The name errors give.

    Returns
    -------
    The fitted transformer (the same object).

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> from polars_mlkit.scalers import fit_in_passes
    >>> batches = [pl.DataFrame({"x": [1.0, 9.0, 2.0]}), pl.DataFrame({"x": [4.0, 3.0]})]
    >>> def map_batches(fn):
    ...     return (fn(batch) for batch in batches)
    >>> sc = fit_in_passes(pmk.RobustScaler(), batches[0].schema, map_batches)
    >>> sc.params_.equals(pmk.RobustScaler().fit(pl.concat(batches)).params_)
    True
    """
    state = fitted._fit_from_batches(schema, map_batches, function)
    fitted._state = state  # type: ignore[attr-defined]
    return fitted
