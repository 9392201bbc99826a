"""The ``bounded_recovery`` policy: a service that keeps being recovered is escalated, not hidden.

Each ``recovery_actions`` event (default: the contract's ``automation.recovery``) is one automatic
recovery of the service it names: its target service (the contract's
``attributes.target_service``), else the service that emitted it. A service's first such event,
if it comes before the first fault, is its start-up (a service may report a recovery at every
start), not a recovery.

Per service, at each recovery, the recoveries in the sliding window of ``window`` (scaled)
ending there are counted. The recovery that makes the count exceed ``max_recoveries`` (the
bound is *breached*; again only after the count has fallen back to the bound) needs an
escalation after the recovery before it and by ``within`` (scaled) after it. An escalation
counts from the recovery before: the automation may learn of a start before the service's own
report of it reaches the harness.

Passed: every breach was escalated in time, or the bound was never exceeded. Broken: no
recovery at all (nothing to bound), or the timeline ends before a breach's bound has passed.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.clock import format_offset
from harness.expectations import BoundedRecoveryExpectation
from harness.policies.base import Status, Verdict, bound_text, policy
from harness.policies.common import (
    attr_text,
    combine,
    count,
    cut_short,
    elapsed,
    last_automation_event,
    last_text,
    verdict,
)
from harness.policies.vocabulary import need
from harness.timeline import Entry, EscalationEntry, EventEntry, Timeline

NAME = "bounded_recovery"
SHOWN = 3  # recoveries quoted as evidence of a pass


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``, ``21st``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _recovered(event: EventEntry, timeline: Timeline) -> str:
    """The service an event says was recovered: its target service, else its emitter."""
    return attr_text(event, timeline.contract.attributes.target_service) or event.service or "?"


def _by_service(
    exp: BoundedRecoveryExpectation, timeline: Timeline
) -> tuple[dict[str, list[EventEntry]], list[EventEntry]]:
    """Each service's recoveries in time order, and the start-ups left out."""
    faults = [w.start for w in timeline.fault_windows()]
    first_fault = min(faults, default=float("inf"))
    recoveries: dict[str, list[EventEntry]] = {}
    startups: list[EventEntry] = []
    seen: set[str] = set()
    for event in timeline.events(exp.recovery_actions):
        service = _recovered(event, timeline)
        if service not in seen and event.t < first_fault:
            startups.append(event)
        else:
            recoveries.setdefault(service, []).append(event)
        seen.add(service)
    return recoveries, startups


def _counts(events: Sequence[EventEntry], window: float) -> list[int]:
    """At each recovery, how many fall in the ``window`` seconds up to it (itself included)."""
    return [
        sum(1 for e in events[: i + 1] if e.t >= event.t - window) for i, event in enumerate(events)
    ]


def _breaches(events: Sequence[EventEntry], counts: Sequence[int], bound: int) -> list[int]:
    """The indexes of the recoveries that took the count above ``bound``."""
    return [i for i, n in enumerate(counts) if n > bound and (i == 0 or counts[i - 1] <= bound)]


def _judge_breach(
    exp: BoundedRecoveryExpectation,
    timeline: Timeline,
    service: str,
    events: Sequence[EventEntry],
    index: int,
    n: int,
) -> Verdict:
    """One breach of the bound: an escalation must follow it within the bound."""
    breach, before = events[index], events[index - 1] if index > 0 else None
    deadline = breach.t + timeline.scaled(exp.within)
    bound = bound_text(exp.within, timeline)
    head = f"{service} recovered {count(n, 'time')} within {bound_text(exp.window, timeline)}: "
    head += f"{ordinal(n)} recovery ({breach.action}) at {format_offset(breach.t)}"
    since = breach.t if before is None else before.t
    escalation = next(
        (
            e
            for e in timeline.of(EscalationEntry, start=since, end=deadline)
            if before is None or e.t > before.t
        ),
        None,
    )
    if escalation is not None:
        when = (
            f"{elapsed(escalation.t - breach.t)} later"
            if escalation.t >= breach.t
            else f"{elapsed(breach.t - escalation.t)} before its report reached the harness"
        )
        text = f"{head}, escalated {when} (bound {bound}; "
        text += f"{escalation.severity or 'no severity'}: {escalation.summary})"
        proof = (before, breach, escalation)
        return verdict(NAME, exp.within, timeline, Status.PASSED, text, *proof)
    if timeline.end() < deadline:
        text = f"{cut_short(timeline, bound, f'the {ordinal(n)} recovery of {service}')}"
        text += ": cannot tell"
        return verdict(NAME, exp.within, timeline, Status.BROKEN, text, breach)
    last = last_automation_event(timeline, deadline, timeline.contract.automation.escalate)
    text = f"{head}, no escalation within {bound}"
    late = timeline.first(EscalationEntry, after=deadline)
    if late is not None:
        text += f"; the first escalation after it came {elapsed(late.t - breach.t)} later"
    text += f"; {last_text(last)}"
    first = events[index - n + 1]  # the first recovery in the window
    return verdict(NAME, exp.within, timeline, Status.FAILED, text, first, breach, last, late)


def _within_bound(
    exp: BoundedRecoveryExpectation,
    timeline: Timeline,
    recoveries: dict[str, list[EventEntry]],
    most: dict[str, int],
) -> Verdict:
    """The bound was never exceeded: no escalation was needed."""
    window = bound_text(exp.window, timeline)
    parts = [
        f"{service} recovered {count(len(events), 'time')}, at most {most[service]} within {window}"
        for service, events in recoveries.items()
    ]
    text = f"bound never exceeded: {'; '.join(parts)} (bound {exp.max_recoveries}); "
    text += "no escalation needed"
    proof: list[Entry] = [e for events in recoveries.values() for e in events[-SHOWN:]]
    return verdict(NAME, exp.within, timeline, Status.PASSED, text, *proof)


@policy(NAME)
def check(exp: BoundedRecoveryExpectation, timeline: Timeline) -> Verdict:
    """Judge whether every breach of the recovery bound was escalated in time."""
    need(exp, "recovery_actions")
    recoveries, startups = _by_service(exp, timeline)
    actions = " or ".join(exp.recovery_actions)
    if not recoveries:
        text = f"no {actions} in the timeline: nothing recovered, nothing to bound; cannot tell"
        if startups:
            seen = ", ".join(f"{_recovered(e, timeline)} at {format_offset(e.t)}" for e in startups)
            text = f"no recovery: the only {actions} came at start-up, before the first fault "
            text += f"({seen}); nothing to bound, cannot tell"
        return verdict(NAME, exp.within, timeline, Status.BROKEN, text, *startups[:SHOWN])
    window = timeline.scaled(exp.window)
    verdicts: list[Verdict] = []
    most: dict[str, int] = {}
    for service, events in recoveries.items():
        counts = _counts(events, window)
        most[service] = max(counts)
        for index in _breaches(events, counts, exp.max_recoveries):
            n = counts[index]
            verdicts.append(_judge_breach(exp, timeline, service, events, index, n))
    if not verdicts:
        return _within_bound(exp, timeline, recoveries, most)
    return combine(NAME, exp.within, timeline, verdicts, "breaches, each escalated")
