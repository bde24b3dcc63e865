"""A classifier pipeline's scores as one expression over the raw columns.

A logistic regression after affine scalers and one-hot encoders is linear in
the raw columns: ``w · (x - mean) / scale`` is ``(w / scale) · x`` plus a
constant, and the weights of a column's one-hot outputs are one weight per
category. :func:`fused_scores` folds such a pipeline into one call of the
extension's ``linear_scores`` over the raw numeric columns and, for each
categorical column, a table of weights per category that the extension
looks up in the same pass — no scaled or one-hot column is ever
materialised. It gives ``None`` for any pipeline it cannot
fold (a clipping scaler, per-group parameters, an encoder that must raise
on unknown categories, float categories, a step of another kind), and the
pipeline then scores step by step.

The folded sums add the same terms in another order, so scores differ from
the step-by-step ones in their last bits; only classifiers (bounded
probabilities, labels) are folded, regressions always score step by step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

_AFFINE_METHODS = ("standard", "minmax", "maxabs", "robust")


@dataclass
class _Affine:
    """``a · column + b`` of one raw numeric column."""

    column: str
    a: float
    b: float


@dataclass
class _Category:
    """Output ``index`` of a one-hot encoder applied to raw ``column``."""

    column: str
    encoder: Any
    index: int


@dataclass
class _Folded:
    """Σ over outputs: per raw column a weight, per categorical column a
    weight vector over its encoder's outputs, plus a constant."""

    outputs: int
    numeric: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    categories: dict[str, tuple[Any, npt.NDArray[np.float64]]] = field(default_factory=dict)


def fused_scores(
    steps: list[Any], model: Any, schema: pl.Schema | None, link: str
) -> pl.Expr | None:
    """The model's output through ``link`` (``"identity"``: the scores;
    ``"logistic"``/``"softmax"``: probabilities) as one expression over the
    pipeline's input columns, or ``None`` when the steps do not fold."""
    forms: dict[str, Any] = {}
    for step in steps:
        after = _through_step(step, forms)
        if after is None:
            return None
        forms = after
    return _fold(forms, model, schema, link)


def _identity(forms: dict[str, _Affine | _Category], name: str) -> _Affine | _Category:
    return forms.get(name, _Affine(name, 1.0, 0.0))


def _through_step(step: Any, forms: dict[str, Any]) -> dict[str, Any] | None:
    kind = type(step).__name__
    if kind == "ColumnTransformer":
        return _through_columns(step, forms)
    if getattr(step, "_method", None) in _AFFINE_METHODS:
        return _through_scaler(step, forms)
    if kind == "OneHotEncoder":
        return _through_one_hot(step, forms)
    return None


def _through_scaler(step: Any, forms: dict[str, Any]) -> dict[str, Any] | None:
    state = getattr(step, "_state", None)
    if state is None or state.by or step._clip(state) is not None:
        return None
    out = dict(forms)
    for column in state.columns:
        if column.container != "scalar" or column.float32:
            return None
        params = step._fitted_parameters(state, column)
        mul, sub, div, add = (float(params[k].ravel()[0]) for k in ("mul", "sub", "div", "add"))
        before = _identity(forms, column.name)
        if not isinstance(before, _Affine):
            return None
        # (x·mul - sub) / div + add, with x = a·raw + b
        scale = mul / div
        out[column.name] = _Affine(
            before.column, before.a * scale, before.b * scale + (add - sub / div)
        )
    return out


def _through_one_hot(step: Any, forms: dict[str, Any]) -> dict[str, Any] | None:
    state = getattr(step, "_state", None)
    if state is None or step.handle_unknown == "error":
        return None
    out = {k: v for k, v in forms.items() if k not in {c.name for c in state.columns}}
    for index, column in enumerate(state.columns):
        before = _identity(forms, column.name)
        if column.kind == "float" or not (
            isinstance(before, _Affine) and before.a == 1.0 and before.b == 0.0
        ):
            return None
        names = _lookup(step, index).names
        for j, name in enumerate(names):
            out[name] = _Category(column.name, step, j)
    return out


