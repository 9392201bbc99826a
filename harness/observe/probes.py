"""Steady-state probes over HTTP, and a sampler that records them on the timeline periodically."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence

import httpx

from harness.scenario import HttpCheck, JsonScalar, Probe
from harness.timeline import ProbeEntry, Timeline


def expand_url(template: str, endpoints: Mapping[str, str]) -> str:
    """Expand ``{name}`` endpoint placeholders (``{api}/health`` -> ``http://127.0.0.1:5/health``)."""
    return template.format_map(dict(endpoints))


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


_MISSING = object()


def sample(
    client: httpx.Client, probe: Probe, endpoints: Mapping[str, str], *, t_of: Timeline, phase: str
) -> ProbeEntry:
    """Run one probe once and return its sample (never raises for a bad answer)."""
    check: HttpCheck = probe.http
    url = expand_url(check.url, endpoints)
    start = time.monotonic()
    try:
        response = client.request(check.method, url, timeout=check.timeout)
    except httpx.HTTPError as exc:
        return ProbeEntry(
            t=t_of.now(), probe=probe.name, ok=False, phase=phase, detail=_error_text(exc)
        )
    latency = (time.monotonic() - start) * 1000
    problems = []
    if response.status_code not in check.expected_statuses():
        problems.append(f"HTTP {response.status_code}, expected {check.status}")
    if check.json_ is not None:
        try:
            problems += json_mismatches(check.json_, response.json())
        except json.JSONDecodeError:
            problems.append("the body is not JSON")
    return ProbeEntry(
        t=t_of.now(),
        probe=probe.name,
        ok=not problems,
        phase=phase,
        status=response.status_code,
        latency_ms=round(latency, 1),
        detail="; ".join(problems),
    )


def _error_text(exc: httpx.HTTPError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Sampler:
    """Samples every probe at a fixed interval in a background thread until stopped."""

    def __init__(
        self,
        probes: Sequence[Probe],
        endpoints: Mapping[str, str],
        timeline: Timeline,
        interval: float,
    ) -> None:
        self.phase = "inject"
        self._probes, self._endpoints, self._timeline = probes, endpoints, timeline
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="harness-sampler", daemon=True)

    def probe_round(self, client: httpx.Client, phase: str) -> list[ProbeEntry]:
        """Sample every probe once, without recording."""
        return [
            sample(client, p, self._endpoints, t_of=self._timeline, phase=phase)
            for p in self._probes
        ]

    def record(self, entries: list[ProbeEntry]) -> None:
        """Put samples on the timeline."""
        for entry in entries:
            self._timeline.append(entry)

    def sample_all(self, client: httpx.Client, phase: str) -> list[ProbeEntry]:
        """Sample every probe once, record the samples, and return them."""
        entries = self.probe_round(client, phase)
        self.record(entries)
        return entries

    def start(self) -> None:
        """Begin sampling in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling (bounded wait for the thread); idempotent."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        with httpx.Client() as client:
            while not self._stop.is_set():
                self.sample_all(client, self.phase)
                self._stop.wait(self._interval)
