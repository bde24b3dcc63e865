"""The Series ``ml`` namespace against the Expr one: the same methods with the
same parameters, and on a Series the result the expression gives on a frame.

Most Series methods are generated from the Expr namespace; ``dot``,
``cosine_similarity`` and ``distance`` are written out because a vector
Series as ``other`` is a second column on a Series (a constant vector, or an
error, in an expression).
"""

from __future__ import annotations

import doctest
import inspect
from typing import Any

import numpy as np
import polars as pl
import polars_mlkit as pmk  # noqa: F401  (registers `ml`)
import pytest
from polars.testing import assert_series_equal
from polars_mlkit import namespace
from polars_mlkit.namespace import MlExprNamespace, MlSeriesNamespace

WRITTEN_OUT = {"dot", "cosine_similarity", "distance", "hamming", "one_hot"}
PUBLIC = sorted(
    n for n, v in vars(MlExprNamespace).items() if not n.startswith("_") and callable(v)
)
GENERATED = [n for n in PUBLIC if n not in WRITTEN_OUT]

PROJECTION = [[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]]

# method -> (column, args, kwargs) calls, together covering every public method
CALLS: dict[str, list[tuple[str, tuple[Any, ...], dict[str, Any]]]] = {
    "normalize": [
        ("x", (), {}),
        ("x", ("standard",), {"ddof": 1}),
        ("x", (), {"method": "robust", "quantile_range": (10.0, 90.0)}),
    ],
    "minmax_scale": [("x", (), {}), ("x", ((-1.0, 1.0), True), {})],
    "standard_scale": [("x", (), {}), ("x", (), {"with_mean": False, "ddof": 1})],
    "robust_scale": [("x", (), {}), ("x", (), {"unit_variance": True})],
    "maxabs_scale": [("x", (), {})],
    "dot": [("e", ([1.0, -2.0],), {}), ("e", (pl.Series([0.5, 2.0]),), {})],
    "cosine_similarity": [("e", ([1.0, 0.0],), {})],
    "distance": [("e", ([1.0, 1.0],), {}), ("e", ([0.0, 0.0], "manhattan"), {})],
    "norm": [("e", (), {}), ("e", (1,), {}), ("e", (), {"ord": float("inf")})],
    "unit_normalize": [("e", (), {}), ("e", ("max",), {})],
    "truncate_dim": [("e", (1,), {}), ("e", (2, False), {})],
    "project": [("e", (PROJECTION,), {}), ("e", (PROJECTION, [1.0, 2.0, 3.0]), {})],
    "top_k_similar": [
        ("e", ([1.0, 0.1],), {"k": 2}),
        ("e", ([0.0, 1.0], 10, "euclidean"), {}),
    ],
    "quantize": [("e", (), {}), ("e", ("binary",), {})],
    "hamming": [("c", ([3],), {})],
    "maxsim": [("t", ([[1.0, 0.0], [0.0, 2.0]],), {})],
    "vector_mean": [("e", (), {})],
    "vector_sum": [("e", (), {})],
    "vector_min": [("e", (), {})],
    "vector_max": [("e", (), {})],
    "quantile_transform": [("x", (), {}), ("x", (3, "normal"), {}), ("e", (), {})],
    "power_transform": [("x", (), {}), ("x", ("yeo-johnson", False), {}), ("e", (), {})],
    "one_hot": [
        ("x", ([-2.0, 1.0, 3.0, 4.0],), {}),
        ("x", ([1.0, 4.0, None],), {"handle_unknown": "ignore", "drop": "first"}),
    ],
    "ordinal_encode": [("x", ([-2.0, 1.0, 3.0, 4.0, None],), {})],
}
CASES = [
    pytest.param(name, column, args, kwargs, id=f"{name}-{i}")
    for name, calls in CALLS.items()
    for i, (column, args, kwargs) in enumerate(calls)
]


@pytest.fixture(params=["list", "array"])
def frame(request: pytest.FixtureRequest) -> pl.DataFrame:
    """A float column, two vector columns, a binary-code column and a
    token-list column, each with a null row."""
    vector = pl.List(pl.Float64) if request.param == "list" else pl.Array(pl.Float64, 2)
    token = pl.List(pl.Float64) if request.param == "list" else pl.Array(pl.Float64, 2)
    codes = pl.List(pl.UInt8) if request.param == "list" else pl.Array(pl.UInt8, 1)
    return pl.DataFrame(
        {
            "x": [1.0, None, 4.0, -2.0, 3.0],
            "e": [[3.0, 4.0], None, [1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]],
            "b": [[1.0, 1.0], [2.0, 0.0], [0.0, 1.0], None, [1.0, -1.0]],
            "c": [[1], [2], None, [255], [0]],
            "t": [[[1.0, 0.0], [0.5, 0.5]], [], [[0.0, 1.0]], None, [[2.0, -1.0]]],
        },
        schema={
            "x": pl.Float64,
            "e": vector,
            "b": vector,
            "c": codes,
            "t": pl.List(token),
        },
    )


def test_calls_cover_every_method() -> None:
    assert sorted(CALLS) == PUBLIC


