"""Hypothesis strategies for malformed scenario files: mutations of the real ones, and worse.

The real scenarios in ``scenarios/`` are read once as plain data. A data-level mutation (delete,
retype, rename, add a field, nest deeply) is written back as block YAML by a small emitter of our
own, so that a value can also be raw YAML text (a tag, an alias, a 5000-digit number) that no
Python value would dump as. Text-level mutations then break the YAML itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
SCENARIO_FILES = sorted((REPO / "scenarios").glob("*.yaml"))
TEXTS = {p.name: p.read_text(encoding="utf-8") for p in SCENARIO_FILES}
Path_ = tuple[str | int, ...]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


DATA: dict[str, dict[str, Any]] = {
    name: _plain(YAML(typ="safe", pure=True).load(text)) for name, text in TEXTS.items()
}


@dataclass(frozen=True)
class Raw:
    """A value written into the YAML verbatim: a tag, an alias, a number no float can hold."""

    text: str


# --- a block-style emitter that knows Raw -------------------------------------------------

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _scalar(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)  # inf and nan come out as Infinity and NaN: plain strings
    return json.dumps(value)  # a JSON string is a YAML 1.2 double-quoted scalar


def _key(key: str) -> str:
    return key if _PLAIN_KEY.match(key) else json.dumps(key)


def emit(value: Any, indent: int = 0) -> str:
    """Block YAML for plain data (dicts, lists, scalars, Raw)."""
    return "".join(line + "\n" for line in _lines(value, indent)) or "{}\n"


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    if isinstance(value, dict) and value:
        for key, item in value.items():
            if _is_block(item):
                out.append(f"{pad}{_key(key)}:")
                out.extend(_lines(item, indent + 2))
            else:
                out.append(f"{pad}{_key(key)}: {_inline(item)}")
    elif isinstance(value, list) and value:
        for item in value:
            if _is_block(item):
                inner = _lines(item, indent + 2)
                out.append(f"{pad}- {inner[0].lstrip()}")
                out.extend(inner[1:])
            else:
                out.append(f"{pad}- {_inline(item)}")
    else:
        out.append(pad + _inline(value))
    return out


def _is_block(value: Any) -> bool:
    return isinstance(value, dict | list) and bool(value)


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


# --- paths into plain data ----------------------------------------------------------------


def all_paths(data: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every node's path, parents before children (the root is ``()``)."""
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += all_paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += all_paths(value, (*prefix, i))
    return found


def leaf_paths(data: Any) -> list[Path_]:
    """Paths of the scalars (not mappings or lists)."""
    return [p for p in all_paths(data) if not isinstance(get(data, p), dict | list)]


def get(data: Any, path: Path_) -> Any:
    """The node at ``path``."""
    for part in path:
        data = data[part]
    return data


def render_path(path: Path_) -> str:
    """A path as the harness names a field: ``faults[0].edge``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def replaced(data: Any, path: Path_, value: Any) -> Any:
    """A copy of ``data`` with the node at ``path`` replaced (``...`` deletes it)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, dict):
        copy = dict(data)
        if rest or value is not ...:
            copy[str(head)] = replaced(data[head], rest, value)
        else:
            del copy[head]
        return copy
    items = list(data)
    assert isinstance(head, int)
    if rest or value is not ...:
        items[head] = replaced(data[head], rest, value)
    else:
        del items[head]
    return items


# --- values that do not belong -------------------------------------------------------------

RAW_SCALARS = [
    "null", "~", "true", "false", "0", "-1", "3.5", ".inf", "-.inf", ".nan", "1e999", "-1e999",
    "0x1F", "0o17", "0b101", "1_000", "''", '""', "[]", "{}", "[1, 2]", "{a: 1}", "[[[]]]",
    "!!binary aGVsbG8=", "!!binary '###'", "!!timestamp 2001-12-14", "2001-12-14",
    "!!timestamp 2020-99-99", "!!int abc", "!!int 0x", "!!float abc", "!!bool maybe", "!!str 5",
    "!!null x", "!!set {a, b}", "!!omap [a: 1, b: 2]", "!!pairs [a: 1]", "!!map [1]",
    "!!seq {a: 1}", "!!python/object:os.system ls", "!!python/name:os.system",
    "!custom value", "!<tag:example.com,2000:x> 5", "&a x", "*undefined", "@reserved",
    "`reserved", "%percent", "'unterminated", '"unterminated', "- - -", "? complex", ": colon",
    "a: b: c", "{a: 1, a: 1}", "[a, b", "{a: 1", "| # a block scalar", ">-", "<<: {}",
    "\"\\x00\"", '"\\uDFFF"', '"\\U0010FFFF"', "'\\t'", "!!float 1e400", "1e-400", "-0",
]  # fmt: skip

DURATION_FIELDS = {"at", "duration", "within", "warmup", "settle", "time_budget", "timeout"}
DURATION_FIELDS |= {"down", "up", "latency", "jitter", "delay", "window"}

