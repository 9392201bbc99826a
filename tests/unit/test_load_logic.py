"""What users saw, without Locust: per-interval aggregation and the user_impact policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from timelines import make

from harness.expectations import UserImpactExpectation
from harness.observe.load import LoadRunner, aggregate
from harness.policies import Status
from harness.policies.user_impact import check, pause_windows
from harness.scenario import Load
from harness.timeline import EventEntry, FaultEntry, LoadEntry, RequestEntry, Timeline


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


def test_a_write_in_flight_at_the_stop_is_history_with_an_unknown_outcome(tmp_path: Path) -> None:
    timeline = Timeline(1.0)
    load = Load.model_validate({"users": 1, "locustfile": "users.py"})
    runner = LoadRunner(load, {}, timeline, tmp_path, tmp_path, lambda name, pid: None)
    wall = timeline.started_at.timestamp() + 0.5
    lines = [
        {"wall": wall, "sent": "7-1", "name": "/orders", "method": "POST"},
        {"wall": wall + 0.1, "answers": "7-1", "name": "/orders", "method": "POST",
         "status": 201, "ms": 3.0, "failed": False, "work_id": "o1"},
        {"wall": wall + 0.2, "sent": "7-2", "name": "/orders", "method": "POST"},
        {"wall": wall + 0.2, "sent": "7-3", "name": "/stats", "method": "GET"},
    ]  # fmt: skip
    (tmp_path / "7.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    runner._stop.set()
    runner._follow()  # one pass, then the final flush: the stop has come
    history = [(r.outcome, r.work_id, r.error) for r in timeline.of(RequestEntry)]
    assert history[0] == ("ok", "o1", None)
    assert [h[0] for h in history[1:]] == ["unknown"]  # the GET is no write: not history
    assert "never answered" in str(history[1][2])
    (load_entry,) = timeline.of(LoadEntry)  # announcements are not requests users saw
    assert load_entry.requests == 1
