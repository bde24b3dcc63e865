"""Steps that work across columns: :class:`ColumnTransformer` (a step per
group of columns, side by side) and :class:`Normalizer` (each row scaled to
unit norm across columns), as scikit-learn's classes of the same names, on
Polars frames and in one lazy plan."""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from polars_mlkit.scalers._inputs import _from_polars, _to_polars
from polars_mlkit.scalers._registry import bad, load, register_reader

COLUMNS_FORMAT = "polars-mlkit/column-transformer"
NORMALIZER_FORMAT = "polars-mlkit/normalizer"
FORMAT_VERSION = 1

_NORMS = ("l1", "l2", "max")


class ColumnTransformer:
    """Steps applied to groups of columns, their outputs side by side.

    As scikit-learn's ``ColumnTransformer``: each ``(name, step, columns)``
    transforms its columns; ``step`` may be ``"passthrough"`` or ``"drop"``;
    the columns no entry names are dropped, or passed through with
    ``remainder="passthrough"``; with ``verbose_feature_names_out`` (the
    default) each output column is named ``{name}__{column}``. The outputs
    stand in entry order, the remainder last. ``transform`` is one lazy plan.

    Parameters
    ----------
    transformers
        ``(name, step, columns)`` triples.
    remainder
        ``"drop"`` or ``"passthrough"``.
    verbose_feature_names_out
        Prefix each output column with its entry's name.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> df = pl.DataFrame({"x": [1.0, 3.0], "c": ["a", "b"], "id": [7, 8]})
    >>> ct = pmk.ColumnTransformer([("num", pmk.StandardScaler(), ["x"]),
    ...                             ("cat", pmk.OneHotEncoder(), ["c"])])
    >>> ct.fit(df).transform(df).columns
    ['num__x', 'cat__c_a', 'cat__c_b']
    """

    def __init__(
        self,
        transformers: Sequence[tuple[str, Any, Sequence[str]]],
        *,
        remainder: str = "drop",
        verbose_feature_names_out: bool = True,
    ) -> None:
        self.transformers = transformers
        self.remainder = remainder
        self.verbose_feature_names_out = verbose_feature_names_out

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {
            "transformers": self.transformers,
            "remainder": self.remainder,
            "verbose_feature_names_out": self.verbose_feature_names_out,
        }

    def __repr__(self) -> str:
        entries = ", ".join(repr(entry) for entry in self.transformers)
        return f"ColumnTransformer([{entries}], remainder={self.remainder!r})"

    def set_params(self, **params: Any) -> ColumnTransformer:
        for key, value in params.items():
            if key not in self.get_params():
                msg = f"ColumnTransformer.set_params: invalid parameter {key!r}"
                raise ValueError(msg)
            setattr(self, key, value)
        return self

    def _entries(self, function: str) -> list[tuple[str, Any, list[str]]]:
        if self.remainder not in ("drop", "passthrough"):
            msg = f"{function}: remainder must be 'drop' or 'passthrough', got {self.remainder!r}"
            raise ValueError(msg)
        out = []
        for entry in self.transformers:
            if not (isinstance(entry, tuple) and len(entry) == 3):
                msg = f"{function}: each entry must be (name, step, columns), got {entry!r}"
                raise TypeError(msg)
            name, step, columns = entry
            names = [columns] if isinstance(columns, str) else [str(c) for c in columns]
            out.append((str(name), step, names))
        return out

    def fit(self, X: Any, y: Any = None) -> ColumnTransformer:
        """Fit each entry's step on its columns."""
        function = "ColumnTransformer.fit"
        frame, _ = _to_polars(X, function, fitting=True)
        schema = frame.collect_schema()
        for name, step, columns in self._entries(function):
            _require_columns(schema, columns, name, function)
            if not isinstance(step, str):
                step.fit(frame.lazy().select(columns), y)
        self.feature_names_in_ = list(schema.names())
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "feature_names_in_")

    def _lazy(self, lazy: pl.LazyFrame, function: str) -> pl.LazyFrame:
        schema = lazy.collect_schema()
        outputs = []
        named: set[str] = set()
        for name, step, columns in self._entries(function):
            _require_columns(schema, columns, name, function)
            named |= set(columns)
            if step == "drop":
                continue
            part = lazy.select(columns)
            if step != "passthrough":
                part = step.transform(part)
            outputs.append(self._prefixed(part, name))
        if self.remainder == "passthrough":
            rest = [c for c in getattr(self, "feature_names_in_", schema.names()) if c not in named]
            if rest:
                outputs.append(self._prefixed(lazy.select(rest), "remainder"))
        if not outputs:
            return lazy.select([])
        return pl.concat(outputs, how="horizontal")

    def _prefixed(self, part: pl.LazyFrame, name: str) -> pl.LazyFrame:
        if not self.verbose_feature_names_out:
            return part
        return part.rename({c: f"{name}__{c}" for c in part.collect_schema().names()})

    def transform(self, X: Any) -> Any:
        """Each entry's output side by side (kinds as the scalers' ``transform``)."""
        function = "ColumnTransformer.transform"
        frame, kind = _to_polars(X, function)
        out = self._lazy(frame.lazy(), function)
        if kind == "lazy":
            return out
        return _from_polars(out.collect(), kind, None, function)

    def fit_transform(self, X: Any, y: Any = None) -> Any:
        return self.fit(X, y).transform(X)

    def to_json(self) -> str:
        entries = []
        for name, step, columns in self._entries("ColumnTransformer.to_json"):
            document = step if isinstance(step, str) else json.loads(step.to_json())
            entries.append({"name": name, "step": document, "columns": columns})
        return json.dumps(
            {
                "format": COLUMNS_FORMAT,
                "version": FORMAT_VERSION,
                "transformers": entries,
                "remainder": self.remainder,
                "verbose_feature_names_out": self.verbose_feature_names_out,
                "feature_names_in": getattr(self, "feature_names_in_", None),
            }
        )


