"""Helpers every built-in policy shares: verdict building, elapsed times, automation state."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel

from harness.clock import format_offset
from harness.policies.base import Status, Verdict
from harness.policies.vocabulary import need
from harness.timeline import CounterEntry, Entry, EventEntry, FaultEntry, Timeline


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


def pause_in_force(
    timeline: Timeline, at: float, pause: Sequence[str], resume: Sequence[str]
) -> EventEntry | None:
    """The ``pause`` event still in force at offset ``at`` (no ``resume`` since), or None."""
    switches = timeline.events((*pause, *resume), end=at)
    last = switches[-1] if switches else None
    return last if last is not None and last.action in pause else None


def last_automation_event(
    timeline: Timeline, until: float, *actions: Sequence[str]
) -> EventEntry | None:
    """The last event by ``until`` of a service that emitted ``actions`` or announced itself.

    A service announces itself as the automation with the contract's ``automation.start``.
    """
    names = tuple(n for group in (*actions, timeline.contract.automation.start) for n in group)
    services = {e.service for e in timeline.events(names)}
    return next((e for e in reversed(timeline.events(end=until)) if e.service in services), None)


Progress = EventEntry | CounterEntry
"""Evidence that work moved: an event the system reported, or a rise of a store's counter."""


def rises(timeline: Timeline, counter: str) -> list[CounterEntry]:
    """The samples of ``counter`` (``state.counters``) higher than the readable one before."""
    found: list[CounterEntry] = []
    last: float | None = None
    for sample in timeline.of(CounterEntry):
        if sample.name != counter or sample.value is None:
            continue
        if last is not None and sample.value > last:
            found.append(sample)
        last = sample.value
    return found


def _moves(
    timeline: Timeline, names: Sequence[str], counter: str, start: float | None, end: float | None
) -> list[Progress]:
    """The ``names`` events and the rises of ``counter`` in ``[start, end]``, in time order."""
    low, high = -math.inf if start is None else start, math.inf if end is None else end
    found: list[Progress] = [*timeline.events(names, start=start, end=end)]
    found += [r for r in rises(timeline, counter) if low <= r.t <= high]
    return sorted(found, key=lambda e: e.t)


def progress_of(
    timeline: Timeline,
    names: Sequence[str],
    *,
    start: float | None = None,
    end: float | None = None,
) -> list[Progress]:
    """Work completing: the ``names`` events, and rises of the ``completed`` counter, in order.

    With ``start``/``end``: only those with ``start <= t <= end`` (a rise against the sample
    before, even one before ``start``).
    """
    return _moves(timeline, names, "completed", start, end)


def failures_of(
    timeline: Timeline,
    names: Sequence[str],
    *,
    start: float | None = None,
    end: float | None = None,
) -> list[Progress]:
    """Work failing: the ``names`` events, and rises of the ``failed`` counter, in order.

    With ``start``/``end``: only those with ``start <= t <= end``, as ``progress_of``.
    """
    return _moves(timeline, names, "failed", start, end)


def need_progress(expectation: BaseModel, field: str, timeline: Timeline) -> None:
    """Raise ``MissingVocabulary`` when nothing can show work progressing.

    Either ``field`` names events, or the run sampled a ``completed`` counter of the store.
    """
    if not getattr(expectation, field) and not any(
        c.name == "completed" for c in timeline.of(CounterEntry)
    ):
        need(expectation, field)


def event_text(event: EventEntry, path: str) -> str | None:
    """The value at ``path`` of an event, as text, or None.

    ``path`` is one of its fields (``correlation_id``), else an attribute (``order_id``,
    ``job.id`` for a nested one, or ``attributes.order_id``).
    """
    if path in _FIELDS:
        value = getattr(event, path)
        if value is not None:
            return str(value)
    found = event.attributes.get(path.removeprefix("attributes."))
    return None if found is None else str(found)


_FIELDS = frozenset(EventEntry.model_fields) - {"attributes", "kind", "t"}


def work_id(event: EventEntry, timeline: Timeline) -> str | None:
    """The id of the work an event is about, where the contract says it is (``work.id``)."""
    return event_text(event, timeline.contract.work.id)


def work_key(event: EventEntry, timeline: Timeline) -> str | None:
    """The idempotency key an event carries, where the contract says it is (``work.key``)."""
    return event_text(event, timeline.contract.work.key)


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
    """An event attribute (or field) as text (values may arrive as str, int or float), or None."""
    return event_text(event, name)


def attr_number(event: EventEntry, name: str) -> float | None:
    """An event attribute as a number (``"250"``, ``250`` and ``250.0`` alike), or None."""
    value = event.attributes.get(name.removeprefix("attributes."))
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
