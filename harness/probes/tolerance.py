"""Tolerances: what a probe's value must be for the probe to hold (Chaos Toolkit's idea).

A tolerance is a set of conditions, all of which must hold: an exact value (``equals``), one of
several (``one_of``), a closed numeric ``range``, a ``regex`` the text must contain, ``empty``
(or not), a ``length``. With a ``jsonpath``, the conditions apply to each value the path
matches, ``count`` bounds how many it matches, and a path that matches nothing fails (unless
``count`` allows zero). Everything is checked when the file is loaded: a range whose low end is
above its high end, a regex or JSON path that does not compile, a tolerance with no condition.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated

from pydantic import AfterValidator, Field, JsonValue, model_validator

from harness.jsonpaths import JsonPath, find
from harness.spec import Model

MAX_SHOWN = 120  # characters of a value quoted in a problem


def _ordered(bounds: tuple[float, float]) -> tuple[float, float]:
    low, high = bounds
    if math.isnan(low) or math.isnan(high):
        raise ValueError("a bound cannot be NaN")
    if low > high:
        raise ValueError(f"[{low:g}, {high:g}]: the low end is above the high end; write [lo, hi]")
    return bounds


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {pattern!r}: {exc}") from None
    return pattern


Range = Annotated[
    tuple[float, float],
    AfterValidator(_ordered),
    Field(description="[lo, hi], both included"),
]
Count = Annotated[
    int | tuple[int, int],
    Field(description="exactly N, or [lo, hi] (both included)"),
]
Regex = Annotated[str, AfterValidator(_regex), Field(description="Python regex, searched")]


class Tolerance(Model):
    """What a value must be: every condition given must hold (``expect:`` of a probe)."""

    jsonpath: JsonPath | None = Field(
        default=None, description="apply the other conditions to each value this path matches"
    )
    count: Count | None = Field(default=None, description="how many values the path matches")
    equals: JsonValue = Field(default=None, description="exactly this value")
    one_of: list[JsonValue] | None = Field(default=None, description="any of these values")
    range: Range | None = Field(default=None, description="a number within [lo, hi]")
    regex: Regex | None = Field(default=None, description="text containing a match")
    empty: bool | None = Field(default=None, description="an empty (or non-empty) list/text")
    length: Count | None = Field(default=None, description="a list's or text's length")

    @model_validator(mode="after")
    def _meaningful(self) -> Tolerance:
        conditions = {"equals", "one_of", "range", "regex", "empty", "length", "count"}
        if not conditions & self.model_fields_set:
            raise ValueError(f"a tolerance needs a condition: one of {sorted(conditions)}")
        if self.count is not None and self.jsonpath is None:
            raise ValueError("'count' counts the matches of a 'jsonpath'; give one, or use length")
        for name in ("count", "length"):
            bounds = getattr(self, name)
            if isinstance(bounds, tuple):
                _ordered((float(bounds[0]), float(bounds[1])))
        return self


def check(tolerance: Tolerance, value: JsonValue) -> list[str]:
    """Every way ``value`` breaks ``tolerance``, as readable problems; none when it holds."""
    if tolerance.jsonpath is None:
        return _conditions(tolerance, value, "")
    matches = find(tolerance.jsonpath, value)
    problems: list[str] = []
    if tolerance.count is not None and not _within(len(matches), tolerance.count):
        expected = _bounds(tolerance.count)
        problems.append(f"{tolerance.jsonpath} matches {len(matches)} values, expected {expected}")
    elif not matches and tolerance.count is None:
        problems.append(f"{tolerance.jsonpath} matches nothing in {show(value)}")
    for i, match in enumerate(matches):
        where = tolerance.jsonpath if len(matches) == 1 else f"{tolerance.jsonpath} match #{i + 1}"
        problems += _conditions(tolerance, match, f"{where}: ")
    return problems


def _conditions(tol: Tolerance, value: JsonValue, where: str) -> list[str]:
    problems = []
    if "equals" in tol.model_fields_set and not same(value, tol.equals):
        problems.append(f"{where}expected {show(tol.equals)}, got {show(value)}")
    if tol.one_of is not None and not any(same(value, v) for v in tol.one_of):
        problems.append(f"{where}expected one of {show(tol.one_of)}, got {show(value)}")
    if tol.range is not None:
        problems += _in_range(tol.range, value, where)
    if tol.regex is not None:
        problems += _matches(tol.regex, value, where)
    if tol.empty is not None or tol.length is not None:
        problems += _sized(tol, value, where)
    return problems


def same(a: JsonValue, b: JsonValue) -> bool:
    """JSON equality: ``1 == 1.0``, but ``true`` is no number and ``"1"`` no number either."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def number(value: JsonValue) -> float | None:
    """The value as a number: a JSON number, or text holding one (Redis answers text)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _in_range(bounds: tuple[float, float], value: JsonValue, where: str) -> list[str]:
    found = number(value)
    if found is None:
        return [f"{where}expected a number in {_bounds(bounds)}, got {show(value)}"]
    if not bounds[0] <= found <= bounds[1]:
        return [f"{where}expected a number in {_bounds(bounds)}, got {show(value)}"]
    return []


def _matches(pattern: str, value: JsonValue, where: str) -> list[str]:
    if isinstance(value, list | dict):
        return [f"{where}expected text matching /{pattern}/, got {show(value)}"]
    text = value if isinstance(value, str) else json.dumps(value)
    if re.search(pattern, text) is None:
        return [f"{where}expected text matching /{pattern}/, got {show(value)}"]
    return []


def _sized(tol: Tolerance, value: JsonValue, where: str) -> list[str]:
    if not isinstance(value, list | dict | str):
        return [f"{where}expected a list, an object or text, got {show(value)}"]
    size = len(value)
    problems = []
    if tol.empty is True and size:
        problems.append(f"{where}expected empty, got {size} item(s): {show(value)}")
    if tol.empty is False and not size:
        problems.append(f"{where}expected something, got an empty {_noun(value)}")
    if tol.length is not None and not _within(size, tol.length):
        problems.append(f"{where}expected length {_bounds(tol.length)}, got {size}")
    return problems


def _within(size: int, bounds: int | tuple[int, int]) -> bool:
    if isinstance(bounds, int):
        return size == bounds
    return bounds[0] <= size <= bounds[1]


def _bounds(bounds: int | tuple[float, float] | tuple[int, int]) -> str:
    if isinstance(bounds, int):
        return str(bounds)
    return f"[{bounds[0]:g}, {bounds[1]:g}]"


def _noun(value: list[JsonValue] | dict[str, JsonValue] | str) -> str:
    return "list" if isinstance(value, list) else "object" if isinstance(value, dict) else "text"


def show(value: JsonValue) -> str:
    """A value as JSON, cut to ``MAX_SHOWN`` characters (problems quote what they saw)."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= MAX_SHOWN else f"{text[: MAX_SHOWN - 3]}..."


def describe(tolerance: Tolerance) -> str:
    """The tolerance in a few words, for plans and reports."""
    parts = [
        f"{name} {show(getattr(tolerance, name))}"
        for name in ("count", "equals", "one_of", "range", "regex", "empty", "length")
        if name in tolerance.model_fields_set
    ]
    text = ", ".join(parts)
    return f"{tolerance.jsonpath}: {text}" if tolerance.jsonpath else text
