"""A run's phases as Allure steps, with the times they really had, and its verdicts inside.

The run happens (in pytest's setup) before Allure could time any step, so the steps are made
afterwards from the timeline: each phase entry opens a step that the next one closes, at the wall
time ``timeline.started_at`` + offset. Inside each phase: the faults injected and healed, the
automation's events, the escalations, a tripped guard and a drill's runbook steps in it, each at its
own time (a runbook step from when it began to when it finished, failed if it did not work). The
verify step holds one step per verdict, with its status, summary and evidence. A phase that holds
evidence of a failed (or broken) verdict takes that status, so Allure points at where the promise
was broken.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.policies.base import describe
from harness.report.allure import allure_status
from harness.timeline import (
    EscalationEntry,
    EventEntry,
    FaultEntry,
    GuardEntry,
    LoadEntry,
    PhaseEntry,
    ProbeEntry,
    RequestEntry,
    StepEntry,
    Timeline,
)

if TYPE_CHECKING:
    from harness.policies import Verdict
    from harness.timeline import Entry

PHASE_TITLES = {
    "setup": "setup: Toxiproxy, sinks and the system start",
    "steady_state": "steady state: every probe passes before any fault",
    "inject": "inject: workload, faults and heals",
    "heal": "heal: observe the recovery after the last heal",
    "drain": "drain: the system finishes its work",
    "verify": "verify: the last probes, and the verdicts",
    "teardown": "teardown: the system stops, each edge's traffic is counted",
}


MAX_SUBSTEPS = 100
_RANK = {"passed": 0, "skipped": 0, "failed": 1, "broken": 2}


@dataclass(frozen=True)
class Step:
    """One Allure step: times in epoch milliseconds."""

    name: str
    status: str
    start: int
    stop: int
    message: str = ""
    parameters: tuple[tuple[str, str], ...] = ()
    steps: tuple[Step, ...] = ()


def automation_services(timeline: Timeline) -> frozenset[str]:
    """The services that announced themselves as the automation (contract: automation.start)."""
    return frozenset(e.service for e in timeline.events(timeline.contract.automation.start))


def is_automation(event: EventEntry, timeline: Timeline, services: frozenset[str]) -> bool:
    """Whether an event is the automation's, not a business record.

    It is when the contract names it an action, or when a service that announced itself as the
    automation emitted it.
    """
    contract = timeline.contract
    if contract.is_business(event.action):
        return False
    return contract.is_action(event.action) or event.service in services


def worst(statuses: Sequence[str]) -> str:
    """Broken over failed over passed."""
    return max(statuses, key=lambda s: _RANK.get(s, 0), default="passed")


def phase_steps(timeline: Timeline, verdicts: Sequence[Verdict]) -> list[Step]:
    """One step per phase of the run, in order; the verdicts inside the verify step."""
    phases = timeline.of(PhaseEntry)
    end = timeline.end()
    services = automation_services(timeline)
    steps = []
    for i, phase in enumerate(phases):
        last = i + 1 == len(phases)
        stop = max(end, phase.t) if last else phases[i + 1].t
        upper = math.inf if last else stop  # the last phase holds everything after it
        inside = [e for e in timeline.entries if phase.t <= e.t < upper or e is phase]
        implicated = [v for v in verdicts if v.status != "passed" and _touches(v, phase.t, upper)]
        children = _moments(timeline, inside, services)
        if phase.phase == "verify":
            children += [_verdict_step(timeline, v, phase.t, stop) for v in verdicts]
        own = [allure_status(v.status.value) for v in implicated]
        status = worst(own + [c.status for c in children])
        message = "; ".join(f"evidence of {v.policy} ({v.status.value})" for v in implicated)
        steps.append(
            Step(
                name=PHASE_TITLES.get(phase.phase, phase.phase),
                status=status,
                start=_ms(timeline, phase.t),
                stop=_ms(timeline, stop),
                message=message,
                parameters=_counts(inside),
                steps=tuple(children),
            )
        )
    return steps


def _touches(verdict: Verdict, start: float, stop: float) -> bool:
    """Whether a verdict's evidence (other than phase marks) lies in [start, stop)."""
    return any(start <= e.t < stop for e in verdict.evidence if e.kind != "phase")


def _moments(timeline: Timeline, entries: Sequence[Entry], services: frozenset[str]) -> list[Step]:
    """Faults, automation events, escalations and runbook steps, each at its own time."""
    shown = [
        e
        for e in entries
        if isinstance(e, FaultEntry | EscalationEntry | StepEntry | GuardEntry)
        or (isinstance(e, EventEntry) and is_automation(e, timeline, services))
    ]
    steps = [_moment(timeline, e) for e in shown[:MAX_SUBSTEPS]]
    if len(shown) > MAX_SUBSTEPS:
        last = shown[MAX_SUBSTEPS - 1].t
        more = len(shown) - MAX_SUBSTEPS
        steps.append(_at(timeline, f"... and {more} more (events.json has them all)", last))
    return steps


def _verdict_step(timeline: Timeline, verdict: Verdict, start: float, stop: float) -> Step:
    status = allure_status(verdict.status.value)
    evidence = tuple(_instant(timeline, e, status) for e in verdict.evidence)
    bounds = (
        ("bound, stated (s)", verdict.bound),
        ("bound, in this run (s)", verdict.scaled_bound),
    )
    return Step(
        name=f"{verdict.policy}: {verdict.status.value}",
        status=status,
        start=_ms(timeline, start),
        stop=_ms(timeline, stop),
        message=verdict.summary,
        parameters=tuple((k, f"{v:g}") for k, v in bounds if v is not None),
        steps=evidence,
    )


def _moment(timeline: Timeline, entry: Entry) -> Step:
    if isinstance(entry, StepEntry):  # a runbook step lasts: from its start to its end
        status = "passed" if entry.ok else "failed"
        return Step(describe(entry), status, _ms(timeline, entry.started), _ms(timeline, entry.t))
    return _instant(timeline, entry, "broken" if isinstance(entry, GuardEntry) else "passed")


def _instant(timeline: Timeline, entry: Entry, status: str) -> Step:
    return Step(describe(entry), status, _ms(timeline, entry.t), _ms(timeline, entry.t))


def _at(timeline: Timeline, name: str, t: float) -> Step:
    return Step(name, "passed", _ms(timeline, t), _ms(timeline, t))


def _counts(entries: Sequence[Entry]) -> tuple[tuple[str, str], ...]:
    probes = [e for e in entries if isinstance(e, ProbeEntry)]
    requests = [e for e in entries if isinstance(e, RequestEntry)]
    events = [e for e in entries if isinstance(e, EventEntry)]
    found = []
    if probes:
        failed = sum(not p.ok for p in probes)
        found.append(("probes", f"{len(probes) - failed} ok, {failed} failed"))
    if requests:
        bad = sum(r.error is not None or (r.status or 0) >= 500 for r in requests)
        found.append(("requests", f"{len(requests)} sent, {bad} failed or 5xx"))
    if events:
        found.append(("events", str(len(events))))
    load = [e for e in entries if isinstance(e, LoadEntry)]
    if load:
        sent, failed = sum(e.requests for e in load), sum(e.failures for e in load)
        found.append(("load (simulated users)", f"{sent} requests, {failed} failed"))
    return tuple(found)


def _ms(timeline: Timeline, t: float) -> int:
    return round((timeline.started_at.timestamp() + t) * 1000)