def _require_columns(schema: pl.Schema, columns: list[str], entry: str, function: str) -> None:
    for column in columns:
        if column not in schema:
            msg = f"{function}: column {column!r} of entry {entry!r} is not in the frame"
            raise pl.exceptions.ColumnNotFoundError(msg)


class Normalizer:
    """Scale each row to unit norm across the chosen columns, as scikit-learn's
    ``Normalizer``: ``norm`` is ``"l2"``, ``"l1"`` or ``"max"`` (the largest
    absolute value); a row whose norm is 0 stays as it is. Stateless (``fit``
    only records the columns: the numeric ones when ``columns`` is ``None``).
    A null in a row makes that row's outputs null; output is Float64.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> df = pl.DataFrame({"a": [3.0, 0.0], "b": [4.0, 0.0]})
    >>> pmk.Normalizer().fit(df).transform(df).rows()
    [(0.6, 0.8), (0.0, 0.0)]
    """

    def __init__(self, norm: str = "l2", columns: Sequence[str] | str | None = None) -> None:
        self.norm = norm
        self.columns = columns

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"norm": self.norm, "columns": self.columns}

    def __repr__(self) -> str:
        return f"Normalizer(norm={self.norm!r}, columns={self.columns!r})"

    def set_params(self, **params: Any) -> Normalizer:
        for key, value in params.items():
            if key not in ("norm", "columns"):
                msg = f"Normalizer.set_params: invalid parameter {key!r}"
                raise ValueError(msg)
            setattr(self, key, value)
        return self

    def fit(self, X: Any, y: Any = None) -> Normalizer:
        function = "Normalizer.fit"
        if self.norm not in _NORMS:
            msg = f"{function}: norm must be one of {', '.join(_NORMS)}, got {self.norm!r}"
            raise ValueError(msg)
        frame, _ = _to_polars(X, function, fitting=True)
        schema = frame.collect_schema()
        if self.columns is None:
            chosen = [n for n, d in schema.items() if d.is_numeric()]
        else:
            chosen = [self.columns] if isinstance(self.columns, str) else list(self.columns)
            _require_columns(schema, chosen, "Normalizer", function)
        self.columns_ = chosen
        self.feature_names_in_ = list(schema.names())
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "columns_")

    def expressions(self) -> list[pl.Expr]:
        """The normalized columns as expressions (each keeps its name)."""
        if not hasattr(self, "columns_"):
            msg = "This Normalizer instance is not fitted yet. Call 'fit' before 'expressions'."
            raise ValueError(msg)
        values = [pl.col(c).cast(pl.Float64) for c in self.columns_]
        if not values:
            return []
        if self.norm == "l2":
            norm = functools.reduce(operator.add, [v * v for v in values]).sqrt()
        elif self.norm == "l1":
            norm = functools.reduce(operator.add, [v.abs() for v in values])
        else:
            norm = functools.reduce(lambda a, b: pl.max_horizontal(a, b), [v.abs() for v in values])
        safe = pl.when(norm == 0.0).then(1.0).otherwise(norm)
        return [(v / safe).alias(c) for v, c in zip(values, self.columns_, strict=True)]

    def transform(self, X: Any) -> Any:
        function = "Normalizer.transform"
        frame, kind = _to_polars(X, function)
        return _from_polars(frame.with_columns(self.expressions()), kind, None, function)

    def fit_transform(self, X: Any, y: Any = None) -> Any:
        return self.fit(X, y).transform(X)

    def to_json(self) -> str:
        self.expressions()
        return json.dumps(
            {
                "format": NORMALIZER_FORMAT,
                "version": FORMAT_VERSION,
                "norm": self.norm,
                "columns": self.columns_,
                "feature_names_in": self.feature_names_in_,
            }
        )


