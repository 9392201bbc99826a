"""JSON paths (jsonpath-ng's extended syntax): compiled once, at load time, evaluated many times.

A scenario field typed ``JsonPath`` is compiled while the file is validated, so a bad path is a
located ``FILE:LINE:COL`` error before anything runs; evaluation later reuses the compiled
path. jsonpath-ng's parser is built on PLY, which is not safe to drive from several threads at
once: the compile cache is guarded by a lock, and the compiled paths are read-only.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, Field, JsonValue

_LOCK = threading.Lock()


class JsonPathError(ValueError):
    """A JSON path that does not parse; the message says where in the path."""


@lru_cache(maxsize=512)
def _compiled(expression: str) -> Any:
    from jsonpath_ng.exceptions import JSONPathError
    from jsonpath_ng.ext.parser import parse

    try:
        return parse(expression)
    except (JSONPathError, ValueError, TypeError, AttributeError) as exc:
        raise JsonPathError(f"not a JSON path: {expression!r}: {exc}") from None


def compile_path(expression: str) -> Any:
    """The compiled path (a jsonpath-ng expression); ``JsonPathError`` if it does not parse."""
    if not expression.strip():
        raise JsonPathError("a JSON path cannot be empty; '$' is the whole document")
    with _LOCK:
        return _compiled(expression)


def find(expression: str, document: JsonValue) -> list[JsonValue]:
    """The values ``expression`` matches in ``document``, in document order (maybe none)."""
    path = compile_path(expression)
    return [match.value for match in path.find(document)]


def _checked(expression: str) -> str:
    compile_path(expression)  # a ValueError here is located by the YAML loader
    return expression


JsonPath = Annotated[
    str,
    AfterValidator(_checked),
    Field(description="a JSON path (jsonpath-ng extended syntax), e.g. '$.orders[*].id'"),
]
"""A scenario field holding a JSON path; validated (compiled) when the file is loaded."""
