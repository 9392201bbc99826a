"""Verdicts and the policy registry.

A policy is a pure function of an expectation and a finished timeline. It returns one of three
verdicts: *passed*; *failed* (the system broke the promise); *broken* (the timeline cannot tell:
the fault never started, the automation never said a word). Every verdict carries the timeline
entries that prove it, so a report can show the evidence and not only the conclusion.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from harness.clock import format_offset
from harness.contract import MissingVocabulary
from harness.durations import render_duration
from harness.timeline import Entry, Timeline, TrafficEntry, UnplannedEntry


class Status(StrEnum):
    """Outcome of one policy check."""

    PASSED = "passed"
    FAILED = "failed"
    BROKEN = "broken"
    ABORTED = "aborted"
    """A guard tripped: the harness stopped the experiment to protect the system."""
    INTERRUPTED = "interrupted"
    """A person or a signal (SIGINT, SIGTERM) stopped the run; every fault was healed."""


INTERRUPTED_PHASE = "interrupted"
"""The phase entry that marks when a person or a signal stopped the run."""


class Verdict(BaseModel):
    """What a policy concluded, in one line, with the entries that prove it."""

    model_config = ConfigDict(frozen=True)

    policy: str
    status: Status
    summary: str
    bound: float | None = None
    scaled_bound: float | None = None
    evidence: tuple[Entry, ...] = ()

    @property
    def is_failed(self) -> bool:
        """Whether the system broke the promise."""
        return self.status is Status.FAILED

    def render(self) -> str:
        """``policy: summary`` followed by the evidence, one timeline entry per line."""
        lines = [f"{self.policy}: {self.summary}"]
        lines += [f"    {describe(e)}" for e in self.evidence]
        return "\n".join(lines)


Check = Callable[[Any, Timeline], Verdict]
POLICIES: dict[str, Check] = {}
C = TypeVar("C", bound=Check)


def policy(name: str) -> Callable[[C], C]:
    """Register ``check`` as the policy called ``name`` (the ``policy:`` key of an expectation).

    The registered check judges the expectation with its event names filled in from the
    timeline's contract (``vocabulary.resolve``); a name the policy needs that nobody declared
    makes its verdict broken, saying what to declare.
    """

    def register(check: C) -> C:
        @functools.wraps(check)
        def judged(expectation: Any, timeline: Timeline) -> Verdict:
            from harness.policies.vocabulary import resolve

            try:
                return check(resolve(expectation, timeline.contract), timeline)
            except MissingVocabulary as missing:
                within = getattr(expectation, "within", None)
                return Verdict(
                    policy=name,
                    status=Status.BROKEN,
                    summary=str(missing),
                    bound=within,
                    scaled_bound=None if within is None else timeline.scaled(within),
                )

        POLICIES[name] = judged
        return judged  # type: ignore[return-value]

    return register


def judge(expectations: Sequence[Any], timeline: Timeline) -> list[Verdict]:
    """Check every expectation against the timeline, in order."""
    import harness.policies.builtin  # noqa: F401  (registers the built-in policies)

    unreached = unreached_faults(timeline)
    if unreached:
        return [
            Verdict(
                policy=e.policy,
                status=Status.BROKEN,
                summary=unreached[0][0],
                evidence=unreached[0][1],
            )
            for e in expectations
        ]
    verdicts = []
    for expectation in expectations:
        check = POLICIES.get(expectation.policy)
        if check is None:
            verdicts.append(
                Verdict(
                    policy=expectation.policy,
                    status=Status.BROKEN,
                    summary=f"no policy called {expectation.policy!r} is installed",
                )
            )
            continue
        verdicts.append(check(expectation, timeline))
    return confounded(verdicts, timeline)


def confounded(verdicts: Sequence[Verdict], timeline: Timeline) -> list[Verdict]:
    """Passed and failed verdicts of a run whose plan did not hold become broken (cannot tell).

    A fault someone else lifted, a fault held past its plan, a service that died outside any
    fault: what the system was judged against is not what the scenario says, so neither a pass
    nor a failure can be trusted. The verdict it would have been stays in the summary.
    """
    unplanned = timeline.of(UnplannedEntry)
    if not unplanned:
        return list(verdicts)
    why = "; ".join(e.detail for e in unplanned[:3])
    more = f" (and {len(unplanned) - 3} more)" if len(unplanned) > 3 else ""
    head = f"cannot tell: the plan did not hold: {why}{more}"

    def recast(v: Verdict) -> Verdict:
        if v.status is Status.BROKEN:  # its own reason stands, after the cause
            summary = f"{head}; and: {v.summary}"
        else:
            summary = f"{head}; judged as planned it would have {v.status.value}: {v.summary}"
        evidence = (*unplanned, *v.evidence)
        return v.model_copy(
            update={"status": Status.BROKEN, "summary": summary, "evidence": evidence}
        )

    judged = (Status.PASSED, Status.FAILED, Status.BROKEN)
    return [recast(v) if v.status in judged else v for v in verdicts]


def unreached_faults(timeline: Timeline) -> list[tuple[str, tuple[Entry, ...]]]:
    """Edge faults no traffic crossed (per Toxiproxy's counters): nothing can be judged of them.

    An edge fault's inject entry holds the proxy's byte count at injection; a TrafficEntry at
    the end holds the count once every connection closed. No growth: no connection crossed the
    faulted edge during or after the fault, so a verdict would be about nothing.
    """
    final = {e.edge: e for e in timeline.of(TrafficEntry)}
    found: list[tuple[str, tuple[Entry, ...]]] = []
    for window in timeline.fault_windows():
        before = window.inject.detail.get("bytes_at_inject")
        traffic = final.get(window.inject.target)
        if isinstance(before, int) and traffic is not None and traffic.bytes <= before:
            text = (
                f"inconclusive: {window.inject.fault_type} {window.inject.target} at "
                f"{format_offset(window.inject.t)} never reached traffic (no byte crossed the "
                "edge's proxy after it started, per Toxiproxy's counters); is the edge in use?"
            )
            found.append((text, (window.inject, traffic)))
    return found


def bound_text(seconds: float, timeline: Timeline) -> str:
    """``30s (scaled 1.5s)``: the bound as the scenario states it and as this run measured it."""
    if timeline.time_scale == 1.0:
        return render_duration(seconds)
    return f"{render_duration(seconds)} (scaled {render_duration(timeline.scaled(seconds))})"


def describe(entry: Entry) -> str:
    """One timeline entry as a human reads it: ``00:05.2 event workflow.pause (controller)``."""
    at = format_offset(entry.t)
    match entry.kind:
        case "fault":
            return f"{at} fault {entry.action} {entry.fault_type} {entry.target}"
        case "event":
            extra = f": {entry.trigger}" if entry.trigger else ""
            corr = f" [{entry.correlation_id}]" if entry.correlation_id else ""
            return f"{at} event {entry.action} ({entry.service}){corr}{extra}"
        case "probe":
            state = "ok" if entry.ok else f"FAILED {entry.detail}".rstrip()
            return f"{at} probe {entry.probe} {state}"
        case "request":
            result = entry.status if entry.status is not None else entry.error
            return f"{at} request {entry.method} {entry.url} -> {result}"
        case "escalation":
            return f"{at} escalation {entry.severity or '-'} {entry.summary}"
        case "phase":
            return f"{at} phase {entry.phase}"
        case "traffic":
            return f"{at} traffic {entry.edge}: {entry.bytes} bytes in the run"
        case "load":
            p99 = f", p99 {entry.p99_ms:.0f} ms" if entry.p99_ms is not None else ""
            return (
                f"{at} load {entry.requests} requests, {entry.failures} failed "
                f"({entry.status_5xx} 5xx){p99}"
            )
        case "state":
            held = "unreadable" if not entry.ok else f"{len(entry.records or {})} records"
            return f"{at} final state {entry.name}: {held} {entry.detail}".rstrip()
        case "counter":
            value = "unreadable" if entry.value is None else f"{entry.value:g}"
            return f"{at} counter {entry.name} = {value}"
        case "http":
            shown = ", ".join(
                f"{c.count} {c.method} {c.path} {'no answer' if c.status is None else c.status}"
                for c in sorted(entry.counts, key=lambda c: -c.count)[:3]
            )
            return f"{at} http {entry.edge}: {entry.requests} requests ({shown})"
        case "guard":
            return f"{at} guard {entry.guard} TRIPPED: {entry.detail}"
        case "unplanned":
            return f"{at} UNPLANNED {entry.cause}: {entry.detail}"
        case "step":
            state = "done" if entry.ok else "FAILED"
            return f"{at} runbook step {entry.index} {entry.step} {state}: {entry.detail}"
    return f"{at} {entry.kind}"
