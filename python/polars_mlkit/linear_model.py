"""Fitted linear models as Polars expressions.

A :class:`LinearModel` holds the coefficients of a linear regression or a
logistic regression (binary or multinomial) and scores rows with elementwise
expressions: a sum of products with the feature columns plus an intercept,
then, for a classifier, the logistic function or a softmax. So a model
fitted in scikit-learn (``pmk.from_sklearn``) scores a LazyFrame inside the
query, under the streaming engine, on Ray blocks — no copy into numpy.

Decisions (where scikit-learn is silent, as it never sees missing values):

- A null in any feature gives a null score; NaN gives NaN.
- Every feature is read as Float64 (integer, Boolean and UInt8 one-hot
  columns included) and every score is Float64.
- The products are added in feature order, so a score may differ from
  scikit-learn's BLAS product in its last bits (the tests hold it to 1e-12
  relative).
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

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

    def _scores(self) -> list[pl.Expr]:
        """One linear score per row of ``coef``: Σ wⱼ·featureⱼ + intercept."""
        out = []
        for weights, offset in zip(self._rows, self.intercept_, strict=True):
            terms = [
                pl.col(name).cast(pl.Float64) * float(w)
                for name, w in zip(self.feature_names_in_, weights, strict=True)
            ]
            total = functools.reduce(operator.add, terms) if terms else pl.lit(0.0)
            out.append(total + float(offset))
        return out

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
        scores = self._scores()
        expr = scores[0] if len(scores) == 1 else pl.concat_arr(scores)
        return expr.alias("decision_function")

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
        if self.classes_ is None:
            return self.decision_function_expr().alias("predict")
        scores = self._scores()
        labels = pl.Series(self.classes_.tolist())
        if len(scores) == 1:
            index = pl.when(scores[0] > 0.0).then(1).otherwise(0)
            index = pl.when(scores[0].is_null()).then(None).otherwise(index)
        else:
            index = pl.concat_arr(scores).arr.arg_max()
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
        scores = self._scores()
        if len(scores) == 1:
            positive = 1.0 / (1.0 + (-scores[0]).exp())
            columns = [1.0 - positive, positive]
        else:
            top = pl.max_horizontal(scores)
            shifted = [(s - top).exp() for s in scores]
            total = functools.reduce(operator.add, shifted)
            columns = [e / total for e in shifted]
        return pl.concat_arr(columns).alias("predict_proba")

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
