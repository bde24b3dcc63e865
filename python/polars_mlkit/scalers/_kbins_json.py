"""The JSON text of a fitted KBinsDiscretizer (format ``polars-mlkit/kbins``,
see ``docs/kbins-json.md``): writing it and reading it back (registered with
:func:`polars_mlkit.load`).

A document holds the constructor arguments (``params``), the options in
force, the binned columns with their fit-time dtypes, the ``by`` columns
and groups (rendered as text, as the scalers' JSON renders them), and the
edges of every column and group. Edges are written as the ``repr`` text
of each float, so that every bit and the infinities of a constant column
survive.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from polars_mlkit._reserved import GROUP_KEY
from polars_mlkit.scalers._kbins_fit import KBinsState
from polars_mlkit.scalers._registry import bad, document_class, register_reader
from polars_mlkit.scalers._state import _rebuild_groups

#: The ``format`` field of a KBinsDiscretizer's JSON text.
KBINS_FORMAT = "polars-mlkit/kbins"
#: The newest version this package reads and the one it writes.
KBINS_FORMAT_VERSION = 1


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return list(value) if isinstance(value, tuple) else value


def kbins_to_json(kind: str, params: dict[str, Any], state: KBinsState) -> str:
    """The JSON text of a fitted discretizer of the class named ``kind``."""
    rendered = (
        state.groups.select(pl.col(b).cast(pl.String) for b in state.by).rows() if state.by else []
    )
    document = {
        "format": KBINS_FORMAT,
        "version": KBINS_FORMAT_VERSION,
        "kind": kind,
        "params": {k: _plain(v) for k, v in params.items()},
        "options": state.options,
        "columns": [
            {"name": name, "dtype": dtype, "edges": [[repr(float(v)) for v in e] for e in per]}
            for name, dtype, per in zip(state.columns, state.dtypes, state.edges, strict=True)
        ],
        "by": [{"name": b, "dtype": d} for b, d in zip(state.by, state.by_dtypes, strict=True)],
        "groups": [
            {"key": key, "values": list(values)}
            for key, values in zip(state.keys, rendered, strict=False)
        ],
        "feature_names_in": state.feature_names_in,
        "n_features_in": state.n_features_in,
        "n_samples_seen": state.n_samples_seen,
    }
    return json.dumps(document, allow_nan=False)


def _read(document: Mapping[str, Any], function: str) -> Any:
    """A parsed ``polars-mlkit/kbins`` document as its fitted discretizer."""
    _, cls = document_class(document, KBINS_FORMAT, KBINS_FORMAT_VERSION, "kbins ", function)
    try:
        fitted = cls(**dict(document["params"]))
        checked = fitted._checked_options(function)
        options = dict(document["options"])
        for name in ("encode", "strategy", "quantile_method"):
            if options[name] != checked[name]:
                raise ValueError(f"options[{name!r}] disagrees with params")
        by = [str(e["name"]) for e in document["by"]]
        by_dtypes = [str(e["dtype"]) for e in document["by"]]
        entries = list(document["groups"])
        if by:
            groups = _rebuild_groups(by, by_dtypes, [list(g["values"]) for g in entries])
            if groups[GROUP_KEY].to_list() != [str(g["key"]) for g in entries]:
                raise ValueError("group keys do not match their values")
        else:
            groups = pl.DataFrame()
        n_groups = len(entries) if by else 1
        columns = list(document["columns"])
        edges = []
        for entry in columns:
            per = [np.array([float(v) for v in e], dtype=np.float64) for e in entry["edges"]]
            if len(per) != n_groups or any(e.size < 2 or np.any(np.diff(e) <= 0) for e in per):
                raise ValueError(f"column {entry['name']!r}: edges must rise, one list per group")
            edges.append(per)
        names = document.get("feature_names_in")
        state = KBinsState(
            options={**options, "by": by},
            columns=[str(e["name"]) for e in columns],
            dtypes=[str(e["dtype"]) for e in columns],
            by=by,
            by_dtypes=by_dtypes,
            groups=groups,
            edges=edges,
            feature_names_in=None if names is None else [str(n) for n in names],
            n_features_in=int(document["n_features_in"]),
            n_samples_seen=int(document["n_samples_seen"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise bad(
            function, f"malformed {cls.__name__} document ({type(exc).__name__}: {exc})"
        ) from exc
    fitted._state = state
    return fitted


register_reader(KBINS_FORMAT, _read)
