"""Load YAML into pydantic models, locating every problem at FILE:LINE:COLUMN and a field path.

YAML 1.2 through ruamel.yaml's round-trip loader: ``off`` stays a string, duplicate keys are
errors, and every mapping and sequence keeps the line and column of its items, so a pydantic
error's ``loc`` maps back to where the user typed the value.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scanner import RoundTripScanner, ScannerError

from harness.errors import Problem, ScenarioError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]
ExtraCheck = Callable[[Any], list[tuple[Loc, str]]]
MAX_DEPTH = 64  # lists and mappings inside each other; a scenario needs about six
MAX_VALUES = 10_000  # values once aliases are expanded; a scenario has a few hundred
MAX_MESSAGE = 300  # characters of a message that quotes the file's own values
_NO_KEY = object()


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; raise ScenarioError at the line of a syntax error."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(
            what=f"cannot read the file: {exc.strerror or exc}",
            where=str(path),
            hint="check the path; scenario names are looked up in the scenarios directory",
        ) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _position(raw[: exc.start].decode("utf-8"), exc.start)
        byte = raw[exc.start : exc.start + 1].hex()
        message = f"not UTF-8: byte 0x{byte}; save the file as UTF-8"
        raise _single(path, line, col, "", message) from None
    try:
        return _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        if _tab_at(text, mark):
            message = (
                "a tab character; YAML does not allow tabs for indentation: indent with spaces"
            )
        raise _single(path, line, col, "", f"YAML syntax: {_clip(message)}") from exc
    except ReaderError as exc:  # a character YAML does not allow, e.g. NUL
        line, col = _position(text[: exc.position], exc.position)
        message = f"YAML syntax: character #x{exc.character:04x}: {exc.reason}"
        raise _single(path, line, col, "", message) from exc
    except YAMLError as exc:
        raise _single(path, 1, 1, "", f"YAML syntax: {_clip(str(exc))}") from exc


def _tab_at(text: str, mark: Any) -> bool:
    """True when the parser stopped at a tab, or on a line indented with one."""
    if mark is None:
        return False
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    return "\t" in indent or line[mark.column : mark.column + 1] == "\t"


def _position(before: str, offset: int) -> tuple[int, int]:
    """Line and column (1-based) of the character after ``before``."""
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Scanner = _BoundedScanner
    yaml.Constructor = _Constructor
    return yaml


class _BoundedScanner(RoundTripScanner):
    """The round-trip scanner, refusing lists and mappings nested deeper than ``MAX_DEPTH``.

    ruamel's scanner takes time quadratic in the nesting of ``[`` and ``{``, and its composer
    recurses once per level: 20,000 brackets took a minute and ended in RecursionError.
    """

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: str) -> None:
        self._check_depth()
        super().fetch_flow_collection_start(TokenClass, to_push)

    def add_indent(self, column: int) -> bool:
        added = super().add_indent(column)
        if added:
            self._check_depth()
        return added

    def _check_depth(self) -> None:
        if self.flow_level + len(self.indents) > MAX_DEPTH:
            problem = f"nested more than {MAX_DEPTH} levels deep"
            raise ScannerError(None, None, problem, self.reader.get_mark())


class _Constructor(RoundTripConstructor):
    """The round-trip constructor, locating the values it cannot build (``!!int abc``)."""

    def construct_non_recursive_object(self, node: Any, tag: str | None = None) -> Any:
        try:
            return super().construct_non_recursive_object(node, tag)
        except YAMLError:
            raise
        except Exception as exc:  # ValueError, IndexError...: ruamel's own, on '!!int 0x'
            problem = f"cannot read this value: {str(exc).split(';')[0]}"  # no Python hints
            raise ConstructorError(None, None, problem, node.start_mark) from exc


def load_model(path: Path, model: type[M], extra_check: ExtraCheck | None = None) -> M:
    """Read ``path`` and validate it as ``model``; every problem is reported, located."""
    data = read_yaml(path)
    if not isinstance(data, CommentedMap):
        kind = (
            "an empty file"
            if data is None
            else "a list"
            if isinstance(data, list)
            else "a single value"
        )
        raise _single(path, 1, 1, "", f"expected a mapping of fields at the top, found {kind}")
    _check_values(path, data)
    try:
        value = model.model_validate(data)
    except ValidationError as exc:
        names, tags = _schema_names(model)
        problems = [_problem(path, data, err, names, tags) for err in exc.errors()]
        raise ScenarioError(
            what="invalid file", where=str(path), problems=tuple(sorted(problems, key=_order))
        ) from None
    if extra_check:
        found = [locate(path, data, loc, msg) for loc, msg in extra_check(value)]
        if found:
            raise ScenarioError(
                what="invalid file", where=str(path), problems=tuple(sorted(found, key=_order))
            )
    return value


def locate(path: Path, data: Any, loc: Loc, message: str) -> Problem:
    """A Problem at the YAML position of ``loc`` (the nearest existing parent if it is absent)."""
    line, col, parts = _walk(data, loc)
    return Problem(path, line, col, _render(parts), _clip(message))


def _check_values(path: Path, data: CommentedMap) -> None:
    r"""Refuse a field too big once its aliases are expanded, or with a string that is no text.

    Too big: more than ``MAX_VALUES`` values or ``MAX_DEPTH`` levels. No text: an escaped lone
    surrogate (``"\ud800"``), which pydantic refuses without saying where. The loader keeps
    an alias as a reference (nine lines of anchors make a billion values only when walked), but
    validation walks them, and an error message may print them whole.
    """
    budget = MAX_VALUES
    for key in data:
        stack: list[tuple[Any, int]] = [(key, 1), (data[key], 1)]
        while stack:
            node, depth = stack.pop()
            budget -= 1
            if budget < 0 or depth > MAX_DEPTH or (isinstance(node, str) and not _is_text(node)):
                line, col = _key_position(data, key)
                message = (
                    f"nested more than {MAX_DEPTH} levels deep through aliases"
                    if depth > MAX_DEPTH
                    else f"more than {MAX_VALUES} values once its aliases are expanded"
                    if budget < 0
                    else f"not Unicode text: {node!r} holds a lone surrogate"
                )
                raise _single(path, line, col, _render([str(key)]), _clip(message))
            if isinstance(node, dict):
                stack.extend((item, depth + 1) for pair in node.items() for item in pair)
            elif isinstance(node, list | tuple | set | frozenset):
                stack.extend((item, depth + 1) for item in node)


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _clip(message: str) -> str:
    """One printable line; a long value quoted from the file is cut in the middle (both ends tell).

    A message quotes the file's values, and a value may hold a line break or an escape sequence.
    """
    message = " ".join(message.split())
    if not message.isprintable():
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
    if len(message) <= MAX_MESSAGE:
        return message
    return f"{message[: MAX_MESSAGE * 2 // 3]} ... {message[-MAX_MESSAGE // 3 :]}"


def _single(path: Path, line: int, col: int, field: str, message: str) -> ScenarioError:
    return ScenarioError(
        what="invalid file", where=str(path), problems=(Problem(path, line, col, field, message),)
    )


def _order(p: Problem) -> tuple[int, int, str]:
    return (p.line, p.column, p.field)


def _walk(
    data: Any, loc: Loc, tags: frozenset[str] = frozenset()
) -> tuple[int, int, list[str | int]]:
    """Follow ``loc`` through the YAML nodes; skip the union tags pydantic puts in ``loc``.

    ``tags`` names the discriminator fields: ``latency`` in ``faults.1.latency.at`` is the tag
    of the item whose ``type`` is ``latency``, even though that item also has a ``latency`` field.
    """
    node, line, col = data, 1, 1
    parts: list[str | int] = []
    tagged: Any = None  # the node whose tag was skipped: its next key is a field
    for i, key in enumerate(loc):
        last = i == len(loc) - 1
        if (
            isinstance(node, CommentedMap)
            and node is not tagged
            and any(node.get(t) == key for t in tags)
        ):
            if last:
                break  # an error about the whole tagged item
            tagged = node
            continue
        if isinstance(node, CommentedMap) and key in node:
            line, col = _key_position(node, key)
            node = node[key]
            parts.append(key)
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            line, col = node.lc.item(key)[0] + 1, node.lc.item(key)[1] + 1
            node = node[key]
            parts.append(key)
        elif isinstance(node, CommentedMap) and not last:
            continue  # a discriminator tag ('partition' in faults.0.partition.edge)
        elif isinstance(node, CommentedMap):
            line, col = _key_position(node)
            parts.append(key)  # a missing field
            break
        else:
            break  # a union member ('int' in status.int): no place in the file, not a field
    return line, col, parts


def _key_position(node: CommentedMap, key: Any = _NO_KEY) -> tuple[int, int]:
    """Line and column of ``key`` in ``node``, else of ``node`` itself.

    A key merged in with ``<<`` has no position of its own: it is placed at its mapping.
    """
    try:
        line, col = node.lc.key(key) if key is not _NO_KEY else (node.lc.line, node.lc.col)
    except (KeyError, TypeError):
        line, col = node.lc.line, node.lc.col
    return (line or 0) + 1, (col or 0) + 1


def _render(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        name = str(part)
        if not name.isprintable() or not name:  # still a field the reader must find: quoted
            name = json.dumps(name)
        out += f"[{part}]" if isinstance(part, int) else (f".{name}" if out else name)
    return out


def _problem(
    path: Path, data: Any, err: ErrorDetails, names: set[str], tags: frozenset[str]
) -> Problem:
    loc = tuple(err["loc"])
    if err["type"] == "union_tag_invalid":  # point at the 'type:' key, not the whole item
        loc += (str((err.get("ctx") or {}).get("discriminator", "")).strip("'"),)
    line, col, parts = _walk(data, loc, tags)
    return Problem(path, line, col, _render(parts), _clip(_message(err, parts, names)))


def _message(err: ErrorDetails, parts: list[str | int], names: set[str]) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "extra_forbidden":
        guess = difflib.get_close_matches(str(parts[-1]) if parts else "", sorted(names), n=1)
        return "unknown field" + (f"; did you mean '{guess[0]}'?" if guess else "")
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        return f"unknown value {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        field = str(ctx.get("discriminator", "type")).strip("'")
        return f"'{field}' is missing; it decides which other fields apply"
    message = str(err["msg"])
    return message.removeprefix("Value error, ")


def _schema_names(model: type[BaseModel]) -> tuple[set[str], frozenset[str]]:
    """Field names (by alias) for did-you-mean, and the discriminator fields of tagged unions."""
    names: set[str] = set()
    tags: set[str] = set()

    def visit(schema: Any) -> None:
        if isinstance(schema, dict):
            props = schema.get("properties")
            if isinstance(props, dict):
                names.update(props)
            tag = schema.get("discriminator")
            if isinstance(tag, dict) and isinstance(tag.get("propertyName"), str):
                tags.add(tag["propertyName"])
            for value in schema.values():
                visit(value)
        elif isinstance(schema, list):
            for value in schema:
                visit(value)

    visit(model.model_json_schema(by_alias=True))
    return names, frozenset(tags)
