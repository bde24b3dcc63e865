"""Vector math on embedding columns (``Array`` or ``List`` of numbers).

Each function takes a column name or expression (and returns an
expression), or data: a 1-D list/array is one vector, a 2-D numpy array is
one vector per row, a Series is a vector column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl

from polars_mlkit import _checks, _internal, multivector
from polars_mlkit._data import is_expression_input, to_expr
from polars_mlkit._plugin import call_plugin
from polars_mlkit._plugin import constant_literal as _literal

Metric: TypeAlias = Literal["euclidean", "sqeuclidean", "manhattan", "chebyshev", "cosine"]
SearchMetric: TypeAlias = Literal["cosine", "dot", "euclidean", "hamming", "maxsim"]
RescoreMetric: TypeAlias = Literal["cosine", "dot", "euclidean"]
Precision: TypeAlias = Literal["int8", "binary"]
UnitNorm: TypeAlias = Literal["l1", "l2", "max"]
#: A constant vector: list, tuple, 1-D numpy array or numeric Series.
VectorLike: TypeAlias = "Sequence[float] | npt.NDArray[Any] | pl.Series"
#: Another vector column (name or expression) or a constant vector.
Other: TypeAlias = "str | pl.Expr | Sequence[float] | npt.NDArray[Any] | pl.Series"


def _plain(value: Any, function: str, what: str) -> Any:
    """Data for the extension's data face: numpy arrays, lists and tuples go
    as they are (read in Rust); a Series or another array-like becomes a
    numpy array."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return value
    if isinstance(value, pl.Series):
        if value.null_count():
            msg = f"{function}: {what} must not contain nulls"
            raise ValueError(msg)
        return value.to_numpy()
    if is_expression_input(value):
        msg = f"{function}: when x is data, {what} must be data too, not a column"
        raise TypeError(msg)
    if isinstance(value, (int, float)) or value is None:
        return value  # refused in Rust with the function's name
    return np.asarray(value)


def _on_series(
    x: pl.Series,
    function: str,
    build: Callable[[pl.Expr, pl.Expr | None, int | None], pl.Expr],
    other: Any = None,
) -> pl.Series:
    """Series in -> Series out, through the plugin. ``other`` becomes a second
    column when it holds one vector per row, and a constant (its length
    passed to ``build``) otherwise."""
    columns = {"x": x.alias("x")}
    other_arg: pl.Expr | None = None
    constant: int | None = None
    if other is not None:
        if is_expression_input(other):
            msg = f"{function}: when x is data, other must be data too, not a column"
            raise TypeError(msg)
        if isinstance(other, pl.Series) and isinstance(other.dtype, (pl.Array, pl.List)):
            other_column = other
        elif not isinstance(other, pl.Series) and np.ndim(other) == 2:
            other_column = pl.Series(_checks.numeric_array(other, function, "other"))
        else:
            other_column = None
            q = _checks.constant_vector(other, function)
            other_arg, constant = _literal(q), len(q)
        if other_column is not None:
            if other_column.len() != x.len():
                msg = (
                    f"{function}: {x.len()} vector(s) on one side and "
                    f"{other_column.len()} on the other"
                )
                raise ValueError(msg)
            columns["y"] = other_column.alias("y")
            other_arg = pl.col("y")
    frame = pl.DataFrame(columns)
    return frame.select(build(pl.col("x"), other_arg, constant)).to_series().alias(x.name)


def _pairwise(x: Any, other: Any, op: str, function: str) -> Any:
    def build(col: pl.Expr, other_arg: pl.Expr | None, constant: int | None) -> pl.Expr:
        kwargs = {"function": function, "op": op, "constant": constant}
        args = [col] if other_arg is None else [col, other_arg]
        return call_plugin("pairwise", args, kwargs, is_elementwise=True)

    if is_expression_input(x):
        if is_expression_input(other):
            return build(to_expr(x), to_expr(other), None)
        q = _checks.constant_vector(other, function)
        return build(to_expr(x), _literal(q), len(q))
    if isinstance(x, pl.Series):
        return _on_series(x, function, build, other)
    return _internal.pairwise(
        function, op, _plain(x, function, "x"), _plain(other, function, "other")
    )


