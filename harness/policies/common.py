"""Helpers every built-in policy shares: verdict building, elapsed times, automation state."""

from __future__ import annotations

from collections.abc import Sequence

from harness.clock import format_offset
from harness.policies.base import Status, Verdict
from harness.timeline import Entry, EventEntry, FaultEntry, Timeline


def elapsed(seconds: float) -> str:
    """A real time between two entries: ``0.4s``, ``12.3s``, or ``40ms`` below a tenth."""
    return f"{seconds:.1f}s" if round(seconds, 2) >= 0.1 else f"{seconds * 1000:.0f}ms"


def verdict(
    name: str,
    within: float | None,
    timeline: Timeline,
    status: Status,
    text: str,
    *proof: Entry | None,
) -> Verdict:
    """A verdict of policy ``name``: its bound (if it has one), stated and scaled; ``proof``."""
    evidence: list[Entry] = []
    for entry in proof:
        if entry is not None and entry not in evidence:
            evidence.append(entry)
    evidence.sort(key=lambda e: e.t)  # each once, in time order
    scaled = None if within is None else timeline.scaled(within)
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


def fault_text(inject: FaultEntry) -> str:
    """A fault as findings name it: ``latency worker->payments at 00:00.5``."""
    return f"{inject.fault_type} {inject.target} at {format_offset(inject.t)}"


def last_text(last: EventEntry | None) -> str:
    """``last automation event: retry.scheduled at 00:01.9``, or that there was none by then."""
    if last is None:
        return "the automation emitted no event before then"
    return f"last automation event: {last.action} at {format_offset(last.t)}"


def cut_short(timeline: Timeline, bound: str, after: str) -> str:
    """Why a bound cannot be judged: the timeline ends before it has passed."""
    return f"the timeline ends at {format_offset(timeline.end())}, before {bound} after {after}"


def attr_text(event: EventEntry, name: str) -> str | None:
    """An event attribute as text (attributes may arrive as str, int or float), or None."""
    value = event.attributes.get(name)
    return None if value is None else str(value)


def attr_number(event: EventEntry, name: str) -> float | None:
    """An event attribute as a number (``"250"``, ``250`` and ``250.0`` alike), or None."""
    value = event.attributes.get(name)
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def combine(
    name: str,
    within: float | None,
    timeline: Timeline,
    verdicts: Sequence[Verdict],
    heading: str = "faults checked",
) -> Verdict:
    """One verdict for several windows: the first failed, else the first broken, else a pass.

    Several passes become one, ``<n> <heading>: <summary> | <summary>``.
    """
    for status in (Status.FAILED, Status.BROKEN):
        bad = next((v for v in verdicts if v.status is status), None)
        if bad is not None:
            return bad
    if len(verdicts) == 1:
        return verdicts[0]
    text = f"{len(verdicts)} {heading}: " + " | ".join(v.summary for v in verdicts)
    proof = [e for v in verdicts for e in v.evidence]
    return verdict(name, within, timeline, Status.PASSED, text, *proof)


def count(n: int, noun: str) -> str:
    """``1 order``, ``3 orders``: a count with its noun."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
