"""Search: :func:`~polars_mlkit.nearest` and :func:`knn_join`, in memory and
over corpora larger than memory. (Which kernels serve a search is decided in
Rust, by the search engine's one entry point; this module only moves data.)

A corpus given as a LazyFrame (``pl.scan_parquet(...)``) is read in batches
and never held whole: each batch is searched with the extension's
``nearest`` (one blocked matrix product for all the queries), its best ``k``
rows per query are kept together with their row data, and the running top-k
is merged with every new batch. Row scores do not depend on the batch (each
row is scored on its own), so the result is the in-memory one; ties go to
the lower corpus position, as in memory. Peak memory: one batch, the
queries and the running top-k, plus what Polars' reader holds while it
decodes the source: for parquet, a few whole row groups at a time (files
written in row groups of a few tens of MiB keep the peak low). None of it
grows with the corpus.

Everything works on a ``map_batches(fn)`` that applies ``fn`` to every batch
of the corpus *in order* and yields the results, so the LazyFrame and the
Ray Dataset (``polars_mlkit.ray``) share one implementation.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit import _checks, _internal, multivector
from polars_mlkit import _search_groups as search_groups
from polars_mlkit._batches import MapBatches, frame_batches, lazy_batches
from polars_mlkit._plugin import call_plugin
from polars_mlkit._plugin import constant_literal as _literal
from polars_mlkit._search_groups import SearchGroups
from polars_mlkit.vectors import RescoreMetric, SearchMetric, _code_rows, _plain

#: Bytes of vector data per batch when a LazyFrame corpus is read in batches.
BATCH_BYTES = 64 << 20
#: Fewest rows per batch (read when the batches are made, so tests can shrink it).
MIN_BATCH_ROWS = 1024
#: Tokens per row assumed when the rows of a token-list corpus are counted
#: into batches of about :data:`BATCH_BYTES`.
TOKENS_PER_ROW = 32

# Columns of a batch's partial result (the matched corpus rows follow them).
_QUERY, _RANK, _INDEX, _SCORE = "__pmk_query", "__pmk_rank", "__pmk_index", "__pmk_score"
_HEIGHT = "__pmk_height"


def nearest_expr(
    column: str,
    queries: npt.NDArray[np.float64],
    k: int,
    metric: str,
    function: str,
    groups: SearchGroups | None = None,
) -> pl.Expr:
    """The extension's ``nearest`` over ``column``: a struct per (query,
    rank). With ``groups``, the frame holds each row's group in
    :data:`~polars_mlkit._search_groups.GROUP`."""
    kwargs = {
        "function": function,
        "n_queries": int(queries.shape[0]),
        "dim": int(queries.shape[1]),
        "k": k,
        "metric": metric,
    }
    inputs = [pl.col(column), _literal(queries, scalar=False)]
    if groups is not None:
        kwargs["grouped"] = True
        inputs += groups.inputs()
    return call_plugin(
        "nearest",
        inputs,
        kwargs,
        is_elementwise=False,
        changes_length=True,
    ).alias("_nearest")


def corpus_batches(lazy: pl.LazyFrame, column: str) -> MapBatches:
    """``map_batches`` over a LazyFrame corpus (the shared
    :func:`~polars_mlkit._batches.lazy_batches`), in batches of about
    :data:`BATCH_BYTES` of vectors."""
    dtype = lazy.collect_schema()[column]
    width = dtype.size if isinstance(dtype, pl.Array) else 1024
    inner = getattr(dtype, "inner", None)
    if isinstance(dtype, pl.List) and isinstance(inner, pl.Array):
        # Token lists (MaxSim): the row's length is not known before reading.
        width, inner = inner.size * TOKENS_PER_ROW, inner.inner
    itemsizes: dict[Any, int] = {pl.Float32: 4, pl.Float16: 2, pl.Int8: 1, pl.UInt8: 1}
    itemsize = itemsizes.get(inner, 8)
    rows = max(MIN_BATCH_ROWS, BATCH_BYTES // max(1, width * itemsize))
    return lazy_batches(lazy, rows, empty_batch=False)


def _with_progress(
    results: Iterable[pl.DataFrame], show: bool, function: str
) -> Iterable[pl.DataFrame]:
    """``results`` with a progress bar over the batches (tqdm when installed;
    nothing is printed otherwise)."""
    if not show or importlib.util.find_spec("tqdm") is None:
        return results
    from tqdm.auto import tqdm  # type: ignore[import-untyped, unused-ignore]

    return tqdm(results, desc=function, unit="batch")  # type: ignore[no-any-return]


#: Searches one batch: ``query``, ``index`` (position in the batch) and
#: ``score`` of each query's best rows, by query then rank.
BatchSearch = Callable[[pl.DataFrame], pl.DataFrame]


def plugin_search(
    column: str,
    queries: npt.NDArray[np.float64],
    k: int,
    metric: str,
    function: str,
    groups: SearchGroups | None = None,
) -> BatchSearch:
    """The extension's ``nearest`` on a batch (a whole DataFrame, a
    LazyFrame batch or a Ray block), with the batch's row groups when
    ``groups`` is given."""
    expr = nearest_expr(column, queries, k, metric, function, groups)

    def run(batch: pl.DataFrame) -> pl.DataFrame:
        searched = batch if groups is None else groups.with_row_groups(batch)
        return searched.select(expr).unnest("_nearest")

    return run


def search_batches(
    map_batches: MapBatches,
    search: BatchSearch,
    k: int,
    best_first: bool,
    function: str,
    *,
    keep_rows: bool,
    progress: bool = False,
) -> pl.DataFrame:
    """The top ``k`` corpus rows of every query over all batches, each batch
    searched by ``search``: ``query``, ``rank``, ``index`` (position in the
    whole corpus), ``score``, and with ``keep_rows`` the matched corpus
    rows' columns after them. ``best_first``: higher scores are better."""

    def partial(batch: pl.DataFrame) -> pl.DataFrame:
        found = search(batch)
        out = found.select(
            pl.col("query").alias(_QUERY),
            pl.col("rank").alias(_RANK),
            pl.col("index").alias(_INDEX),
            pl.col("score").alias(_SCORE),
        )
        if keep_rows:
            out = out.hstack(batch[found["index"]])
        # The batch's height travels in an extra last row (query null), so
        # a batch without matches still moves the positions of the next.
        height = pl.DataFrame({_HEIGHT: [batch.height]}, schema={_HEIGHT: pl.UInt64})
        return pl.concat(
            [out.with_columns(pl.lit(None, pl.UInt64).alias(_HEIGHT)), height],
            how="diagonal_relaxed",
        )

    running: pl.DataFrame | None = None
    merged = False
    offset = 0
    for result in _with_progress(map_batches(partial), progress, function):
        rows, height = _rows_and_height(result)
        if offset:
            rows = rows.with_columns((pl.col(_INDEX).cast(pl.UInt64) + offset).alias(_INDEX))
        offset += height
        if running is None:
            # One batch's result is in its final order already: by query,
            # best first, ties to the lower position.
            running = rows
            continue
        # Best first, ties to the lower position (as the in-memory search).
        running = (
            pl.concat([running, rows], how="vertical_relaxed")
            .sort([_QUERY, _SCORE, _INDEX], descending=[False, best_first, False])
            .group_by(_QUERY, maintain_order=True)
            .head(k)
        )
        merged = True
    if offset >= 2**32:
        msg = f"{function}: more than 2^32 corpus rows"
        raise ValueError(msg)
    if running is None or running.height == 0:
        return EMPTY_FOUND
    rank = (pl.int_range(pl.len()).over(_QUERY) + 1) if merged else pl.col(_RANK)
    ranked = running.with_columns(
        pl.col(_QUERY).cast(pl.UInt32).alias("query"),
        rank.cast(pl.UInt32).alias("rank"),
        pl.col(_INDEX).cast(pl.UInt32).alias("index"),
        pl.col(_SCORE).alias("score"),
    )
    return ranked.select(
        "query",
        "rank",
        "index",
        "score",
        pl.exclude("query", "rank", "index", "score", _QUERY, _RANK, _INDEX, _SCORE),
    )


