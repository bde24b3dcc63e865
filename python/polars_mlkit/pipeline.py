"""Pipelines: fitted steps chained into one lazy Polars plan.

:class:`Pipeline` (and :func:`make_pipeline`) chains polars-mlkit steps —
imputers, encoders, scalers, PCA, and a :class:`~polars_mlkit.LinearModel`
last — as scikit-learn's ``Pipeline`` does, with Polars semantics:

- ``fit`` fits the steps in order, each on the lazy output of the steps
  before it. Steps that do not read each other's output (each names its
  ``columns``, and none reads a column an earlier one of them writes) form
  one *stage* and are fitted together over shared scans
  (``polars_mlkit._scans``): a stage reads the data once per pass its
  slowest step needs (one for counts, sums and extremes; two for exact
  quantiles). ``fit_scans_`` tells how many scans the last fit took.
- ``transform`` (and ``predict``, ``predict_proba``, ...) returns one lazy
  plan: the steps' expressions one after another, no ``collect`` inside. A
  DataFrame in is collected once at the end; a LazyFrame stays lazy, and the
  streaming engine gives the same rows.
- The whole pipeline saves to JSON (``to_json``; :func:`polars_mlkit.load`).
- It follows scikit-learn's estimator protocol (``get_params(deep=True)``
  with ``step__param`` names, ``set_params``, ``named_steps``, slicing).
"""

from __future__ import annotations

import base64
import importlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from polars_mlkit._batches import MapBatches, lazy_batches
from polars_mlkit._fusion import fused_scores
from polars_mlkit._scans import fit_together
from polars_mlkit.scalers._inputs import _from_polars, _to_polars
from polars_mlkit.scalers._registry import bad, load, register_reader

FORMAT = "polars-mlkit/pipeline"
FORMAT_VERSION = 1


def _step_columns(step: Any) -> set[str] | None:
    """The columns a step reads (its ``columns`` and ``by``), or ``None`` when
    it reads every column it finds (``columns=None``)."""
    columns = getattr(step, "columns", None)
    if columns is None:
        return None
    names = {columns} if isinstance(columns, str) else {str(c) for c in columns}
    by = getattr(step, "by", None)
    if by is not None:
        names |= {by} if isinstance(by, str) else {str(b) for b in by}
    return names


def _shares_scans(step: Any) -> bool:
    """A step that can be fitted from batches next to others (not one that
    needs ``y`` or brings its own fit)."""
    fit_from_batches = getattr(type(step), "_fit_from_batches", None)
    base = getattr(fit_from_batches, "__qualname__", "")
    return (
        fit_from_batches is not None
        and base != "FittedTransformer._fit_from_batches"
        and not getattr(step, "_fit_needs_y", False)
    )


def _stages(steps: Sequence[Any], schema: pl.Schema) -> list[list[int]]:
    """The steps grouped into stages of steps that read none of each other's
    output; each stage starts where a step depends on one before it."""
    stages: list[list[int]] = []
    written: set[str] = set()  # columns the current stage's steps read and replace
    for i, step in enumerate(steps):
        reads = _step_columns(step)
        independent = (
            bool(stages)
            and reads is not None
            and reads <= set(schema.names())
            and not (reads & written)
            and _shares_scans(step)
            and all(_shares_scans(steps[j]) for j in stages[-1])
        )
        if independent:
            stages[-1].append(i)
            written |= reads or set()
        else:
            stages.append([i])
            written = reads or set()
            # A step reading every column ends the stage after it.
            if reads is None:
                written = set(schema.names())
    return stages


