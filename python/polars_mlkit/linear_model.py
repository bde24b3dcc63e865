"""Fitted linear models as Polars expressions.

A :class:`LinearModel` holds the coefficients of a linear regression or a
logistic regression (binary or multinomial) and scores rows with elementwise
expressions: a sum of products with the feature columns plus an intercept,
then, for a classifier, the logistic function or a softmax. So a model
fitted in scikit-learn (``pmk.from_sklearn``) scores a LazyFrame inside the
query, under the streaming engine, on Ray blocks — no copy into numpy.

Decisions (where scikit-learn is silent, as it never sees missing values):

- A null in any feature gives a null output row; NaN gives NaN.
- Every feature is read as Float64 (integer, Boolean and UInt8 one-hot
  columns included) and every score is Float64.
- The extension computes a model's output in one pass over its feature
  columns (``linear_scores``): the products are added in feature order and
  the intercept last, so a score may differ from scikit-learn's BLAS product
  in its last bits (the tests hold it to 1e-12 relative).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit._plugin import call_plugin
from polars_mlkit.scalers._inputs import _to_polars
from polars_mlkit.scalers._registry import bad, register_reader

FORMAT = "polars-mlkit/linear-model"
FORMAT_VERSION = 1

_KINDS = ("regression", "logistic")


class LinearModel:
    """A linear or logistic regression whose predictions are Polars expressions.

    Usually made by :func:`polars_mlkit.from_sklearn` from a fitted
    ``LinearRegression``, ``Ridge``, ``Lasso``, ``ElasticNet`` or
    ``LogisticRegression``; it can also be built from coefficients.

    Parameters
    ----------
    coef
        The weights: one per feature (one target), or one row per target
        (multi-output regression) or per class (multinomial logistic
        regression; a binary one has a single row, for ``classes[1]``).
    intercept
        One number per row of ``coef`` (or a single number).
    features
        The feature column names, in ``coef`` order.
    kind
        ``"regression"`` (scores are the predictions) or ``"logistic"``
        (scores are log-odds; ``classes`` is required).
    classes
        The class labels of a logistic model, as scikit-learn's ``classes_``.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> model = pmk.LinearModel([2.0, -1.0], 0.5, features=["a", "b"])
    >>> df = pl.DataFrame({"a": [1.0, 2.0, None], "b": [1.0, 0.0, 3.0]})
    >>> df.select(model.predict_expr())["predict"].to_list()
    [1.5, 4.5, None]
    >>> clf = pmk.LinearModel([[1.0, 0.0]], [0.0], features=["a", "b"],
    ...                       kind="logistic", classes=["no", "yes"])
    >>> df.select(clf.predict_expr())["predict"].to_list()
    ['yes', 'yes', None]
    """

    def __init__(
        self,
        coef: Any,
        intercept: Any = 0.0,
        *,
        features: Sequence[str],
        kind: str = "regression",
        classes: Any = None,
    ) -> None:
        function = "LinearModel"
        if kind not in _KINDS:
            msg = f"{function}: kind must be 'regression' or 'logistic', got {kind!r}"
            raise ValueError(msg)
        weights = np.asarray(coef, dtype=np.float64)
        self._one_target = weights.ndim == 1
        weights = np.atleast_2d(weights)
        if weights.ndim != 2:
            msg = f"{function}: coef must be 1-D or 2-D, got {weights.ndim} dimensions"
            raise ValueError(msg)
        names = [str(f) for f in features]
        if weights.shape[1] != len(names):
            msg = (
                f"{function}: coef has {weights.shape[1]} weights per row but "
                f"{len(names)} features were named"
            )
            raise ValueError(msg)
        if len(set(names)) != len(names):
            msg = f"{function}: feature names must be distinct, got {names}"
            raise ValueError(msg)
        offsets = np.broadcast_to(np.asarray(intercept, dtype=np.float64), (weights.shape[0],))
        self.coef_: npt.NDArray[np.float64] = weights if not self._one_target else weights[0]
        self.intercept_: npt.NDArray[np.float64] = np.array(offsets)
        self.feature_names_in_ = np.array(names, dtype=object)
        self.n_features_in_ = len(names)
        self.kind = kind
        self.classes_: npt.NDArray[Any] | None = None
        if kind == "logistic":
            if classes is None:
                msg = f"{function}: a logistic model needs its classes"
                raise ValueError(msg)
            labels = np.asarray(classes)
            binary = len(labels) == 2 and weights.shape[0] == 1
            if not binary and weights.shape[0] != len(labels):
                msg = (
                    f"{function}: a logistic model over {len(labels)} classes needs "
                    f"{'1 row' if len(labels) == 2 else f'{len(labels)} rows'} of coef, "
                    f"got {weights.shape[0]}"
                )
                raise ValueError(msg)
            if len(labels) < 2:
                msg = f"{function}: a logistic model needs at least 2 classes, got {len(labels)}"
                raise ValueError(msg)
            self.classes_ = labels

    # ------------------------------------------------------------ expressions
    @property
    def _rows(self) -> npt.NDArray[np.float64]:
        return np.atleast_2d(self.coef_)

    def _linear(self, link: str) -> pl.Expr:
        """The extension's one pass over the feature columns: the scores
        (``"identity"``), ``[1 - p, p]`` (``"logistic"``) or the softmax."""
        kwargs = {
            "function": "LinearModel",
            "weights": [float(w) for w in self._rows.ravel()],
            "intercept": [float(b) for b in self.intercept_],
            "link": link,
        }
        features = [pl.col(str(name)) for name in self.feature_names_in_]
        return call_plugin("linear_scores", features, kwargs, is_elementwise=True)

    def decision_function_expr(self) -> pl.Expr:
        """The linear scores as one expression named ``decision_function``.

        Float64 for a single score (regression with one target, binary
        logistic regression: the log-odds of ``classes_[1]``), an
        ``Array(Float64, k)`` column for several.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> m = pmk.LinearModel([1.0, 1.0], 1.0, features=["a", "b"])
        >>> pl.DataFrame({"a": [1.0], "b": [2.0]}).select(m.decision_function_expr()).item()
        4.0
        """
        return self._linear("identity").alias("decision_function")

    def predict_expr(self) -> pl.Expr:
        """The predictions as one expression named ``predict``.

        A regression gives its score (an Array column for several targets);
        a classifier gives the label of the most probable class (binary: the
        positive class when the log-odds are above 0, as scikit-learn).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> clf = pmk.LinearModel([[1.0], [0.0], [-1.0]], 0.0, features=["x"],
        ...                       kind="logistic", classes=[10, 20, 30])
        >>> pl.DataFrame({"x": [2.0, 0.5, -3.0]}).select(clf.predict_expr())["predict"].to_list()
        [10, 10, 30]
        """
        scores = self._linear("identity")
        if self.classes_ is None:
            return scores.alias("predict")
        return self._labels(scores)

    def _labels(self, scores: pl.Expr) -> pl.Expr:
        """The class labels of the scores (``predict``'s rule)."""
        assert self.classes_ is not None
        labels = pl.Series(self.classes_.tolist())
        index: pl.Expr = (
            pl.when(scores > 0.0).then(1).when(scores <= 0.0).then(0)
            if len(self._rows) == 1
            # A null row explicitly null: Polars 2.0's arr ops read its slots.
            else pl.when(scores.is_not_null()).then(scores.arr.arg_max())
        )
        return pl.lit(labels).gather(index).alias("predict")

    def predict_proba_expr(self) -> pl.Expr:
        """Class probabilities as one ``Array(Float64, n_classes)`` expression
        named ``predict_proba`` (classes in ``classes_`` order).

        Binary: ``[1 - p, p]`` with ``p`` the logistic function of the
        log-odds; multinomial: the softmax of the scores — both as
        scikit-learn computes them.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> clf = pmk.LinearModel([[1.0]], [0.0], features=["x"], kind="logistic",
        ...                       classes=[0, 1])
        >>> pl.DataFrame({"x": [0.0]}).select(clf.predict_proba_expr()).item().to_list()
        [0.5, 0.5]
        """
        if self.classes_ is None:
            msg = "LinearModel.predict_proba_expr: a regression model has no probabilities"
            raise AttributeError(msg)
        link = "logistic" if len(self._rows) == 1 else "softmax"
        return self._linear(link).alias("predict_proba")

    # ---------------------------------------------------------- scikit-learn
    def _frame(self, X: Any, what: str) -> tuple[pl.DataFrame | pl.LazyFrame, str]:
        function = f"LinearModel.{what}"
        frame, kind = _to_polars(X, function)
        schema = frame.collect_schema()
        if kind == "numpy":
            if len(schema) != self.n_features_in_:
                msg = (
                    f"{function}: X has {len(schema)} features, but LinearModel is expecting "
                    f"{self.n_features_in_} features as input."
                )
                raise ValueError(msg)
            frame = frame.rename(dict(zip(schema.names(), self.feature_names_in_, strict=True)))
            return frame, kind
        missing = [f for f in self.feature_names_in_ if f not in schema]
        if missing:
            msg = f"{function}: the frame has no column {missing[0]!r} (a feature of the model)"
            raise pl.exceptions.ColumnNotFoundError(msg)
        return frame, kind

    def _evaluate(self, X: Any, expr: pl.Expr, what: str) -> Any:
        frame, kind = self._frame(X, what)
        out = frame.select(expr)
        if isinstance(out, pl.LazyFrame):
            return out
        column = out.to_series()
        if kind == "numpy" or kind == "pandas":
            return column.to_numpy()
        return column

    def predict(self, X: Any) -> Any:
        """Predictions for the rows of ``X``.

        numpy or pandas in: a numpy array, as scikit-learn gives; a
        DataFrame: a Series named ``predict``; a LazyFrame: a LazyFrame of
        that one column (nothing runs until it is collected).
        """
        return self._evaluate(X, self.predict_expr(), "predict")

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities (see :meth:`predict_proba_expr`); kinds as :meth:`predict`."""
        return self._evaluate(X, self.predict_proba_expr(), "predict_proba")

    def decision_function(self, X: Any) -> Any:
        """Linear scores (see :meth:`decision_function_expr`); kinds as :meth:`predict`."""
        return self._evaluate(X, self.decision_function_expr(), "decision_function")

    def __repr__(self) -> str:
        classes = "" if self.classes_ is None else f", classes={self.classes_.tolist()!r}"
        return (
            f"LinearModel(kind={self.kind!r}, features={self.feature_names_in_.tolist()!r}"
            f"{classes})"
        )

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> str:
        """The model as a JSON text that :func:`polars_mlkit.load` reads back.

        Examples
        --------
        >>> import polars_mlkit as pmk
        >>> m = pmk.LinearModel([1.5], 2.0, features=["x"])
        >>> pmk.load(m.to_json()).coef_.tolist()
        [1.5]
        """
        document = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "kind": self.kind,
            "features": self.feature_names_in_.tolist(),
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_.tolist(),
            "classes": None if self.classes_ is None else self.classes_.tolist(),
        }
        return json.dumps(document)


def _read(document: Mapping[str, Any], function: str) -> LinearModel:
    if document.get("version") != FORMAT_VERSION:
        raise bad(function, f"unsupported {FORMAT} version {document.get('version')!r}")
    try:
        return LinearModel(
            document["coef"],
            document["intercept"],
            features=document["features"],
            kind=document["kind"],
            classes=document["classes"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(function, f"malformed {FORMAT} document ({exc})") from exc


register_reader(FORMAT, _read)