def dot(x: Any, other: Other) -> Any:
    """Row-wise dot product ``Σ a_i b_i``, accumulated in f64.

    Parameters
    ----------
    x
        Vector column (name or expression), or data: a 1-D vector gives a
        float, a 2-D array one value per row, a Series a Series.
    other
        Another vector column (name or expression) or a constant vector
        broadcast to every row.

    Returns
    -------
    pl.Expr, float, numpy.ndarray, list or pl.Series
        Float32 only when every vector column is Float32, else Float64. A null
        row, or a null inside a vector, gives null; NaN propagates.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> pmk.dot([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    32.0
    >>> df = pl.DataFrame({"a": [[1.0, 2.0], [3.0, 4.0]]})
    >>> df.select(pl.col("a").ml.dot([1.0, 1.0]))["a"].to_list()
    [3.0, 7.0]
    """
    # Plain data (numpy arrays, lists, tuples) is computed in one call.
    found = _internal.try_dot(x, other)
    if found is NotImplemented:
        return _pairwise(x, other, "dot", "dot")
    return found


#: ``dot_product`` is ``dot``.
dot_product = dot


def cosine_similarity(x: Any, other: Other) -> Any:
    """Row-wise cosine similarity, as scikit-learn's ``cosine_similarity``.

    A zero vector on either side gives 0.0 (scikit-learn's convention).
    Vectors of any magnitude (1e±200) are handled without overflow.

    Examples
    --------
    >>> import polars_mlkit as pmk
    >>> pmk.cosine_similarity([1.0, 0.0], [1.0, 1.0])
    0.7071067811865475
    >>> pmk.cosine_similarity([0.0, 0.0], [1.0, 1.0])
    0.0
    """
    # Plain data (numpy arrays, lists, tuples) is computed in one call.
    found = _internal.try_cosine_similarity(x, other)
    if found is NotImplemented:
        return _pairwise(x, other, "cosine", "cosine_similarity")
    return found


def distance(x: Any, other: Other, metric: Metric = "euclidean") -> Any:
    """Row-wise distance between vectors.

    ``metric`` is ``"euclidean"``, ``"sqeuclidean"``, ``"manhattan"``,
    ``"chebyshev"`` or ``"cosine"`` (``1 - cosine similarity``, clipped to
    [0, 2] as scikit-learn's ``cosine_distances``; zero vectors give 1.0).

    Examples
    --------
    >>> import polars_mlkit as pmk
    >>> pmk.distance([0.0, 0.0], [3.0, 4.0])
    5.0
    >>> pmk.distance([0.0, 0.0], [3.0, 4.0], metric="manhattan")
    7.0
    """
    _checks.metric(metric)
    op = "cosine_distance" if metric == "cosine" else metric
    return _pairwise(x, other, op, "distance")


def norm(x: Any, ord: float = 2) -> Any:
    """Row-wise vector norm: ``ord`` 1 (sum of absolute values), 2
    (Euclidean, without overflow or underflow) or ``float("inf")`` (largest
    absolute value).

    Examples
    --------
    >>> import polars_mlkit as pmk
    >>> pmk.norm([3.0, 4.0])
    5.0
    >>> round(pmk.norm([3e200, 4e200]) / 1e200, 12)  # squares overflow, the norm does not
    5.0
    >>> pmk.norm([3.0, -4.0], ord=float("inf"))
    4.0
    """
    kwargs = {"function": "norm", "ord": _checks.norm_ord(ord)}

    def build(col: pl.Expr, _other: pl.Expr | None = None, _constant: int | None = None) -> pl.Expr:
        return call_plugin("norm", [col], kwargs, is_elementwise=True)

    if is_expression_input(x):
        return build(to_expr(x))
    if isinstance(x, pl.Series):
        return _on_series(x, "norm", build)
    return _internal.norm("norm", kwargs["ord"], _plain(x, "norm", "x"))


