"""The registry of fitted-transformer classes and their JSON readers.

Each class registers itself where it is defined (``@register``), under the
JSON ``format`` its ``to_json`` writes and its class name (the document's
``kind``); each format registers the function that reads its documents.
:func:`load` parses a text once and hands the document to the reader of its
format. Nothing here imports a transformer module, so the modules that
define classes import this one and never each other in a circle.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

#: Reads a parsed document of one format: (document, function name) -> fitted object.
Reader = Callable[[Mapping[str, Any], str], Any]

_CLASSES: dict[str, dict[str, type]] = {}
_READERS: dict[str, Reader] = {}

T = TypeVar("T", bound=type)


def register(cls: T) -> T:
    """Class decorator: ``cls`` is loadable from JSON documents of its
    ``_json_format`` whose ``kind`` is its name."""
    _CLASSES.setdefault(cls._json_format, {})[cls.__name__] = cls  # type: ignore[attr-defined]
    return cls


def register_reader(format_name: str, reader: Reader) -> None:
    """``reader`` reads the documents whose ``format`` is ``format_name``."""
    _READERS[format_name] = reader


def kinds(format_name: str) -> dict[str, type]:
    """The registered classes of a format, by name (registration order)."""
    return dict(_CLASSES.get(format_name, {}))


def bad(function: str, problem: str) -> ValueError:
    """The error every reader raises for a malformed document."""
    return ValueError(f"{function}: {problem}")


def document_version(
    document: Mapping[str, Any], max_version: int, label: str, function: str
) -> int:
    """The format version of a parsed document, or a clear error: a version
    that is not an integer in ``1..max_version`` (``label`` names the
    documents in the message, e.g. ``"imputer "``)."""
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise bad(function, f"version must be an integer, got {version!r}")
    if not 1 <= version <= max_version:
        raise bad(
            function,
            f"format version {version} is not supported; this polars-mlkit reads {label}"
            f"versions 1 to {max_version} (a newer polars-mlkit wrote it?)",
        )
    return version


def document_class(
    document: Mapping[str, Any], format_name: str, max_version: int, label: str, function: str
) -> tuple[int, type]:
    """The format version of a parsed ``format_name`` document and the
    registered class its ``kind`` names, or a clear error: a version that is
    not an integer in ``1..max_version`` (``label`` names the documents in
    the message, e.g. ``"imputer "``), an unknown kind."""
    version = document_version(document, max_version, label, function)
    classes = kinds(format_name)
    kind = document.get("kind")
    if kind not in classes:
        raise bad(function, f"unknown kind {kind!r}; expected one of {', '.join(classes)}")
    return version, classes[kind]


def parse(text: Any, function: str) -> dict[str, Any]:
    """The JSON object of ``text`` (str or bytes), or a clear error."""
    if not isinstance(text, (str, bytes, bytearray)):
        msg = f"{function}: expected the JSON text (str or bytes), got {type(text).__name__}"
        raise TypeError(msg)
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad(function, f"the text is not valid JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise bad(function, f"the document must be a JSON dict, got {document!r}")
    return document


def load(text: str | bytes, function: str = "load") -> Any:
    """Rebuild any fitted object from the JSON text of its ``to_json``.

    Parameters
    ----------
    text
        The JSON text (str or bytes).
    function
        The name error messages start with.

    Returns
    -------
    The fitted object (a scaler, transformer or encoder), of the class the
    document names.

    Raises
    ------
    TypeError
        ``text`` is not a str or bytes.
    ValueError
        Malformed text, an unknown format or kind, or a version this package
        does not read.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_mlkit as pmk
    >>> enc = pmk.OrdinalEncoder().fit(pl.DataFrame({"c": ["b", "a"]}))
    >>> again = pmk.load(enc.to_json())
    >>> type(again).__name__, again.transform(pl.DataFrame({"c": ["b"]}))["c"].to_list()
    ('OrdinalEncoder', [1.0])
    >>> sc = pmk.MinMaxScaler().fit(pl.DataFrame({"x": [0.0, 4.0]}))
    >>> type(pmk.load(sc.to_json())).__name__
    'MinMaxScaler'
    """
    document = parse(text, function)
    format_name = document.get("format")
    reader = _READERS.get(format_name) if isinstance(format_name, str) else None
    if reader is None:
        expected = " or ".join(repr(f) for f in _READERS)
        raise bad(function, f"format must be {expected}, got {format_name!r}")
    return reader(document, function)
