"""Fitted scalers and ``ml`` expressions on Ray Datasets (optional extra ``polars-mlkit[ray]``).

``fit`` computes statistics block by block on the cluster and merges them
exactly (the merge of ``partial_fit``, or the two-pass census of exact
quantiles for ``RobustScaler``); ``transform`` and
``with_columns`` apply a fitted scaler or any Polars expression batch by
batch. Batches travel as Arrow and become Polars frames with
``pl.from_arrow`` (no copy for the usual numeric and list types).

This module imports ``ray``; ``import polars_mlkit`` does not import it.

Notes
-----
A fitted scaler travels to the workers as its JSON text and is rebuilt there,
so its expressions are built against the workers' own installation.
Expressions given to :func:`with_columns` travel pickled; ``ml`` expressions
name the extension library by path, so every worker needs polars-mlkit
installed at the same path (as on a local cluster or identical images).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from polars_mlkit import _checks, search
from polars_mlkit import _search_groups as search_groups
from polars_mlkit._batches import MapBatches
from polars_mlkit.scalers import FittedTransformer, fit_in_passes, load
from polars_mlkit.vectors import SearchMetric

if TYPE_CHECKING:
    from ray.data import Dataset

__all__ = ["fit", "knn_join", "nearest", "transform", "with_columns"]


def _check_scaler(scaler: object, function: str) -> Any:
    """A scaler, encoder or transformer, or a pipeline (or column transformer)
    of them: anything that fits from batches or transforms from its JSON."""
    fits = hasattr(scaler, "_fit_from_batches")
    transforms = hasattr(scaler, "transform") and hasattr(scaler, "to_json")
    if not (isinstance(scaler, FittedTransformer) or fits or transforms):
        msg = (
            f"{function}: expected a polars-mlkit scaler, encoder or pipeline, "
            f"got {type(scaler).__name__}"
        )
        raise TypeError(msg)
    return scaler


def _check_dataset(dataset: object, function: str) -> Dataset:
    try:
        import ray.data
    except ImportError as err:  # the optional extra is missing
        msg = f"{function} needs Ray: pip install 'polars-mlkit[ray]'"
        raise ImportError(msg) from err
    if not isinstance(dataset, ray.data.Dataset):
        msg = f"{function}: expected a ray.data.Dataset, got {type(dataset).__name__}"
        raise TypeError(msg)
    return dataset


def fit(scaler: FittedTransformer, dataset: Dataset) -> Any:
    """Fit ``scaler`` on a Ray Dataset, block by block on the workers.

    Min-max, standard and max-abs scalers fit each block and the partial
    statistics merge exactly (min-max and max-abs bit for bit with ``fit`` on
    all the data in memory; standard to rounding of the merge).
    ``RobustScaler`` and ``QuantileTransformer`` take two passes or more: a
    census of order-key buckets per block, merged, refined while the buckets
    that hold the wanted ranks are large, then a gather of only those
    buckets; their parameters equal the in-memory fit bit for bit, and the
    driver never holds a column whole. ``PowerTransformer`` gathers the
    fitted columns of every block on the driver and fits them as in memory
    (bit for bit; its likelihood search reads every value at each step).
    ``OneHotEncoder`` and ``OrdinalEncoder`` count categories per block and
    add the counts (their categories equal the in-memory fit's).
    ``SimpleImputer`` counts and sums (``mean``: moments merged as the
    standard scaler's), counts values (``most_frequent``) or takes the exact
    median passes of ``RobustScaler`` (``median``). A
    ``Pipeline`` fits its stages in order, each over the blocks with the
    steps fitted before it applied (independent steps share the passes).
    ``TargetEncoder`` needs its target, which a Dataset fit does not have:
    fit it in memory or on a LazyFrame and apply it here with :func:`transform`.

    Parameters
    ----------
    scaler
        An unfitted (or to be refitted) scaler or encoder.
    dataset
        The training data.

    Returns
    -------
    The fitted scaler (the same object).

    Examples
    --------
    Ray is not started in doctests, so the lines that need it are skipped.

    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> import ray  # doctest: +SKIP
    >>> from polars_mlkit import ray as pmk_ray  # doctest: +SKIP
    >>> df = pl.DataFrame({"x": [0.0, 1.0, 2.0, 4.0]})
    >>> ds = ray.data.from_arrow(df.to_arrow()).repartition(2)  # doctest: +SKIP
    >>> sc = pmk_ray.fit(pmk.MinMaxScaler(), ds)  # doctest: +SKIP
    >>> sc.params_["data_min"].to_list(), sc.params_["data_max"].to_list()  # doctest: +SKIP
    ([0.0], [4.0])
    >>> sc.params_.equals(pmk.MinMaxScaler().fit(df).params_)  # doctest: +SKIP
    True
    >>> robust = pmk_ray.fit(pmk.RobustScaler(), ds)  # doctest: +SKIP
    >>> robust.params_.equals(pmk.RobustScaler().fit(df).params_)  # doctest: +SKIP
    True
    """
    function = "polars_mlkit.ray.fit"
    scaler = _check_scaler(scaler, function)
    if not hasattr(scaler, "_fit_from_batches"):
        msg = f"{function}: a {type(scaler).__name__} is not fitted from batches"
        raise TypeError(msg)
    dataset = _check_dataset(dataset, function)
    return fit_in_passes(scaler, _schema(dataset), _block_batches(dataset), function)


def _schema(dataset: Dataset) -> pl.Schema:
    """The Polars schema of a Dataset's blocks."""
    schema = dataset.schema()
    arrow = getattr(schema, "base_schema", schema)
    frame = pl.from_arrow(arrow.empty_table())
    assert isinstance(frame, pl.DataFrame)
    return frame.schema


def _block_batches(dataset: Dataset) -> MapBatches:
    """``map_batches`` over a Dataset: the function runs on the workers, one
    block at a time, and its results come back block by block, in order."""

    def run(fn: Callable[[pl.DataFrame], pl.DataFrame]) -> Iterator[pl.DataFrame]:
        def on_block(table: pa.Table) -> pa.Table:
            frame = pl.from_arrow(table)
            assert isinstance(frame, pl.DataFrame)
            return fn(frame).to_arrow()

        mapped = dataset.map_batches(on_block, batch_format="pyarrow", batch_size=None)
        # Blocks come back in the dataset's order: searches count row
        # positions across blocks.
        mapped.context.execution_options.preserve_order = True
        for table in mapped.iter_batches(batch_format="pyarrow", batch_size=None):
            result = pl.from_arrow(table)
            assert isinstance(result, pl.DataFrame)
            yield result

    return run


def with_columns(dataset: Dataset, *exprs: pl.Expr | list[pl.Expr]) -> Dataset:
    """``DataFrame.with_columns(*exprs)`` on every batch of a Ray Dataset.

    The expressions must be row-local (elementwise, as the ``ml`` vector
    operations and fitted-scaler expressions are): each batch is computed on
    its own.

    Parameters
    ----------
    dataset
        The data.
    *exprs
        Expressions (or lists of them), e.g. ``pl.col("emb").ml.cosine_similarity(q)``.

    Returns
    -------
    A ``ray.data.Dataset`` (lazy, as Ray datasets are).

    Examples
    --------
    Ray is not started in doctests, so the lines that need it are skipped.

    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> import ray  # doctest: +SKIP
    >>> from polars_mlkit import ray as pmk_ray  # doctest: +SKIP
    >>> df = pl.DataFrame({"e": [[3.0, 4.0], [1.0, 0.0]]})
    >>> ds = ray.data.from_arrow(df.to_arrow())  # doctest: +SKIP
    >>> out = pmk_ray.with_columns(ds, pl.col("e").ml.norm().alias("n"))  # doctest: +SKIP
    >>> sorted(row["n"] for row in out.take_all())  # doctest: +SKIP
    [1.0, 5.0]
    """
    dataset = _check_dataset(dataset, "polars_mlkit.ray.with_columns")
    flat: list[pl.Expr] = []
    for e in exprs:
        flat.extend(e if isinstance(e, list) else [e])
    return _map(dataset, lambda frame: frame.with_columns(flat))


def transform(scaler: FittedTransformer, dataset: Dataset, *, inverse: bool = False) -> Dataset:
    """Apply a fitted scaler or encoder to a Ray Dataset, batch by batch
    (its ``transform`` on each batch).

    Parameters
    ----------
    scaler
        A fitted scaler (by ``fit`` here or in memory, or ``load_scaler``).
    dataset
        The data.
    inverse
        Apply ``inverse_transform`` instead.

    Returns
    -------
    A ``ray.data.Dataset`` with the scaled columns (other columns untouched).

    Examples
    --------
    Ray is not started in doctests, so the lines that need it are skipped.

    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> import ray  # doctest: +SKIP
    >>> from polars_mlkit import ray as pmk_ray  # doctest: +SKIP
    >>> df = pl.DataFrame({"x": [0.0, 1.0, 2.0, 4.0]})
    >>> sc = pmk.MinMaxScaler().fit(df)
    >>> ds = ray.data.from_arrow(df.to_arrow())  # doctest: +SKIP
    >>> out = pmk_ray.transform(sc, ds)  # doctest: +SKIP
    >>> sorted(row["x"] for row in out.take_all())  # doctest: +SKIP
    [0.0, 0.25, 0.5, 1.0]
    >>> back = pmk_ray.transform(sc, out, inverse=True)  # doctest: +SKIP
    >>> sorted(row["x"] for row in back.take_all())  # doctest: +SKIP
    [0.0, 1.0, 2.0, 4.0]
    """
    function = "polars_mlkit.ray.transform"
    scaler = _check_scaler(scaler, function)
    dataset = _check_dataset(dataset, function)
    text = scaler.to_json()

    if inverse and not hasattr(scaler, "inverse_transform"):
        msg = f"{function}: a {type(scaler).__name__} has no inverse_transform"
        raise TypeError(msg)

    def apply(frame: pl.DataFrame) -> pl.DataFrame:
        fitted = load(text, function)
        out = fitted.inverse_transform(frame) if inverse else fitted.transform(frame)
        assert isinstance(out, pl.DataFrame)
        return out

    return _map(dataset, apply)


def _map(dataset: Dataset, function: Any) -> Dataset:
    def batch(table: pa.Table) -> pa.Table:
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return function(frame).to_arrow()

    return dataset.map_batches(batch, batch_format="pyarrow")


def nearest(
    dataset: Dataset,
    column: str,
    queries: Any,
    k: int = 10,
    metric: SearchMetric = "cosine",
    *,
    filter: pl.Expr | None = None,
    by: search_groups.QueryKeys | None = None,
) -> pl.DataFrame:
    """:func:`polars_mlkit.nearest` over a Ray Dataset: a top-k per block on
    the workers, merged exactly on the driver.

    The same DataFrame as ``pmk.nearest`` on all the data in memory
    (``query``, ``rank``, ``index``, ``score``); ``index`` is the row
    position in the dataset's order.

    Parameters
    ----------
    dataset
        The corpus.
    column
        Its vector column (a token-list column for ``metric="maxsim"``).
    queries
        A 2-D array (or list of rows) of query vectors; for
        ``metric="maxsim"``, a list of token matrices.
    k
        Matches per query.
    metric
        ``"cosine"``, ``"dot"``, ``"euclidean"``, ``"hamming"`` or ``"maxsim"``.
    filter
        As :func:`polars_mlkit.nearest`: evaluated on each block, only the
        rows that pass are searched; ``index`` stays the dataset position.
    by
        As :func:`polars_mlkit.nearest`: the keys of each query (one row per
        query); each query is searched among the rows with equal keys,
        matched on each block.

    Returns
    -------
    pl.DataFrame

    Examples
    --------
    Ray is not started in doctests, so the lines that need it are skipped.

    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> from polars_mlkit import ray as pmk_ray  # doctest: +SKIP
    >>> df = pl.DataFrame({"e": [[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]]})
    >>> ds = ray.data.from_arrow(df.to_arrow()).repartition(2)  # doctest: +SKIP
    >>> pmk_ray.nearest(ds, "e", [[0.0, 1.0]], k=2)["index"].to_list()  # doctest: +SKIP
    [1, 2]
    """
    function = "polars_mlkit.ray.nearest"
    dataset = _check_dataset(dataset, function)
    if metric != "maxsim":
        _checks.search_metric(metric, function)
    k = _checks.top_k(k, function)
    schema = _schema(dataset)
    run: search.BatchSearch
    if metric == "maxsim":
        matrices = search.token_queries(queries, function)
        search.check_token_queries(schema, column, matrices, function)
        groups = search.nearest_groups(schema, len(matrices), filter, by, function)
        run = search.maxsim_search(column, matrices, k, groups)
    else:
        q = _checks.matrix(queries, function, "queries")
        search.check_corpus(schema, column, function)
        groups = search.nearest_groups(schema, q.shape[0], filter, by, function)
        run = search.plugin_search(column, q, k, metric, function, groups)
    return search.search_batches(
        _block_batches(dataset), run, k, search.best_first(metric), function, keep_rows=False
    )


def knn_join(
    left: pl.DataFrame,
    dataset: Dataset,
    on: str,
    k: int = 10,
    metric: SearchMetric = "cosine",
    right_on: str | None = None,
    suffix: str = "_right",
    *,
    by: str | Sequence[str] | None = None,
    filter: pl.Expr | None = None,
) -> pl.DataFrame:
    """:func:`polars_mlkit.knn_join` with a Ray Dataset as the corpus: a
    top-k per block on the workers (with the matched rows), merged exactly.

    The same DataFrame as ``pmk.knn_join(left, corpus, ...)`` in memory.

    Parameters
    ----------
    left
        The queries (a DataFrame on the driver).
    dataset
        The corpus.
    on, k, metric, right_on, suffix, by, filter
        As :func:`polars_mlkit.knn_join` (keys matched and the filter
        evaluated on each block); ``metric="maxsim"`` joins token lists.

    Returns
    -------
    pl.DataFrame

    Examples
    --------
    >>> import polars as pl
    >>> from polars_mlkit import ray as pmk_ray  # doctest: +SKIP
    >>> docs = pl.DataFrame({"doc": ["a", "b"], "e": [[1.0, 0.0], [0.0, 1.0]]})
    >>> ds = ray.data.from_arrow(docs.to_arrow())  # doctest: +SKIP
    >>> asks = pl.DataFrame({"e": [[0.1, 1.0]]})
    >>> pmk_ray.knn_join(asks, ds, on="e", k=1)["doc"].to_list()  # doctest: +SKIP
    ['b']
    """
    function = "polars_mlkit.ray.knn_join"
    dataset = _check_dataset(dataset, function)
    if metric != "maxsim":
        _checks.search_metric(metric, function)
    k = _checks.top_k(k, function)
    right_on = on if right_on is None else right_on
    if not isinstance(left, pl.DataFrame):
        msg = f"{function}: left must be a polars DataFrame, got {type(left).__name__}"
        raise TypeError(msg)
    schema = _schema(dataset)
    if metric == "maxsim":
        matrices, query_rows = search.token_rows(left, on, function)
        search.check_token_queries(schema, right_on, matrices, function)
    else:
        queries, query_rows = search.queries_of(left, on, function)
        search.check_corpus(schema, right_on, function)
    groups = search.join_groups(left, query_rows, schema, by, filter, function)
    if len(query_rows) == 0:
        return search.joined_or_empty(left, query_rows, search.EMPTY_FOUND, schema, suffix)
    run = (
        search.maxsim_search(right_on, matrices, k, groups)
        if metric == "maxsim"
        else search.plugin_search(right_on, queries, k, metric, function, groups)
    )
    found = search.search_batches(
        _block_batches(dataset), run, k, search.best_first(metric), function, keep_rows=True
    )
    return search.joined_or_empty(left, query_rows, found, schema, suffix)
