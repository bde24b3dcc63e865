"""The bad-input matrix (DESIGN.md, "Errors"; issue 6).

Every public function and method, on every face (``pl.col(..).ml.op``,
``series.ml.op``, ``pmk.op(name)``, ``pmk.op(data)``), meets non-numeric
dtypes, scalar columns, ragged lists, constants and matrices of the wrong
shape, invalid options, infinity, empty and all-null input, values near
±1e308 and subnormals, missing columns, and (when they exist) fitted scalers
used before fit and malformed JSON.

Each bad input must raise an ordinary ``Exception`` (never ``PanicException``,
never "the plugin panicked", never a signal) whose message names the function
(or the missing column / the version) and what was expected. Each valid edge
input must give the right answer (checked against numpy / scikit-learn inside
the case).

The cases run in subprocesses, so a crash or abort fails cases instead of
killing the test run. Cases are batched (each wrapped in try/except, one JSON
line per case); when a batch process dies, its unreported cases are re-run
one per process to pinpoint the culprit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars_mlkit as pmk
import pytest

# --------------------------------------------------------------------------- #
# the code every case process starts with
# --------------------------------------------------------------------------- #
PRELUDE = r'''
import datetime, json, math, sys, warnings
import numpy as np
import polars as pl
import polars_mlkit as pmk
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

warnings.simplefilter("ignore")
D = datetime.date(2020, 1, 1)
df = pl.DataFrame(
    {
        "num": [1.0, 2.0, 4.0],
        "int": [1, 2, 4],
        "single": pl.Series([1.0, 2.0, 4.0], dtype=pl.Float32),
        "txt": ["a", "b", "c"],
        "flag": [True, False, True],
        "day": [D, D, D],
        "rec": [{"a": 1}, {"a": 2}, {"a": 3}],
        "nested": [[[1.0]], [[2.0]], [[3.0]]],
        "words": [["a"], ["b"], ["c"]],
        "nothing": pl.Series([None, None, None], dtype=pl.Null),
        "vec": [[1.0, 2.0], [3.0, -4.0], [0.5, 0.25]],
        "arr2": pl.Series([[1.0, 2.0], [3.0, -4.0], [0.5, 0.25]], dtype=pl.Array(pl.Float64, 2)),
        "arr3": pl.Series([[1.0, 2.0, 3.0]] * 3, dtype=pl.Array(pl.Float64, 3)),
        "rag": [[1.0, 2.0], [3.0], [4.0, 5.0]],
        "infv": [[1.0, float("inf")], [1.0, 2.0], [3.0, 4.0]],
    }
)
Q = [1.0, 2.0]
M = [[1.0, 0.5], [2.0, -1.0]]
SK = {"normalize": MinMaxScaler, "minmax_scale": MinMaxScaler,
      "standard_scale": StandardScaler, "robust_scale": RobustScaler,
      "maxabs_scale": MaxAbsScaler}


def sk(op, values, scale=1.0):
    """scikit-learn's answer for op on a 1-D column (scaled by an exact power of two)."""
    a = np.asarray(values, dtype=np.float64).reshape(-1, 1) * scale
    return SK[op]().fit_transform(a).ravel()


def close(got, want, rtol=1e-12, atol=0.0):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    same = np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    assert same, (got.tolist(), want.tolist())


def run(cases):
    for name, code in cases:
        namespace = dict(globals())
        try:
            exec(code, namespace)
            out = {"name": name, "raised": False}
        except BaseException as e:  # report everything, PanicException included
            out = {
                "name": name,
                "raised": True,
                "type": type(e).__name__,
                "mro": [c.__name__ for c in type(e).__mro__],
                "is_exception": isinstance(e, Exception),
                "msg": str(e)[:2000],
            }
        print("@@CASE " + json.dumps(out), flush=True)