def unit_normalize(x: Any, norm: UnitNorm = "l2") -> Any:
    """Scale each vector to unit norm, as scikit-learn's ``Normalizer``.

    A norm below ``10 * eps`` of the dtype counts as 1, so zero vectors are
    left unchanged. ``Array`` stays ``Array``, ``List`` stays ``List``.

    Examples
    --------
    >>> import polars_mlkit as pmk
    >>> pmk.unit_normalize([3.0, 4.0])
    [0.6, 0.8]
    >>> pmk.unit_normalize([1.0, 3.0], norm="l1")
    [0.25, 0.75]
    """
    _checks.unit_norm(norm)
    kwargs = {"function": "unit_normalize", "norm": norm}

    def build(col: pl.Expr, _other: pl.Expr | None = None, _constant: int | None = None) -> pl.Expr:
        return call_plugin("unit_normalize", [col], kwargs, is_elementwise=True)

    if is_expression_input(x):
        return build(to_expr(x))
    if isinstance(x, pl.Series):
        return _on_series(x, "unit_normalize", build)
    return _internal.unit_normalize("unit_normalize", norm, _plain(x, "unit_normalize", "x"))


def truncate_dim(x: Any, n: int, renormalize: bool = True) -> Any:
    """Matryoshka truncation: each vector's first ``n`` numbers, renormalised
    to unit L2 norm unless ``renormalize=False``.

    The renormalisation is :func:`unit_normalize`'s (one kernel): a norm
    below ``10 * eps`` counts as 1, so a truncated zero vector stays zero.
    ``Array(_, w)`` becomes ``Array(_, n)`` and ``List`` stays ``List``;
    Float32 stays Float32; a null row, or a null among the first ``n``
    numbers, gives a null row. ``n`` must be at least 1 and at most the
    vectors' width (an error at schema time for ``Array``, naming the row
    for a shorter ``List`` row).

    Examples
    --------
    >>> import polars_mlkit as pmk
    >>> pmk.truncate_dim([3.0, 4.0, 12.0], 2)
    [0.6, 0.8]
    >>> pmk.truncate_dim([3.0, 4.0, 12.0], 2, renormalize=False)
    [3.0, 4.0]
    """
    function = "truncate_dim"
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        msg = f"{function}: n must be an int, got {n!r}"
        raise TypeError(msg)
    if n < 1:
        msg = f"{function}: n must be at least 1, got {n}"
        raise ValueError(msg)
    if not isinstance(renormalize, (bool, np.bool_)):
        msg = f"{function}: renormalize must be True or False, got {renormalize!r}"
        raise TypeError(msg)
    kwargs = {"function": function, "n": int(n), "renormalize": bool(renormalize)}

    def build(col: pl.Expr, _other: pl.Expr | None = None, _constant: int | None = None) -> pl.Expr:
        return call_plugin("truncate_dim", [col], kwargs, is_elementwise=True)

    if is_expression_input(x):
        return build(to_expr(x))
    if isinstance(x, pl.Series):
        return _on_series(x, function, build)
    array = _checks.numeric_array(x, function, "x")
    if array.ndim not in (1, 2):
        msg = f"{function}: x must be one vector or one vector per row, got shape {array.shape}"
        raise ValueError(msg)
    if n > array.shape[-1]:
        msg = f"{function}: n = {n} is more than the vectors' {array.shape[-1]} dimensions"
        raise ValueError(msg)
    head = np.ascontiguousarray(array[..., :n])
    out = unit_normalize(head) if renormalize else head
    if isinstance(x, np.ndarray):
        return out
    return np.asarray(out).tolist()


def project(x: Any, matrix: Any, bias: VectorLike | None = None) -> Any:
    """Project each vector: ``row @ matrix + bias``.

    ``matrix`` has shape ``(d, k)`` for vectors of length ``d``; the result
    has length ``k`` (``Array`` keeps the container with the new width).
    Computed by a blocked matrix product, accumulated in f64.

    Examples
    --------
    >>> import polars_mlkit as pmk
    >>> pmk.project([1.0, 2.0], [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], bias=[0.0, 0.0, 10.0])
    [1.0, 2.0, 13.0]
    """
    m = _checks.matrix(matrix, "project", "matrix")
    bias_array = None if bias is None else _checks.constant_vector(bias, "project", "bias")
    if bias_array is not None and len(bias_array) != m.shape[1]:
        msg = f"project: bias has length {len(bias_array)} but the matrix has {m.shape[1]} columns"
        raise ValueError(msg)
    kwargs = {
        "function": "project",
        "inputs": int(m.shape[0]),
        "outputs": int(m.shape[1]),
        "bias": bias_array is not None,
    }

    def build(col: pl.Expr, _other: pl.Expr | None = None, _constant: int | None = None) -> pl.Expr:
        args = [col, _literal(m)]
        if bias_array is not None:
            args.append(_literal(bias_array))
        return call_plugin("project", args, kwargs, is_elementwise=True)

    if is_expression_input(x):
        return build(to_expr(x))
    if isinstance(x, pl.Series):
        return _on_series(x, "project", build)
    return _internal.project("project", _plain(x, "project", "x"), m, bias_array)


