"""The probe sampler: every steady-state probe read periodically onto the timeline.

The probes themselves (kinds, tolerances) live in ``harness.probes``; this module runs them on
a schedule for the runner, and keeps the call the runner, the guards and drills make.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from harness.probes.base import ProbeContext
from harness.probes.http import json_mismatches
from harness.probes.sampling import sample as sample_probe
from harness.probespec import Probe
from harness.timeline import ProbeEntry, Timeline

__all__ = ["Sampler", "expand_url", "json_mismatches", "sample"]


def expand_url(template: str, endpoints: Mapping[str, str]) -> str:
    """Expand ``{name}`` endpoint placeholders (``{api}/health`` -> ``http://127.0.0.1:5/health``)."""
    return template.format_map(dict(endpoints))


def sample(
    client: httpx.Client,
    probe: Probe,
    endpoints: Mapping[str, str],
    *,
    t_of: Timeline,
    phase: str,
    base_dir: Path | None = None,
) -> ProbeEntry:
    """Run one probe (of any kind) once and return its sample (never raises for a bad answer)."""
    context = ProbeContext(endpoints, base_dir or Path.cwd(), http=client)
    return sample_probe(probe, context, t_of=t_of, phase=phase)


class Sampler:
    """Samples every probe at a fixed interval in a background thread until stopped."""

    def __init__(
        self,
        probes: Sequence[Probe],
        endpoints: Mapping[str, str],
        timeline: Timeline,
        interval: float,
        *,
        base_dir: Path | None = None,
    ) -> None:
        self.phase = "inject"
        self._probes, self._endpoints, self._timeline = probes, endpoints, timeline
        self._interval, self._base_dir = interval, base_dir
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="harness-sampler", daemon=True)

    def probe_round(self, client: httpx.Client, phase: str) -> list[ProbeEntry]:
        """Sample every probe once, without recording."""
        return [
            sample(
                client,
                p,
                self._endpoints,
                t_of=self._timeline,
                phase=phase,
                base_dir=self._base_dir,
            )
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