def test_series_namespace_has_the_expr_methods() -> None:
    series_public = sorted(
        n
        for n in dir(MlSeriesNamespace)
        if not n.startswith("_") and callable(getattr(MlSeriesNamespace, n))
    )
    assert series_public == PUBLIC
    assert "__getattr__" not in vars(MlSeriesNamespace)
    for name in PUBLIC:
        assert name in vars(MlSeriesNamespace), name  # a real attribute of the class
        expr_sig = inspect.signature(getattr(MlExprNamespace, name))
        series_sig = inspect.signature(getattr(MlSeriesNamespace, name))
        assert list(series_sig.parameters.values()) == list(expr_sig.parameters.values()), name
        assert series_sig.return_annotation == "pl.Series", name
        assert getattr(MlSeriesNamespace, name).__annotations__["return"] == "pl.Series", name


def test_bound_methods_show_the_signature() -> None:
    s = pl.Series("x", [1.0, 2.0])
    assert str(inspect.signature(s.ml.top_k_similar)) == (
        "(query: 'VectorLike', k: 'int', metric: 'SearchMetric' = 'cosine') -> 'pl.Series'"
    )
    assert str(inspect.signature(s.ml.normalize)) == (
        "(method: 'ScaleMethod' = 'minmax', **options: 'Any') -> 'pl.Series'"
    )


@pytest.mark.parametrize("name", GENERATED)
def test_generated_methods_point_to_the_expr_method(name: str) -> None:
    method = vars(MlSeriesNamespace)[name]
    assert method.__name__ == name
    assert method.__qualname__ == f"MlSeriesNamespace.{name}"
    assert method.__module__ == namespace.__name__
    doc = method.__doc__
    expr_doc = inspect.cleandoc(getattr(MlExprNamespace, name).__doc__)
    assert doc.splitlines()[0] == expr_doc.splitlines()[0]
    assert f":meth:`MlExprNamespace.{name}`" in doc
    assert ">>>" not in doc


def test_doctests_are_collected_once() -> None:
    tests = doctest.DocTestFinder().find(namespace)
    with_examples = {t.name.rsplit(".", 1)[-1] for t in tests if t.examples}
    assert "MlSeriesNamespace" in with_examples  # the Series namespace as a whole
    for name in GENERATED:
        names = [t.name for t in tests if t.examples and t.name.endswith(f".{name}")]
        assert names == [f"{namespace.__name__}.MlExprNamespace.{name}"]


@pytest.mark.parametrize(("name", "column", "args", "kwargs"), CASES)
def test_series_result_equals_the_expression_result(
    frame: pl.DataFrame, name: str, column: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    expected = frame.select(getattr(pl.col(column).ml, name)(*args, **kwargs)).to_series()
    got = getattr(frame[column].ml, name)(*args, **kwargs)
    assert isinstance(got, pl.Series)
    assert_series_equal(got, expected, check_exact=True)
    assert got.name == column


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("dot", {}), ("cosine_similarity", {}), ("distance", {}), ("distance", {"metric": "cosine"})],
)
def test_another_vector_series_is_a_second_column(
    frame: pl.DataFrame, name: str, kwargs: dict[str, Any]
) -> None:
    expected = frame.select(getattr(pl.col("e").ml, name)("b", **kwargs)).to_series()
    assert expected.null_count() == 2  # the null row on either side
    got = getattr(frame["e"].ml, name)(frame["b"], **kwargs)
    assert_series_equal(got, expected, check_exact=True)
    # a 2-D array is a second column too (a null row is not data: drop it)
    kept = frame.filter(pl.col("b").is_not_null())
    rows = np.array(kept["b"].to_list())
    got_2d = getattr(kept["e"].ml, name)(rows, **kwargs)
    assert_series_equal(
        got_2d,
        kept.select(getattr(pl.col("e").ml, name)("b", **kwargs)).to_series(),
        check_exact=True,
    )


def test_the_expr_namespace_reads_a_series_as_one_constant(frame: pl.DataFrame) -> None:
    """Why the pairwise methods stay written out on the Series side."""
    with pytest.raises(TypeError, match="other must hold numbers"):
        pl.col("e").ml.dot(frame["b"])
    with pytest.raises(TypeError, match="when x is data, other must be data too"):
        frame["e"].ml.dot("b")
    with pytest.raises(TypeError, match="when x is data, other must be data too"):
        frame["e"].ml.distance(pl.col("b"))


@pytest.mark.parametrize("name", ["", "*", "^x$", "x", "e"])
def test_the_series_name_is_kept_whatever_it_is(name: str) -> None:
    values = pl.Series(name, [1.0, 2.0, 4.0])
    got = values.ml.normalize()
    assert got.name == name
    assert got.to_list() == [0.0, 1 / 3, 1.0]
    vectors = pl.Series(name, [[3.0, 4.0], [1.0, 0.0]])
    assert vectors.ml.norm().name == name
    assert vectors.ml.top_k_similar([1.0, 0.0], k=1).to_list() == [1]


def test_generated_methods_check_their_arguments() -> None:
    s = pl.Series("e", [[1.0, 0.0]])
    with pytest.raises(TypeError, match="'k'"):
        s.ml.top_k_similar([1.0, 0.0])
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        s.ml.norm(bogus=1)
    with pytest.raises(ValueError, match="norm: ord must be 1, 2"):
        s.ml.norm(ord=3)
