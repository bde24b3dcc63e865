"""Multi-vector (late-interaction) scoring: :func:`maxsim`, and MaxSim as a
ranking of ``top_k_similar``, ``nearest`` and ``knn_join``
(``metric="maxsim"``).

A document is a row holding a list of token vectors
(``List(Array(numeric, d))``, or ``List(List(numeric))`` whose tokens all
have width ``d``); a query is a matrix of ``n_q`` token vectors. The score
is ColBERT's MaxSim, ``Σ_j max_t q_j · x_t``, with every product computed
by the exact row kernel (f64 accumulation); Float32 tokens are screened in
Float32 first with a proven error bound, so the scores are the exact ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit import _checks
from polars_mlkit._data import is_expression_input, to_expr
from polars_mlkit._plugin import call_plugin
from polars_mlkit._plugin import constant_literal as _literal


def query_tokens(value: Any, function: str) -> npt.NDArray[np.float64]:
    """A query's token matrix (``n_q x d``, at least one token) as float64."""
    tokens = _checks.matrix(value, function, "query tokens")
    if tokens.shape[0] == 0 or tokens.shape[1] == 0:
        msg = (
            f"{function}: the query needs at least one token of width at least 1, "
            f"got {tokens.shape}"
        )
        raise ValueError(msg)
    return tokens


def maxsim_expr(column: pl.Expr, tokens: npt.NDArray[np.float64], function: str) -> pl.Expr:
    kwargs = {"function": function, "n_tokens": int(tokens.shape[0]), "dim": int(tokens.shape[1])}
    return call_plugin("maxsim", [column, _literal(tokens)], kwargs, is_elementwise=True)


def maxsim(x: Any, query_tokens_: Any) -> Any:
    """The MaxSim score of each row's tokens against ``query_tokens``.

    ``Σ_j max_t q_j · x_t`` over the query's tokens ``q_j`` and the row's
    tokens ``x_t`` (Float64). A null row, or a row without tokens, gives
    null; null tokens (or tokens holding a null) are left out; NaN
    propagates. Tokens of Float32 and narrower dtypes (Float16, Int8,
    UInt8) are computed as Float32 numbers with the query rounded to
    Float32, others as Float64; every product is accumulated in f64, and
    Float32 tokens are screened in Float32 first, with a proven error bound,
    so the scores are exact. Usable as a rerank step after a first-stage
    :func:`~polars_mlkit.knn_join`.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> docs = pl.DataFrame({"tokens": [[[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.5]], []]})
    >>> docs.select(pl.col("tokens").ml.maxsim([[1.0, 0.0], [0.0, 2.0]]))["tokens"].to_list()
    [3.0, 1.5, None]
    """
    tokens = query_tokens(query_tokens_, "maxsim")
    if is_expression_input(x):
        return maxsim_expr(to_expr(x), tokens, "maxsim")
    if isinstance(x, pl.Series):
        return pl.DataFrame([x]).select(maxsim_expr(pl.col(x.name), tokens, "maxsim")).to_series()
    msg = f"maxsim: x must be a column (expression, name or Series), got {type(x).__name__}"
    raise TypeError(msg)


def top_k_expr(column: pl.Expr, tokens: npt.NDArray[np.float64], k: int, function: str) -> pl.Expr:
    """Positions (UInt32) of the ``k`` rows with the largest MaxSim score,
    best first, ties to the lower position; null and NaN scores never
    chosen. An aggregation (positions within the group in ``group_by().agg``)."""
    kwargs = {
        "function": function,
        "n_tokens": int(tokens.shape[0]),
        "dim": int(tokens.shape[1]),
        "k": k,
    }
    return call_plugin(
        "maxsim_top_k",
        [column, _literal(tokens)],
        kwargs,
        is_elementwise=False,
        changes_length=True,
    )


def nearest_frame(
    frame: pl.DataFrame | pl.LazyFrame,
    column: str,
    queries: Any,
    k: int,
    predicate: pl.Expr | None,
    function: str,
) -> pl.DataFrame:
    """``nearest`` with ``metric="maxsim"``: ``queries`` is a sequence of
    token matrices (their token counts may differ). One pass of the plugin
    per query scores every row; a LazyFrame is scored by the streaming
    engine (only the scores are held)."""
    matrices = [query_tokens(q, function) for q in query_list(queries, function)]
    widths = {m.shape[1] for m in matrices}
    if len(widths) > 1:
        msg = f"{function}: the queries' tokens have different widths: {sorted(widths)}"
        raise ValueError(msg)
    valid_rows = pl.lit(True) if predicate is None else predicate.fill_null(False)
    parts = []
    for i, tokens in enumerate(matrices):
        score = maxsim_expr(pl.col(column), tokens, function)
        scored = frame.select(score.alias("score"), valid_rows.alias("_keep"))
        if isinstance(scored, pl.LazyFrame):
            scored = scored.collect(engine="streaming")
        best = (
            scored.with_row_index("index")
            .filter(pl.col("_keep") & pl.col("score").is_not_null() & pl.col("score").is_not_nan())
            .sort("score", descending=True, maintain_order=True)
            .head(k)
        )
        parts.append(
            best.select(
                pl.lit(i, dtype=pl.UInt32).alias("query"),
                pl.int_range(1, pl.len() + 1, dtype=pl.UInt32).alias("rank"),
                pl.col("index").cast(pl.UInt32),
                pl.col("score"),
            )
        )
    empty = {"query": pl.UInt32, "rank": pl.UInt32, "index": pl.UInt32, "score": pl.Float64}
    return pl.concat(parts) if parts else pl.DataFrame(schema=empty)


def query_list(queries: Any, function: str) -> list[Any]:
    """The queries of a MaxSim search: a list (or Series) of token matrices."""
    if isinstance(queries, pl.Series):
        return [
            None if q is None else np.asarray(q.to_list() if hasattr(q, "to_list") else q)
            for q in queries
        ]
    if isinstance(queries, np.ndarray) and queries.ndim == 2:
        msg = (
            f"{function}: metric='maxsim' takes a list of token matrices (one per query); "
            "wrap a single query's matrix in a list"
        )
        raise ValueError(msg)
    if not isinstance(queries, (list, tuple)) and not (
        isinstance(queries, np.ndarray) and queries.ndim == 3
    ):
        msg = (
            f"{function}: metric='maxsim' takes a list of token matrices, "
            f"got {type(queries).__name__}"
        )
        raise TypeError(msg)
    return list(queries)
