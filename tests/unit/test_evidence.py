"""The harness's own evidence: client history, the store's counters and final state.

Hand-built timelines with no business event at all (the system of EVENTS=automation-only), and
with events that lie; each promise passes on honest evidence and fails on the broken kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from timelines import make

from harness.clients import outcome_of, work_id_of
from harness.expectations import (
    IgnoresDuplicatesExpectation,
    IsolatesExpectation,
    NoDataLostExpectation,
    PausesExpectation,
    ResumesExpectation,
)
from harness.faults.base import FaultContext
from harness.policies import Status
from harness.policies import ignores_duplicates as duplicates_policy
from harness.policies import isolates as isolates_policy
from harness.policies import no_data_lost as data_policy
from harness.policies import pauses as pauses_policy
from harness.policies import resumes as resumes_policy
from harness.prepare import plan, prepare, scale_warnings
from harness.timeline import (
    CounterEntry,
    Entry,
    EventEntry,
    FaultEntry,
    HttpCount,
    HttpEntry,
    PhaseEntry,
    RequestEntry,
    StateEntry,
)

NO_DATA_LOST = NoDataLostExpectation(policy="no_data_lost")
ISOLATES = IsolatesExpectation(policy="isolates")
ROOT = Path(__file__).resolve().parents[2]


def ok(t: float, item: str, key: str | None = None) -> RequestEntry:
    return RequestEntry(
        t=t, method="POST", url="http://api/orders", status=201, outcome="ok", work_id=item,
        idempotency_key=key or f"k-{item}",
    )  # fmt: skip


def lost_answer(t: float) -> RequestEntry:
    return RequestEntry(
        t=t, method="POST", url="http://api/orders", error="ReadTimeout", outcome="unknown"
    )


def state(name: str, *ids: str, **counts: int) -> StateEntry:
    records = {i: 1 for i in ids} | counts
    return StateEntry(t=9.0, name=name, ok=True, records=records)


def history(*held: str, charged: tuple[str, ...] | None = None) -> list[Entry]:
    """Four orders acknowledged; the store holds ``held`` completed, charged per ``charged``."""
    effects = held if charged is None else charged
    return [
        *(ok(1.0 + i / 10, f"o-{i}") for i in range(4)),
        PhaseEntry(t=8.0, phase="drain"),
        state("completed", *held),
        state("failed"),
        state("effects", **{i: effects.count(i) for i in set(effects)}),
    ]


ALL = ("o-0", "o-1", "o-2", "o-3")


def test_acknowledged_and_held_is_kept_without_any_event() -> None:
    verdict = data_policy.check(NO_DATA_LOST, make(*history(*ALL)))
    assert verdict.status is Status.PASSED, verdict.summary
    assert verdict.summary == (
        "from the store: 4 acknowledged to the harness, 4 completed exactly once and charged "
        "once; none lost, duplicated, half-saved or unexpected"
    )


def test_acknowledged_but_not_held_is_lost() -> None:  # the lost-ack defect
    verdict = data_policy.check(NO_DATA_LOST, make(*history("o-0", "o-1", "o-3")))
    assert verdict.status is Status.FAILED
    assert "1 lost (o-2)" in verdict.summary
    assert "the store holds no completed or failed order with that id" in verdict.summary
    assert ok(1.2, "o-2") in verdict.evidence


def test_charged_twice_and_half_saved_are_found_in_the_store() -> None:
    twice = data_policy.check(NO_DATA_LOST, make(*history(*ALL, charged=(*ALL, "o-1"))))
    assert twice.status is Status.FAILED
    assert "1 duplicated (o-1)" in twice.summary
    half = data_policy.check(NO_DATA_LOST, make(*history(*ALL, charged=ALL[:3])))
    assert half.status is Status.FAILED
    assert "1 half-saved (o-3)" in half.summary


def test_one_key_acknowledged_as_two_items_is_duplicated() -> None:
    entries = [*history(*ALL, "o-9"), ok(1.5, "o-9", key="k-o-1")]
    verdict = data_policy.check(NO_DATA_LOST, make(*entries))
    assert verdict.status is Status.FAILED
    assert "idempotency key k-o-1 acknowledged as o-1, o-9" in verdict.summary


def test_held_but_never_acknowledged_is_unexpected_beyond_the_unknown_outcomes() -> None:
    strays = [*history(*ALL, "x-1", "x-2")]
    verdict = data_policy.check(NO_DATA_LOST, make(*strays))
    assert verdict.status is Status.FAILED
    assert "2 unexpected" in verdict.summary
    explained = data_policy.check(NO_DATA_LOST, make(*strays, lost_answer(1.6), lost_answer(1.7)))
    assert explained.status is Status.PASSED, explained.summary  # two writes may have landed
    assert "2 requests of unknown outcome" in explained.summary


def test_an_unreadable_store_is_broken_never_passed() -> None:
    bad = StateEntry(t=9.0, name="completed", ok=False, detail="redis unreachable")
    verdict = data_policy.check(NO_DATA_LOST, make(*history(*ALL)[:5], bad))
    assert verdict.status is Status.BROKEN
    assert "the final state could not be read (completed: redis unreachable)" in verdict.summary


def said(t: float, action: str, item: str) -> EventEntry:
    attrs = {"idempotency_key": f"k-{item}"} if action == "order.accepted" else {}
    return EventEntry(t=t, action=action, service="api", correlation_id=item, attributes=attrs)


def test_events_that_disagree_with_the_store_are_a_finding_of_their_own() -> None:
    # the lying-events defect: the worker says o-2 completed; the store does not hold it so
    events = [said(1.0 + n / 10, "order.accepted", i) for n, i in enumerate(ALL)]
    events += [said(5.0 + n / 10, "order.completed", i) for n, i in enumerate(ALL)]
    events += [said(5.5 + n / 10, "payment.charged", i) for n, i in enumerate(ALL)]
    verdict = data_policy.check(NO_DATA_LOST, make(*history("o-0", "o-1", "o-3"), *events))
    assert verdict.status is Status.FAILED
    assert verdict.summary.startswith(
        "the system's events disagree with its state: 1 item (o-2) reported order.completed "
        "that the store does not hold as completed"
    )
    assert said(5.2, "order.completed", "o-2") in verdict.evidence
    honest = data_policy.check(NO_DATA_LOST, make(*history(*ALL), *events))
    assert honest.status is Status.PASSED
    assert "; the system's events agree: 4 accepted" in honest.summary


DUPLICATE = FaultEntry(
    t=2.0, action="inject", fault_id="f1", fault_type="duplicate", target="api",
    detail={"idempotency_key": "k-dup", "count": 3},
)  # fmt: skip


def test_duplicates_judged_from_the_answers_and_the_effects() -> None:
    exp = IgnoresDuplicatesExpectation(policy="ignores_duplicates")
    answers = [ok(2.0 + i / 100, "o-7", key="k-dup") for i in range(3)]
    once = make(DUPLICATE, *answers, state("effects", "o-7"))
    verdict = duplicates_policy.check(exp, once)
    assert verdict.status is Status.PASSED, verdict.summary
    assert verdict.summary == (
        "3 requests with idempotency key k-dup (duplicate api at 00:02.0) were answered with "
        "one work item, o-7; its effect taken 1 time"
    )
    three = [ok(2.0 + i / 100, f"o-{7 + i}", key="k-dup") for i in range(3)]
    created = duplicates_policy.check(exp, make(DUPLICATE, *three))
    assert created.status is Status.FAILED  # the no-idempotency defect, no event needed
    assert "were answered with 3 work items (o-7, o-8, o-9)" in created.summary
    charged = duplicates_policy.check(
        exp, make(DUPLICATE, *answers, state("effects", **{"o-7": 2}))
    )
    assert charged.status is Status.FAILED
    assert "the store shows 2 effects (o-7 x2)" in charged.summary


INJECT = FaultEntry(t=2.0, action="inject", fault_id="f1", fault_type="partition", target="a->b")
HEAL = FaultEntry(t=4.0, action="heal", fault_id="f1", fault_type="partition", target="a->b")


def counter(t: float, name: str, value: float | None) -> CounterEntry:
    return CounterEntry(t=t, name=name, value=value)


def test_work_continuing_is_seen_in_the_completed_counter() -> None:
    exp = ResumesExpectation.model_validate({"policy": "resumes", "resume_action": []})
    rising: list[Entry] = [counter(1.0, "completed", 3), counter(3.0, "completed", 3)]
    rising += [counter(4.5, "completed", 5), PhaseEntry(t=9.0, phase="teardown")]
    verdict = resumes_policy.check(exp, make(INJECT, HEAL, *rising))
    assert verdict.status is Status.PASSED, verdict.summary
    assert "completed counter at 5 0.5s after" in verdict.summary
    flat = [
        counter(1.0, "completed", 3),
        counter(4.5, "completed", 3),
        counter(9.0, "completed", None),
    ]
    stuck = resumes_policy.check(exp, make(INJECT, HEAL, *flat, PhaseEntry(t=9.0, phase="end")))
    assert stuck.status is Status.BROKEN  # the counter never rose at all: cannot tell
    late: list[Entry] = [*flat[:2], counter(8.0, "completed", 4)]
    late.append(PhaseEntry(t=9.0, phase="teardown"))
    failed = resumes_policy.check(exp, make(INJECT, HEAL, *late))
    assert failed.status is Status.FAILED
    assert "the first completed counter at 4 came 4.0s after it" in failed.summary


def test_failures_during_a_fault_are_seen_in_the_failed_counter() -> None:
    pause = EventEntry(t=2.2, action="workflow.pause", service="controller")
    before = [counter(1.0, "failed", 0), counter(3.0, "failed", 0)]
    rose = counter(3.5, "failed", 2)
    quiet = pauses_policy.check(
        PausesExpectation(policy="pauses"), make(INJECT, pause, *before, HEAL)
    )
    assert quiet.status is Status.PASSED, quiet.summary
    assert quiet.summary.endswith("; the failed counter did not rise")
    broken = pauses_policy.check(
        PausesExpectation(policy="pauses"), make(INJECT, pause, *before, rose, HEAL)
    )
    assert broken.status is Status.FAILED
    assert "1 rise of the failed counter during the fault" in broken.summary


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (201, "ok"),
        (200, "ok"),
        (409, "failed"),
        (400, "failed"),
        (503, "unknown"),
        (None, "unknown"),
    ],
)
def test_what_a_client_knows_from_an_answer(status: int | None, outcome: str) -> None:
    assert outcome_of(status) == outcome


def test_the_work_id_is_read_where_the_contract_says() -> None:
    answer = httpx.Response(201, json={"order": {"id": 42}})
    assert work_id_of(answer, "$.order.id") == "42"
    assert work_id_of(answer, None) is None
    assert work_id_of(answer, "$.missing") is None
    assert work_id_of(httpx.Response(503, json={"order": {"id": 1}}), "$.order.id") is None
    assert work_id_of(httpx.Response(201, text="not json"), "$.id") is None


def test_a_system_that_keeps_its_own_timers_keeps_fault_magnitudes_unscaled(
    tmp_path: Path,
) -> None:
    system = (ROOT / "fixtures" / "sut" / "system.yaml").read_text()
    (tmp_path / "system.yaml").write_text(system + "honours_time_scale: false\n")
    scenario = (ROOT / "scenarios" / "slow-payments.yaml").read_text()
    path = tmp_path / "slow.yaml"
    path.write_text(scenario.replace("../fixtures/sut/system.yaml", "system.yaml"))
    prepared = prepare(path, None)
    lines = plan(prepared, 0.05)
    assert "fault magnitudes (latencies, timeouts, delays) are applied unscaled" in lines[1]
    # the 20 s latency stays 20 s; the 30 s and 1 min bounds scale to 1.5 s and 3 s
    warnings = scale_warnings(prepared, 0.05)
    assert warnings[0] == (
        "isolates: its bound 30s scales to 1.5s, shorter than the latency of f1-latency as "
        "applied (20s)"
    )
    assert {w.split(":")[0] for w in warnings} == {"isolates", "resumes", "steady_state"}
    assert lines[-len(warnings)] == f"warning: {warnings[0]}"
    honoured = prepare(ROOT / "scenarios" / "slow-payments.yaml", None)
    assert scale_warnings(honoured, 0.05) == []  # the latency scales too: 1 s


def test_a_fault_magnitude_scales_only_with_the_system() -> None:
    def context(scales: bool) -> FaultContext:
        return FaultContext(
            toxiproxy=cast(Any, None), proxy_for=str, time_scale=0.05, run_id="r",
            services=cast(Any, None), endpoints={}, timeline=make(), scales_magnitudes=scales,
        )  # fmt: skip

    assert context(True).magnitude(2.0) == pytest.approx(0.1)
    assert context(False).magnitude(2.0) == 2.0
    assert context(False).scaled(2.0) == pytest.approx(0.1)  # the harness's own waits scale


def http(t: float, n: int, status: int | None = 503) -> HttpEntry:
    """One interval of the worker -> payments proxy: ``n`` POST /charge answered ``status``."""
    rows = (HttpCount(method="POST", path="/charge", status=status, count=n),)
    return HttpEntry(t=t, edge="worker->payments", window=0.5, requests=n, counts=rows)


SLOW = FaultEntry(
    t=0.5, action="inject", fault_id="f1", fault_type="latency", target="worker->payments"
)
SLOW_HEAL = FaultEntry(
    t=6.0, action="heal", fault_id="f1", fault_type="latency", target="worker->payments"
)
BOOT = EventEntry(t=0.1, action="automation.start", service="controller")


def test_a_silent_retry_storm_is_failed_from_the_edges_counts() -> None:
    # storm-silent: no breaker, no retry event, no call log; the proxy counted 400 calls
    storm = [http(1.0 + i / 2, 40) for i in range(10)]
    verdict = isolates_policy.check(ISOLATES, make(BOOT, SLOW, *storm, SLOW_HEAL))
    assert verdict.status is Status.FAILED
    assert verdict.summary.startswith(
        "no breaker.open within 30s (scaled 1.5s) after latency worker->payments at 00:00.5; "
        "400 requests on worker->payments during the fault (ceiling 20 while open)"
    )
    assert any(isinstance(e, HttpEntry) for e in verdict.evidence)


def test_an_open_breaker_is_judged_from_the_edges_counts_without_a_call_log() -> None:
    opened = EventEntry(t=0.9, action="breaker.open", service="worker")
    calls = [http(0.75, 3), http(1.75, 1), http(2.75, 1)]
    verdict = isolates_policy.check(ISOLATES, make(BOOT, SLOW, opened, *calls, SLOW_HEAL))
    assert verdict.status is Status.PASSED, verdict.summary
    assert "at most 2 requests on worker->payments while open (ceiling 20)" in verdict.summary
    leak = [*calls, *(http(3.25 + i / 2, 10) for i in range(4))]
    leaking = isolates_policy.check(ISOLATES, make(BOOT, SLOW, opened, *leak, SLOW_HEAL))
    assert leaking.status is Status.FAILED
    assert "42 requests on worker->payments while the breaker was open" in leaking.summary


def test_without_a_call_log_nor_an_http_edge_isolates_cannot_count() -> None:
    opened = EventEntry(t=0.9, action="breaker.open", service="worker")
    verdict = isolates_policy.check(ISOLATES, make(BOOT, SLOW, opened, SLOW_HEAL))
    assert verdict.status is Status.BROKEN
    assert "no payment.call during latency worker->payments" in verdict.summary
