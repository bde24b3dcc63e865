"""OneHotEncoder and OrdinalEncoder: scikit-learn's encoders on Polars.

A fit counts every encoded column's values in one pass (a LazyFrame is read
in batches, so it may be larger than memory) and keeps the categories with
their counts: :class:`~polars_mlkit.scalers._categories.FittedColumn`. The
transform is one elementwise expression per column, the extension's
category lookup with the fitted constants, so a LazyFrame stays lazy, its
schema is known without reading data and the streaming engine gives the
same frame. Counts add exactly, so ``partial_fit`` and Ray blocks merge.

Decisions (where scikit-learn or the design is silent):

- ``columns=None`` encodes every column, as scikit-learn does; a column of
  a dtype other than String, Categorical, Enum, integer, Boolean or float
  is then an error naming it (pass ``columns=``).
- A missing value is null, or NaN in a float column (one category, sorted
  last). Categorical and Enum columns are encoded by their values
  (categories sorted as strings, as scikit-learn sorts them); integers and
  Booleans by value.
- ``OrdinalEncoder`` gives Float64 codes (scikit-learn's default dtype);
  ``encoded_missing_value=None`` and ``unknown_value=None`` give null (the
  Polars missing value; ``np.nan`` gives NaN, as scikit-learn).
- The encoded columns replace the source column where it stood; the
  others pass through.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit import _checks
from polars_mlkit._encode import (
    NULL_CODE,
    CodeTable,
    codes_expr,
    dtype_name,
    enum_ids,
    one_hot_expr,
)
from polars_mlkit.scalers._categories import (
    ORDINAL_MISSING,
    ORDINAL_UNKNOWN,
    EncoderState,
    FittedColumn,
    one_hot_table,
    ordinal_table,
)
from polars_mlkit.scalers._encoder_base import Encoder, _is_nan, _plain_list
from polars_mlkit.scalers._encoder_groups import grouped_one_hot_table
from polars_mlkit.scalers._registry import register
from polars_mlkit.scalers._state import _key_expr

OneHotUnknown: TypeAlias = Literal["error", "ignore", "infrequent_if_exist"]
OrdinalUnknown: TypeAlias = Literal["error", "use_encoded_value"]


def _enum_categories(name: str, schema: pl.Schema | None) -> list[str] | None:
    """The categories of a column the frame holds as an Enum, else None
    (see ``enum_ids``)."""
    if schema is None or name not in schema:
        return None
    return enum_ids(schema[name])


# --------------------------------------------------------------------------- #
# OneHotEncoder
# --------------------------------------------------------------------------- #
@register
class OneHotEncoder(Encoder):
    """One column per category, as scikit-learn's ``OneHotEncoder`` (dense).

    The encoded columns replace their source column, named as
    scikit-learn's ``get_feature_names_out`` names them
    (``{column}_{category}``, ``{column}_infrequent_sklearn``); other
    columns pass through.

    Parameters
    ----------
    columns
        The columns to encode; ``None``: every column.
    categories
        ``"auto"`` (the values seen, sorted) or one list per encoded column
        (numeric ones sorted; a missing value, ``None``/NaN, last).
    drop
        ``None``, ``"first"``, ``"if_binary"``, or one category per column
        (``None`` for a column keeps all) whose column is left out.
    handle_unknown
        ``"error"`` (an unseen value is an error naming the column and the
        value), ``"ignore"`` (its row is all zeros) or
        ``"infrequent_if_exist"`` (it goes to the infrequent column if the
        column has one, else all zeros).
    min_frequency
        Categories seen fewer times (an int), or less than this share of the
        rows (a float in (0, 1)), are grouped as infrequent.
    max_categories
        At most this many output columns per column, the infrequent one
        included.
    dtype
        The output dtype (numeric or Boolean), ``pl.UInt8`` by default.
    by
        Column name(s) to fit per group: each group's rows are encoded as
        by scikit-learn's ``OneHotEncoder`` fitted on that group's rows
        alone, with the same options (its categories, ``min_frequency``
        counted in the group's rows, ``max_categories``, ``drop``,
        ``handle_unknown``). The output columns are the union of every
        group's ``get_feature_names_out`` names, per encoded column in the
        order of the categories of all rows together (sorted, or the given
        ``categories``' order), the missing category after them, the
        infrequent column last; a row has 0 in every column its group's
        encoder does not have. The by columns pass through; a group not
        seen at fit time is an error naming it (a null by value is a group
        of its own). ``categories_`` then holds the categories of all rows;
        ``infrequent_categories_`` and ``drop_idx_``, which differ per
        group, are not available.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> train = pl.DataFrame({"city": ["Oslo", "Rome", "Oslo", None], "n": [1, 2, 3, 4]})
    >>> enc = pmk.OneHotEncoder(columns="city").fit(train)
    >>> enc.get_feature_names_out().tolist()
    ['city_Oslo', 'city_Rome', 'city_None', 'n']
    >>> enc.transform(pl.DataFrame({"city": ["Rome"], "n": [9]}))
    shape: (1, 4)
    ┌───────────┬───────────┬───────────┬─────┐
    │ city_Oslo ┆ city_Rome ┆ city_None ┆ n   │
    │ ---       ┆ ---       ┆ ---       ┆ --- │
    │ u8        ┆ u8        ┆ u8        ┆ i64 │
    ╞═══════════╪═══════════╪═══════════╪═════╡
    │ 0         ┆ 1         ┆ 0         ┆ 9   │
    └───────────┴───────────┴───────────┴─────┘

    Per group, each dropping its first category (``Oslo`` in both); group
    ``a`` has no ``city_Paris`` column, so its rows hold 0 there:

    >>> train = pl.DataFrame({"g": ["a", "a", "b", "b"], "city": ["Oslo", "Rome", "Oslo", "Paris"]})
    >>> enc = pmk.OneHotEncoder(by="g", drop="first").fit(train)
    >>> enc.get_feature_names_out().tolist()
    ['g', 'city_Paris', 'city_Rome']
    >>> enc.transform(train).rows()
    [('a', 0, 0), ('a', 0, 1), ('b', 0, 0), ('b', 1, 0)]
    """

    _param_names = (
        "columns",
        "categories",
        "drop",
        "handle_unknown",
        "min_frequency",
        "max_categories",
        "dtype",
        "by",
    )
    _unknown_options = ("error", "ignore", "infrequent_if_exist")
    _preserves: ClassVar[list[str]] = []

    def __init__(
        self,
        columns: Sequence[str] | str | None = None,
        categories: Any = "auto",
        drop: Any = None,
        handle_unknown: OneHotUnknown = "error",
        min_frequency: int | float | None = None,
        max_categories: int | None = None,
        dtype: Any = pl.UInt8,
        by: Sequence[str] | str | None = None,
    ) -> None:
        self.columns = columns
        self.categories = categories
        self.drop = drop
        self.handle_unknown = handle_unknown
        self.min_frequency = min_frequency
        self.max_categories = max_categories
        self.dtype = dtype
        self.by = by

    def _checked_options(self, function: str) -> dict[str, Any]:
        options = super()._checked_options(function)
        drop = self.drop
        if isinstance(drop, str):
            if drop not in ("first", "if_binary"):
                msg = f"{function}: drop must be None, 'first', 'if_binary' or a list, got {drop!r}"
                raise ValueError(msg)
        elif drop is not None:
            drop = _plain_list(drop, function)
        options["drop"] = drop
        options["dtype"] = dtype_name(self.dtype, function)
        options["by"] = _checks.by_names(self.by, function)
        return options

    def _drop_of(self, state: EncoderState, i: int, function: str) -> Any:
        drop = state.options["drop"]
        if isinstance(drop, list):
            if len(drop) != len(state.columns):
                msg = (
                    f"{function}: drop should have one category per encoded column "
                    f"({len(state.columns)}), got {len(drop)}"
                )
                raise ValueError(msg)
            return ("value", drop[i])
        return drop

    def _tables(
        self, state: EncoderState, function: str
    ) -> list[tuple[CodeTable, list[int] | None, int | None]]:
        if state.groups is not None:
            groups = state.groups
            return [
                (
                    grouped_one_hot_table(
                        c, groups, i, state.options, self._drop_of(state, i, function), function
                    ),
                    None,
                    None,
                )
                for i, c in enumerate(state.columns)
            ]
        return [
            one_hot_table(
                c, state.n_samples_seen, state.options, self._drop_of(state, i, function), function
            )
            for i, c in enumerate(state.columns)
        ]

    def _validate(self, state: EncoderState, function: str) -> None:
        self._tables(state, function)

    def _infrequent(self, state: EncoderState, column: FittedColumn) -> list[int] | None:
        _not_per_group(state, "infrequent_categories_")
        i = state.columns.index(column)
        return self._tables(state, "infrequent_categories_")[i][1]

    @property
    def drop_idx_(self) -> npt.NDArray[np.object_] | None:
        """Per column, the index in ``categories_`` of the dropped category
        (``None``: nothing dropped), or ``None`` without ``drop``.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> pmk.OneHotEncoder(drop="first").fit(pl.DataFrame({"c": ["b", "a"]})).drop_idx_
        array([0], dtype=object)
        """
        state = self._fitted("drop_idx_")
        _not_per_group(state, "drop_idx_")
        if state.options["drop"] is None:
            return None
        return np.array([t[2] for t in self._tables(state, "drop_idx_")], dtype=object)

    def _column_exprs(
        self, state: EncoderState, function: str, schema: pl.Schema | None = None
    ) -> dict[str, pl.Expr]:
        out = {}
        key = _key_expr(state.groups.by) if state.groups is not None else None
        for column, (table, _, _) in zip(state.columns, self._tables(state, function), strict=True):
            struct = one_hot_expr(
                pl.col(column.name),
                table,
                column.kind,
                state.options["dtype"],
                function,
                key=key,
                enum_categories=_enum_categories(column.name, schema),
            )
            out[column.name] = struct.struct.unnest()
        return out

    def get_feature_names_out(self, input_features: Any = None) -> npt.NDArray[np.object_]:
        """Output column names: ``{column}_{category}`` for the encoded
        columns (``{column}_infrequent_sklearn`` for the infrequent group),
        the input's name for the others, in the input's order.

        Parameters
        ----------
        input_features
            Optional input names (they must equal ``feature_names_in_``
            when fitted on named columns).

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> import numpy as np
        >>> pmk.OneHotEncoder().fit(np.array([[1.0], [2.0]])).get_feature_names_out().tolist()
        ['x0_1.0', 'x0_2.0']
        """
        state = self._fitted("get_feature_names_out")
        names = self._input_names(state, input_features)
        fitted = state.feature_names_in or [f"x{j}" for j in range(state.n_features_in)]
        tables = {
            c.name: t[0]
            for c, t in zip(
                state.columns, self._tables(state, "get_feature_names_out"), strict=True
            )
        }
        out: list[str] = []
        for given, name in zip(names, fitted, strict=True):
            if name in tables:
                out.extend(f"{given}_{label}" for label in tables[name].labels)
            else:
                out.append(given)
        return np.asarray(out, dtype=object)


def _not_per_group(state: EncoderState, name: str) -> None:
    if state.groups is not None:
        msg = (
            f"OneHotEncoder has no {name} when fitted with by= (it differs per group; "
            "fit one encoder on a group's rows to see it)"
        )
        raise AttributeError(msg)


# --------------------------------------------------------------------------- #
# OrdinalEncoder
# --------------------------------------------------------------------------- #
@register
class OrdinalEncoder(Encoder):
    """Each category's position (Float64), as scikit-learn's ``OrdinalEncoder``.

    Parameters
    ----------
    columns
        The columns to encode; ``None``: every column.
    categories
        ``"auto"`` (the values seen, sorted) or one list per encoded column.
    handle_unknown
        ``"error"`` (an unseen value is an error naming the column and the
        value) or ``"use_encoded_value"`` (it becomes ``unknown_value``).
    unknown_value
        An int (not a code in use) or ``np.nan``, with
        ``handle_unknown="use_encoded_value"``; ``None`` otherwise.
    encoded_missing_value
        The code of a missing value: ``None`` (null, the default), ``np.nan``
        or an int that is not a code in use.
    min_frequency, max_categories
        Infrequent categories share one code, the last (as
        :class:`OneHotEncoder`; a missing value is never infrequent).

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> train = pl.DataFrame({"size": ["M", "S", "L", None]})
    >>> enc = pmk.OrdinalEncoder().fit(train)
    >>> enc.categories_[0].tolist()
    ['L', 'M', 'S', None]
    >>> enc.transform(train)["size"].to_list()
    [1.0, 2.0, 0.0, None]
    """

    _param_names = (
        "columns",
        "categories",
        "handle_unknown",
        "unknown_value",
        "encoded_missing_value",
        "min_frequency",
        "max_categories",
    )
    _unknown_options = ("error", "use_encoded_value")
    _preserves: ClassVar[list[str]] = ["float64"]

    def __init__(
        self,
        columns: Sequence[str] | str | None = None,
        categories: Any = "auto",
        handle_unknown: OrdinalUnknown = "error",
        unknown_value: int | float | None = None,
        encoded_missing_value: int | float | None = None,
        min_frequency: int | float | None = None,
        max_categories: int | None = None,
    ) -> None:
        self.columns = columns
        self.categories = categories
        self.handle_unknown = handle_unknown
        self.unknown_value = unknown_value
        self.encoded_missing_value = encoded_missing_value
        self.min_frequency = min_frequency
        self.max_categories = max_categories

    def _checked_options(self, function: str) -> dict[str, Any]:
        options = super()._checked_options(function)
        unknown = self.unknown_value
        if self.handle_unknown == "use_encoded_value":
            if not (
                _is_nan(unknown)
                or (isinstance(unknown, numbers.Integral) and not isinstance(unknown, bool))
            ):
                msg = (
                    f"{function}: unknown_value should be an integer or np.nan when "
                    f"handle_unknown is 'use_encoded_value', got {unknown!r}"
                )
                raise TypeError(msg)
        elif unknown is not None:
            msg = (
                f"{function}: unknown_value should only be set when handle_unknown is "
                f"'use_encoded_value', got {unknown!r}"
            )
            raise TypeError(msg)
        missing = self.encoded_missing_value
        valid = (
            missing is None
            or _is_nan(missing)
            or (isinstance(missing, numbers.Integral) and not isinstance(missing, bool))
        )
        if not valid:
            msg = (
                f"{function}: encoded_missing_value must be None, np.nan or an int, got {missing!r}"
            )
            raise TypeError(msg)
        options["unknown_value"] = _number(unknown)
        options["encoded_missing_value"] = _number(missing)
        return options

    def _tables(self, state: EncoderState) -> list[tuple[CodeTable, list[int] | None, int]]:
        return [ordinal_table(c, state.n_samples_seen, state.options) for c in state.columns]

    def _infrequent(self, state: EncoderState, column: FittedColumn) -> list[int] | None:
        return self._tables(state)[state.columns.index(column)][1]

    def _validate(self, state: EncoderState, function: str) -> None:
        options = state.options
        unknown, missing = options["unknown_value"], options["encoded_missing_value"]
        for column, (_, _, cardinality) in zip(state.columns, self._tables(state), strict=True):
            if options["handle_unknown"] == "use_encoded_value" and _collides(unknown, cardinality):
                msg = (
                    f"{function}: the used value for unknown_value {unknown} is one of the values "
                    f"already used for encoding the seen categories of column {column.name!r}"
                )
                raise ValueError(msg)
            if column.missing and _collides(missing, cardinality):
                msg = (
                    f"{function}: encoded_missing_value ({missing}) is already used to encode a "
                    f"known category of column {column.name!r}"
                )
                raise ValueError(msg)

    def _column_exprs(
        self, state: EncoderState, function: str, schema: pl.Schema | None = None
    ) -> dict[str, pl.Expr]:
        options = state.options
        out = {}
        for column, (table, _, _) in zip(state.columns, self._tables(state), strict=True):
            # A missing or unknown value that becomes null is null in the
            # lookup already; the others are replaced after it (a full pass
            # over the codes, so only when needed).
            special = {
                ORDINAL_MISSING: options["encoded_missing_value"],
                ORDINAL_UNKNOWN: options["unknown_value"],
            }
            nulls = {code for code, value in special.items() if value is None}
            table = dataclasses.replace(
                table,
                missing=NULL_CODE if table.missing in nulls else table.missing,
                unknown=NULL_CODE if table.unknown in nulls else table.unknown,
            )
            categories = _enum_categories(column.name, schema)
            codes = codes_expr(
                pl.col(column.name), table, column.kind, function, categories, dtype="Float64"
            )
            kept = {
                code: value
                for code, value in special.items()
                if value is not None and code in (table.missing, table.unknown)
            }
            if kept:
                codes = codes.replace(
                    [float(code) for code in kept], pl.Series(list(kept.values()), dtype=pl.Float64)
                )
            out[column.name] = codes.alias(column.name)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> npt.NDArray[np.object_]:
        """Output column names: the input's (encoded columns keep their names).

        Parameters
        ----------
        input_features
            Optional input names.

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> import polars as pl
        >>> import polars_mlkit as pmk
        >>> pmk.OrdinalEncoder().fit(pl.DataFrame({"c": ["a"]})).get_feature_names_out().tolist()
        ['c']
        """
        state = self._fitted("get_feature_names_out")
        return np.asarray(self._input_names(state, input_features), dtype=object)


def _number(value: Any) -> float | None:
    """An option value as the float the output holds (``None`` stays null)."""
    return None if value is None else float(value)


def _collides(value: float | None, cardinality: int) -> bool:
    return value is not None and not math.isnan(value) and 0 <= value < cardinality
