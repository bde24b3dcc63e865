"""Data that is only reached batch by batch: the one ``map_batches`` protocol
that the fitted transformers (``polars_mlkit.scalers``), the searches
(``polars_mlkit.search``) and Ray (``polars_mlkit.ray``) share.

A ``map_batches(fn)`` applies ``fn`` (DataFrame to DataFrame) to every batch
of the data, in order, and yields the results. :func:`lazy_batches` makes
one over a LazyFrame (read with the streaming engine, so a frame larger than
memory is never held whole), :func:`frame_batches` over a DataFrame in memory
(one batch), and ``polars_mlkit.ray`` over the blocks of a Ray Dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeAlias

import polars as pl

#: Applies a function to every batch, in order, and yields its results.
MapBatches: TypeAlias = Callable[[Callable[[pl.DataFrame], pl.DataFrame]], Iterable[pl.DataFrame]]

#: Rows per batch when a LazyFrame is read in batches and the caller does not
#: say otherwise (read when the batches are made, so tests can shrink it).
BATCH_ROWS = 1 << 20


def lazy_batches(
    lazy: pl.LazyFrame, rows: int | None = None, *, empty_batch: bool = True
) -> MapBatches:
    """``map_batches`` over a LazyFrame, read with the streaming engine.

    Parameters
    ----------
    lazy
        The data.
    rows
        Rows per batch (:data:`BATCH_ROWS` when ``None``).
    empty_batch
        When the frame has no rows at all, apply the function once to an
        empty frame of its schema (as a fit in memory sees it); otherwise
        yield nothing.

    Examples
    --------
    >>> import polars as pl
    >>> from polars_mlkit._batches import lazy_batches
    >>> batches = lazy_batches(pl.LazyFrame({"x": [1, 2, 3]}), rows=2)
    >>> [b.height for b in batches(lambda b: b)]
    [2, 1]
    >>> [b.height for b in lazy_batches(pl.LazyFrame({"x": []}))(lambda b: b)]
    [0]
    """
    size = BATCH_ROWS if rows is None else rows

    def run(fn: Callable[[pl.DataFrame], pl.DataFrame]) -> Iterator[pl.DataFrame]:
        seen = False
        for batch in lazy.collect_batches(chunk_size=size):
            seen = True
            yield fn(batch)
        if not seen and empty_batch:
            yield fn(lazy.clear().collect())

    return run


def frame_batches(frame: pl.DataFrame) -> MapBatches:
    """``map_batches`` over a DataFrame in memory: one batch, the frame.

    Examples
    --------
    >>> import polars as pl
    >>> from polars_mlkit._batches import frame_batches
    >>> [b.height for b in frame_batches(pl.DataFrame({"x": [1, 2, 3]}))(lambda b: b)]
    [3]
    """

    def run(fn: Callable[[pl.DataFrame], pl.DataFrame]) -> Iterator[pl.DataFrame]:
        yield fn(frame)

    return run
