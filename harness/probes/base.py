"""What every probe kind offers and receives: the ``ProbeKind`` protocol, its context, a reading.

A kind *reads* a value (an HTTP body, a command's stdout, a query's result, a Redis reply, a
PromQL sample) and says whether it could; the tolerance is applied afterwards, the same way for
every kind. A kind never raises for a bad answer: what went wrong is the reading's ``error``
(could not read: unreachable, the query failed) or its ``problems`` (read, but unhealthy: an
HTTP status, an exit code). Text that leaves a kind passes through ``Secrets.mask`` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
from pydantic import JsonValue

from harness.probespec import CheckSpec
from harness.secrets import REDACTED, mask_url_passwords

PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(env:)?([^{}:]+)\}")
"""``{name}`` (an endpoint), ``{env:NAME}`` (an environment variable), ``{{``/``}}`` (braces)."""


@dataclass(frozen=True)
class ProbeContext:
    """Where probes run: the system's endpoints, its folder, the environment, an HTTP client."""

    endpoints: Mapping[str, str]
    base_dir: Path = field(default_factory=Path.cwd)
    """The system file's folder: commands run there, relative SQLite paths start there."""
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    http: httpx.Client | None = None
    """Reused by HTTP and Prometheus reads when given (one per thread), else one per read."""


class PlaceholderError(ValueError):
    """A template names an endpoint or environment variable that is not there."""


@dataclass
class Secrets:
    """The secret values expanded into one probe's templates, to mask in everything it says."""

    values: list[str] = field(default_factory=list)

    def mask(self, text: str) -> str:
        """``text`` without any secret value, and without passwords in URLs."""
        for value in sorted(self.values, key=len, reverse=True):
            if value:
                text = text.replace(value, REDACTED)
        return mask_url_passwords(text)


def expand(template: str, context: ProbeContext, secrets: Secrets, *, strict: bool = True) -> str:
    """Expand ``{endpoint}`` and ``{env:NAME}``; every environment value counts as a secret.

    ``strict=False`` (command arguments) leaves braces that name no endpoint as they are.
    """

    def one(match: re.Match[str]) -> str:
        token, is_env, name = match.group(0), match.group(1), match.group(2)
        if token in ("{{", "}}"):
            return token[0]
        if is_env:
            if name not in context.environ:
                raise PlaceholderError(f"the environment variable {name} is not set ({token})")
            secrets.values.append(context.environ[name])
            return context.environ[name]
        if name in context.endpoints:
            return context.endpoints[name]
        if strict:
            known = sorted(context.endpoints)
            raise PlaceholderError(f"unknown endpoint {token}; the system has: {known}")
        return token

    return PLACEHOLDER.sub(one, template)


@dataclass(frozen=True)
class Reading:
    """What one read saw: the value, or why there is none, and what was unhealthy about it."""

    value: JsonValue = None
    error: str | None = None
    """Could not read (unreachable, refused, failed query, not JSON): never a healthy sample."""
    problems: tuple[str, ...] = ()
    """Read, but the answer is unhealthy before any tolerance (an HTTP status, an exit code)."""
    status: int | None = None
    latency_ms: float | None = None


class ProbeKind(Protocol):
    """A probe kind: its spec model (the YAML under its key) and how to read it."""

    @property
    def spec(self) -> type[CheckSpec]:
        """The pydantic model of this kind's fields."""
        ...

    def read(self, spec: CheckSpec, context: ProbeContext) -> Reading:
        """Read once (``spec`` is an instance of ``self.spec``); never raise for a bad answer."""
        ...


def failed(error: str, secrets: Secrets) -> Reading:
    """A reading that could not read, its text masked."""
    return Reading(error=secrets.mask(error))


def error_text(exc: BaseException) -> str:
    """An exception as ``Type: message`` (the type alone when it has no message)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = [
    "PLACEHOLDER",
    "PlaceholderError",
    "ProbeContext",
    "ProbeKind",
    "Reading",
    "Secrets",
    "error_text",
    "expand",
    "failed",
]