def top_k_similar(x: Any, query: VectorLike, k: int, metric: SearchMetric = "cosine") -> Any:
    """Positions (UInt32) of the ``k`` rows most similar to ``query``.

    An aggregation: best first, ties to the lower position, null rows (and
    rows whose score is NaN) never chosen, fewer than ``k`` rows gives all of
    them. ``metric="euclidean"`` ranks by smallest distance, and
    ``metric="hamming"`` by fewest differing bits between packed binary codes
    (``Array(UInt8)``, see :func:`quantize`; the query is then a code too).
    ``metric="maxsim"`` ranks a column of token lists by
    :func:`~polars_mlkit.maxsim` against ``query``, a token matrix.
    In ``group_by().agg`` it gives a list per group, positions within the group.

    Float16, Int8 and UInt8 columns are read in place (computed as
    Float32); an Int8/UInt8 column with an integer query of the same range
    is scored by exact integer kernels.
    Float64 rows are ranked by their exact row-by-row scores, ranges of rows
    on several threads; other rows go through :func:`nearest` with one
    query (the same kernels and threads, the same positions as ranking each
    row).
    ``x`` may also be data: a 2-D numpy array (one vector per row) gives a
    numpy array of positions, a list of rows a list, a Series a Series.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> df = pl.DataFrame({"e": [[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]]})
    >>> df.select(pl.col("e").ml.top_k_similar([1.0, 0.1], k=2))["e"].to_list()
    [0, 2]
    >>> pmk.top_k_similar([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]], [1.0, 0.1], k=2)
    [0, 2]
    """
    if metric == "maxsim":
        tokens = multivector.query_tokens(query, "top_k_similar")
        k = _checks.top_k(k, "top_k_similar")
        if not is_expression_input(x):
            msg = "top_k_similar: metric='maxsim' ranks a column of token lists (an expression)"
            raise TypeError(msg)
        return multivector.top_k_expr(to_expr(x), tokens, k, "top_k_similar")
    _checks.search_metric(metric, "top_k_similar")
    q = _checks.constant_vector(query, "top_k_similar", "query")
    k = _checks.top_k(k, "top_k_similar")
    kwargs = {"function": "top_k_similar", "width": len(q), "k": k, "metric": metric}

    def build(col: pl.Expr) -> pl.Expr:
        # Not elementwise: ranks rows against each other; changes the length.
        return call_plugin(
            "top_k_similar", [col, _literal(q)], kwargs, is_elementwise=False, changes_length=True
        )

    if is_expression_input(x):
        return build(to_expr(x))
    if isinstance(x, pl.Series):
        return x.to_frame("x").select(build(pl.col("x"))).to_series().alias(x.name)
    if metric == "hamming":
        codes = _code_rows(x, "top_k_similar", "x")
        found = pl.DataFrame([codes]).select(build(pl.col("x"))).to_series().to_numpy()
        return found if isinstance(x, np.ndarray) else found.tolist()
    return _internal.top_k_similar("top_k_similar", _plain(x, "top_k_similar", "x"), q, k, metric)


def _code_rows(x: Any, function: str, what: str) -> pl.Series:
    """Binary codes given as data (a 2-D array or a list of rows of bytes)
    as an ``Array(UInt8)`` Series."""
    array = _checks.numeric_array(x, function, what)
    if array.ndim != 2:
        msg = f"{function}: {what} must be 2-D (one code per row), got shape {array.shape}"
        raise ValueError(msg)
    if array.size and (array.min() < 0 or array.max() > 255 or (array != np.round(array)).any()):
        msg = f"{function}: {what} must hold byte codes (integers 0..=255)"
        raise ValueError(msg)
    return pl.Series("x", np.ascontiguousarray(array, dtype=np.uint8))


