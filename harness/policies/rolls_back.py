"""The ``rolls_back`` policy: a bad deploy is rolled back in time, and the errors stop.

For each ``deploy`` fault window: the first ``rollback_action`` event (default: the contract's
``automation.rollback``) whose target service (the contract's ``attributes.target_service``)
is the deployed service (``detail["service"]``, else the fault's target; a rollback that names no
service counts) comes in ``[inject, inject + within]`` (scaled). After it, plus a grace of a tenth
of the bound, workload requests (an error: status >= 500, or no answer) fail at most at
``max_error_rate``. A deploy that made no request fail and was not rolled back is inconclusive:
the bad version never showed.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.clock import format_offset
from harness.expectations import RollsBackExpectation
from harness.policies.base import Status, Verdict, bound_text, policy
from harness.policies.common import (
    attr_text,
    combine,
    cut_short,
    elapsed,
    last_automation_event,
    last_text,
    verdict,
)
from harness.policies.vocabulary import names_text, need
from harness.timeline import Entry, EventEntry, FaultWindow, RequestEntry, Timeline

NAME = "rolls_back"
TAIL = 0.2  # the share of the requests after the deploy that make "the error rate at the end"


def _failed(request: RequestEntry) -> bool:
    """A request counts as an error: no answer, or a 5xx."""
    return request.error is not None or (request.status is not None and request.status >= 500)


def _rate(requests: Sequence[RequestEntry]) -> str:
    """``31% of 40 requests``."""
    errors = sum(map(_failed, requests))
    return f"{errors / len(requests):.0%} of {len(requests)} requests"


def _service(window: FaultWindow) -> str:
    """The deployed service: named in the fault's detail, else its target (``api@v2``)."""
    return str(window.inject.detail.get("service") or window.inject.target.split("@")[0])


def _deploy_text(window: FaultWindow) -> str:
    """``deploy api@v2 at 00:12.4``."""
    version = window.inject.detail.get("version")
    what = f"{_service(window)}@{version}" if version else window.inject.target
    return f"deploy {what} at {format_offset(window.start)}"


def _rollback(
    exp: RollsBackExpectation, timeline: Timeline, window: FaultWindow
) -> EventEntry | None:
    """The first rollback of the deployed service after the deploy, before the next deploy."""
    service, target = _service(window), timeline.contract.attributes.target_service
    deploys = [w.start for w in timeline.fault_windows() if w.inject.fault_type == "deploy"]
    horizon = min([timeline.end(), *(t for t in deploys if t > window.start)])
    return next(
        (
            e
            for e in timeline.events(exp.rollback_action, start=window.start, end=horizon)
            if attr_text(e, target) in (None, service)
        ),
        None,
    )


def _judge_deploy(exp: RollsBackExpectation, timeline: Timeline, window: FaultWindow) -> Verdict:
    """Judge one deploy: a rollback within the bound, then an error rate back under the ceiling."""
    name, bound = _deploy_text(window), bound_text(exp.within, timeline)
    deadline = window.start + timeline.scaled(exp.within)
    after = list(timeline.of(RequestEntry, start=window.start))
    if not after:
        text = f"no workload request after {name}: cannot tell"
        return verdict(NAME, exp.within, timeline, Status.BROKEN, text, window.inject)
    rollback = _rollback(exp, timeline, window)
    if rollback is not None and rollback.t <= deadline:
        return _judge_recovery(exp, timeline, window, rollback, after)
    if not any(map(_failed, after)):
        text = (
            f"no request failed after {name} and no {names_text(exp.rollback_action)} came within "
        )
        text += f"{bound}: the bad version never showed; cannot tell"
        return verdict(NAME, exp.within, timeline, Status.BROKEN, text, window.inject)
    if rollback is None and timeline.end() < deadline:
        text = f"{cut_short(timeline, bound, name)}: cannot tell"
        return verdict(NAME, exp.within, timeline, Status.BROKEN, text, window.inject)
    last = last_automation_event(timeline, deadline, exp.rollback_action)
    tail = after[-max(1, round(len(after) * TAIL)) :]
    text = (
        f"{rollback.action} came {elapsed(rollback.t - window.start)} after {name}, "
        f"later than {bound}"
        if rollback
        else f"no {names_text(exp.rollback_action)} within {bound} after {name}"
    )
    text += f"; {last_text(last)}; error rate {_rate(tail)} at the end"
    failures = [r for r in tail if _failed(r)]
    proof = [window.inject, rollback, last, *failures[:1], *failures[1:][-1:]]
    return verdict(NAME, exp.within, timeline, Status.FAILED, text, *proof)


def _judge_recovery(
    exp: RollsBackExpectation,
    timeline: Timeline,
    window: FaultWindow,
    rollback: EventEntry,
    after: Sequence[RequestEntry],
) -> Verdict:
    """Judge the requests sent after the rollback and its grace: errors at most at the ceiling."""
    grace = timeline.scaled(exp.within) / 10
    settled = [r for r in after if r.t >= rollback.t + grace]
    versions = [attr_text(rollback, a) for a in ("from_version", "to_version")]
    moved = f" ({versions[0]} -> {versions[1]})" if all(versions) else ""
    head = f"{rollback.action}{moved} {elapsed(rollback.t - window.start)} after "
    head += f"{_deploy_text(window)} (bound {bound_text(exp.within, timeline)})"
    since = f"from {format_offset(rollback.t + grace)}, {elapsed(grace)} after it"
    if not settled:
        text = f"{head}; no workload request {since} to measure the error rate"
        return verdict(NAME, exp.within, timeline, Status.PASSED, text, window.inject, rollback)
    failures = [r for r in settled if _failed(r)]
    ceiling = f"ceiling {exp.max_error_rate * 100:g}%"
    proof: list[Entry | None] = [window.inject, rollback, *failures[:2]]
    if len(failures) / len(settled) > exp.max_error_rate:
        text = f"{head}, but requests {since}, still failed: error rate {_rate(settled)} "
        text += f"({ceiling})"
        return verdict(NAME, exp.within, timeline, Status.FAILED, text, *proof)
    text = f"{head}; error rate {_rate(settled)} {since} ({ceiling})"
    return verdict(NAME, exp.within, timeline, Status.PASSED, text, *proof)


@policy(NAME)
def check(exp: RollsBackExpectation, timeline: Timeline) -> Verdict:
    """Judge whether every deploy was rolled back in time, with the errors stopping after it."""
    need(exp, "rollback_action")
    windows = [w for w in timeline.fault_windows() if w.inject.fault_type == "deploy"]
    if not windows:
        text = "no deploy fault was injected: nothing to roll back"
        return verdict(NAME, exp.within, timeline, Status.BROKEN, text)
    verdicts = [_judge_deploy(exp, timeline, w) for w in windows]
    return combine(NAME, exp.within, timeline, verdicts)
