"""Halt conditions: guards watched in a background thread while faults are active.

A guard is a probe (of any kind) that trips after ``after`` failures in a row (a business
metric below its floor, the blast radius grown too far), or an error-rate ceiling over the
requests the harness itself sent (workload and load) in a sliding, scaled window. The first
guard to trip is recorded as a ``GuardEntry`` and reported to the runner, which heals every
fault at once and aborts the run. Guard checks are not steady-state samples and do not go on
the timeline.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx

from harness.observe.probes import sample
from harness.scenario import ErrorRateGuard, Guard
from harness.timeline import GuardEntry, LoadEntry, RequestEntry, Timeline


class GuardMonitor:
    """Checks every guard each ``interval`` seconds until one trips or it is stopped."""

    def __init__(
        self,
        guards: Sequence[Guard],
        endpoints: Mapping[str, str],
        timeline: Timeline,
        on_trip: Callable[[GuardEntry], None],
        interval: float = 0.1,
        *,
        base_dir: Path | None = None,
    ) -> None:
        self._guards, self._endpoints, self._timeline = guards, endpoints, timeline
        self._base_dir = base_dir
        self._on_trip, self._interval = on_trip, interval
        self._failures = {g.name: 0 for g in guards}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="harness-guards", daemon=True)

    def start(self) -> None:
        """Begin watching (nothing to do without guards)."""
        if self._guards:
            self._thread.start()

    def stop(self) -> None:
        """Stop watching; idempotent, bounded."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        with httpx.Client() as client:
            while not self._stop.wait(self._interval):
                for guard in self._guards:
                    detail = self._check(client, guard)
                    if detail is not None:
                        entry = GuardEntry(t=self._timeline.now(), guard=guard.name, detail=detail)
                        self._timeline.append(entry)
                        self._on_trip(entry)
                        return

    def _check(self, client: httpx.Client, guard: Guard) -> str | None:
        """Why ``guard`` trips now, or None."""
        if guard.error_rate is None:
            probe = guard.as_probe(guard.name)
            entry = sample(
                client,
                probe,
                self._endpoints,
                t_of=self._timeline,
                phase="guard",
                base_dir=self._base_dir,
            )
            self._failures[guard.name] = 0 if entry.ok else self._failures[guard.name] + 1
            if self._failures[guard.name] >= guard.after:
                label = probe.check()[1].label()
                return f"{label} failed {guard.after} times in a row: {entry.detail}"
            return None
        return error_rate_trip(guard.error_rate, self._timeline)


def error_rate_trip(rule: ErrorRateGuard, timeline: Timeline) -> str | None:
    """Why the error rate of the harness's own requests in the window trips ``rule``, or None."""
    since = timeline.now() - timeline.scaled(rule.window)
    total = failed = 0
    for request in timeline.of(RequestEntry):
        if request.t >= since:
            total += 1
            failed += request.status is None or request.status >= 500
    for load in timeline.of(LoadEntry):
        if load.t >= since:
            total += load.requests
            failed += load.failures
    if total < rule.min_requests or failed / total <= rule.above:
        return None
    return (
        f"{failed} of {total} requests failed ({failed / total:.0%}) in the last "
        f"{rule.window:g}s (scaled), above {rule.above:.0%}"
    )
