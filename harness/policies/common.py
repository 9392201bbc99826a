"""Helpers every built-in policy shares: verdict building, elapsed times, automation state."""

from __future__ import annotations

from harness.policies.base import Status, Verdict
from harness.timeline import Entry, EventEntry, Timeline


def elapsed(seconds: float) -> str:
    """A real time between two entries: ``0.4s``, ``12.3s``, or ``40ms`` below a tenth."""
    return f"{seconds:.1f}s" if round(seconds, 2) >= 0.1 else f"{seconds * 1000:.0f}ms"


def verdict(
    name: str, within: float, timeline: Timeline, status: Status, text: str, *proof: Entry | None
) -> Verdict:
    """A verdict of policy ``name``: its bound, stated and scaled; ``proof`` as evidence."""
    evidence: list[Entry] = []
    for entry in proof:
        if entry is not None and entry not in evidence:
            evidence.append(entry)
    evidence.sort(key=lambda e: e.t)  # each once, in time order
    scaled = timeline.scaled(within)
    return Verdict(
        policy=name,
        status=status,
        summary=text,
        bound=within,
        scaled_bound=scaled,
        evidence=tuple(evidence),
    )


def pause_in_force(timeline: Timeline, at: float, pause: str, resume: str) -> EventEntry | None:
    """The ``pause`` event still in force at offset ``at`` (no ``resume`` since), or None."""
    held: EventEntry | None = None
    for event in timeline.events():
        if event.t > at:
            break
        if event.action in (pause, resume):
            held = event if event.action == pause else None
    return held


def last_automation_event(timeline: Timeline, until: float, *actions: str) -> EventEntry | None:
    """The last event by ``until`` of a service that emitted ``actions`` or automation.start."""
    events = timeline.events()
    services = {e.service for e in events if e.action in (*actions, "automation.start")}
    return next((e for e in reversed(events) if e.t <= until and e.service in services), None)
