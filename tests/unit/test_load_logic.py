"""What users saw, without Locust: per-interval aggregation and the user_impact policy."""

from __future__ import annotations

from typing import Any

import pytest
from timelines import make

from harness.expectations import UserImpactExpectation
from harness.observe.load import aggregate
from harness.policies import Status
from harness.policies.user_impact import check, pause_windows
from harness.timeline import EventEntry, FaultEntry, LoadEntry


def test_aggregate_counts_failures_5xx_and_percentiles() -> None:
    lines: list[dict[str, Any]] = [
        {"ms": float(ms), "status": 200, "failed": False} for ms in range(1, 98)
    ]
    lines += [
        {"ms": 500.0, "status": 503, "failed": True},
        {"ms": 900.0, "status": None, "failed": True},
    ]
    lines += [{"ms": 1000.0, "status": 404, "failed": True}]
    entry = aggregate(lines, end=3.0, window=0.5)
    assert (entry.t, entry.window, entry.requests) == (3.0, 0.5, 100)
    assert (entry.failures, entry.status_5xx) == (3, 1)
    assert (entry.p50_ms, entry.p95_ms, entry.p99_ms) == (50.0, 95.0, 900.0)


def test_aggregate_of_nothing_has_no_percentiles() -> None:
    entry = aggregate([], end=1.0, window=1.0)
    assert (entry.requests, entry.p99_ms) == (0, None)


def inject(t: float) -> FaultEntry:
    return FaultEntry(
        t=t, action="inject", fault_id="f1", fault_type="partition", target="worker->payments"
    )


def load(t: float, requests: int = 10, failures: int = 0, s5xx: int = 0) -> LoadEntry:
    return LoadEntry(
        t=t, window=0.5, requests=requests, failures=failures, status_5xx=s5xx, p99_ms=120.0
    )


def pause(t: float, action: str = "workflow.pause") -> EventEntry:
    return EventEntry(t=t, action=action, service="controller")


EXP = UserImpactExpectation(policy="user_impact", max_error_rate="1%", max_p99="1s")


def test_user_impact_passes_when_users_saw_nothing() -> None:
    timeline = make(load(0.5), inject(1.0), pause(1.2), load(1.5), pause(2.0, "workflow.resume"))
    verdict = check(EXP, timeline)
    assert verdict.status == Status.PASSED
    assert verdict.summary.startswith("10 requests from 00:01.0 to the end: error rate 0.0%")


def test_5xx_while_paused_fails_even_under_the_error_rate() -> None:
    timeline = make(
        inject(1.0), pause(1.2), load(1.5, requests=1000, failures=1, s5xx=1),
        pause(2.0, "workflow.resume"), load(2.5, requests=10, s5xx=0),
    )  # fmt: skip
    verdict = check(EXP, timeline)
    assert verdict.status == Status.FAILED
    assert verdict.summary == (
        "1 answers 5xx reached users while the workflow was paused (1010 requests from 00:01.0 "
        "to the end)"
    )


def test_5xx_before_the_fault_and_after_the_resume_are_not_while_paused() -> None:
    timeline = make(
        load(0.5, requests=1000, s5xx=1, failures=1), inject(1.0), pause(1.2),
        pause(2.0, "workflow.resume"), load(3.0, requests=1000, failures=1, s5xx=1),
    )  # fmt: skip
    assert check(EXP, timeline).status == Status.PASSED


def test_error_rate_and_p99_bounds() -> None:
    slow = LoadEntry(t=1.5, window=0.5, requests=10, failures=5, p99_ms=2500.0)
    verdict = check(EXP, make(inject(1.0), slow))
    assert verdict.status == Status.FAILED
    assert verdict.summary.startswith("error rate 50.0% (5 of 10) above 1.0%; p99 2500 ms at")


def test_no_load_is_broken_not_passed() -> None:
    assert check(EXP, make(inject(1.0))).status == Status.BROKEN


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([pause(1.0), pause(2.0, "workflow.resume")], [(1.0, 2.0)]),
        ([pause(1.0)], [(1.0, 1.0)]),  # still paused at the end of the timeline
        ([pause(2.0, "workflow.resume")], []),
    ],
)
def test_pause_windows(events: list[EventEntry], expected: list[tuple[float, float]]) -> None:
    assert [(p.t, end) for p, end in pause_windows(make(*events), "workflow.pause")] == expected