def _through_columns(step: Any, forms: dict[str, Any]) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for name, inner, columns in step._entries("Pipeline"):
        if inner == "drop":
            continue
        local: dict[str, Any] = {c: _identity(forms, c) for c in columns}
        if inner != "passthrough":
            after = _through_step(inner, local)
            if after is None:
                return None
            local = after
        prefix = f"{name}__" if step.verbose_feature_names_out else ""
        out.update({f"{prefix}{k}": v for k, v in local.items()})
    return out


@dataclass
class _Lookup:
    """One encoded column's outputs: their names, and the output row of each
    fitted category, of an unseen value and of a null."""

    names: list[str]
    values: list[Any]
    per_value: npt.NDArray[np.float64]
    unseen: npt.NDArray[np.float64]
    null: npt.NDArray[np.float64]


def _lookup(encoder: Any, index: int) -> _Lookup:
    cached: dict[int, _Lookup] = encoder.__dict__.setdefault("_fusion_lookups", {})
    if index in cached:
        return cached[index]
    column = encoder._state.columns[index]
    values = list(column.values)
    dtype = {"text": pl.String(), "integer": pl.Int64(), "boolean": pl.Boolean()}[column.kind]
    unseen: Any = None  # a Boolean column may have seen every value
    if column.kind == "text":
        unseen = "\x00unseen"
    elif column.kind == "integer":
        unseen = max(values, default=0) + 1
    probe = pl.DataFrame({column.name: [*values, unseen, None]}, schema={column.name: dtype})
    expression = encoder.expressions()[index]
    encoded = probe.select(expression)
    matrix = encoded.to_numpy().astype(np.float64)
    unseen_row = matrix[-2] if unseen is not None else np.zeros(matrix.shape[1])
    lookup = _Lookup(list(encoded.columns), values, matrix[:-2], unseen_row, matrix[-1])
    cached[index] = lookup
    return lookup


def _fold(forms: dict[str, Any], model: Any, schema: pl.Schema | None, link: str) -> pl.Expr | None:
    rows = np.atleast_2d(model.coef_)
    outputs = rows.shape[0]
    folded = _Folded(outputs)
    constant = np.array(model.intercept_, dtype=np.float64)
    for j, feature in enumerate(model.feature_names_in_):
        form = forms.get(str(feature))
        weights = rows[:, j]
        if form is None:
            form = _Affine(str(feature), 1.0, 0.0)
        if isinstance(form, _Affine):
            previous = folded.numeric.get(form.column, np.zeros(outputs))
            folded.numeric[form.column] = previous + weights * form.a
            constant = constant + weights * form.b
        else:
            encoder, vector = folded.categories.get(form.column, (form.encoder, None))
            width = len(_lookup(form.encoder, _position(form.encoder, form.column)).names)
            vector = np.zeros((outputs, width)) if vector is None else vector
            vector[:, form.index] += weights
            folded.categories[form.column] = (encoder, vector)
    if schema is not None and any(c not in schema for c in folded.numeric):
        return None
    return _expression(folded, constant, link)


def _position(encoder: Any, name: str) -> int:
    return next(i for i, c in enumerate(encoder._state.columns) if c.name == name)


def _expression(folded: _Folded, constant: npt.NDArray[np.float64], link: str) -> pl.Expr:
    from polars_mlkit._plugin import call_plugin

    features: list[pl.Expr] = []
    weights: list[list[float]] = [[] for _ in range(folded.outputs)]
    for name, w in folded.numeric.items():
        features.append(pl.col(name))
        for k in range(folded.outputs):
            weights[k].append(float(w[k]))
    tables = []
    for name, (encoder, vector) in folded.categories.items():
        lookup = _lookup(encoder, _position(encoder, name))
        # One row of weights per value, then an unseen value's, then a null's.
        rows = np.vstack([lookup.per_value, lookup.unseen, lookup.null]) @ vector.T
        values = lookup.values
        keys = "text" if values and isinstance(values[0], str) else "integers"
        tables.append(
            {
                keys: [v if keys == "text" else int(v) for v in values],
                "weights": [float(w) for w in rows.ravel()],
            }
        )
        features.append(pl.col(name))
    kwargs = {
        "function": "Pipeline",
        "weights": [w for row in weights for w in row],
        "intercept": [float(c) for c in constant],
        "link": link,
        "tables": tables,
    }
    return call_plugin("linear_scores", features, kwargs, is_elementwise=True)
