"""The column names polars-mlkit uses inside its own queries.

A fit groups a batch by the user's ``by`` columns and puts its own columns
beside them (each group's rendered key, its rows, one column per statistic);
a by column of the same name would collide with one of them (Polars'
``DuplicateError``) or, worse, be read as the statistic. So every internal
name is made here, and every one starts with :data:`PREFIX`; a ``by``
column whose name starts with it is refused before any query runs
(:func:`check_by`), so the two sets of names never meet.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Every internal column name starts with this; no user column may.
PREFIX = "__pmk_"

#: Each group's rendered key (``_key_expr``) beside the by columns.
GROUP_KEY = PREFIX + "key"
#: Rows per group (and batch).
ROWS = PREFIX + "rows"
#: Which column and lane a row of a census is about.
PART = PREFIX + "part"


def internal(*parts: object) -> str:
    """An internal column name: :data:`PREFIX` then ``parts`` joined by ``_``.

    Examples
    --------
    >>> from polars_mlkit._reserved import internal
    >>> internal("n", 3)
    '__pmk_n_3'
    """
    return PREFIX + "_".join(str(p) for p in parts)


def check_by(by: Sequence[str] | None, function: str) -> None:
    """Refuse ``by`` columns named like the package's internal columns.

    Examples
    --------
    >>> from polars_mlkit._reserved import check_by
    >>> check_by(["key", "rows", "part"], "fit")
    >>> check_by(["__pmk_key"], "fit")
    Traceback (most recent call last):
    ...
    ValueError: fit: by column '__pmk_key' starts with '__pmk_', which polars-mlkit reserves for its internal columns; rename it
    """  # noqa: E501
    for name in by or ():
        if name.startswith(PREFIX):
            msg = (
                f"{function}: by column {name!r} starts with {PREFIX!r}, which polars-mlkit "
                "reserves for its internal columns; rename it"
            )
            raise ValueError(msg)