def _rows_and_height(result: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """A batch's partial result without its height row, and the height (0
    in a piece without it): a slice when the height row is last, as in a
    batch's whole result, a filter otherwise (a Ray block split in pieces)."""
    queries = result[_QUERY]
    if queries.null_count() == 1 and queries[-1] is None:
        return result.slice(0, result.height - 1).drop(_HEIGHT), int(result[_HEIGHT][-1])
    rows = result.filter(pl.col(_QUERY).is_not_null()).drop(_HEIGHT)
    return rows, int(result.filter(pl.col(_QUERY).is_null())[_HEIGHT].sum())


def best_first(metric: str) -> bool:
    """Whether ``metric``'s higher scores are the better ones (similarities)."""
    return metric in ("cosine", "dot", "maxsim")


def nearest(
    frame: pl.DataFrame | pl.LazyFrame | npt.NDArray[Any] | Sequence[Sequence[float]],
    column: str | None,
    queries: Any,
    k: int = 10,
    metric: SearchMetric = "cosine",
    *,
    rescore: str | pl.Series | None = None,
    oversample: int = 4,
    rescore_metric: RescoreMetric = "cosine",
    filter: pl.Expr | None = None,
    by: search_groups.QueryKeys | None = None,
) -> pl.DataFrame:
    """The ``k`` nearest rows of ``frame[column]`` for each of many queries.

    Returns a DataFrame with ``query`` (UInt32, position in ``queries``),
    ``rank`` (UInt32, 1 = best), ``index`` (UInt32, row of ``frame``) and
    ``score`` (Float64: similarity for cosine/dot, distance for euclidean).
    One blocked matrix product serves all queries, so many queries cost far
    less than separate scans. Like any constant vector, the queries follow
    the column's dtype; they reach the plugin as Arrow data (one literal
    row), not as Python floats. On Float32 columns a Float32 product screens
    the rows with a proven error bound and the survivors are scored exactly
    (f64 accumulation), so the result equals a loop of :func:`top_k_similar`.
    On Float64 columns the product runs in f64 (Euclidean scores then use
    scikit-learn's ``euclidean_distances`` formula).

    ``frame`` may also be a 2-D numpy array (or a list of rows), one vector
    per row, searched directly without a frame; ``column`` is then ``None``.
    A LazyFrame (``pl.scan_parquet(...)``) is read in batches and never held
    whole: each batch is searched and the top-k merged, with the in-memory
    result (see :mod:`polars_mlkit.search`).

    Quantized corpora: a Float16, Int8 or UInt8 column is read in place
    (computed as Float32). ``metric="hamming"`` searches packed binary codes
    (``Array(UInt8)`` from ``ml.quantize("binary")``; the queries are codes
    too, and ``score`` is the number of differing bits). With ``rescore``
    (a full-precision vector column of ``frame``, or a Series of the same
    height) the queries are full-precision vectors: their sign bits screen
    ``k * oversample`` candidates on the codes in ``column`` (Hamming
    distance), then the candidates are scored exactly on ``rescore`` with
    ``rescore_metric`` (``"cosine"``, ``"dot"`` or ``"euclidean"``). The
    result is what an exact search on the candidates gives, ties to the
    lower position; ``rescore`` needs ``metric="hamming"``.

    ``metric="maxsim"`` ranks a column of token lists (``List(Array(numeric,
    d))``) by :func:`~polars_mlkit.maxsim`; ``queries`` is then a list of
    token matrices, one per query (token counts may differ), and ``score``
    the exact MaxSim score (higher is better).

    ``filter`` (a Boolean expression on ``frame``'s columns) searches only
    the rows that pass (a null predicate fails, as in ``DataFrame.filter``):
    the exact top-k among them — never fewer than ``k`` results while ``k``
    rows pass — with ``index`` still the row's position in the unfiltered
    frame; the same rows and scores as searching ``frame.filter(filter)``.
    The predicate is evaluated once by Polars and only the passing rows are
    searched (a LazyFrame is still read whole, batch by batch).

    ``by`` gives each query its own group: the keys of every query, one
    row per query, in a DataFrame whose columns are key columns of
    ``frame`` (with the same dtypes), a Series named after one, or a dict
    of column name to one key per query (plain Python or numpy values are
    read as the ``frame`` column's dtype). Each query is searched only
    among the rows of ``frame`` whose keys all equal its own; a null key
    (on either side) matches nothing, and a query whose group has no rows
    gets no results. The output is as without ``by`` (rows by query then
    rank, ``index`` the position in the whole ``frame``): bit for bit what
    searching ``frame.filter(pl.col(key) == key)`` with the queries of each
    key gives (on Float64 columns the product of many queries is blocked
    differently from one query's, so there "with the queries of that key"
    matters in the last bits); ``filter`` then applies too.
    ``knn_join(..., by=...)`` is the same search with the keys read from the
    left frame.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> df = pl.DataFrame({"e": [[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]]})
    >>> pmk.nearest(df, "e", [[0.0, 1.0]], k=2)["index"].to_list()
    [1, 2]
    >>> codes = df.with_columns(pl.col("e").ml.quantize("binary").alias("b"))
    >>> pmk.nearest(codes, "b", [[0.1, 0.9]], k=1, metric="hamming", rescore="e")["index"].to_list()
    [1]
    >>> docs = df.with_columns(year=pl.Series([2019, 2021, 2022]))
    >>> pmk.nearest(docs, "e", [[0.0, 1.0]], k=2, filter=pl.col("year") >= 2020)["index"].to_list()
    [1, 2]
    >>> tenants = docs.with_columns(tenant=pl.Series(["a", "b", "a"]))
    >>> asks = [[0.0, 1.0], [0.0, 1.0]]
    >>> pmk.nearest(tenants, "e", asks, k=1, by={"tenant": ["a", "b"]})["index"].to_list()
    [2, 1]
    """
    if metric == "maxsim":
        return nearest_maxsim(frame, column, queries, k, rescore, filter, by)
    _checks.search_metric(metric, "nearest")
    q = _checks.matrix(queries, "nearest", "queries")
    k = _checks.top_k(k, "nearest")
    if by is not None and not isinstance(frame, (pl.DataFrame, pl.LazyFrame)):
        msg = "nearest: by= needs a frame whose key columns it reads, not an array"
        raise TypeError(msg)
    if rescore is not None:
        _checks.rescore_metric(rescore_metric)
        if metric != "hamming":
            msg = (
                "nearest: rescore= screens on binary codes and needs metric='hamming', "
                f"got {metric!r}"
            )
            raise ValueError(msg)
        if not isinstance(frame, (pl.DataFrame, pl.LazyFrame)) or not isinstance(column, str):
            msg = "nearest: rescore= needs a frame and the name of its code column"
            raise TypeError(msg)
        factor = _checks.oversample(oversample)
        return rescored(frame, column, q, k, rescore, factor, rescore_metric, filter, by)
    if not isinstance(frame, (pl.DataFrame, pl.LazyFrame)):
        if filter is not None:
            msg = "nearest: filter= needs a frame whose columns it reads, not an array"
            raise TypeError(msg)
        if column is not None:
            msg = "nearest: column names a column of a frame; pass None when frame is an array"
            raise TypeError(msg)
        if metric == "hamming":
            codes = pl.DataFrame([_code_rows(frame, "nearest", "frame")])
            return nearest(codes, "x", q, k, metric)
        found = _internal.nearest("nearest", _plain(frame, "nearest", "frame"), q, k, metric)
        return pl.DataFrame(dict(zip(("query", "rank", "index", "score"), found, strict=True)))
    if not isinstance(column, str):
        msg = f"nearest: column must name a vector column of the frame, got {column!r}"
        raise TypeError(msg)
    groups = nearest_groups(frame.collect_schema(), q.shape[0], filter, by, "nearest")
    search = plugin_search(column, q, k, metric, "nearest", groups)
    if isinstance(frame, pl.LazyFrame):
        # Possibly larger than memory: searched batch by batch, top-k merged.
        check_corpus(frame.collect_schema(), column, "nearest")
        batches = corpus_batches(frame, column)
        return search_batches(batches, search, k, best_first(metric), "nearest", keep_rows=False)
    return search(frame)


def nearest_groups(
    schema: pl.Schema, count: int, predicate: object, by: object, function: str
) -> SearchGroups | None:
    """The groups of a ``nearest`` with ``filter=`` and/or ``by=`` (checked
    against the corpus schema before any query runs), or ``None``."""
    checked = None if predicate is None else search_groups.check_filter(schema, predicate, function)
    if by is not None:
        keys = search_groups.query_keys(by, schema, count, function)
        return search_groups.grouped(keys, schema, checked, function, ("by", "the corpus"))
    if checked is not None:
        return search_groups.filtered(count, checked)
    return None


def nearest_maxsim(
    frame: Any,
    column: str | None,
    queries: Any,
    k: int,
    rescore: object,
    predicate: object,
    by: object,
) -> pl.DataFrame:
    """``nearest`` with ``metric="maxsim"`` (see :mod:`polars_mlkit.multivector`)."""
    function = "nearest"
    k = _checks.top_k(k, function)
    if rescore is not None:
        msg = f"{function}: rescore= screens on binary codes; metric='maxsim' scores tokens exactly"
        raise ValueError(msg)
    if not isinstance(frame, (pl.DataFrame, pl.LazyFrame)) or not isinstance(column, str):
        msg = f"{function}: metric='maxsim' needs a frame and the name of its token column"
        raise TypeError(msg)
    schema = frame.collect_schema()
    if column not in schema:
        msg = f"{function}: column {column!r} is not in the corpus"
        raise pl.exceptions.ColumnNotFoundError(msg)
    if by is None:
        checked = (
            None if predicate is None else search_groups.check_filter(schema, predicate, function)
        )
        return multivector.nearest_frame(frame, column, queries, k, checked, function)
    matrices = token_queries(queries, function)
    groups = nearest_groups(schema, len(matrices), predicate, by, function)
    search = maxsim_search(column, matrices, k, groups)
    if isinstance(frame, pl.LazyFrame):
        batches = corpus_batches(frame, column)
        return search_batches(batches, search, k, True, function, keep_rows=False)
    return search(frame)


def token_queries(queries: Any, function: str) -> list[Any]:
    """The token matrices of a MaxSim search, one per query, as a list (a
    list, tuple, 3-D array or Series of them); each is checked by the
    MaxSim search itself."""
    if isinstance(queries, pl.Series):
        return [None if q is None else q.to_list() for q in queries]
    if isinstance(queries, np.ndarray) and queries.ndim != 3:
        msg = (
            f"{function}: metric='maxsim' takes a list of token matrices (one per query), "
            f"got a {queries.ndim}-D array; wrap a single query's matrix in a list"
        )
        raise ValueError(msg)
    if not isinstance(queries, (list, tuple, np.ndarray)):
        msg = (
            f"{function}: metric='maxsim' takes a list of token matrices (one per query), "
            f"got {type(queries).__name__}"
        )
        raise TypeError(msg)
    return list(queries)


def check_token_queries(schema: pl.Schema, column: str, matrices: list[Any], function: str) -> None:
    """MaxSim queries checked on the driver against the corpus schema before
    any block is searched: ``column`` is a token-list column and every query
    a non-empty token matrix of the corpus's token width (when the column's
    dtype fixes it)."""
    if column not in schema:
        msg = f"{function}: column {column!r} is not in the corpus"
        raise pl.exceptions.ColumnNotFoundError(msg)
    dtype = schema[column]
    inner = getattr(dtype, "inner", None)
    if not isinstance(dtype, pl.List) or not isinstance(inner, (pl.Array, pl.List)):
        msg = (
            f"{function}: metric='maxsim' needs a column of token lists "
            f"(List(Array(numeric, d))), got {column!r} of {dtype}"
        )
        raise TypeError(msg)
    width = inner.size if isinstance(inner, pl.Array) else None
    for i, tokens in enumerate(matrices):
        matrix = _checks.matrix(tokens, function, f"query {i}'s tokens")
        if matrix.shape[0] == 0 or (width is not None and matrix.shape[1] != width):
            msg = (
                f"{function}: query {i} has {matrix.shape[0]} tokens of width "
                f"{matrix.shape[1]}; the corpus tokens have width {width}"
            )
            raise ValueError(msg)


def maxsim_search(
    column: str, matrices: list[Any], k: int, groups: SearchGroups | None
) -> BatchSearch:
    """``nearest(metric="maxsim")`` on a batch. With a filter alone, the
    search's own ``filter=``; with keys, the batch's rows are put in groups
    as for the other metrics (:meth:`SearchGroups.with_row_groups`) and each
    group's rows are searched alone with its queries (one group's rows
    gathered at a time), positions mapped back to the batch."""
    if groups is None or groups.key_table is None:
        predicate = None if groups is None else groups.predicate

        def run_filtered(batch: pl.DataFrame) -> pl.DataFrame:
            return nearest(batch, column, matrices, k, "maxsim", filter=predicate)

        return run_filtered
    members: dict[int, list[int]] = {}
    for query, group in enumerate(groups.query_groups.tolist()):
        if group != search_groups.NO_GROUP:
            members.setdefault(group, []).append(query)
    queries_of_group = {g: pl.Series(q, dtype=pl.UInt32) for g, q in members.items()}

    def run_grouped(batch: pl.DataFrame) -> pl.DataFrame:
        row_groups = groups.with_row_groups(batch)[search_groups.GROUP]
        # Each group's rows in corpus order (a stable sort), one slice each.
        ordered = (
            pl.DataFrame({"group": row_groups})
            .with_row_index("row")
            .drop_nulls("group")
            .sort("group", maintain_order=True)
        )
        counts = ordered.group_by("group", maintain_order=True).len()
        vectors = batch.select(column)
        parts = []
        start = 0
        for group, count in counts.iter_rows():
            rows = ordered["row"].slice(start, count)
            start += count
            own = queries_of_group.get(group)
            if own is None:
                continue
            found = nearest(vectors[rows], column, [matrices[q] for q in own], k, "maxsim")
            parts.append(
                found.with_columns(
                    own.gather(found["query"]).alias("query"),
                    rows.gather(found["index"]).alias("index"),
                )
            )
        if not parts:
            return EMPTY_FOUND
        return pl.concat(parts).sort("query", "rank")

    return run_grouped


def rescored(
    frame: pl.DataFrame | pl.LazyFrame,
    column: str,
    queries: npt.NDArray[np.float64],
    k: int,
    rescore: str | pl.Series,
    oversample: int,
    metric: str,
    predicate: pl.Expr | None = None,
    by: search_groups.QueryKeys | None = None,
) -> pl.DataFrame:
    """``nearest`` screened on binary codes and rescored at full precision:
    the sign bits of ``queries`` find ``k * oversample`` candidates per query
    by Hamming distance on ``column``; only the candidate rows of
    ``rescore`` are then gathered (from a LazyFrame, in one more streaming
    pass that reads that column alone) and scored exactly."""
    function = "nearest"
    if isinstance(rescore, pl.Series):
        if isinstance(frame, pl.LazyFrame):
            msg = (
                f"{function}: rescore as a Series needs a DataFrame; name a column of the LazyFrame"
            )
            raise TypeError(msg)
        if rescore.len() != frame.height:
            msg = (
                f"{function}: rescore has {rescore.len()} rows but the frame has "
                f"{frame.height}; its rows must line up with the frame's"
            )
            raise ValueError(msg)
        check_corpus(pl.Schema({"rescore": rescore.dtype}), "rescore", function)
    else:
        schema = frame.collect_schema()
        if rescore not in schema:
            msg = f"{function}: rescore column {rescore!r} is not in the frame"
            raise pl.exceptions.ColumnNotFoundError(msg)
        check_corpus(schema, rescore, function)
    per_query = min(k * oversample, 2**32 - 1)
    codes = np.packbits(queries > 0, axis=1).astype(np.float64)
    screened = nearest(frame, column, codes, per_query, "hamming", filter=predicate, by=by)
    wanted = np.unique(screened["index"].to_numpy())
    positions = pl.Series("index", wanted, dtype=pl.UInt32)
    if isinstance(rescore, pl.Series):
        vectors = rescore.gather(positions).alias("x")
    elif isinstance(frame, pl.LazyFrame):
        vectors = (
            frame.select(pl.col(rescore).alias("x"))
            .with_row_index("__pmk_row")
            .filter(pl.col("__pmk_row").is_in(positions.implode()))
            .collect()["x"]
        )
    else:
        vectors = frame[rescore].gather(positions).alias("x")
    # Candidates as positions into the gathered rows (u32::MAX: none).
    candidates = np.full((queries.shape[0], per_query), 2**32 - 1, dtype="<u4")
    local = np.searchsorted(wanted, screened["index"].to_numpy())
    candidates[screened["query"].to_numpy(), screened["rank"].to_numpy() - 1] = local
    kwargs = {
        "function": function,
        "n_queries": int(queries.shape[0]),
        "dim": int(queries.shape[1]),
        "k": k,
        "metric": metric,
        "candidates": per_query,
    }
    found = (
        pl.DataFrame([vectors])
        .select(
            call_plugin(
                "nearest",
                [
                    pl.col("x"),
                    _literal(queries, scalar=False),
                    pl.lit(pl.Series("", [candidates.tobytes()], dtype=pl.Binary)),
                ],
                kwargs,
                is_elementwise=False,
                changes_length=True,
            ).alias("_nearest")
        )
        .unnest("_nearest")
    )
    original = pl.Series(wanted, dtype=pl.UInt32)
    return found.with_columns(original.gather(found["index"]).alias("index"))


def queries_of(
    left: pl.DataFrame, on: str, function: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The query matrix of ``left[on]`` and the left row of each query: null
    rows (and rows holding a null element) are not queries."""
    if on not in left.columns:
        msg = f"{function}: column {on!r} is not in the left frame"
        raise pl.exceptions.ColumnNotFoundError(msg)
    dtype = left.schema[on]
    inner = getattr(dtype, "inner", None)
    if not isinstance(dtype, (pl.Array, pl.List)) or inner is None or not inner.is_numeric():
        msg = (
            f"{function}: column {on!r} of the left frame must be a vector column "
            f"(Array or List of numbers), got {dtype}"
        )
        raise TypeError(msg)
    keep = left.select(
        pl.col(on).is_not_null()
        & (
            pl.col(on)
            .cast(pl.List(pl.Float64))
            .list.eval(pl.element().is_null().any())
            .list.first()
            .not_()
            .fill_null(True)
        )
    ).to_series()
    rows = np.flatnonzero(keep.to_numpy())
    vectors = left[on].filter(keep).cast(pl.List(pl.Float64))
    if len(vectors) == 0:
        return np.empty((0, 0)), rows
    lengths = vectors.list.len()
    if lengths.min() != lengths.max():
        msg = (
            f"{function}: the query vectors in {on!r} have different lengths "
            f"({lengths.min()} and {lengths.max()})"
        )
        raise ValueError(msg)
    width = int(str(lengths[0]))
    matrix = vectors.list.to_array(width).to_numpy()
    return np.ascontiguousarray(matrix, dtype=np.float64).reshape(len(vectors), width), rows


def check_corpus(schema: pl.Schema, column: str, function: str) -> None:
    if column not in schema:
        msg = f"{function}: column {column!r} is not in the corpus"
        raise pl.exceptions.ColumnNotFoundError(msg)
    dtype = schema[column]
    inner = getattr(dtype, "inner", None)
    if not isinstance(dtype, (pl.Array, pl.List)) or inner is None or not inner.is_numeric():
        msg = (
            f"{function}: corpus column {column!r} must be a vector column "
            f"(Array or List of numbers), got {dtype}"
        )
        raise TypeError(msg)


def joined(
    left: pl.DataFrame,
    query_rows: npt.NDArray[np.int64],
    found: pl.DataFrame,
    right_columns: list[str],
    suffix: str,
) -> pl.DataFrame:
    """Left columns, the matched right columns (clashes get ``suffix``),
    ``rank`` and ``score``, ordered by left row then rank."""
    left_rows = (
        left[pl.Series(query_rows[found["query"].to_numpy()], dtype=pl.UInt32)]
        if found.height
        else left.clear()
    )
    rename = {c: f"{c}{suffix}" if c in left.columns else c for c in right_columns}
    right = found.select(right_columns).rename(rename)
    return pl.concat([left_rows, right, found.select("rank", "score")], how="horizontal")


def knn_join(
    left: pl.DataFrame,
    right: pl.DataFrame | pl.LazyFrame,
    on: str,
    k: int = 10,
    metric: SearchMetric = "cosine",
    right_on: str | None = None,
    suffix: str = "_right",
    progress: bool = False,
    by: str | Sequence[str] | None = None,
    filter: pl.Expr | None = None,
) -> pl.DataFrame:
    """For every row of ``left`` (the queries), its ``k`` nearest rows of ``right`` (the corpus).

    A join: all columns of ``left``, all columns of the matched ``right``
    row (a name both frames have gets ``suffix``), then ``rank`` (UInt32,
    1 = best) and ``score`` (Float64, as :func:`~polars_mlkit.nearest`:
    similarity for cosine and dot, distance for euclidean). Rows are ordered
    by left row, then rank. A null query row (or one holding a null element)
    gives no matches; null corpus rows are never matched; an empty corpus
    gives no rows. Ties go to the lower corpus position.

    ``right`` may be a LazyFrame (``pl.scan_parquet(...)``): it is read in
    batches and never held whole (peak memory: one batch, the queries and
    the running top-k with its rows, plus the few row groups Polars' parquet
    reader decodes at a time), with the in-memory result.

    Parameters
    ----------
    left
        The queries (a DataFrame; a LazyFrame is collected).
    right
        The corpus: a DataFrame or a LazyFrame.
    on
        The vector column of ``left`` (and of ``right`` unless ``right_on``).
    k
        Matches per query (fewer when the corpus has fewer rows).
    metric
        ``"cosine"``, ``"dot"`` or ``"euclidean"``.
    right_on
        The vector column of ``right``, when it is named differently.
    suffix
        Appended to the names of ``right`` columns that ``left`` also has.
    progress
        Show a progress bar over the corpus batches (tqdm when installed;
        nothing is printed otherwise).
    by
        Key column(s) both frames have: each left row is matched only with
        right rows whose keys are equal (a null key matches nothing), the
        exact top-k within its group — the result of joining each group
        separately. The keys must have one dtype on both sides.
    filter
        A Boolean expression on ``right``'s columns: only the rows that pass
        are searched (a null predicate fails), so the matches are those of
        ``knn_join(left, right.filter(filter), ...)``. With ``by``, both apply.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> docs = pl.DataFrame({"doc": ["a", "b", "c"], "e": [[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]]})
    >>> asks = pl.DataFrame({"ask": [1, 2], "e": [[0.0, 1.0], [1.0, 0.1]]})
    >>> pmk.knn_join(asks, docs, on="e", k=2).select("ask", "doc", "rank")
    shape: (4, 3)
    ┌─────┬─────┬──────┐
    │ ask ┆ doc ┆ rank │
    │ --- ┆ --- ┆ ---  │
    │ i64 ┆ str ┆ u32  │
    ╞═════╪═════╪══════╡
    │ 1   ┆ b   ┆ 1    │
    │ 1   ┆ c   ┆ 2    │
    │ 2   ┆ a   ┆ 1    │
    │ 2   ┆ c   ┆ 2    │
    └─────┴─────┴──────┘
    """
    function = "knn_join"
    if isinstance(left, pl.LazyFrame):
        left = left.collect()
    if not isinstance(left, pl.DataFrame):
        msg = f"{function}: left must be a polars DataFrame, got {type(left).__name__}"
        raise TypeError(msg)
    if not isinstance(right, (pl.DataFrame, pl.LazyFrame)):
        msg = (
            f"{function}: right must be a polars DataFrame or LazyFrame, got {type(right).__name__}"
        )
        raise TypeError(msg)
    right_on = on if right_on is None else right_on
    if metric == "maxsim":
        return knn_join_maxsim(left, right, on, right_on, k, suffix, by, filter)
    _checks.search_metric(metric, function)
    k = _checks.top_k(k, function)
    queries, query_rows = queries_of(left, on, function)
    schema = right.collect_schema() if isinstance(right, pl.LazyFrame) else right.schema
    check_corpus(schema, right_on, function)
    groups = join_groups(left, query_rows, schema, by, filter, function)
    if len(query_rows) == 0:
        return joined_or_empty(left, query_rows, EMPTY_FOUND, schema, suffix)
    map_batches = (
        corpus_batches(right, right_on) if isinstance(right, pl.LazyFrame) else frame_batches(right)
    )
    search = plugin_search(right_on, queries, k, metric, function, groups)
    found = search_batches(
        map_batches, search, k, best_first(metric), function, keep_rows=True, progress=progress
    )
    return joined_or_empty(left, query_rows, found, schema, suffix)


def knn_join_maxsim(
    left: pl.DataFrame,
    right: pl.DataFrame | pl.LazyFrame,
    on: str,
    right_on: str,
    k: int,
    suffix: str,
    by: str | Sequence[str] | None,
    predicate: object,
) -> pl.DataFrame:
    """``knn_join`` with ``metric="maxsim"``: each left row's tokens are a
    query; a null row, or one without tokens, gives no matches."""
    function = "knn_join"
    k = _checks.top_k(k, function)
    schema = right.collect_schema() if isinstance(right, pl.LazyFrame) else right.schema
    if right_on not in schema:
        msg = f"{function}: column {right_on!r} is not in the corpus"
        raise pl.exceptions.ColumnNotFoundError(msg)
    matrices, query_rows = token_rows(left, on, function)
    groups = join_groups(left, query_rows, schema, by, predicate, function)
    if len(query_rows) == 0:
        return joined_or_empty(left, query_rows, EMPTY_FOUND, schema, suffix)
    batches = (
        corpus_batches(right, right_on) if isinstance(right, pl.LazyFrame) else frame_batches(right)
    )
    search = maxsim_search(right_on, matrices, k, groups)
    found = search_batches(batches, search, k, True, function, keep_rows=True)
    return joined_or_empty(left, query_rows, found, schema, suffix)


def token_rows(
    left: pl.DataFrame, on: str, function: str
) -> tuple[list[Any], npt.NDArray[np.int64]]:
    """The token matrices of ``left[on]`` (MaxSim queries) and the left row
    of each: null rows and rows without tokens are not queries."""
    if on not in left.columns:
        msg = f"{function}: column {on!r} is not in the left frame"
        raise pl.exceptions.ColumnNotFoundError(msg)
    tokens = left[on].to_list()
    rows = [i for i, t in enumerate(tokens) if t is not None and len(t) > 0]
    return [tokens[row] for row in rows], np.asarray(rows, dtype=np.int64)


def join_groups(
    left: pl.DataFrame,
    query_rows: npt.NDArray[np.int64],
    right_schema: pl.Schema,
    by: str | Sequence[str] | None,
    predicate: object,
    function: str,
) -> SearchGroups | None:
    """The groups of a ``knn_join`` with ``by=`` and/or ``filter=`` (checked
    against both frames' schemas), or ``None`` for a plain join."""
    checked = (
        None if predicate is None else search_groups.check_filter(right_schema, predicate, function)
    )
    if by is not None:
        names = search_groups.key_names(by, function)
        missing = [name for name in names if name not in left.columns]
        if missing:
            msg = f"{function}: key column {missing[0]!r} is not in the left frame"
            raise pl.exceptions.ColumnNotFoundError(msg)
        left_keys = left.select(names)[pl.Series(query_rows, dtype=pl.UInt32)]
        return search_groups.grouped(left_keys, right_schema, checked, function)
    if checked is not None:
        return search_groups.filtered(len(query_rows), checked)
    return None


EMPTY_FOUND = pl.DataFrame(
    schema={"query": pl.UInt32, "rank": pl.UInt32, "index": pl.UInt32, "score": pl.Float64}
)


def joined_or_empty(
    left: pl.DataFrame,
    query_rows: npt.NDArray[np.int64],
    found: pl.DataFrame,
    schema: pl.Schema,
    suffix: str,
) -> pl.DataFrame:
    """:func:`joined`, also when nothing matched (the corpus columns are
    then added empty, with their dtypes)."""
    right_columns = list(schema.names())
    if found.height == 0:
        empty = pl.DataFrame(schema={c: schema[c] for c in right_columns})
        found = pl.concat([found.select(EMPTY_FOUND.columns), empty], how="horizontal")
    return joined(left, query_rows, found, right_columns, suffix)