class _if_last_step_has:  # a decorator, named as one
    """A method that exists only when the pipeline's last step has it (as
    scikit-learn's ``available_if``): ``hasattr(pipe, "predict_proba")`` tells
    whether the model gives probabilities."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, method: Any) -> _if_last_step_has:
        self.method = method
        self.__doc__ = method.__doc__
        return self

    def __get__(self, pipe: Any, owner: type | None = None) -> Any:
        if pipe is None:
            return self.method
        steps = pipe.steps
        last = steps[-1][1] if isinstance(steps, list) and steps else None
        if last is None or not hasattr(last, self.name):
            msg = f"the last step of this Pipeline ({type(last).__name__}) has no {self.name!r}"
            raise AttributeError(msg)
        return self.method.__get__(pipe, owner)


class Pipeline:
    """Steps fitted in order and applied as one lazy Polars plan.

    Parameters
    ----------
    steps
        ``(name, step)`` pairs, as scikit-learn's ``Pipeline``; every step but
        the last must transform (``fit``/``transform``); the last may be a
        :class:`~polars_mlkit.LinearModel` (already fitted: a pipeline does
        not fit it).

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> df = pl.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    >>> pipe = pmk.make_pipeline(pmk.OneHotEncoder(columns="c"), pmk.StandardScaler(columns="x"))
    >>> pipe.fit(df).transform(df.lazy()).collect().columns
    ['x', 'c_a', 'c_b']
    >>> pipe.fit_scans_  # the two steps are independent: one scan
    1
    """

    def __init__(self, steps: Sequence[tuple[str, Any]]) -> None:
        self.steps = steps

    # ------------------------------------------------------- the protocol
    def _checked_steps(self, function: str) -> list[tuple[str, Any]]:
        steps = self.steps
        if not isinstance(steps, list) or not steps:
            msg = f"{function}: steps must be a non-empty list of (name, step) pairs"
            raise ValueError(msg)
        names = []
        for pair in steps:
            if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)):
                msg = f"{function}: each step must be a (name, step) pair, got {pair!r}"
                raise TypeError(msg)
            if "__" in pair[0]:
                msg = f"{function}: step names must not contain '__', got {pair[0]!r}"
                raise ValueError(msg)
            names.append(pair[0])
        if len(set(names)) != len(names):
            msg = f"{function}: step names must be unique, got {names}"
            raise ValueError(msg)
        for name, step in steps[:-1]:
            if not hasattr(step, "transform"):
                msg = f"{function}: step {name!r} ({type(step).__name__}) has no transform"
                raise TypeError(msg)
        return steps

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """``steps``, and with ``deep`` each step and its ``step__param`` values."""
        out: dict[str, Any] = {"steps": self.steps}
        if deep:
            for name, step in self.steps:
                out[name] = step
                if hasattr(step, "get_params"):
                    for key, value in step.get_params(deep=True).items():
                        out[f"{name}__{key}"] = value
        return out

    def set_params(self, **params: Any) -> Pipeline:
        """Set ``steps``, a whole step by its name, or ``step__param``."""
        if "steps" in params:
            self.steps = params.pop("steps")
        if not params:
            return self
        named = dict(self.steps)
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, _, rest = key.partition("__")
            if name not in named:
                msg = f"Pipeline.set_params: invalid parameter {key!r}; no step is named {name!r}"
                raise ValueError(msg)
            if rest:
                nested.setdefault(name, {})[rest] = value
            else:
                self.steps = [(n, value if n == name else s) for n, s in self.steps]
        for name, values in nested.items():
            dict(self.steps)[name].set_params(**values)
        return self

    @property
    def named_steps(self) -> dict[str, Any]:
        """The steps by name."""
        return dict(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, index: int | str | slice) -> Any:
        if isinstance(index, slice):
            return Pipeline(self.steps[index])
        if isinstance(index, str):
            return self.named_steps[index]
        return self.steps[index][1]

    def __repr__(self) -> str:
        if not isinstance(self.steps, list):
            return f"Pipeline(steps={self.steps!r})"
        inner = ", ".join(repr(pair) for pair in self.steps)
        return f"Pipeline(steps=[{inner}])"

    def __sklearn_is_fitted__(self) -> bool:
        return all(_is_fitted(step) for _, step in self.steps)

    def __sklearn_tags__(self) -> Any:
        utils = importlib.import_module("sklearn.utils")
        last = self.steps[-1][1] if self.steps else None
        tags = utils.Tags(
            estimator_type=None,
            target_tags=utils.TargetTags(required=False),
            transformer_tags=utils.TransformerTags() if hasattr(last, "transform") else None,
        )
        tags.input_tags.allow_nan = True
        return tags

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> Pipeline:
        """Fit the steps in order, each on the lazy output of those before it.

        Independent steps (see the module docstring) share scans of the
        data; ``fit_scans_`` is the number of scans this fit took. A final
        :class:`~polars_mlkit.LinearModel` is kept as it is.

        Parameters
        ----------
        X
            A DataFrame or LazyFrame (or a 2-D numpy array / pandas DataFrame).
        y
            Passed to the steps that need a target.

        Returns
        -------
        The fitted pipeline (the same object).
        """
        function = "Pipeline.fit"
        frame, _ = _to_polars(X, function, fitting=True)
        lazy = frame.lazy()
        self._fit_stages(lazy.collect_schema(), lazy_batches(lazy), lazy, y, function)
        return self

    def _fit_from_batches(self, schema: pl.Schema, map_batches: MapBatches, function: str) -> Any:
        """Fit on data reached only batch by batch (``fit_in_passes``, and
        ``polars_mlkit.ray.fit`` on the blocks of a Ray Dataset): each stage's
        scans apply the steps fitted before it to every batch."""
        self._fit_stages(schema, map_batches, None, None, function)
        return self._schema_in

    def _fit_stages(
        self,
        schema: pl.Schema,
        source: MapBatches,
        lazy: pl.LazyFrame | None,
        y: Any,
        function: str,
    ) -> None:
        steps = self._checked_steps(function)
        fittable = [(name, s) for name, s in steps if not _is_model(s)]
        fitted: list[Any] = []  # applied to every batch before the next stage
        scans = 0
        self._schema_in = schema
        current = schema
        for stage in _stages([s for _, s in fittable], current):
            members = [fittable[i] for i in stage]
            if all(_shares_scans(s) for _, s in members):
                fits = [_fitter(s, current) for _, s in members]
                scans += fit_together(_after(source, list(fitted)), fits)
            elif lazy is not None:
                before = lazy
                for step in fitted:
                    before = _lazy_transform(step, before, function)
                for _, step in members:
                    step.fit(before) if y is None else step.fit(before, y)
                    scans += 1
            else:
                name, step = next((n, s) for n, s in members if not _shares_scans(s))
                msg = (
                    f"{function}: step {name!r} ({type(step).__name__}) cannot be fitted batch "
                    "by batch (it needs a target or fits on its own); fit the pipeline in memory"
                )
                raise TypeError(msg)
            fitted.extend(s for _, s in members)
            planned = pl.LazyFrame(schema=schema)
            for step in fitted:
                planned = _lazy_transform(step, planned, function)
            current = planned.collect_schema()
        self.fit_scans_ = scans
        self.feature_names_in_ = list(schema.names())
        self.n_features_in_ = len(self.feature_names_in_)

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        """``fit(X, y)`` then ``transform(X)``."""
        return self.fit(X, y).transform(X)

    # ------------------------------------------------------------ transform
    def _through(
        self, X: Any, steps: Sequence[tuple[str, Any]], function: str
    ) -> tuple[pl.LazyFrame, str]:
        frame, kind = _to_polars(X, function)
        fitted = getattr(self, "n_features_in_", None)
        got = len(frame.collect_schema())
        if kind == "numpy" and fitted is not None and got != fitted:
            msg = (
                f"{function}: X has {got} features, but Pipeline is expecting {fitted} "
                "features as input."
            )
            raise ValueError(msg)
        lazy = frame.lazy()
        for _, step in steps:
            lazy = _lazy_transform(step, lazy, function)
        return lazy, kind

    @_if_last_step_has("transform")
    def transform(self, X: Any) -> Any:
        """Apply every step: one lazy plan (a DataFrame in is collected once).

        DataFrame in, DataFrame out; LazyFrame in, LazyFrame out; numpy or
        pandas in, the same kind out.
        """
        function = "Pipeline.transform"
        steps = self._checked_steps(function)
        if _is_model(steps[-1][1]):
            msg = f"{function}: the last step ({type(steps[-1][1]).__name__}) does not transform"
            raise AttributeError(msg)
        lazy, kind = self._through(X, steps, function)
        return _out(lazy, kind, function)

    def _fused(self, what: str, schema: pl.Schema | None) -> pl.Expr | None:
        """The classifier's output as one expression over the input columns
        (``polars_mlkit._fusion``), or ``None`` when the steps do not fold."""
        steps = self._checked_steps(f"Pipeline.{what}")
        model = steps[-1][1]
        if not _is_model(model) or model.classes_ is None:
            return None
        binary = len(np.atleast_2d(model.coef_)) == 1
        link = {"predict_proba": "logistic" if binary else "softmax"}.get(what, "identity")
        scores = fused_scores([s for _, s in steps[:-1]], model, schema, link)
        if scores is None:
            return None
        return model._labels(scores) if what == "predict" else scores.alias(what)

    def _model_output(self, X: Any, what: str) -> Any:
        function = f"Pipeline.{what}"
        steps = self._checked_steps(function)
        model = steps[-1][1]
        if not hasattr(model, what):
            msg = f"{function}: the last step ({type(model).__name__}) has no {what}"
            raise AttributeError(msg)
        frame, kind = _to_polars(X, function)
        fused = self._fused(what, frame.collect_schema())
        if fused is not None:
            scored = frame.lazy().select(fused)
        else:
            lazy, kind = self._through(X, steps[:-1], function)
            scored = getattr(model, what)(lazy)
        if kind == "lazy":
            return scored
        column = scored.collect().to_series()
        return column.to_numpy() if kind in ("numpy", "pandas") else column

    @_if_last_step_has("predict")
    def predict(self, X: Any) -> Any:
        """The last step's predictions on the transformed rows (kinds as
        :meth:`LinearModel.predict <polars_mlkit.LinearModel.predict>`)."""
        return self._model_output(X, "predict")

    @_if_last_step_has("predict_proba")
    def predict_proba(self, X: Any) -> Any:
        """The last step's class probabilities on the transformed rows."""
        return self._model_output(X, "predict_proba")

    @_if_last_step_has("decision_function")
    def decision_function(self, X: Any) -> Any:
        """The last step's linear scores on the transformed rows."""
        return self._model_output(X, "decision_function")

    def predict_expr(self) -> pl.Expr:
        """A classifier pipeline's labels as one expression over its input
        columns (see :meth:`predict_proba_expr`)."""
        return self._expr("predict")

    def predict_proba_expr(self) -> pl.Expr:
        """A classifier pipeline's probabilities as one ``Array(Float64, k)``
        expression over its input columns, for use inside any query.

        Available when the pipeline is affine scalers (no clipping, no
        ``by``), one-hot encoders (not ``handle_unknown="error"``), and
        column transformers of those before a logistic regression: the
        whole pipeline then folds into one pass of the extension over the
        raw columns (``polars_mlkit._fusion``). Otherwise a ``ValueError``;
        :meth:`predict_proba` on a frame always works.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> df = pl.DataFrame({"x": [1.0, 3.0], "c": ["a", "b"]})
        >>> pipe = pmk.make_pipeline(pmk.OneHotEncoder(columns="c", handle_unknown="ignore"),
        ...                          pmk.StandardScaler(columns="x"))
        >>> pipe = pmk.Pipeline([*pipe.fit(df).steps, ("model", pmk.LinearModel(
        ...     [[1.0, 0.5, -0.5]], [0.0], features=["x", "c_a", "c_b"], kind="logistic",
        ...     classes=[0, 1]))])
        >>> df.select(pipe.predict_proba_expr().arr.get(1).round(4)).to_series().to_list()
        [0.3775, 0.6225]
        """
        return self._expr("predict_proba")

    def decision_function_expr(self) -> pl.Expr:
        """A classifier pipeline's scores as one expression over its input
        columns (see :meth:`predict_proba_expr`)."""
        return self._expr("decision_function")

    def _expr(self, what: str) -> pl.Expr:
        fused = self._fused(what, None)
        if fused is None:
            msg = (
                f"Pipeline.{what}_expr: these steps do not fold into one expression (see "
                f"predict_proba_expr for which do); use Pipeline.{what} on a frame instead"
            )
            raise ValueError(msg)
        return fused

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        """The output columns of :meth:`transform` (found from the schema alone)."""
        import numpy as np

        schema = getattr(self, "_schema_in", None)
        if schema is None:
            msg = (
                "This Pipeline instance is not fitted yet. "
                "Call 'fit' before 'get_feature_names_out'."
            )
            raise ValueError(msg)
        lazy, _ = self._through(pl.LazyFrame(schema=schema), self.steps, "Pipeline")
        return np.array(lazy.collect_schema().names(), dtype=object)

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> str:
        """The fitted pipeline as one JSON text (each step's own document
        inside); :func:`polars_mlkit.load` reads it back."""
        function = "Pipeline.to_json"
        steps = self._checked_steps(function)
        schema = getattr(self, "_schema_in", None)
        document = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "steps": [{"name": name, "step": json.loads(step.to_json())} for name, step in steps],
            "schema": None if schema is None else _schema_text(schema),
        }
        return json.dumps(document)