# --------------------------------------------------------------------------- #
# quantized embeddings
# --------------------------------------------------------------------------- #
def _on_data(x: Any, function: str, build: Callable[[pl.Expr], pl.Expr]) -> Any:
    """Data in, the same kind out, through the plugin: a 2-D array is one
    vector per row (a numpy array comes back), a list of rows a list, one
    1-D vector a 1-D result."""
    array = _checks.numeric_array(x, function, "x")
    if array.ndim not in (1, 2):
        msg = f"{function}: x must be one vector or one vector per row, got shape {array.shape}"
        raise ValueError(msg)
    rows = array.reshape(1, -1) if array.ndim == 1 else array
    if rows.dtype.kind == "b":
        rows = rows.astype(np.uint8)
    series = pl.Series("x", np.ascontiguousarray(rows))
    found = pl.DataFrame([series]).select(build(pl.col("x"))).to_series().to_numpy()
    found = found[0] if array.ndim == 1 else found
    return found if isinstance(x, np.ndarray) else found.tolist()


def quantize(x: Any, precision: Precision = "int8", ranges: Any = None) -> Any:
    """Quantize embeddings to Int8 codes or packed sign bits.

    ``"int8"``: per dimension, ``ranges`` (a ``(2, d)`` array of min and
    max, e.g. from calibration data; ``None`` takes them from the column,
    skipping nulls and NaN) maps ``[min, max]`` linearly to -128..127 as
    sentence-transformers' ``quantize_embeddings(precision="int8")``:
    ``trunc((x - min) / ((max - min) / 255) - 128)``, computed in the
    column's float type and clipped to the Int8 range. Without ``ranges`` it
    needs the whole column (an aggregation-like expression that respects
    ``.over``); with them it is elementwise. A dimension whose column range
    is empty maps to -128; a row holding NaN becomes null; an infinite value
    with ``ranges=None`` is an error.

    ``"binary"``: bit = value > 0, packed big-endian per byte like
    ``numpy.packbits`` (sentence-transformers' ``"ubinary"``): ``d`` numbers
    give ``ceil(d / 8)`` bytes. Elementwise.

    ``Array`` input gives ``Array(Int8, d)`` / ``Array(UInt8, ceil(d / 8))``;
    ``List`` stays ``List``. A null row, or a row holding a null, is null.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> df = pl.DataFrame({"e": [[0.5, -1.0, 2.0], [1.5, 1.0, -2.0]]})
    >>> df.select(pl.col("e").ml.quantize("binary"))["e"].to_list()
    [[160], [192]]
    >>> df.select(pl.col("e").ml.quantize("int8"))["e"].to_list()
    [[-128, -128, 127], [127, 127, -128]]
    >>> pmk.quantize([0.25, 0.5], ranges=[[0.0, 0.0], [1.0, 1.0]])
    [-64, 0]
    """
    _checks.precision(precision)
    bounds = None
    if ranges is not None:
        if precision != "int8":
            msg = "quantize: ranges apply to precision='int8' only"
            raise ValueError(msg)
        bounds = _checks.ranges(ranges)
    kwargs = {
        "function": "quantize",
        "precision": precision,
        "ranges": None if bounds is None else int(bounds.shape[1]),
    }

    def build(col: pl.Expr) -> pl.Expr:
        args = [col] if bounds is None else [col, _literal(bounds)]
        # Elementwise unless the ranges come from the column itself.
        elementwise = precision == "binary" or bounds is not None
        return call_plugin("quantize", args, kwargs, is_elementwise=elementwise)

    if is_expression_input(x):
        return build(to_expr(x))
    if isinstance(x, pl.Series):
        return x.to_frame("x").select(build(pl.col("x"))).to_series().alias(x.name)
    return _on_data(x, "quantize", build)


