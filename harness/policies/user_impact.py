"""The ``user_impact`` policy: what simulated users saw while faults were active and after.

Judged on the ``load`` entries (per-interval aggregates of the scenario's Locust users) from the
first fault's injection to the end of the run: the share of failed requests, the worst p99 of an
interval, and any 5xx in an interval that overlaps a pause of the workflow (from a
``pause_action`` event to its resume, or to the end). Without load entries the policy cannot
tell: broken, with the fix.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.clock import format_offset
from harness.policies.base import Status, Verdict, policy
from harness.policies.common import verdict
from harness.scenario import UserImpactExpectation
from harness.timeline import Entry, EventEntry, FaultEntry, LoadEntry, Timeline

SHOWN = 3


def pause_windows(timeline: Timeline, pause: Sequence[str]) -> list[tuple[EventEntry, float]]:
    """Each pause event and when it ended (the contract's resume, or the end of the run)."""
    resume = timeline.contract.automation.resume
    windows: list[tuple[EventEntry, float]] = []
    opened: EventEntry | None = None
    for event in timeline.events():
        if event.action in pause and opened is None:
            opened = event
        elif event.action in resume and opened is not None:
            windows.append((opened, event.t))
            opened = None
    if opened is not None:
        windows.append((opened, timeline.end()))
    return windows


@policy("user_impact")
def check(exp: UserImpactExpectation, timeline: Timeline) -> Verdict:
    """Error rate, p99 and 5xx while paused, as the users saw them."""
    loads = timeline.of(LoadEntry)
    if not loads:
        return verdict(
            "user_impact",
            None,
            timeline,
            Status.BROKEN,
            "no load ran, so what users saw cannot be told: add a load: section (Locust users)",
        )
    injections = [e for e in timeline.of(FaultEntry) if e.action == "inject"]
    since = injections[0].t if injections else 0.0
    judged = [e for e in loads if e.t >= since]
    requests = sum(e.requests for e in judged)
    failures = sum(e.failures for e in judged)
    rate = failures / requests if requests else 0.0
    problems: list[str] = []
    proof: list[Entry] = []
    if rate > exp.max_error_rate:
        problems.append(
            f"error rate {rate:.1%} ({failures} of {requests}) above {exp.max_error_rate:.1%}"
        )
        proof += sorted(judged, key=lambda e: -e.failures)[:SHOWN]
    worst = max(judged, key=lambda e: e.p99_ms or 0.0, default=None)
    p99 = worst.p99_ms if worst is not None else None
    bound_ms = None if exp.max_p99 is None else exp.max_p99 * 1000
    if bound_ms is not None and worst is not None and p99 is not None and p99 > bound_ms:
        problems.append(f"p99 {p99:.0f} ms at {format_offset(worst.t)} above {bound_ms:.0f} ms")
        proof.append(worst)
    seen_5xx = 0
    if exp.no_5xx_while_paused:
        for pause, ended in pause_windows(timeline, exp.pause_action):
            during = [e for e in loads if e.status_5xx and e.t - e.window < ended and e.t > pause.t]
            if during:
                seen_5xx += sum(e.status_5xx for e in during)
                proof += [pause, *during[:SHOWN]]
        if seen_5xx:
            problems.append(f"{seen_5xx} answers 5xx reached users while the workflow was paused")
    window = f"from {format_offset(since)} to the end"
    if problems:
        text = "; ".join(problems) + f" ({requests} requests {window})"
        return verdict("user_impact", None, timeline, Status.FAILED, text, *proof)
    worst_text = f", worst p99 {p99:.0f} ms" if p99 is not None else ""
    text = (
        f"{requests} requests {window}: error rate {rate:.1%} (bound {exp.max_error_rate:.1%})"
        f"{worst_text}; no 5xx while paused"
    )
    return Verdict(policy="user_impact", status=Status.PASSED, summary=text)