def _read_normalizer(document: Mapping[str, Any], function: str) -> Normalizer:
    if document.get("version") != FORMAT_VERSION:
        raise bad(function, f"unsupported {NORMALIZER_FORMAT} version {document.get('version')!r}")
    try:
        normalizer = Normalizer(norm=str(document["norm"]), columns=list(document["columns"]))
        normalizer.columns_ = [str(c) for c in document["columns"]]
        normalizer.feature_names_in_ = [str(c) for c in document["feature_names_in"]]
    except (KeyError, TypeError) as exc:
        raise bad(function, f"malformed {NORMALIZER_FORMAT} document ({exc})") from exc
    normalizer.n_features_in_ = len(normalizer.feature_names_in_)
    if normalizer.norm not in _NORMS:
        raise bad(function, f"norm must be one of {', '.join(_NORMS)}")
    return normalizer


def _read_columns(document: Mapping[str, Any], function: str) -> ColumnTransformer:
    if document.get("version") != FORMAT_VERSION:
        raise bad(function, f"unsupported {COLUMNS_FORMAT} version {document.get('version')!r}")
    entries = document.get("transformers")
    if not isinstance(entries, list):
        raise bad(function, "a column transformer document needs a list of transformers")
    transformers = []
    for entry in entries:
        if not isinstance(entry, dict) or not {"name", "step", "columns"} <= set(entry):
            raise bad(function, f"bad column transformer entry {entry!r}")
        step = entry["step"]
        fitted = step if isinstance(step, str) else load(json.dumps(step), function)
        transformers.append((str(entry["name"]), fitted, [str(c) for c in entry["columns"]]))
    ct = ColumnTransformer(
        transformers,
        remainder=str(document.get("remainder", "drop")),
        verbose_feature_names_out=bool(document.get("verbose_feature_names_out", True)),
    )
    names = document.get("feature_names_in")
    if names is not None:
        ct.feature_names_in_ = [str(n) for n in names]
        ct.n_features_in_ = len(names)
    return ct


register_reader(COLUMNS_FORMAT, _read_columns)
register_reader(NORMALIZER_FORMAT, _read_normalizer)
