"""Errors of the harness: each one says what went wrong, where, what was expected, and what to do.

The root ``HarnessError`` keeps those parts as fields so front ends (pytest, the CLI, reports)
can render them the same way. A ``HarnessError`` always means the harness could not tell whether
the system under test kept its promises (a *broken* verdict), never that it broke one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(eq=False)
class HarnessError(Exception):
    """The harness could not do what it was asked; never a policy failure."""

    what: str
    where: str = ""
    expected: str = ""
    actual: str = ""
    hint: str = ""

    def __post_init__(self) -> None:
        super().__init__(self.render())

    def render(self) -> str:
        """One readable paragraph: what, where, expected/actual, then the hint."""
        head = f"{self.where}: {self.what}" if self.where else self.what
        lines = [head]
        if self.expected:
            lines.append(f"  expected: {self.expected}")
        if self.actual:
            lines.append(f"  actual:   {self.actual}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class Problem:
    """One problem found in a YAML file, located at FILE:LINE:COLUMN and a dotted field path."""

    path: Path
    line: int
    column: int
    field: str
    message: str

    def render(self) -> str:
        """Render as ``FILE:LINE:COLUMN: field.path: message`` (the compiler convention)."""
        where = f"{self.path}:{self.line}:{self.column}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


@dataclass(eq=False)
class ScenarioError(HarnessError):
    """A scenario or system file is invalid; ``problems`` lists every problem found, located."""

    problems: tuple[Problem, ...] = ()

    def render(self) -> str:
        """List every problem, one per line, then the hint."""
        if not self.problems:
            return super().render()
        lines = [p.render() for p in self.problems]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class ConfigError(HarnessError):
    """The harness was configured wrongly (an option, an environment variable): fix and rerun."""


class TargetError(HarnessError):
    """The system under test could not be started, reached, or stopped."""


class FaultError(HarnessError):
    """A fault could not be injected or healed."""


class ProbeError(HarnessError):
    """A probe could not be run (not: a probe ran and saw a bad answer)."""


class ToxiproxyError(FaultError):
    """The Toxiproxy server is missing, unreachable, or refused a request."""


class NotToxiproxyError(ToxiproxyError, ConfigError):
    """The server at a Toxiproxy URL answers, but is something else: the URL is wrong."""


class Aborted(HarnessError):
    """A guard tripped: every fault was healed and the run stopped (not a policy failure)."""