def hamming(x: Any, other: Other) -> Any:
    """Row-wise Hamming distance between packed binary codes: the number of
    bits that differ (UInt32).

    Both sides are codes (``Array``/``List`` of UInt8, e.g. from
    ``ml.quantize("binary")``) of one width; ``other`` is another code
    column or one constant code (a sequence of byte values) broadcast to
    every row. A null row on either side gives null.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> codes = pl.Series("b", [[0b1010_0000], [0b1111_1111]], dtype=pl.Array(pl.UInt8, 1))
    >>> codes.to_frame().select(pl.col("b").ml.hamming([0b1000_0000]))["b"].to_list()
    [1, 7]
    >>> pmk.hamming([3, 0], [1, 255])
    9
    """

    def build(col: pl.Expr, other_arg: pl.Expr | None, constant: int | None) -> pl.Expr:
        kwargs = {"function": "hamming", "constant": constant}
        args = [col] if other_arg is None else [col, other_arg]
        return call_plugin("hamming", args, kwargs, is_elementwise=True)

    def constant_code(value: Any) -> npt.NDArray[np.float64]:
        code = _checks.constant_vector(value, "hamming")
        if code.size and (code.min() < 0 or code.max() > 255 or (code != np.round(code)).any()):
            msg = "hamming: other must hold byte codes (integers 0..=255)"
            raise ValueError(msg)
        return code

    other_value: Any = other
    if is_expression_input(x):
        if is_expression_input(other_value):
            return build(to_expr(x), to_expr(other_value), None)
        code = constant_code(other_value)
        return build(to_expr(x), _literal(code), len(code))
    if isinstance(x, pl.Series):
        return _on_series(x, "hamming", build, other_value)
    a = _code_rows(np.atleast_2d(np.asarray(x)), "hamming", "x")
    code = constant_code(other)
    found = pl.DataFrame([a]).select(build(pl.col("x"), _literal(code), len(code))).to_series()
    values = found.to_numpy()
    if np.ndim(x) == 1:
        return int(values[0])
    return values if isinstance(x, np.ndarray) else values.tolist()


# --------------------------------------------------------------------------- #
# aggregations over the rows of a vector column
# --------------------------------------------------------------------------- #
def vector_aggregate_expr(col: pl.Expr, op: str) -> pl.Expr:
    """The aggregation expression of ``vector_<op>`` over ``col``."""
    return call_plugin(
        "vector_aggregate",
        [col],
        {"function": f"vector_{op}", "op": op},
        is_elementwise=False,
        returns_scalar=True,
    )


#: The row-number column of ``_vector_aggregate_frame`` (dropped from its result).
_ROWS = "__polars_mlkit_rows"


def _vector_aggregate_frame(
    frame: pl.DataFrame | pl.LazyFrame, column: Any, by: Any, op: str, function: str
) -> pl.DataFrame:
    """One ``op`` vector of ``column`` per group of ``by``: the groups come
    from Polars' own ``group_by`` on the row numbers (first appearance
    order), and the extension reads each group's rows in place."""
    if not isinstance(column, str):
        msg = f"{function}: with a frame, column must be the name of its vector column"
        raise TypeError(msg)
    keys = _checks.names(by, "by", function)
    if not keys:
        msg = f"{function}: with a frame, by must name the group columns"
        raise ValueError(msg)
    lazy = frame.lazy()
    schema = lazy.collect_schema()
    for name in [column, *keys]:
        if name not in schema:
            msg = f"{function}: no column {name!r} in the frame (columns: {', '.join(schema)})"
            raise pl.exceptions.ColumnNotFoundError(msg)
    if column in keys:
        msg = f"{function}: column {column!r} is also a group column"
        raise ValueError(msg)
    data = lazy.select(column, *keys).collect()
    groups = (
        data.lazy()
        .select(keys)
        .with_row_index(_ROWS)
        .group_by(keys, maintain_order=True)
        .agg(pl.col(_ROWS))
        .collect()
    )
    vectors = data.select(
        call_plugin(
            "vector_aggregate_groups",
            [pl.col(column), pl.lit(groups[_ROWS])],
            {"function": function, "op": op},
            is_elementwise=False,
            changes_length=True,
        )
    ).to_series()
    return groups.drop(_ROWS).with_columns(vectors.alias(column))