def make_pipeline(*steps: Any) -> Pipeline:
    """A :class:`Pipeline` whose steps are named after their classes, in
    lower case (``standardscaler``, ``onehotencoder``, ...; repeats get
    ``-1``, ``-2``, as scikit-learn's ``make_pipeline``).

    Examples
    --------
    >>> import polars_mlkit as pmk
    >>> [name for name, _ in pmk.make_pipeline(pmk.StandardScaler(), pmk.StandardScaler()).steps]
    ['standardscaler-1', 'standardscaler-2']
    """
    names = [type(step).__name__.lower() for step in steps]
    counts = {n: names.count(n) for n in names}
    seen: dict[str, int] = {}
    named = []
    for name, step in zip(names, steps, strict=True):
        if counts[name] > 1:
            seen[name] = seen.get(name, 0) + 1
            name = f"{name}-{seen[name]}"
        named.append((name, step))
    return Pipeline(named)


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def _is_model(step: Any) -> bool:
    return type(step).__name__ == "LinearModel"


def _is_fitted(step: Any) -> bool:
    if _is_model(step):
        return True
    fitted = getattr(step, "__sklearn_is_fitted__", None)
    return bool(fitted()) if fitted is not None else True


def _after(source: MapBatches, steps: list[Any]) -> MapBatches:
    """``source`` with ``steps`` (fitted) applied to every batch first."""
    if not steps:
        return source

    def run(fn: Callable[[pl.DataFrame], pl.DataFrame]) -> Any:
        def through(batch: pl.DataFrame) -> pl.DataFrame:
            for step in steps:
                batch = step.transform(batch)
            return fn(batch)

        return source(through)

    return run


