"""Durations as scenarios write them: ``30s``, ``5m``, ``1m30s``, ``250ms``, ``1.5h``.

A bare number is refused (is ``30`` seconds or minutes?), and so is prose like ``3 minutes``,
and anything longer than a year: no run lasts that long, and the sums and waits built from a
duration must stay finite numbers.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = r"(\d+(?:\.\d+)?)(ms|h|m|s)"
DURATION_PATTERN = rf"^(?:{_PART})+$"
_WHOLE = re.compile(DURATION_PATTERN)
_PARTS = re.compile(_PART)
MAX_SECONDS = 365 * 86400.0


def parse_duration(value: object) -> float:
    """Parse a duration string into seconds; raise ValueError saying how to write one."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"a duration must be a string like '30s', got {type(value).__name__}")
    if isinstance(value, int | float):
        raise ValueError(f"a duration needs a unit: write '{value}s' or '{value}m', not {value}")
    text = value.strip()
    if not _WHOLE.match(text):
        raise ValueError(f"not a duration: {value!r}; write it like 30s, 5m, 1m30s, 250ms or 1h")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PARTS.findall(text))
    if not seconds <= MAX_SECONDS:  # also inf, from 400 digits: NaN once subtracted
        raise ValueError(f"{value!r} is longer than a year, the longest duration allowed")
    return seconds


def render_duration(seconds: float) -> str:
    """Render seconds back into the scenario syntax (``90.0`` -> ``1m30s``)."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    minutes, secs = divmod(round(seconds, 3), 60.0)  # 119.9996 is 2m, not 1m60s
    hours, minutes = divmod(int(minutes), 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    if secs:
        text += f"{round(secs, 3):g}s"
    return text


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(render_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "examples": ["30s", "5m", "1m30s", "250ms"],
            "description": "a duration with units: ms, s, m, h (e.g. 1m30s)",
        }
    ),
]
"""Seconds, written in a scenario as a string with units."""


def parse_fraction(value: object) -> object:
    """``1%`` -> 0.01; a number stays a number (0.01); anything else is left to pydantic."""
    if isinstance(value, str) and value.strip().endswith("%"):
        number = value.strip()[:-1].strip()
        try:
            return float(number) / 100
        except ValueError:
            raise ValueError(f"not a percentage: {value!r}; write e.g. 1% or 0.5%") from None
    return value


Fraction = Annotated[
    float,
    BeforeValidator(parse_fraction),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": 1},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$"},
            ],
            "examples": ["1%", 0.05],
            "description": "a fraction: 0.01, or a percentage: 1%",
        }
    ),
]
"""A share between 0 and 1, written as a number or a percentage."""