_number = st.one_of(
    st.from_regex(r"\A-?\d{0,4}(\.\d{0,3})?([eE][+-]?\d{1,3})?\Z"),
    st.integers(min_value=300, max_value=6000).map(lambda n: "9" * n),
    st.sampled_from(["inf", "nan", "Infinity", "-0", "\u0663", "\uff11", "0x10", "1_0", ""]),
)
_unit = st.sampled_from(["s", "m", "h", "ms", "S", "sec", "min", "us", "d", " s", "s ", "", "μs"])
bad_durations = st.one_of(
    st.lists(st.tuples(_number, _unit), min_size=1, max_size=4).map(
        lambda parts: "".join(n + u for n, u in parts)
    ),
    st.sampled_from(["30", "30 s", "3 minutes", "-5s", "1.5.5s", "s", "1m-30s", "PT30S", "∞s"]),
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
wrong_values = st.one_of(
    st.sampled_from(RAW_SCALARS).map(Raw),
    bad_durations,
    json_values,
    st.integers(min_value=300, max_value=6000).map(lambda n: Raw("9" * n)),
    st.integers(min_value=100_000, max_value=400_000).map(lambda n: "x" * n),
)


@st.composite
def field_names(draw: st.DrawFn, known: list[str]) -> str:
    """A typo of a known field (a dropped, doubled or swapped letter), or any text."""
    typo = draw(st.booleans())
    if known and typo:
        name = draw(st.sampled_from(known))
        i = draw(st.integers(0, max(len(name) - 1, 0)))
        how = draw(st.sampled_from(["drop", "double", "upper", "dash", "swap"]))
        if how == "drop":
            return name[:i] + name[i + 1 :] or "x"
        if how == "double":
            return name[:i] + name[i : i + 1] * 2 + name[i + 1 :]
        if how == "upper":
            return name.upper()
        if how == "dash":
            return name.replace("_", "-") if "_" in name else name + "-"
        return name[:i] + name[i + 1 : i + 2] + name[i : i + 1] + name[i + 2 :]
    return draw(st.text(min_size=1, max_size=30))


# --- data-level mutations of a real scenario -----------------------------------------------


@st.composite
def mutated_data(draw: st.DrawFn) -> Any:
    """A real scenario after 1-3 mutations: delete, retype, rename, add a field, nest deeply."""
    data: Any = DATA[draw(st.sampled_from(sorted(DATA)))]
    for _ in range(draw(st.integers(1, 3))):
        paths = all_paths(data)[1:] if isinstance(data, dict | list) else []
        how = draw(st.sampled_from(["delete", "retype", "duration", "rename", "add", "nest"]))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        if how == "delete":
            data = replaced(data, path, ...)
        elif how == "retype":
            data = replaced(data, path, draw(wrong_values))
        elif how == "duration":
            durations = [p for p in paths if p and p[-1] in DURATION_FIELDS]
            if durations:
                data = replaced(data, draw(st.sampled_from(durations)), draw(bad_durations))
        elif how == "nest":
            data = replaced(data, path, draw(nested_values()))
        else:
            mappings = [p for p in [(), *paths] if isinstance(get(data, p), dict)]
            where = draw(st.sampled_from(mappings))
            node = dict(get(data, where))
            if how == "rename" and node:
                old = draw(st.sampled_from(sorted(node)))
                node[draw(field_names([old]))] = node.pop(old)
            else:
                node[draw(field_names(sorted(node)))] = draw(json_values)
            data = replaced(data, where, node)
    return data


@st.composite
def nested_values(draw: st.DrawFn) -> Any:
    """A list or mapping nested 5-200 levels deep."""
    value: Any = draw(json_scalars)
    for _ in range(draw(st.integers(5, 200))):
        value = [value] if draw(st.booleans()) else {draw(st.sampled_from(["a", "type"])): value}
    return value


# --- text-level mutations ------------------------------------------------------------------

YAML_CHARS = "[]{}:,-?&*!|>'\"#%@`\t\n\r \\<=~"


@st.composite
def broken_text(draw: st.DrawFn, text: str) -> str:
    """``text`` after 1-4 edits that break YAML: brackets, quotes, tabs, indentation, cuts."""
    for _ in range(draw(st.integers(1, 4))):
        lines = text.split("\n")
        n = draw(st.integers(0, max(len(lines) - 1, 0)))
        pos = draw(st.integers(0, len(text)))
        how = draw(
            st.sampled_from(
                ["insert", "unclosed", "tab", "indent", "dedent", "truncate", "dup_line",
                 "swap_lines", "delete_span", "control", "crlf", "doc_markers"]
            )
        )  # fmt: skip
        if how == "insert":
            chunk = draw(st.text(alphabet=st.sampled_from(YAML_CHARS), min_size=1, max_size=6))
            text = text[:pos] + chunk + text[pos:]
        elif how == "unclosed":
            text = text[:pos] + draw(st.sampled_from(["[", "{", '"', "'", "[{", "{["])) + text[pos:]
        elif how == "tab":
            lines[n] = "\t" + lines[n].lstrip(" ") if draw(st.booleans()) else lines[n] + "\t"
            text = "\n".join(lines)
        elif how in ("indent", "dedent"):
            k = draw(st.integers(1, 3))
            lines[n] = " " * k + lines[n] if how == "indent" else lines[n][k:]
            text = "\n".join(lines)
        elif how == "truncate":
            text = text[:pos]
        elif how == "dup_line":
            lines.insert(n, lines[n])
            text = "\n".join(lines)
        elif how == "swap_lines":
            m = draw(st.integers(0, len(lines) - 1))
            lines[n], lines[m] = lines[m], lines[n]
            text = "\n".join(lines)
        elif how == "delete_span":
            text = text[:pos] + text[pos + draw(st.integers(1, 40)) :]
        elif how == "control":
            char = draw(
                st.sampled_from(["\x00", "\x07", "\x1b", "\x7f", "\x85", "\ufeff", "\ufffe"])
            )
            text = text[:pos] + char + text[pos:]
        elif how == "crlf":
            text = text.replace("\n", "\r\n")
        else:
            text = draw(st.sampled_from(["---\n", "%YAML 1.1\n---\n", "%FOO\n"])) + text
            text += draw(st.sampled_from(["", "...\n", "---\nname: second\n", "--- x\n"]))
    return text


# --- whole files --------------------------------------------------------------------------


def nesting(kind: str, depth: int) -> str:
    """A document whose ``faults`` is nested ``depth`` levels deep, in one of four styles."""
    if kind == "flow-list":
        return "name: deep\nfaults: " + "[" * depth + "]" * depth + "\n"
    if kind == "flow-map":
        return "name: deep\nfaults: " + "{a: " * depth + "1" + "}" * depth + "\n"
    if kind == "compact":
        return "name: deep\nfaults:\n" + "- " * depth + "x\n"
    if kind == "aliases":  # each anchor one level deeper than the last: linear text
        chain = "".join(f"  l{i}: &l{i} [*l{i - 1}]\n" for i in range(1, depth))
        return f"name: deep\nx:\n  l0: &l0 [1]\n{chain}faults: *l{depth - 1}\n"
    return "name: deep\nfaults:\n" + "".join(" " * i + "a:\n" for i in range(depth)) + "\n"


def bomb(width: int, levels: int, mapping: bool) -> str:
    """Anchors ``levels`` deep, each using the one before ``width`` times: width**levels values."""
    lines = []
    for level in range(levels):
        items = ["lol"] * width if level == 0 else [f"*b{level - 1}"] * width
        body = (
            "{" + ", ".join(f"k{i}: {v}" for i, v in enumerate(items)) + "}"
            if mapping
            else "[" + ", ".join(items) + "]"
        )
        lines.append(f"  b{level}: &b{level} {body}\n")
    return "".join(lines)


BOMB_SITES = {  # where a bomb lands: every kind of field the harness reads
    "x_bomb": "*top",  # an unknown field
    "name": "*top",  # a string field
    "sut_env": "*top",  # a dict[str, str]
    "steady_state": "*top",  # a list of models
    "faults": "*top",
    "faults ": "[{type: *top, at: 0s, duration: 1s, edge: worker -> payments}]",  # a tag
    "expectations": "[{policy: *top}]",
    "faults  ": "[{type: partition, edge: *top, at: 0s, duration: 1s}]",
    "steady_state ": "[{name: a, http: {url: x, status: *top, json: *top}}]",
    "<<": "*top",  # a merge key
}


@st.composite
def bomb_files(draw: st.DrawFn) -> str:
    """A real scenario with a billion-laughs alias bomb placed at one of ``BOMB_SITES``."""
    width, levels = draw(st.integers(2, 10)), draw(st.integers(2, 12))
    anchors = bomb(width, levels, mapping=draw(st.booleans()))
    anchors = anchors.replace(f"&b{levels - 1} ", "&top ")
    site = draw(st.sampled_from(sorted(BOMB_SITES)))
    data = dict(DATA[draw(st.sampled_from(sorted(DATA)))])
    extra = ""
    if site == "<<":
        extra = "<<: *top\n"
    else:
        data[site.strip()] = Raw(BOMB_SITES[site])
    return f"x_anchors:\n{anchors}{emit(data)}{extra}"


@st.composite
def deep_files(draw: st.DrawFn) -> str:
    """A document nested 1-3000 levels deep, in flow, block, compact or alias style."""
    kind = draw(st.sampled_from(["flow-list", "flow-map", "compact", "aliases", "block"]))
    depth = draw(st.integers(1, 300 if kind == "block" else 3000))
    text = nesting(kind, depth)
    if kind == "aliases" and draw(st.booleans()):  # the chain as a discriminator's value
        text = text.replace("faults: *", "faults:\n  - type: *")
    return text