'''


# --------------------------------------------------------------------------- #
# cases
# --------------------------------------------------------------------------- #
@dataclass
class Case:
    """``code`` either must raise (``needles``: groups of alternatives, each
    group must appear in the message, case-insensitive) or must run through
    (``valid=True``; its own asserts check the answer)."""

    id: str
    code: str
    needles: list[tuple[str, ...]] = field(default_factory=list)
    valid: bool = False
    types: tuple[str, ...] = ()  # allowed exception class names (any in the MRO)


def err(id: str, code: str, *needles: str | tuple[str, ...], types: tuple[str, ...] = ()) -> Case:
    groups = [(n,) if isinstance(n, str) else n for n in needles]
    return Case(id, code, groups, types=types)


def ok(id: str, code: str) -> Case:
    return Case(id, code, valid=True)


ARG_ERRORS = ("ValueError", "TypeError")
SCALE_OPS = ("normalize", "minmax_scale", "standard_scale", "robust_scale", "maxabs_scale")
# op -> the arguments after x
VECTOR_OPS = {
    "dot": "Q",
    "cosine_similarity": "Q",
    "norm": "",
    "distance": "Q",
    "unit_normalize": "",
    "project": "M",
    "top_k_similar": "Q, k=1",
}
NON_NUMERIC = {
    "txt": ("str", "string"),
    "flag": ("bool",),
    "day": ("date",),
    "rec": ("struct",),
    "nested": ("list[list", "list(list"),
    "words": ("list[str", "list(str"),
    "nothing": ("null",),
}


def _join(*parts: str) -> str:
    return ", ".join(p for p in parts if p)


def faces(op: str, col: str, args: str = "") -> dict[str, str]:
    """The code of each face of ``op`` applied to column ``col`` of ``df``."""
    out: dict[str, str] = {}
    if op == "nearest":
        return {
            "eager": f'pmk.nearest(df, "{col}", [Q], {_join(args, "k=1")})',
            "lazy": f'pmk.nearest(df.lazy(), "{col}", [Q], {_join(args, "k=1")})',
        }
    if op != "dot_product":
        out["expr"] = f'df.select(pl.col("{col}").ml.{op}({args}))'
        out["schema"] = f'df.lazy().select(pl.col("{col}").ml.{op}({args})).collect_schema()'
        out["series"] = f'df["{col}"].ml.{op}({args})'
    out["free_name"] = f"df.select(pmk.{op}({_join(f'{chr(34)}{col}{chr(34)}', args)}))"
    if op != "top_k_similar":
        out["free_data"] = f"pmk.{op}({_join(f'df[{chr(34)}{col}{chr(34)}]', args)})"
    return out


ALL_OPS = {**{op: "" for op in SCALE_OPS}, **VECTOR_OPS, "dot_product": "Q", "nearest": ""}


def dtype_cases() -> list[Case]:
    cases = []
    for col, dtype_names in NON_NUMERIC.items():
        for op, args in ALL_OPS.items():
            fn = "nearest" if op == "nearest" else ("dot" if op == "dot_product" else op)
            for face, code in faces(op, col, args).items():
                cases.append(err(f"dtype-{col}-{op}-{face}", code, fn, dtype_names))
    return cases


def scalar_column_cases() -> list[Case]:
    cases = []
    for col in ("num", "int", "single"):
        for op, args in {**VECTOR_OPS, "dot_product": "Q", "nearest": ""}.items():
            fn = "dot" if op == "dot_product" else op
            for face, code in faces(op, col, args).items():
                if face == "schema":
                    continue
                cases.append(err(f"scalar-{col}-{op}-{face}", code, fn, ("vector", "array")))
    cases.append(err("scalar-other-free", "pmk.dot([1.0, 2.0], 3.0)", "dot", ("vector", "1-d")))
    cases.append(err("scalar-other-expr", 'pl.col("vec").ml.dot(3.0)', "dot", ("vector", "1-d")))
    return cases


def ragged_cases() -> list[Case]:
    cases = []
    for op in SCALE_OPS:
        for face, code in faces(op, "rag", "").items():
            if face == "schema":
                continue
            cases.append(err(f"ragged-{op}-{face}", code, op, "length", "2", "1"))
    for op in ("dot", "cosine_similarity", "distance", "project", "top_k_similar", "nearest"):
        for face, code in faces(op, "rag", ALL_OPS[op] if op != "nearest" else "").items():
            if face == "schema":
                continue
            cases.append(err(f"ragged-{op}-{face}", code, op, "length", "1", "2"))
    for op in ("dot", "distance"):
        cases.append(
            err(f"ragged-{op}-two-columns", f'df.select(pl.col("rag").ml.{op}(pl.col("vec")))', op)
        )
    # Row-local ops are valid on ragged rows.
    cases.append(
        ok(
            "ragged-norm-valid",
            'close(df["rag"].ml.norm().to_list(), [math.hypot(1, 2), 3.0, math.hypot(4, 5)])',
        )
    )
    cases.append(
        ok(
            "ragged-unit-normalize-valid",
            'r = df["rag"].ml.unit_normalize(norm="l1").to_list()\n'
            "close(r[0], [1 / 3, 2 / 3]); close(r[1], [1.0]); close(r[2], [4 / 9, 5 / 9])",
        )
    )
    # Ragged Python data: a clear error naming the function (not numpy's).
    for op, call in {
        "dot": "pmk.dot([[1.0], [1.0, 2.0]], [1.0, 2.0])",
        "norm": "pmk.norm([[1.0], [1.0, 2.0]])",
        "unit_normalize": "pmk.unit_normalize([[1.0], [1.0, 2.0]])",
        "normalize": "pmk.normalize([[1.0], [1.0, 2.0]])",
        "project": "pmk.project([1.0, 2.0], [[1.0], [1.0, 2.0]])",
        "nearest": 'pmk.nearest(df, "vec", [[1.0], [1.0, 2.0]])',
    }.items():
        cases.append(err(f"ragged-data-{op}", call, op))
    return cases


def constant_cases() -> list[Case]:
    cases = []
    for op in ("dot", "dot_product", "cosine_similarity", "distance", "top_k_similar"):
        fn = "dot" if op == "dot_product" else op
        k = ", k=1" if op == "top_k_similar" else ""
        for face, code in faces(op, "vec", f"[1.0, 2.0, 3.0]{k}").items():
            if face == "schema":
                continue
            cases.append(err(f"const-len-{op}-{face}", code, fn, "2", "3"))
        for face, code in faces(op, "arr2", f"[1.0, 2.0, 3.0]{k}").items():
            cases.append(err(f"const-len-array-{op}-{face}", code, fn, "2", "3"))
        for face, code in faces(op, "vec", f"[[1.0, 2.0]]{k}").items():
            cases.append(
                err(f"const-2d-{op}-{face}", code, fn, ("1-d", "2-d", "one vector", "vector(s)"))
            )
        cases.append(
            err(
                f"const-str-{op}",
                f'pl.col("vec").ml.{"dot" if op == "dot_product" else op}(["a", "b"]{k})',
                fn,
                "number",
                types=ARG_ERRORS,
            )
        )
        cases.append(
            err(
                f"const-series-nulls-{op}",
                f'pl.col("vec").ml.{fn}(pl.Series([1.0, None]){k})',
                fn,
                "null",
                types=ARG_ERRORS,
            )
        )
        cases.append(
            err(f"const-none-{op}", f'pl.col("vec").ml.{fn}(None{k})', fn, types=ARG_ERRORS)
        )
    for op in ("dot", "cosine_similarity", "distance"):
        cases.append(
            err(
                f"array-widths-{op}-schema",
                f'df.lazy().select(pl.col("arr2").ml.{op}(pl.col("arr3"))).collect_schema()',
                op,
                "2",
                "3",
            )
        )
        cases.append(
            err(f"list-lengths-{op}", f'df.select(pl.col("vec").ml.{op}(pl.col("arr3")))', op)
        )
        cases.append(
            err(
                f"data-rows-{op}",
                f"pmk.{op}(np.ones((2, 2)), np.ones((3, 2)))",
                op,
                "2",
                "3",
                types=ARG_ERRORS,
            )
        )
        cases.append(
            err(f"data-3d-{op}", f"pmk.{op}(np.ones((2, 2, 2)), [1.0, 1.0])", op, types=ARG_ERRORS)
        )
    cases.append(
        err("const-len-free-list", "pmk.dot([1.0, 2.0], [1.0, 2.0, 3.0])", "dot", "2", "3")
    )
    return cases


def matrix_cases() -> list[Case]:
    cases = []
    bad = {
        "shape": ("[[1.0], [2.0], [3.0]]", ("project",), ("2",), ("3",)),
        "1d": ("[1.0, 2.0]", ("project",), ("2-d", "shape")),
        "3d": ("np.ones((2, 2, 2))", ("project",), ("2-d", "shape")),
        "str": ('[["a", "b"], ["c", "d"]]', ("project",), ("number",)),
        "none": ("[[1.0, None], [2.0, 3.0]]", ("project",), ("number",)),
        "bias-len": ("M, bias=[1.0]", ("project",), ("bias",), ("1",), ("2",)),
        "bias-str": ('M, bias=["a", "b"]', ("project",), ("bias",)),
        "bias-2d": ("M, bias=[[1.0, 2.0]]", ("project",), ("bias",)),
    }
    for name, (args, *needles) in bad.items():
        for face, code in faces("project", "vec", args).items():
            if face == "schema" and name in ("shape",):
                continue
            cases.append(err(f"matrix-{name}-{face}", code, *needles))
    cases.append(
        err("matrix-array-shape-schema",
            'df.lazy().select(pl.col("arr2").ml.project([[1.0], [2.0], [3.0]])).collect_schema()',
            "project", "2", "3")
    )  # fmt: skip
    for name, queries, needles in (
        ("1d", "[1.0, 2.0]", (("2-d", "shape"),)),
        ("dim", "[[1.0, 2.0, 3.0]]", ("2", "3")),
        ("str", '[["a", "b"]]', ("number",)),
        ("3d", "np.ones((1, 1, 2))", (("2-d", "shape"),)),
    ):
        for lazy in ("df", "df.lazy()"):
            cases.append(
                err(f"queries-{name}-{lazy}", f'pmk.nearest({lazy}, "vec", {queries})', "nearest",
                    *needles)
            )  # fmt: skip
    return cases


def option_cases() -> list[Case]:
    bad = [
        ("normalize", 'method="bogus"', ("method",)),
        ("normalize", 'method="minmax", ddof=1', ("ddof",)),
        ("normalize", 'method="standard", feature_range=(0, 1)', ("feature_range",)),
        ("minmax_scale", "feature_range=(1.0, 0.0)", ("feature_range",)),
        ("minmax_scale", "feature_range=(1.0, 1.0)", ("feature_range",)),
        ("minmax_scale", 'feature_range=(0.0, float("inf"))', ("feature_range",)),
        ("minmax_scale", 'feature_range=("a", "b")', ("feature_range",)),
        ("minmax_scale", "feature_range=(0.0,)", ("feature_range",)),
        ("minmax_scale", 'clip="yes"', ("clip",)),
        ("normalize", 'method="minmax", feature_range=(2, 1)', ("feature_range",)),
        ("robust_scale", "quantile_range=(75.0, 25.0)", ("quantile_range",)),
        ("robust_scale", "quantile_range=(-1.0, 50.0)", ("quantile_range",)),
        ("robust_scale", "quantile_range=(0.0, 101.0)", ("quantile_range",)),
        ("robust_scale", "quantile_range=(0.0, 100.0), unit_variance=True", ("quantile_range",)),
        ("normalize", 'method="robust", quantile_range=(90, 10)', ("quantile_range",)),
        ("standard_scale", "ddof=-1", ("ddof",)),
        ("standard_scale", "ddof=1.5", ("ddof",)),
        ("standard_scale", 'with_mean="yes"', ("with_mean",)),
        ("normalize", 'method="standard", ddof=-2', ("ddof",)),
        ("norm", "ord=3", ("ord",)),
        ("norm", "ord=0", ("ord",)),
        ("norm", 'ord="fro"', ("ord",)),
        ("norm", "ord=True", ("ord",)),
        ("unit_normalize", 'norm="l3"', ("norm",)),
        ("truncate_dim", "n=0", ("n",)),
        ("truncate_dim", "n=1.5", ("n",)),
        ("truncate_dim", 'n=1, renormalize="yes"', ("renormalize",)),
        ("distance", 'Q, metric="hamming"', ("metric",)),
        ("top_k_similar", 'Q, k=1, metric="manhattan"', ("metric",)),
        ("top_k_similar", "Q, k=0", ("k",)),
        ("top_k_similar", "Q, k=-1", ("k",)),
        ("top_k_similar", "Q, k=1.5", ("k",)),
        ("top_k_similar", "Q, k=True", ("k",)),
    ]
    cases = []
    for i, (op, args, needles) in enumerate(bad):
        col = "num" if op in SCALE_OPS else "vec"
        # Caught in Python, before any query runs: building the expression raises.
        cases.append(
            err(f"option-{i}-{op}-build", f'pl.col("{col}").ml.{op}({args})', op, needles,
                types=ARG_ERRORS)
        )  # fmt: skip
        cases.append(
            err(f"option-{i}-{op}-series", f'df["{col}"].ml.{op}({args})', op, needles,
                types=ARG_ERRORS)
        )  # fmt: skip
        cases.append(
            err(f"option-{i}-{op}-free", f'pmk.{op}("{col}", {args})', op, needles,
                types=ARG_ERRORS)
        )  # fmt: skip
        if op != "top_k_similar":
            data = "[1.0, 2.0, 4.0]" if op in SCALE_OPS else "[1.0, 2.0]"
            cases.append(
                err(f"option-{i}-{op}-data", f"pmk.{op}({data}, {args})", op, needles,
                    types=ARG_ERRORS)
            )  # fmt: skip
    for i, args in enumerate(("k=0", "k=-3", "k=2.0", 'metric="bogus"')):
        for lazy in ("df", "df.lazy()"):
            cases.append(
                err(f"option-nearest-{i}-{lazy}", f'pmk.nearest({lazy}, "vec", [Q], {args})',
                    "nearest", args.split("=")[0], types=ARG_ERRORS)
            )  # fmt: skip
    # Integers beyond any row count are valid: k means "all rows", a ddof at or
    # above the row count means scale 1.
    cases += [
        ok("option-huge-k",
           'assert df.select(pl.col("vec").ml.top_k_similar(Q, k=2**70)).height == df.height'),
        ok("option-huge-k-nearest",
           'assert pmk.nearest(df, "vec", [Q], k=2**70).height == df.height'),
        ok("option-huge-ddof",
           "assert pmk.standard_scale([1.0, 2.0], ddof=2**70) == [-0.5, 0.5]"),
        err("option-bad-x", "pmk.normalize(5)", "normalize", types=ARG_ERRORS),
        err("option-bad-x-0d", "pmk.normalize(np.array(3.0))", "normalize", types=ARG_ERRORS),
        ok("option-topk-data", "assert pmk.top_k_similar(df['vec'], Q, k=1).to_list() == [0]"),
        err("option-other-column-with-data", 'pmk.dot([1.0, 2.0], "vec")', "dot",
            types=ARG_ERRORS),
    ]  # fmt: skip
    # A large ddof is documented: "fewer than ddof + 1 values -> scale 1".
    cases += [
        ok("option-ddof-above-count", "close(pmk.standard_scale([1.0, 2.0, 6.0], ddof=5), "
           "[-2.0, -1.0, 3.0])"),
        ok("option-ddof-huge-count", "close(pmk.standard_scale([1.0, 2.0, 6.0], ddof=2**40), "
           "[-2.0, -1.0, 3.0])"),
    ]  # fmt: skip
    return cases


def non_numeric_data_cases() -> list[Case]:
    """Python data that is not numbers: an error naming the function, never a
    silent conversion to null."""
    return [
        err("data-strings-list", 'pmk.normalize(["a", "b", 1.0])', "normalize"),
        err("data-strings-numpy", 'pmk.normalize(np.array(["a", "b"]))', "normalize"),
        err("data-strings-numpy-2d", 'pmk.standard_scale(np.array([["a"], ["b"]]))',
            "standard_scale"),
        err("data-strings-vector", 'pmk.dot(["a", "b"], [1.0, 2.0])', "dot"),
        err("data-strings-other", 'pmk.dot([1.0, 2.0], np.array(["a", "b"]))', "dot"),
        err("data-bytes", 'pmk.minmax_scale([b"x", b"y"])', "minmax_scale"),
        err("data-dates", "pmk.maxabs_scale([D, D])", "maxabs_scale"),
    ]  # fmt: skip


def infinity_cases() -> list[Case]:
    cases = []
    for op in SCALE_OPS:
        cases.append(err(f"inf-{op}-data", f'pmk.{op}([1.0, float("inf"), 3.0])', op, "inf", "1"))
        cases.append(
            err(f"neginf-{op}-series",
                f'pl.Series("x", [1.0, 2.0, float("-inf")]).ml.{op}()', op, "inf", "2")
        )  # fmt: skip
        cases.append(err(f"inf-{op}-vectors", f'df.select(pl.col("infv").ml.{op}())', op, "inf"))
        cases.append(
            err(f"inf-{op}-f32", f'pl.Series([1.0, float("inf")], dtype=pl.Float32).ml.{op}()',
                op, "inf")
        )  # fmt: skip
        cases.append(
            err(f"inf-{op}-over", f'df.with_columns(g=pl.lit(1)).select('
                f'pl.col("infv").ml.{op}().over("g"))', op, "inf")
        )  # fmt: skip
    # Vector ops: infinity is a value (numpy's answers).
    cases.append(
        ok(
            "inf-vector-ops",
            'a = [1.0, float("inf")]\n'
            "assert pmk.dot(a, [1.0, 1.0]) == math.inf\n"
            "assert pmk.norm(a) == math.inf and pmk.norm(a, ord=1) == math.inf\n"
            'assert pmk.norm(a, ord=float("inf")) == math.inf\n'
            "assert pmk.distance(a, [0.0, 0.0]) == math.inf\n"
            'assert pmk.distance(a, [0.0, 0.0], metric="manhattan") == math.inf\n'
            'assert math.isnan(pmk.distance(a, a, metric="chebyshev"))\n'
            'assert math.isnan(pmk.dot([float("nan"), 1.0], [1.0, 1.0]))',
        )
    )
    return cases


def empty_and_null_cases() -> list[Case]:
    cases = []
    for op in SCALE_OPS:
        cases += [
            ok(f"empty-{op}-list", f"assert pmk.{op}([]) == []"),
            ok(f"empty-{op}-series",
               f's = pl.Series("x", [], dtype=pl.Float64).ml.{op}()\n'
               "assert s.len() == 0 and s.dtype == pl.Float64"),
            ok(f"empty-{op}-numpy-2d",
               f"a = pmk.{op}(np.empty((0, 3)))\nassert a.shape == (0, 3)"),
            ok(f"allnull-{op}",
               f's = pl.Series("x", [None, None, None], dtype=pl.Float64).ml.{op}()\n'
               "assert s.to_list() == [None] * 3 and s.dtype == pl.Float64"),
            ok(f"allnull-{op}-f32",
               f's = pl.Series("x", [None, None], dtype=pl.Float32).ml.{op}()\n'
               "assert s.to_list() == [None] * 2 and s.dtype == pl.Float32"),
            ok(f"allnull-{op}-vectors",
               f's = pl.Series("x", [None, None], dtype=pl.List(pl.Float64)).ml.{op}()\n'
               "assert s.to_list() == [None, None]"),
            ok(f"allnan-{op}",
               f"r = pmk.{op}([float('nan'), None, float('nan')])\n"
               "assert math.isnan(r[0]) and r[1] is None and math.isnan(r[2])"),
        ]  # fmt: skip
    for op, args in VECTOR_OPS.items():
        if op == "top_k_similar":
            continue
        for dtype in ("pl.List(pl.Float64)", "pl.Array(pl.Float64, 2)"):
            cases += [
                ok(f"empty-{op}-{dtype}",
                   f's = pl.Series("x", [], dtype={dtype}).ml.{op}({args})\n'
                   "assert s.len() == 0"),
                ok(f"allnull-{op}-{dtype}",
                   f's = pl.Series("x", [None, None], dtype={dtype}).ml.{op}({args})\n'
                   "assert s.to_list() == [None, None]"),
            ]  # fmt: skip
    for dtype in ("pl.List(pl.Float64)", "pl.Array(pl.Float64, 2)"):
        cases += [
            ok(f"empty-topk-{dtype}",
               f'f = pl.DataFrame({{"e": pl.Series([], dtype={dtype})}})\n'
               'assert f.select(pl.col("e").ml.top_k_similar(Q, k=3))["e"].to_list() == []'),
            ok(f"allnull-topk-{dtype}",
               f'f = pl.DataFrame({{"e": pl.Series([None, None], dtype={dtype})}})\n'
               'assert f.select(pl.col("e").ml.top_k_similar(Q, k=3))["e"].to_list() == []'),
            ok(f"empty-nearest-{dtype}",
               f'f = pl.DataFrame({{"e": pl.Series([], dtype={dtype})}})\n'
               'r = pmk.nearest(f, "e", [Q], k=3)\n'
               'assert r.height == 0 and r.columns == ["query", "rank", "index", "score"]'),
            ok(f"allnull-nearest-{dtype}",
               f'f = pl.DataFrame({{"e": pl.Series([None, None], dtype={dtype})}})\n'
               'assert pmk.nearest(f, "e", [Q], k=3).height == 0'),
        ]  # fmt: skip
    cases += [
        ok("nearest-no-queries", 'assert pmk.nearest(df, "vec", np.zeros((0, 2))).height == 0'),
        # Zero-width vectors are valid: dot 0, norm 0, cosine 0 (zero vector).
        ok("zero-width-list-dot",
           's = pl.Series("x", [[], []], dtype=pl.List(pl.Float64))\n'
           "assert s.ml.dot([]).to_list() == [0.0, 0.0]\n"
           "assert s.ml.norm().to_list() == [0.0, 0.0]"),
        # Array(_, 0) cannot cross the plugin boundary: a schema-time error
        # naming the function (List columns of empty vectors work).
        *(
            err(f"zero-width-array-{name}",
                'f = pl.LazyFrame({"e": pl.Series([[], []], dtype=pl.Array(pl.Float64, 0))})\n'
                f'f.select(pl.col("e").ml.{call}).collect_schema()',
                function, "length 0")
            for name, call, function in (
                ("dot", "dot([])", "dot"),
                ("norm", "norm()", "norm"),
                ("unit-normalize", "unit_normalize()", "unit_normalize"),
                ("normalize", "normalize()", "normalize"),
                ("topk", "top_k_similar([], k=1)", "top_k_similar"),
            )
        ),
        ok("zero-width-list-nearest",
           'f = pl.DataFrame({"e": pl.Series([[], []], dtype=pl.List(pl.Float64))})\n'
           'assert pmk.nearest(f, "e", np.zeros((1, 0)), k=1)["index"].to_list() == [0]'),
        # knn_join: the queries are the left frame's vector column.
        *(
            err(f"knn-join-{name}-{lazy}",
                f"pmk.knn_join(pl.DataFrame({{{left}}}), {right}, {args})", *needles, types=types)
            for lazy, right in (("eager", "df"), ("lazy", "df.lazy()"))
            for name, left, args, needles, types in (
                ("width", '"vec": [[1.0, 2.0, 3.0]]', 'on="vec"', ("knn_join", ("3", "width")), ()),
                ("left-scalar", '"vec": [1.0]', 'on="vec"', ("knn_join", "vector"), ("TypeError",)),
                ("right-scalar", '"v": [Q]', 'on="v", right_on="txt"',
                 ("knn_join", "txt", "vector"), ("TypeError",)),
                ("missing-on", '"v": [Q]', 'on="nope"', ("knn_join", "nope"),
                 ("ColumnNotFoundError",)),
                ("missing-right-on", '"v": [Q]', 'on="v", right_on="nope"', ("knn_join", "nope"),
                 ("ColumnNotFoundError",)),
                ("k-zero", '"vec": [Q]', 'on="vec", k=0', ("knn_join", "k"), ("ValueError",)),
                ("k-float", '"vec": [Q]', 'on="vec", k=1.5', ("knn_join", "k"), ("TypeError",)),
                ("metric", '"vec": [Q]', 'on="vec", metric="l7"', ("knn_join", "metric"),
                 ("ValueError",)),
            )
        ),
        # Vector aggregations: a scalar or ragged column names the function.
        *(
            err(f"{op}-{what}-{face}", code.format(op=op, col=col), op, *needles)
            for op in ("vector_mean", "vector_sum", "vector_min", "vector_max")
            for what, col, needles in (
                ("scalar", "num", ("vector",)),
                ("ragged", "rag", ("length",)),
            )
            for face, code in (
                ("expr", 'df.select(pl.col("{col}").ml.{op}())'),
                ("free", 'df.select(pmk.{op}("{col}"))'),
                ("frame", 'pmk.{op}(df.with_columns(g=pl.lit(1)), "{col}", by="g")'),
            )
        ),
        # Their frame form: missing columns, a missing by, and by with data.
        *(
            err(f"{op}-frame-{what}", code.format(op=op), op, *needles, types=types)
            for op in ("vector_mean", "vector_sum", "vector_min", "vector_max")
            for what, code, needles, types in (
                ("missing-by", 'pmk.{op}(df, "vec", by="nope")', ("nope",),
                 ("ColumnNotFoundError",)),
                ("missing-column", 'pmk.{op}(df, "nope", by="num")', ("nope",),
                 ("ColumnNotFoundError",)),
                ("no-by", 'pmk.{op}(df, "vec")', ("by",), ARG_ERRORS),
                ("by-with-data", 'pmk.{op}([[1.0, 2.0]], by="num")', ("DataFrame",),
                 ARG_ERRORS),
            )
        ),
        err("knn-join-right-type", 'pmk.knn_join(pl.DataFrame({"vec": [Q]}), [Q], on="vec")',
            "knn_join", "right", types=("TypeError",)),
        ok("knn-join-empty-corpus-and-null-queries",
           'left = pl.DataFrame({"id": [1, 2], "vec": [[1.0, 2.0], None]})\n'
           'r = pmk.knn_join(left, df.clear(), on="vec")\n'
           'assert r.height == 0 and "rank" in r.columns\n'
           'r = pmk.knn_join(left, df.lazy(), on="vec", k=1)\n'
           'assert r["id"].to_list() == [1] and r["rank"].to_list() == [1]'),
    ]  # fmt: skip
    return cases


def extreme_value_cases() -> list[Case]:
    huge = "[-1e308, 0.0, 1e308, 1e308, 5e307]"
    tiny = "[5e-324, 1e-323, 2e-323, 0.0, 1.5e-323]"
    cases = []
    for op in SCALE_OPS:
        cases.append(
            ok(f"huge-{op}",
               f"r = pmk.{op}({huge})\nassert all(math.isfinite(v) for v in r), r\n"
               f"close(r, sk('{op}', {huge}, 2.0 ** -600))")
        )  # fmt: skip
        cases.append(
            ok(f"max-{op}",
               f"r = pmk.{op}([-1.7e308, 1.7e308, 0.0])\n"
               "assert all(math.isfinite(v) for v in r), r\n"
               f"close(r, sk('{op}', [-1.7e308, 1.7e308, 0.0], 2.0 ** -600))")
        )  # fmt: skip
        cases.append(
            ok(f"huge-{op}-vectors",
               f's = pl.Series("x", [[1e308, -1e308], [-1e308, 1e308], [0.0, 1e307]]).ml.{op}()\n'
               "got = np.array(s.to_list())\n"
               f"want = np.column_stack([sk('{op}', [1e308, -1e308, 0.0], 2.0 ** -600),\n"
               f"                        sk('{op}', [-1e308, 1e308, 1e307], 2.0 ** -600)])\n"
               "close(got, want)")
        )  # fmt: skip
        exact = op in ("normalize", "minmax_scale", "maxabs_scale")
        cases.append(
            ok(f"subnormal-{op}",
               f"r = pmk.{op}({tiny})\n"
               + (f"assert r == sk('{op}', {tiny}).tolist(), (r, sk('{op}', {tiny}))"
                  if exact else f"close(r, sk('{op}', {tiny}), rtol=0.0, atol=2e-323)"))
        )  # fmt: skip
    cases += [
        ok("norm-1e200", "r = pmk.norm([3e200, 4e200])\nassert abs(r - 5e200) <= 1e-14 * 5e200"),
        ok("norm-1e-200",
           "r = pmk.norm([3e-200, 4e-200])\nassert abs(r - 5e-200) <= 1e-14 * 5e-200"),
        ok("norm-1e308", "r = pmk.norm([1e308, 1e308])\nclose(r, math.hypot(1e308, 1e308))"),
        ok("norm-subnormal",
           "r = pmk.norm([3e-320, 4e-320])\nassert abs(r - math.hypot(3e-320, 4e-320)) <= 5e-324"),
        ok("norm-series-1e200",
           "r = pl.Series([[3e200, 4e200], [3e-200, -4e-200]]).ml.norm().to_list()\n"
           "close(r, [5e200, 5e-200], rtol=1e-14)"),
        ok("euclidean-1e308",
           "close(pmk.distance([1e308, 0.0], [0.0, 1e308]), math.hypot(1e308, 1e308))"),
        ok("cosine-1e308",
           "assert abs(pmk.cosine_similarity([1e308, 1e308], [1e308, -1e308])) <= 1e-15\n"
           "close(pmk.cosine_similarity([1e308, 1e308], [1e308, 1e308]), 1.0)\n"
           "close(pmk.cosine_similarity([1e-320, 0.0], [1e300, 1e300]), math.sqrt(0.5))"),
        ok("unit-normalize-1e308",
           "close(pmk.unit_normalize([1e308, 1e308]), [math.sqrt(0.5)] * 2)"),
        # A constant column maps to feature_range[0], even near f64::MAX.
        ok("huge-constant-minmax-range",
           "assert pmk.minmax_scale([1e308, 1e308], feature_range=(0.0, 2.0)) == [0.0, 0.0]"),
        ok("dot-overflow-is-inf", "assert pmk.dot([1e308, 1e308], [1e308, 1e308]) == math.inf"),
        ok("dot-subnormal", "assert pmk.dot([5e-324, 1.0], [1.0, 0.0]) == 5e-324"),
        ok("project-1e300",
           "close(pmk.project([1e300, 1e300], [[1.0], [-1.0]], bias=[2.0]), [2.0])"),
    ]  # fmt: skip
    return cases


def missing_column_cases() -> list[Case]:
    cases = []
    for op, args in ALL_OPS.items():
        for face, code in faces(op, "no_such_col", args).items():
            if face in ("series", "free_data"):
                continue
            cases.append(err(f"missing-{op}-{face}", code, "no_such_col"))
    cases.append(
        err("missing-other-column", 'df.select(pl.col("vec").ml.dot(pl.col("no_such_col")))',
            "no_such_col")
    )  # fmt: skip
    return cases


SCALER_CLASSES = ("StandardScaler", "MinMaxScaler", "RobustScaler", "MaxAbsScaler")
SCALER_CLASSES += ("QuantileTransformer", "PowerTransformer")


def scaler_cases() -> list[Case]:
    """Fitted scalers and load_scaler, when the package has them."""
    cases = []
    fit_df = 'pl.DataFrame({"feat": [1.0, 2.0, 4.0], "grp": ["a", "a", "b"]})'
    for cls in SCALER_CLASSES:
        if not hasattr(pmk, cls):
            continue
        new = f'pmk.{cls}(columns=["feat"])'
        for call in ("transform", "inverse_transform"):
            cases.append(err(f"{cls}-{call}-before-fit", f"{new}.{call}({fit_df})", "fit"))
        cases.append(err(f"{cls}-expressions-before-fit", f"{new}.expressions()", "fit"))
        cases.append(err(f"{cls}-to-json-before-fit", f"{new}.to_json()", "fit"))
        cases.append(err(f"{cls}-params-before-fit", f"{new}.params_", "fit"))
        cases.append(
            err(f"{cls}-fit-missing", f'pmk.{cls}(columns=["no_such_col"]).fit({fit_df})',
                "no_such_col")
        )  # fmt: skip
        cases.append(err(f"{cls}-fit-string", f'pmk.{cls}(columns=["grp"]).fit({fit_df})', "grp"))
        cases.append(
            err(f"{cls}-transform-missing",
                f"{new}.fit({fit_df}).transform({fit_df}.drop('feat'))", "feat")
        )  # fmt: skip
        cases.append(
            err(f"{cls}-fit-inf",
                f'{new}.fit(pl.DataFrame({{"feat": [1.0, float("inf")]}}))', "inf")
        )  # fmt: skip
    if hasattr(pmk, "RobustScaler"):
        cases.append(
            err("RobustScaler-partial-fit",
                f'pmk.RobustScaler(columns=["feat"]).partial_fit({fit_df})', "partial_fit")
        )  # fmt: skip
    if hasattr(pmk, "load_scaler"):
        cases += [
            err("load-not-json", 'pmk.load_scaler("this is not json")', "load_scaler"),
            err("load-empty", 'pmk.load_scaler("")', "load_scaler"),
            err("load-empty-object", 'pmk.load_scaler("{}")', "load_scaler"),
            err("load-list", 'pmk.load_scaler("[1, 2]")', "load_scaler"),
            err("load-not-str", "pmk.load_scaler(123)", "load_scaler"),
        ]
        if hasattr(pmk, "StandardScaler"):
            fitted = f'pmk.StandardScaler(columns=["feat"]).fit({fit_df}).to_json()'
            cases += [
                err("load-truncated", f"t = {fitted}\npmk.load_scaler(t[: len(t) // 2])",
                    "load_scaler"),
                err("load-unknown-version",
                    f"d = json.loads({fitted})\n"
                    "key = next(k for k in d if 'version' in k.lower())\n"
                    "d[key] = 999\n"
                    "pmk.load_scaler(json.dumps(d))", "version", "999"),
                err("load-wrong-field-type",
                    f"d = json.loads({fitted})\n"
                    "d = {k: ([] if k.lower() != 'version' and isinstance(v, (dict, list)) "
                    "else v) for k, v in d.items()}\n"
                    "pmk.load_scaler(json.dumps(d))", "load_scaler"),
            ]  # fmt: skip
    return cases


ENCODER_CLASSES = ("OneHotEncoder", "OrdinalEncoder")


def encoder_cases() -> list[Case]:
    """Encoders, the category expressions and load (issue 23)."""
    cat = 'cat = pl.DataFrame({"c": ["a", "b", None], "k": [1, 2, 3], "x": [0.5, 1.0, 2.0]})\n'
    enum = 'pl.DataFrame({"c": pl.Series(["lo", "hi"], dtype=pl.Enum(["lo", "hi"]))})'
    cases = [
        err(
            "one-hot-unknown",
            cat + 'cat.select(pl.col("c").ml.one_hot(["a"]))',
            "one_hot",
            '"c"',
            '"b"',
        ),
        err(
            "one-hot-unknown-int",
            cat + 'cat.select(pl.col("k").ml.one_hot([1, 2]))',
            "one_hot",
            '"k"',
            "3",
        ),
        err(
            "one-hot-no-categories",
            cat + 'cat.select(pl.col("c").ml.one_hot())',
            "one_hot",
            "categories",
        ),
        err(
            "one-hot-bad-dtype",
            cat + 'pmk.one_hot("c", ["a"], dtype=pl.String)',
            "one_hot",
            "dtype",
            types=ARG_ERRORS,
        ),
        err(
            "one-hot-bad-handle",
            cat + 'pmk.one_hot("c", ["a"], handle_unknown="zero")',
            "one_hot",
            "handle_unknown",
            types=ARG_ERRORS,
        ),
        err(
            "one-hot-mixed-categories",
            'pmk.one_hot("c", ["a", 1])',
            "one_hot",
            "categories",
            types=ARG_ERRORS,
        ),
        err(
            "one-hot-duplicate-categories",
            'pmk.one_hot("c", ["a", "a"])',
            "one_hot",
            "twice",
            types=ARG_ERRORS,
        ),
        err(
            "one-hot-bad-drop",
            'pmk.one_hot("c", ["a"], drop="zz")',
            "one_hot",
            "drop",
            types=ARG_ERRORS,
        ),
        err(
            "one-hot-list-column",
            'pl.DataFrame({"l": [[1]]}).select(pl.col("l").ml.one_hot([1]))',
            "one_hot",
            "list",
        ),
        err(
            "ordinal-encode-unknown",
            cat + 'cat.select(pl.col("c").ml.ordinal_encode(["a"]))',
            "ordinal_encode",
            '"c"',
            '"b"',
        ),
        err(
            "ordinal-encode-wrong-kind",
            cat + 'cat.select(pl.col("k").ml.ordinal_encode(["1"]))',
            "ordinal_encode",
            '"k"',
            "strings",
        ),
        err(
            "ordinal-encode-data",
            "pmk.ordinal_encode([1, 2], [1])",
            "ordinal_encode",
            types=ARG_ERRORS,
        ),
        ok(
            "ordinal-encode-enum",
            f'assert {enum}.select(pl.col("c").ml.ordinal_encode())["c"].to_list() == [0, 1]',
        ),
        err("load-encoder-not-json", 'pmk.load("{")', "load"),
        err("load-not-str-any", "pmk.load(1.5)", "load", types=("TypeError",)),
        err(
            "from-sklearn-unsupported",
            "from sklearn.svm import SVC\npmk.from_sklearn(SVC().fit([[0.0], [1.0]], [0, 1]))",
            "from_sklearn",
            "SVC",
            types=("TypeError",),
        ),
        err(
            "from-sklearn-unfitted",
            "from sklearn.preprocessing import StandardScaler\npmk.from_sklearn(StandardScaler())",
            "not fitted",
        ),
        err(
            "make-pipeline-missing-column",
            'pmk.make_pipeline(pmk.StandardScaler(columns=["nope"]))'
            '.fit(pl.DataFrame({"x": [1.0]}))',
            "nope",
        ),
        err(
            "make-pipeline-duplicate-names",
            'pmk.Pipeline([("a", pmk.StandardScaler()), ("a", pmk.MinMaxScaler())])'
            '.fit(pl.DataFrame({"x": [1.0]}))',
            "unique",
        ),
    ]
    for cls in ENCODER_CLASSES:
        new = f'pmk.{cls}(columns=["c"])'
        cases += [
            err(f"{cls}-transform-before-fit", cat + f"{new}.transform(cat)", "fit"),
            err(f"{cls}-fit-missing", cat + f'pmk.{cls}(columns=["nope"]).fit(cat)', "nope"),
            err(
                f"{cls}-unseen",
                cat + f'{new}.fit(cat).transform(pl.DataFrame({{"c": ["zz"]}}))',
                '"c"',
                '"zz"',
            ),
            err(
                f"{cls}-string-fit-int-transform",
                cat + f'{new}.fit(cat).transform(pl.DataFrame({{"c": [1]}}))',
                '"c"',
                "strings",
            ),
            err(
                f"{cls}-bad-categories",
                cat + f'pmk.{cls}(columns=["k"], categories=[[2, 1]]).fit(cat)',
                "sorted",
                types=ARG_ERRORS,
            ),
            err(
                f"{cls}-bad-min-frequency",
                cat + f"pmk.{cls}(min_frequency=-1).fit(cat)",
                "min_frequency",
                types=ARG_ERRORS,
            ),
            err(
                f"{cls}-load-truncated",
                cat + f"t = {new}.fit(cat).to_json()\npmk.load(t[:20])",
                "load",
            ),
        ]
    drop_unseen = 'pmk.OneHotEncoder(columns=["c"], drop=["q"]).fit(cat)'
    cases.append(
        err("OneHotEncoder-drop-unseen", cat + drop_unseen, "'q'", "dropped", types=ARG_ERRORS)
    )
    return cases


def quantized_cases() -> list[Case]:
    """Quantize, Hamming distance and the rescored search (issue 12)."""
    codes = (
        'codes = pl.DataFrame({"b": pl.Series([[1], [2], [255]], dtype=pl.Array(pl.UInt8, 1)),'
        ' "b2": pl.Series([[1, 2]] * 3, dtype=pl.Array(pl.UInt8, 2)),'
        ' "e": [[0.5] * 8, [-1.0] * 8, [1.0] * 8], "id": [1, 2, 3]})\n'
    )
    cases = [
        *(
            err(f"quantize-{what}-{face}", code.format(col=col), "quantize", *needles)
            for what, col, needles in (
                ("scalar", "num", (("vector", "array"),)),
                ("text", "txt", (("str", "string"),)),
                ("words", "words", (("list[str", "list(str"),)),
                ("ragged", "rag", ("length",)),
                ("infinite", "infv", ("infinite",)),
            )
            for face, code in (
                ("expr", 'df.select(pl.col("{col}").ml.quantize())'),
                ("series", 'df["{col}"].ml.quantize()'),
                ("free", 'df.select(pmk.quantize("{col}"))'),
            )
        ),
        err("quantize-data-text", 'pmk.quantize([["a", "b"]])', "quantize", "numbers",
            types=("TypeError",)),
        err("quantize-precision", 'pl.col("vec").ml.quantize("int4")', "quantize", "precision",
            types=("ValueError",)),
        err("quantize-ranges-shape", 'pl.col("arr2").ml.quantize(ranges=[[0.0, 0.0, 0.0]])',
            "quantize", "(2, d)", types=("ValueError",)),
        err("quantize-ranges-width",
            'df.select(pl.col("arr2").ml.quantize(ranges=[[0.0] * 3, [1.0] * 3]))',
            "quantize", "3", "2"),
        err("quantize-ranges-width-list",
            'df.select(pl.col("vec").ml.quantize(ranges=[[0.0] * 3, [1.0] * 3]))',
            "quantize", "3", "2"),
        err("quantize-ranges-order", 'pl.col("vec").ml.quantize(ranges=[[1.0, 0.0], [0.0, 1.0]])',
            "quantize", "min < max", types=("ValueError",)),
        err("quantize-ranges-nan",
            'pl.col("vec").ml.quantize(ranges=[[0.0, float("nan")], [1.0, 1.0]])',
            "quantize", "finite", types=("ValueError",)),
        err("quantize-ranges-binary", 'pl.col("vec").ml.quantize("binary", ranges=[[0.0], [1.0]])',
            "quantize", "int8", types=("ValueError",)),
        ok("quantize-empty-and-null",
           'e = pl.Series("e", [None, None], dtype=pl.Array(pl.Float32, 3))\n'
           'assert e.ml.quantize().to_list() == [None, None]\n'
           'assert e.ml.quantize("binary").dtype == pl.Array(pl.UInt8, 1)\n'
           'assert e.clear().ml.quantize().len() == 0'),
        *(
            err(f"hamming-floats-{face}", code, "hamming", "uint8")
            for face, code in (
                ("expr", 'df.select(pl.col("vec").ml.hamming([1]))'),
                ("schema", 'df.lazy().select(pl.col("arr2").ml.hamming([1, 2])).collect_schema()'),
                ("series", 'df["vec"].ml.hamming([1])'),
                ("free", 'df.select(pmk.hamming("vec", [1]))'),
            )
        ),
        err("hamming-widths", codes + 'codes.select(pl.col("b").ml.hamming("b2"))',
            "hamming", "widths", "1", "2"),
        err("hamming-constant-width", codes + 'codes.select(pl.col("b2").ml.hamming([1]))',
            "hamming", "length", "2", "1"),
        err("hamming-code-values", codes + 'codes.select(pl.col("b").ml.hamming([300]))',
            "hamming", "byte", types=("ValueError",)),
        err("hamming-data-values", "pmk.hamming([[1, -2]], [1, 2])", "hamming", "byte",
            types=("ValueError",)),
        err("hamming-list-rows",
            'pl.Series("c", [[1], [1, 2]], dtype=pl.List(pl.UInt8)).ml.hamming([1])',
            "hamming", "row 1", "2", "1"),
        err("hamming-scalar", 'df.select(pl.col("num").ml.hamming([1]))', "hamming",
            ("vector", "array")),
        *(
            err(f"maxsim-flat-{face}", code, "maxsim", "token")
            for face, code in (
                ("expr", 'df.select(pl.col("vec").ml.maxsim([[1.0, 0.0]]))'),
                ("free", 'df.select(pmk.maxsim("vec", [[1.0, 0.0]]))'),
            )
        ),
        err("maxsim-width",
            'tok = pl.DataFrame({"t": [[[1.0, 2.0]]]},\n'
            '                   schema={"t": pl.List(pl.Array(pl.Float32, 2))})\n'
            'tok.select(pl.col("t").ml.maxsim([[1.0, 0.0, 0.0]]))',
            "maxsim", "width 2", "3"),
        err("maxsim-ragged", 'pl.DataFrame({"t": [[[1.0, 2.0], [1.0]]]})'
            '.select(pl.col("t").ml.maxsim([[1.0, 0.0]]))', "maxsim", "row 0", "width 1"),
        err("maxsim-empty-query", 'df.select(pl.col("vec").ml.maxsim([[]]))', "maxsim",
            "at least one token", types=ARG_ERRORS),
        ok("maxsim-series",
           'tok = pl.Series("t", [[[1.0, 0.0]], None, []],\n'
           '                dtype=pl.List(pl.Array(pl.Float64, 2)))\n'
           'assert pmk.maxsim(tok, [[2.0, 0.0]]).to_list() == [2.0, None, None]'),
        err("nearest-filter-missing", 'pmk.nearest(df, "vec", [Q], filter=pl.col("nope") > 1)',
            "nearest", "nope"),
        err("nearest-filter-not-boolean", 'pmk.nearest(df, "vec", [Q], filter=pl.col("num") + 1)',
            "nearest", "boolean", types=ARG_ERRORS),
        err("knn-join-by-dtypes",
            'pmk.knn_join(df.select("vec", g=pl.lit("a")), df.select("vec", g=pl.lit(1)), on="vec",'
            ' by="g")', "knn_join", "'g'", "string", "int32"),
        err("top-k-hamming-floats",
            'df.select(pl.col("vec").ml.top_k_similar(Q, k=1, metric="hamming"))',
            "top_k_similar", "uint8"),
        err("top-k-hamming-query", codes + 'codes.select(pl.col("b").ml.top_k_similar([0.5], k=1,'
            ' metric="hamming"))', "top_k_similar", "byte"),
        err("nearest-hamming-query", codes + 'pmk.nearest(codes, "b", [[0.5]], metric="hamming")',
            "nearest", "byte"),
        err("nearest-hamming-floats", 'pmk.nearest(df, "vec", [Q], metric="hamming")',
            "nearest", "uint8"),
        err("rescore-missing", codes + 'pmk.nearest(codes, "b", [[1.0] * 8], metric="hamming",'
            ' rescore="nope")', "nearest", "nope"),
        err("rescore-missing-lazy", codes + 'pmk.nearest(codes.lazy(), "b", [[1.0] * 8],'
            ' metric="hamming", rescore="nope")', "nearest", "nope"),
        err("rescore-rows-line-up", codes + 'pmk.nearest(codes, "b", [[1.0] * 8], metric="hamming",'
            ' rescore=pl.Series([[1.0] * 8] * 2))', "nearest", "line up", types=("ValueError",)),
        err("rescore-not-vectors", codes + 'pmk.nearest(codes, "b", [[1.0] * 8], metric="hamming",'
            ' rescore="id")', "nearest", "vector", types=("TypeError",)),
        err("rescore-width", codes + 'pmk.nearest(codes, "b", [[1.0] * 8], metric="hamming",'
            ' rescore="b2")', "nearest", ("length", "width")),
        err("rescore-needs-hamming", codes + 'pmk.nearest(codes, "e", [[1.0] * 8],'
            ' rescore="e")', "nearest", "hamming", types=("ValueError",)),
        err("rescore-metric", codes + 'pmk.nearest(codes, "b", [[1.0] * 8], metric="hamming",'
            ' rescore="e", rescore_metric="l7")', "nearest", "rescore_metric",
            types=("ValueError",)),
        err("rescore-oversample", codes + 'pmk.nearest(codes, "b", [[1.0] * 8], metric="hamming",'
            ' rescore="e", oversample=0)', "nearest", "oversample", types=("ValueError",)),
        ok("rescore-empty-corpus",
           codes + 'r = pmk.nearest(codes.clear(), "b", [[1.0] * 8], metric="hamming",'
           ' rescore="e")\n'
           'assert r.height == 0 and r.columns == ["query", "rank", "index", "score"]'),
        ok("narrow-vectors-every-face",
           'x = np.array([[1, -2, 3], [0, 0, 0], [127, -128, 5]], dtype=np.int8)\n'
           'for dtype in (pl.Int8, pl.Float16, pl.UInt8):\n'
           '    v = np.abs(x.astype(np.int16)) if dtype == pl.UInt8 else x\n'
           '    s = pl.Series("e", v.astype(np.float64)).cast(pl.Array(dtype, 3))\n'
           '    q = [1.0, 2.0, 3.0]\n'
           '    w = v.astype(np.float64)\n'
           '    close(s.ml.dot(q).to_numpy(), w @ q, rtol=1e-6)\n'
           '    close(pl.DataFrame([s]).select(pmk.norm("e"))["e"].to_numpy(),'
           ' np.linalg.norm(w, axis=1), rtol=1e-6)\n'
           '    assert s.ml.cosine_similarity(q)[1] == 0.0  # a zero vector\n'
           '    assert s.ml.unit_normalize().dtype == pl.Array(pl.Float32, 3)'),
    ]  # fmt: skip
    return cases


GAUSSIAN_OPS = ("quantile_transform", "power_transform")


def gaussian_cases() -> list[Case]:
    """quantile_transform / power_transform and their fitted transformers."""
    cases = []
    for op in GAUSSIAN_OPS:
        for col, dtype_names in NON_NUMERIC.items():
            for face, code in faces(op, col).items():
                cases.append(err(f"gauss-dtype-{col}-{op}-{face}", code, op, dtype_names))
        for face, code in faces(op, "rag").items():
            if face != "schema":
                cases.append(err(f"gauss-ragged-{op}-{face}", code, op, "length", "2", "1"))
        for face, code in faces(op, "no_such_col").items():
            if face not in ("series", "free_data"):
                cases.append(err(f"gauss-missing-{op}-{face}", code, "no_such_col"))
        inf = 'pl.DataFrame({"a": [1.0, float("inf")]})'
        cases += [
            err(f"gauss-inf-expr-{op}", f'{inf}.select(pl.col("a").ml.{op}())', op, "inf", '"a"'),
            err(f"gauss-inf-data-{op}", f'pmk.{op}([1.0, float("inf"), 2.0])', op, "inf"),
            err(f"gauss-inf-vector-{op}", f'df.select(pl.col("infv").ml.{op}())', op, "inf",
                "dimension 1"),
            err(f"gauss-bad-x-{op}", f"pmk.{op}(5)", op, types=ARG_ERRORS),
            ok(f"gauss-all-null-{op}",
               f'r = pl.Series("a", [None, None], dtype=pl.Float64).ml.{op}()\n'
               "assert r.to_list() == [None, None]"),
            ok(f"gauss-empty-{op}",
               f'assert pmk.{op}(pl.Series("a", [], dtype=pl.Float64)).len() == 0\n'
               f"assert pmk.{op}([]) == []"),
            ok(f"gauss-null-list-{op}",
               f"r = pmk.{op}([1.0, None, 3.0, 2.0])\nassert r[1] is None"),
            ok(f"gauss-huge-{op}",
               f"r = pmk.{op}(np.array([[-1e308], [0.0], [1e308], [5e307]]))\n"
               "assert np.isfinite(r).all()"),
            ok(f"gauss-subnormal-{op}",
               f"r = pmk.{op}([5e-324, 1e-310, 0.0, -1e-310])\nassert all(map(math.isfinite, r))"),
            ok(f"gauss-int-{op}",
               f'assert df.select(pl.col("int").ml.{op}()).schema["int"] == pl.Float64'),
            ok(f"gauss-f32-{op}",
               f'assert df.select(pl.col("single").ml.{op}()).schema["single"] == pl.Float32'),
        ]  # fmt: skip
    bad_options = [
        ("quantile_transform", "n_quantiles=0", ("n_quantiles",)),
        ("quantile_transform", "n_quantiles=2.5", ("n_quantiles",)),
        ("quantile_transform", "n_quantiles=True", ("n_quantiles",)),
        ("quantile_transform", 'output_distribution="gaussian"', ("output_distribution",)),
        ("power_transform", 'method="log"', ("method",)),
        ("power_transform", 'standardize="yes"', ("standardize",)),
    ]
    for op, options, needles in bad_options:
        for face, code in {
            "expr": f'pl.col("num").ml.{op}({options})',
            "free": f"pmk.{op}([1.0, 2.0], {options})",
            "fitted": f"pmk.{'Quantile' if op[0] == 'q' else 'Power'}Transformer({options})"
            ".fit(df.select('num'))",
        }.items():
            name = f"gauss-option-{op}-{options.split('=')[0]}-{options.split('=')[1][:4]}-{face}"
            cases.append(err(name, code, op if face != "fitted" else "Transformer", *needles,
                             types=ARG_ERRORS))  # fmt: skip
    nonpositive = 'pl.DataFrame({"price": [1.0, 0.0, 2.0]})'
    cases += [
        err("gauss-box-cox-zero", f'{nonpositive}.select(pl.col("price").ml.power_transform('
            'method="box-cox"))', "power_transform", "positive", '"price"'),
        err("gauss-box-cox-negative-data", 'pmk.power_transform([1.0, -1.0], method="box-cox")',
            "power_transform", "positive"),
        err("gauss-box-cox-constant",
            'pmk.power_transform(pl.Series("c", [2.0, 2.0]), method="box-cox")', "constant"),
        err("gauss-box-cox-fit", f'pmk.PowerTransformer(method="box-cox").fit({nonpositive})',
            "positive", "price", types=("ValueError",)),
        err("gauss-box-cox-transform",
            'pmk.PowerTransformer(method="box-cox").fit(pl.DataFrame({"price": [1.0, 3.0]}))'
            f".transform({nonpositive})", "positive", "price"),
        err("gauss-subsample-small",
            'pmk.QuantileTransformer(n_quantiles=2, subsample=2).fit(df.select("num"))',
            "subsample", types=("ValueError",)),
        err("gauss-subsample-type", 'pmk.QuantileTransformer(subsample="all").fit(df)',
            "subsample", types=ARG_ERRORS),
        err("gauss-load-wrong-quantiles",
            't = pmk.QuantileTransformer().fit(df.select("num")).to_json()\n'
            "d = json.loads(t)\n"
            'd["statistics"]["num"]["quantiles"] = [[1.0, 2.0], [3.0]]\n'
            "pmk.load_scaler(json.dumps(d))", "load_scaler"),
        ok("gauss-vector-per-dimension",
           'r = df.select(pl.col("arr2").ml.quantile_transform())["arr2"].to_list()\n'
           "assert [v[0] for v in r] == [0.5, 1.0, 0.0]"),
    ]  # fmt: skip
    return cases


def cpu_cases() -> list[Case]:
    """``cpu_info`` takes no arguments; a bad ``POLARS_MLKIT_ISA`` is
    checked at import (test_cpu_levels.py)."""
    return [
        err("cpu-info-argument", 'pmk.cpu_info("avx2")', "cpu_info", types=("TypeError",)),
        ok("cpu-info", 'assert pmk.cpu_info()["active"] in pmk.cpu_info()["levels"]'),
    ]


def all_cases() -> list[Case]:
    cases = (
        dtype_cases()
        + scalar_column_cases()
        + ragged_cases()
        + constant_cases()
        + matrix_cases()
        + option_cases()
        + non_numeric_data_cases()
        + infinity_cases()
        + empty_and_null_cases()
        + extreme_value_cases()
        + missing_column_cases()
        + scaler_cases()
        + quantized_cases()
        + gaussian_cases()
        + encoder_cases()
        + cpu_cases()
    )
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return cases


CASES = all_cases()
BATCH = 40


# --------------------------------------------------------------------------- #
# running
# --------------------------------------------------------------------------- #
def _run_process(cases: list[Case]) -> tuple[dict[str, dict], subprocess.CompletedProcess]:
    code = PRELUDE + "\nrun(" + repr([(c.id, c.code) for c in cases]) + ")\n"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=120, text=True, check=False
    )
    reports = {}
    for line in proc.stdout.splitlines():
        if line.startswith("@@CASE "):
            report = json.loads(line[len("@@CASE ") :])
            reports[report["name"]] = report
    return reports, proc


def _run_batch(cases: list[Case]) -> dict[str, dict]:
    reports, proc = _run_process(cases)
    if proc.returncode != 0 or len(reports) < len(cases):
        # The process died: re-run the unreported cases one per process.
        for case in cases:
            if case.id in reports:
                continue
            single, p = _run_process([case])
            reports[case.id] = single.get(
                case.id,
                {
                    "name": case.id,
                    "crashed": True,
                    "returncode": p.returncode,
                    "stderr": p.stderr[-3000:],
                },
            )
    return reports


@pytest.fixture(scope="module")
def reports() -> dict[str, dict]:
    batches = [CASES[i : i + BATCH] for i in range(0, len(CASES), BATCH)]
    out: dict[str, dict] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        for result in pool.map(_run_batch, batches):
            out.update(result)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, reports: dict[str, dict]) -> None:
    report = reports[case.id]
    where = f"\n--- code ---\n{case.code}"
    assert not report.get("crashed"), (
        f"process died (exit {report.get('returncode')}){where}\n{report.get('stderr')}"
    )
    if case.valid:
        assert not report["raised"], f"valid input raised {report['type']}: {report['msg']}{where}"
        return
    assert report["raised"], f"returned instead of raising an error{where}"
    msg, kind = report["msg"], report["type"]
    assert report["is_exception"], f"{kind} is not an Exception: {msg}{where}"
    assert "PanicException" not in report["mro"], f"panic: {msg}{where}"
    assert "panicked" not in msg.lower(), f"the plugin panicked: {msg}{where}"
    if case.types:
        assert set(case.types) & set(report["mro"]), (
            f"expected one of {case.types} (raised in Python), got {kind}: {msg}{where}"
        )
    lowered = msg.lower()
    for group in case.needles:
        assert any(n.lower() in lowered for n in group), (
            f"message does not name {' or '.join(map(repr, group))}: {kind}: {msg}{where}"
        )


def test_matrix_covers_every_public_function() -> None:
    """Every public function and namespace method appears in the matrix."""
    covered = " ".join(c.code for c in CASES)
    public = [n for n in pmk.__all__ if n != "__version__"]
    for name in public:
        if name[0].isupper() or name == "load_scaler":
            continue  # fitted scalers: covered when present (scaler_cases)
        assert f"pmk.{name}(" in covered, name
        if name not in (
            "nearest",
            "dot_product",
            "knn_join",
            "cpu_info",
            "load",
            "from_sklearn",
            "make_pipeline",
        ):
            assert f".ml.{name}(" in covered, name
    for cls in SCALER_CLASSES + ENCODER_CLASSES:
        if hasattr(pmk, cls):
            assert f"pmk.{cls}(" in covered, cls
