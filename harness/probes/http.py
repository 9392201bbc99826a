"""The ``http`` probe kind: a request, its status, and its JSON (or text) body as the value."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

import httpx
from pydantic import JsonValue

from harness.hookspecs import hookimpl
from harness.probes.base import (
    PlaceholderError,
    ProbeContext,
    ProbeKind,
    Reading,
    Secrets,
    error_text,
    expand,
    failed,
)
from harness.probespec import CheckSpec, HttpCheck
from harness.spec import JsonScalar

_MISSING = object()


def json_mismatches(expected: Mapping[str, JsonScalar], body: object) -> list[str]:
    """Each expected field that differs, as ``field: expected X, got Y``; dotted keys nest."""
    problems = []
    for key, want in expected.items():
        node: object = body
        for part in key.split("."):
            node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
        if node is _MISSING:
            problems.append(f"{key}: missing")
        elif node != want:
            problems.append(f"{key}: expected {want!r}, got {node!r}")
    return problems


class HttpKind:
    """Sends the request; a status outside ``status`` and ``json`` mismatches are problems."""

    spec = HttpCheck

    def read(self, spec: CheckSpec, context: ProbeContext) -> Reading:
        """One request; the body parsed as JSON when it is JSON, else its text."""
        assert isinstance(spec, HttpCheck)
        secrets = Secrets()
        try:
            url = expand(spec.url, context, secrets)
        except PlaceholderError as exc:
            return failed(str(exc), secrets)
        start = time.monotonic()
        try:
            response = _request(context, spec.method, url, spec.timeout)
        except httpx.HTTPError as exc:
            return failed(f"{spec.method} {url}: {error_text(exc)}", secrets)
        latency = round((time.monotonic() - start) * 1000, 1)
        problems = []
        if response.status_code not in spec.expected_statuses():
            problems.append(f"HTTP {response.status_code}, expected {spec.status}")
        value: JsonValue
        try:
            value = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            value = response.text
            if spec.json_ is not None:
                problems.append("the body is not JSON")
        else:
            if spec.json_ is not None:
                problems += json_mismatches(spec.json_, value)
        return Reading(
            value=value,
            problems=tuple(secrets.mask(p) for p in problems),
            status=response.status_code,
            latency_ms=latency,
        )


def _request(context: ProbeContext, method: str, url: str, timeout: float) -> httpx.Response:
    if context.http is not None:
        return context.http.request(method, url, timeout=timeout)
    with httpx.Client() as client:
        return client.request(method, url, timeout=timeout)


@hookimpl(trylast=True)
def harness_probe_kinds() -> Mapping[str, ProbeKind]:
    """The built-in ``http`` kind."""
    return {"http": HttpKind()}