def _fitter(step: Any, schema: pl.Schema) -> Any:
    from polars_mlkit.scalers import fit_in_passes

    def fit(map_batches: Any) -> None:
        fit_in_passes(step, schema, map_batches, f"{type(step).__name__}.fit")

    return fit


def _lazy_transform(step: Any, lazy: pl.LazyFrame, function: str) -> pl.LazyFrame:
    out = step.transform(lazy)
    if not isinstance(out, pl.LazyFrame):
        msg = (
            f"{function}: step {type(step).__name__} gave {type(out).__name__} for a LazyFrame; "
            "a pipeline step must keep a LazyFrame lazy (is its set_output 'pandas'?)"
        )
        raise TypeError(msg)
    return out


def _out(lazy: pl.LazyFrame, kind: str, function: str) -> Any:
    if kind == "lazy":
        return lazy
    return _from_polars(lazy.collect(), kind, None, function)


def _schema_text(schema: pl.Schema) -> str:
    """The input schema as text: an empty frame's Arrow IPC bytes, base64
    (every dtype, Enum and Array included, survives the trip)."""
    buffer = io.BytesIO()
    pl.DataFrame(schema=schema).write_ipc(buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _schema_from_text(text: Any, function: str) -> pl.Schema:
    try:
        return pl.read_ipc(io.BytesIO(base64.b64decode(str(text)))).schema
    except Exception as exc:  # any decoding failure is a malformed document
        raise bad(function, f"the pipeline's input schema is malformed ({exc})") from exc


def _read(document: Mapping[str, Any], function: str) -> Pipeline:
    if document.get("version") != FORMAT_VERSION:
        raise bad(function, f"unsupported {FORMAT} version {document.get('version')!r}")
    entries = document.get("steps")
    if not isinstance(entries, list) or not entries:
        raise bad(function, "a pipeline document needs a non-empty list of steps")
    steps = []
    for entry in entries:
        if not isinstance(entry, dict) or "name" not in entry or "step" not in entry:
            raise bad(function, f"bad pipeline step entry {entry!r}")
        steps.append((str(entry["name"]), load(json.dumps(entry["step"]), function)))
    pipe = Pipeline(steps)
    schema = document.get("schema")
    if schema is not None:
        pipe._schema_in = _schema_from_text(schema, function)
        pipe.feature_names_in_ = list(pipe._schema_in.names())
        pipe.n_features_in_ = len(pipe.feature_names_in_)
    return pipe


register_reader(FORMAT, _read)
