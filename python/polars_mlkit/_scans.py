"""Several fits sharing the scans of one data source.

Each fitted transformer fits from batches through a ``map_batches``
(``polars_mlkit._batches``): it asks for a pass, reduces the batches'
results, and may ask for another pass (exact quantiles take two). When
several independent fits run at once, :func:`fit_together` runs each in its
own thread and answers their requests together: when every fit still running
is waiting for a pass, one scan of the source applies each waiting fit's
function to every batch. So ``k`` fits of one pass each read the data once,
not ``k`` times, and a fit of two passes next to fits of one reads it twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import polars as pl

from polars_mlkit._batches import MapBatches

Batchwise = Callable[[pl.DataFrame], pl.DataFrame]


class _Scheduler:
    """Collects the pass requests of the running fits; the last fit to ask
    (or to finish) runs the scan that answers every waiting request."""

    def __init__(self, source: MapBatches, fits: int) -> None:
        self._source = source
        self._changed = threading.Condition()
        self._running = fits
        self._waiting: dict[int, Batchwise] = {}
        self._answers: dict[int, list[pl.DataFrame] | BaseException] = {}
        self.scans = 0

    def map_batches(self, fit: int) -> MapBatches:
        def run(fn: Batchwise) -> Iterator[pl.DataFrame]:
            with self._changed:
                self._waiting[fit] = fn
                self._scan_if_all_wait()
                while fit not in self._answers:
                    self._changed.wait()
                answer = self._answers.pop(fit)
            if isinstance(answer, BaseException):
                raise answer
            return iter(answer)

        return run

    def finished(self) -> None:
        with self._changed:
            self._running -= 1
            self._scan_if_all_wait()

    def _scan_if_all_wait(self) -> None:
        # Called with the lock held: every other running fit is waiting.
        if not self._waiting or len(self._waiting) < self._running:
            return
        requests, self._waiting = self._waiting, {}
        results: dict[int, list[pl.DataFrame]] = {fit: [] for fit in requests}
        failed: dict[int, BaseException] = {}
        try:
            for batch in self._source(lambda batch: batch):
                for fit, fn in requests.items():
                    if fit not in failed:
                        try:
                            results[fit].append(fn(batch))
                        except Exception as exc:  # handed to that fit's thread
                            failed[fit] = exc
        except Exception as exc:  # the source failed: every request fails
            failed = dict.fromkeys(requests, exc)
        self.scans += 1
        for fit in requests:
            self._answers[fit] = failed.get(fit, results[fit])
        self._changed.notify_all()


def fit_together(source: MapBatches, fits: Sequence[Callable[[MapBatches], Any]]) -> int:
    """Run ``fits`` (each takes a ``map_batches``) over shared scans of ``source``.

    Returns the number of scans of ``source``; re-raises the first fit's
    error, if any, after every fit has ended.

    Examples
    --------
    >>> import polars as pl
    >>> from polars_mlkit._batches import lazy_batches
    >>> source = lazy_batches(pl.LazyFrame({"x": [1, 2, 3], "y": [4, 5, 6]}), rows=2)
    >>> sums = {}
    >>> def summing(name):
    ...     def fit(map_batches):
    ...         parts = map_batches(lambda b: b.select(pl.col(name).sum()))
    ...         sums[name] = sum(part.item() for part in parts)
    ...     return fit
    >>> fit_together(source, [summing("x"), summing("y")]), sorted(sums.items())
    (1, [('x', 6), ('y', 15)])
    """
    if len(fits) == 1:
        counted = _Counting(source)
        fits[0](counted)
        return counted.scans
    scheduler = _Scheduler(source, len(fits))
    errors: list[BaseException | None] = [None] * len(fits)

    def run(index: int) -> None:
        try:
            fits[index](scheduler.map_batches(index))
        except BaseException as exc:  # re-raised in the caller's thread
            errors[index] = exc
        finally:
            scheduler.finished()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(fits))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
    return scheduler.scans


class _Counting:
    """A ``map_batches`` that counts the scans it makes."""

    def __init__(self, source: MapBatches) -> None:
        self._source = source
        self.scans = 0

    def __call__(self, fn: Batchwise) -> Iterator[pl.DataFrame]:
        self.scans += 1
        return iter(self._source(fn))