def _vector_aggregate(
    x: Any, op: str, function: str, column: str | None = None, by: Any = None
) -> Any:
    """``op`` of every dimension over the rows: an aggregation expression for
    a column name or expression; a vector for data (a vector Series gives a
    one-row Series, a 2-D array or list of rows gives a 1-D array or list);
    a frame of one vector per group for a frame, ``column`` and ``by``."""

    def build(col: pl.Expr) -> pl.Expr:
        return vector_aggregate_expr(col, op)

    if isinstance(x, (pl.DataFrame, pl.LazyFrame)):
        return _vector_aggregate_frame(x, column, by, op, function)
    if column is not None or by is not None:
        msg = f"{function}: column and by go with a DataFrame or LazyFrame, not {type(x).__name__}"
        raise TypeError(msg)
    if is_expression_input(x):
        return build(to_expr(x))
    if isinstance(x, pl.Series):
        return x.to_frame("x").select(build(pl.col("x"))).to_series().alias(x.name)
    array = _checks.numeric_array(x, function, "x")
    if array.ndim != 2:
        msg = f"{function}: x must be 2-D (one vector per row), got an array of shape {array.shape}"
        raise ValueError(msg)
    kind = np.float32 if array.dtype == np.float32 else np.float64
    series = pl.Series("x", np.ascontiguousarray(array, dtype=kind))
    found = pl.DataFrame([series]).select(build(pl.col("x"))).to_series()
    values = np.asarray(found.to_list()[0], dtype=kind) if found[0] is not None else None
    if isinstance(x, np.ndarray):
        return values
    return None if values is None else values.tolist()


def vector_mean(x: Any, column: str | None = None, *, by: Any = None) -> Any:
    """Mean of every dimension over the rows of a vector column (the centroid).

    An aggregation: one vector per column, or per group in
    ``group_by().agg``, broadcast to every row by ``.over``. For one vector
    per group of a large frame, ``pmk.vector_mean(frame, "e", by="g")``
    gives what ``frame.group_by("g", maintain_order=True).agg(
    pl.col("e").ml.vector_mean())`` gives, the same numbers, several times
    faster: before it calls a plugin, ``group_by().agg`` copies every
    group's rows into a new list column (1.5 GB for 1M x 384 Float32), while
    here Polars groups only the row numbers and the rows are read in place.
    It returns a DataFrame (a LazyFrame is collected). Nulls are
    skipped (a null row, or a null element in its dimension; a dimension
    with no value is null, and no valid row gives a null vector); NaN
    propagates, as in numpy. Accumulated in float64 in row order, so the
    result does not depend on the thread count; Float32 stays Float32.
    ``Array`` stays ``Array``, ``List`` stays ``List`` (its rows must share
    one length).

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> df = pl.DataFrame({"g": ["a", "a", "b"], "e": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]})
    >>> df.group_by("g", maintain_order=True).agg(pl.col("e").ml.vector_mean())["e"].to_list()
    [[2.0, 3.0], [5.0, 6.0]]
    >>> pmk.vector_mean(df, "e", by="g")["e"].to_list()
    [[2.0, 3.0], [5.0, 6.0]]
    >>> pmk.vector_mean([[1.0, 2.0], [3.0, 6.0]])
    [2.0, 4.0]
    """
    return _vector_aggregate(x, "mean", "vector_mean", column, by)


def vector_sum(x: Any, column: str | None = None, *, by: Any = None) -> Any:
    """Sum of every dimension over the rows (a dimension with no value sums to 0).

    See :func:`vector_mean` for nulls, NaN, groups (and the frame form with
    ``by=``) and dtypes.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"e": [[1.0, 2.0], None, [3.0, 4.0]]})
    >>> df.select(pl.col("e").ml.vector_sum())["e"].to_list()
    [[4.0, 6.0]]
    """
    return _vector_aggregate(x, "sum", "vector_sum", column, by)


def vector_min(x: Any, column: str | None = None, *, by: Any = None) -> Any:
    """Minimum of every dimension over the rows.

    See :func:`vector_mean` for nulls, NaN, groups (and the frame form with
    ``by=``) and dtypes.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"e": [[1.0, 5.0], [3.0, 4.0]]})
    >>> df.select(pl.col("e").ml.vector_min())["e"].to_list()
    [[1.0, 4.0]]
    """
    return _vector_aggregate(x, "min", "vector_min", column, by)


def vector_max(x: Any, column: str | None = None, *, by: Any = None) -> Any:
    """Maximum of every dimension over the rows.

    See :func:`vector_mean` for nulls, NaN, groups (and the frame form with
    ``by=``) and dtypes.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"e": [[1.0, 5.0], [3.0, 4.0]]})
    >>> df.with_columns(pl.col("e").ml.vector_max().alias("m"))["m"].to_list()
    [[3.0, 5.0], [3.0, 5.0]]
    """
    return _vector_aggregate(x, "max", "vector_max", column, by)
