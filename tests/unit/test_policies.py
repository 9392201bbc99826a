"""The built-in policies, judged on hand-built timelines (time scale 0.05: 30s -> 1.5s)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Literal

import pytest
from timelines import make

from harness.policies import POLICIES, Status, Verdict, judge
from harness.policies import pauses as pauses_policy
from harness.policies import resumes as resumes_policy
from harness.policies import steady_state as steady_policy
from harness.scenario import PausesExpectation, ResumesExpectation, SteadyStateExpectation
from harness.timeline import (
    Entry,
    EventEntry,
    FaultEntry,
    PhaseEntry,
    ProbeEntry,
    Timeline,
)

PAUSES = PausesExpectation(policy="pauses")  # within 30s
RESUMES = ResumesExpectation(policy="resumes")  # within 30s
STEADY = SteadyStateExpectation(policy="steady_state")  # within 1m
BOUND_30S = "30s (scaled 1.5s)"
BOUND_1M = "1m (scaled 3s)"


def fault(
    t: float,
    action: Literal["inject", "heal"] = "inject",
    fid: str = "f1",
    target: str = "worker->payments",
) -> FaultEntry:
    return FaultEntry(t=t, action=action, fault_id=fid, fault_type="partition", target=target)


def event(
    t: float, action: str, service: str = "controller", trigger: str | None = None
) -> EventEntry:
    return EventEntry(t=t, action=action, service=service, trigger=trigger)


def failed(t: float) -> EventEntry:
    return event(t, "order.failed", "worker", "payments unreachable")


def done(t: float) -> EventEntry:
    return event(t, "order.completed", "worker")


def probe(
    t: float, ok: bool = True, name: str = "api-health", phase: str = "inject", detail: str = ""
) -> ProbeEntry:
    return ProbeEntry(t=t, probe=name, ok=ok, phase=phase, status=200 if ok else 503, detail=detail)


START = event(0.4, "automation.start")
INJECT = fault(5.2)
PAUSE = event(5.6, "workflow.pause", trigger="payments unreachable")
HEAL = fault(8.1, "heal")
RESUME = event(8.3, "workflow.resume")
DONE_AFTER = done(8.6)
END = PhaseEntry(t=10.5, phase="teardown")


def healthy_run() -> list[Entry]:
    """A run that keeps every promise: paused, resumed, work continued, probes recovered."""
    return [
        PhaseEntry(t=0.0, phase="setup"),
        START,
        PhaseEntry(t=1.0, phase="steady_state"),
        probe(1.1, phase="steady_state"),
        probe(1.1, name="orders", phase="steady_state"),
        PhaseEntry(t=2.0, phase="inject"),
        done(3.0),
        INJECT,
        PAUSE,
        probe(6.0, ok=False),
        HEAL,
        RESUME,
        probe(8.5, ok=False, phase="observe"),
        DONE_AFTER,
        probe(9.0, phase="observe"),
        probe(9.0, name="orders", phase="observe"),
        probe(10.0, phase="verify"),
        probe(10.0, name="orders", phase="verify"),
        END,
    ]


def without(entries: list[Entry], *drop: Entry) -> list[Entry]:
    return [e for e in entries if all(e is not d for d in drop)]


# --- pauses -------------------------------------------------------------------------------


def test_pauses_passes_when_the_pause_comes_in_time_and_nothing_fails() -> None:
    verdict = pauses_policy.check(PAUSES, make(*healthy_run()))
    assert verdict.status is Status.PASSED
    assert verdict.summary == (
        f"workflow.pause 0.4s after partition worker->payments at 00:05.2 (bound {BOUND_30S}); "
        "no order.failed during the fault"
    )
    assert verdict.evidence == (INJECT, PAUSE)
    assert verdict.bound == 30.0
    assert verdict.scaled_bound == pytest.approx(1.5)


def test_pauses_fails_when_no_pause_comes_and_orders_fail() -> None:
    failures = [failed(6.1), failed(6.5), failed(7.0), failed(7.5)]
    timeline = make(*without(healthy_run(), PAUSE), *failures)
    verdict = pauses_policy.check(PAUSES, timeline)
    assert verdict.status is Status.FAILED
    assert verdict.summary == (
        f"no workflow.pause within {BOUND_30S} after partition worker->payments at 00:05.2; "
        "4 order.failed during the fault (first at 00:06.1: payments unreachable); "
        "last automation event: automation.start at 00:00.4"
    )
    assert verdict.evidence == (START, INJECT, *failures[:3])


def test_pauses_fails_when_the_pause_comes_late() -> None:
    late = event(8.1, "workflow.pause")
    verdict = pauses_policy.check(PAUSES, make(*without(healthy_run(), PAUSE), late))
    assert verdict.status is Status.FAILED
    assert verdict.summary.startswith(
        "workflow.pause came 2.9s after partition worker->payments at 00:05.2, "
        f"later than {BOUND_30S}; last automation event: automation.start at 00:00.4"
    )
    assert late in verdict.evidence
    assert INJECT in verdict.evidence


def test_pauses_fails_when_work_fails_despite_a_timely_pause() -> None:
    verdict = pauses_policy.check(PAUSES, make(*healthy_run(), failed(7.0)))
    assert verdict.status is Status.FAILED
    assert verdict.summary == (
        f"workflow.pause 0.4s after partition worker->payments at 00:05.2 (bound {BOUND_30S}), "
        "but 1 order.failed during the fault (first at 00:07.0: payments unreachable)"
    )
    assert verdict.evidence == (INJECT, PAUSE, failed(7.0))


def test_pauses_says_when_the_automation_said_nothing_at_all() -> None:
    timeline = make(done(3.0), INJECT, failed(6.0), HEAL, END)
    verdict = pauses_policy.check(PAUSES, timeline)
    assert verdict.status is Status.FAILED
    assert verdict.summary.endswith("; the automation emitted no event before then")
    assert verdict.evidence == (INJECT, failed(6.0))


@pytest.mark.parametrize("t", [4.0, 8.2], ids=["before-inject", "after-heal"])
def test_pauses_ignores_failures_outside_the_fault(t: float) -> None:
    assert pauses_policy.check(PAUSES, make(*healthy_run(), failed(t))).status is Status.PASSED


def test_pauses_counts_failures_to_the_end_when_never_healed() -> None:
    timeline = make(*without(healthy_run(), HEAL), failed(10.0))
    verdict = pauses_policy.check(PAUSES, timeline)
    assert verdict.status is Status.FAILED
    assert "1 order.failed during the fault (first at 00:10.0" in verdict.summary


def test_pauses_uses_the_configured_actions() -> None:
    exp = PausesExpectation.model_validate(
        {
            "policy": "pauses",
            "within": "10s",
            "pause_action": "breaker.open",
            "failure_actions": ["order.dropped"],
        }
    )
    opened = event(5.5, "breaker.open")
    dropped = event(6.0, "order.dropped", "worker")
    verdict = pauses_policy.check(exp, make(*healthy_run(), opened, failed(6.0)))
    assert verdict.status is Status.PASSED  # order.failed is not a failure action here
    assert verdict.summary.startswith("breaker.open 0.3s after partition worker->payments")
    assert "(bound 10s (scaled 500ms)); no order.dropped during the fault" in verdict.summary
    verdict = pauses_policy.check(exp, make(*healthy_run(), opened, dropped))
    assert verdict.status is Status.FAILED
    assert "1 order.dropped during the fault" in verdict.summary


def test_pauses_accepts_a_pause_still_in_force_from_an_overlapping_fault() -> None:
    second = fault(6.0, fid="f2", target="worker->redis")
    timeline = make(*healthy_run(), second, fault(7.5, "heal", fid="f2", target="worker->redis"))
    verdict = pauses_policy.check(PAUSES, timeline)
    assert verdict.status is Status.PASSED
    assert verdict.summary.startswith("2 faults checked: workflow.pause 0.4s after partition")
    assert "workflow.pause in force at partition worker->redis at 00:06.0" in verdict.summary
    assert verdict.evidence == (INJECT, PAUSE, second)


def test_pauses_reports_the_first_window_that_broke_the_promise() -> None:
    second = fault(12.0, fid="f2", target="worker->redis")
    timeline = make(*healthy_run(), second, fault(15.0, "heal", fid="f2", target="worker->redis"))
    verdict = pauses_policy.check(PAUSES, timeline)
    assert verdict.status is Status.FAILED
    assert verdict.summary.startswith(
        f"no workflow.pause within {BOUND_30S} after partition worker->redis at 00:12.0; "
        "last automation event: workflow.resume at 00:08.3"
    )


@pytest.mark.parametrize(
    ("entries", "summary"),
    [
        ([START, done(3.0)], "no fault was injected: nothing to pause for"),
        ([INJECT, HEAL, probe(9.0)], "the automation never emitted an event: cannot tell"),
        (
            [START, INJECT],
            f"the timeline ends at 00:05.2, before {BOUND_30S} after partition "
            "worker->payments at 00:05.2: cannot tell",
        ),
    ],
    ids=["no-fault", "no-event", "ends-too-soon"],
)
def test_pauses_is_broken_when_the_timeline_cannot_tell(entries: list[Entry], summary: str) -> None:
    verdict = pauses_policy.check(PAUSES, make(*entries))
    assert verdict.status is Status.BROKEN
    assert verdict.summary == summary


# --- resumes ------------------------------------------------------------------------------


def test_resumes_passes_when_the_workflow_resumes_and_work_continues() -> None:
    verdict = resumes_policy.check(RESUMES, make(*healthy_run()))
    assert verdict.status is Status.PASSED
    assert verdict.summary == (
        "workflow.resume 0.2s and order.completed 0.5s after partition worker->payments "
        f"healed at 00:08.1 (bound {BOUND_30S})"
    )
    assert verdict.evidence == (PAUSE, HEAL, RESUME, DONE_AFTER)


def test_resumes_needs_no_resume_when_the_workflow_was_not_paused() -> None:
    # paused and resumed during the fault: nothing to resume at the heal
    early = event(6.0, "workflow.resume")
    timeline = make(*without(healthy_run(), RESUME), early)
    verdict = resumes_policy.check(RESUMES, timeline)
    assert verdict.status is Status.PASSED
    assert verdict.summary.endswith(f"(bound {BOUND_30S}); the workflow was not paused at the heal")
    assert verdict.summary.startswith("order.completed 0.5s after partition worker->payments")


def test_resumes_fails_when_work_does_not_continue_and_the_workflow_stays_paused() -> None:
    timeline = make(*without(healthy_run(), RESUME, DONE_AFTER))
    verdict = resumes_policy.check(RESUMES, timeline)
    assert verdict.status is Status.FAILED
    assert verdict.summary == (
        f"work did not continue within {BOUND_30S} after partition worker->payments healed at "
        "00:08.1: no order.completed after it; workflow still paused "
        "(last workflow.pause at 00:05.6)"
    )
    assert verdict.evidence == (PAUSE, HEAL)


def test_resumes_fails_when_work_continues_too_late() -> None:
    late = done(10.5)
    timeline = make(*without(healthy_run(), DONE_AFTER), late)
    verdict = resumes_policy.check(RESUMES, timeline)
    assert verdict.status is Status.FAILED
    assert verdict.summary == (
        f"work did not continue within {BOUND_30S} after partition worker->payments healed at "
        "00:08.1: the first order.completed came 2.4s after it; "
        "workflow.resume 0.2s after the heal"
    )
    assert verdict.evidence == (PAUSE, HEAL, RESUME, late)


def test_resumes_fails_when_the_workflow_never_reports_resumed() -> None:
    verdict = resumes_policy.check(RESUMES, make(*without(healthy_run(), RESUME)))
    assert verdict.status is Status.FAILED
    assert verdict.summary == (
        f"no workflow.resume within {BOUND_30S} after partition worker->payments healed at "
        "00:08.1: workflow still paused (last workflow.pause at 00:05.6)"
    )
    assert verdict.evidence == (PAUSE, HEAL, DONE_AFTER)


def test_resumes_fails_when_the_resume_comes_late() -> None:
    late = event(10.1, "workflow.resume")
    verdict = resumes_policy.check(RESUMES, make(*without(healthy_run(), RESUME), late))
    assert verdict.status is Status.FAILED
    assert verdict.summary == (
        "workflow.resume came 2.0s after partition worker->payments healed at 00:08.1, "
        f"later than {BOUND_30S}; order.completed 0.5s after the heal"
    )
    assert late in verdict.evidence


def test_resumes_always_needs_a_resume_action_without_a_pause_counterpart() -> None:
    exp = ResumesExpectation.model_validate({"policy": "resumes", "resume_action": "breaker.close"})
    verdict = resumes_policy.check(exp, make(*healthy_run()))
    assert verdict.status is Status.FAILED
    assert verdict.summary == (
        f"no breaker.close within {BOUND_30S} after partition worker->payments healed at "
        "00:08.1: no breaker.close after it"
    )
    closed = event(8.2, "breaker.close")
    verdict = resumes_policy.check(exp, make(*healthy_run(), closed))
    assert verdict.status is Status.PASSED
    assert verdict.summary.startswith("breaker.close 0.1s and order.completed 0.5s after")


def test_resumes_judges_overlapping_faults_at_the_heal_that_ends_them() -> None:
    second_inject = fault(7.0, fid="f2", target="worker->redis")
    second_heal = fault(9.0, "heal", fid="f2", target="worker->redis")
    timeline = make(*healthy_run(), second_inject, second_heal)
    verdict = resumes_policy.check(RESUMES, timeline)
    assert verdict.status is Status.FAILED  # progress at 00:08.6 came before the last heal
    assert verdict.summary.startswith(
        f"work did not continue within {BOUND_30S} after partition worker->redis healed at 00:09.0"
    )
    verdict = resumes_policy.check(RESUMES, make(*timeline, done(9.4)))
    assert verdict.status is Status.PASSED
    assert "order.completed 0.4s after partition worker->redis healed at 00:09.0" in (
        verdict.summary
    )


def test_resumes_checks_every_heal() -> None:
    second: list[Entry] = [
        fault(12.0, fid="f2", target="worker->redis"),
        event(12.3, "workflow.pause"),
        fault(14.0, "heal", fid="f2", target="worker->redis"),
        event(14.1, "workflow.resume"),
        done(14.2),
        PhaseEntry(t=16.0, phase="teardown"),
    ]
    verdict = resumes_policy.check(RESUMES, make(*healthy_run(), *second))
    assert verdict.status is Status.PASSED
    assert verdict.summary.startswith("2 heals checked: workflow.resume 0.2s and order.completed")
    assert "worker->redis healed at 00:14.0" in verdict.summary


@pytest.mark.parametrize(
    ("entries", "summary"),
    [
        ([START, done(3.0)], "no fault was healed with no other fault still active: cannot tell"),
        ([START, done(3.0), INJECT, PAUSE], "no fault was healed with no other fault still active"),
        (
            [START, INJECT, PAUSE, HEAL, RESUME, END],
            "the workload never produced order.completed: cannot tell whether work continues",
        ),
        (
            [START, done(3.0), INJECT, PAUSE, HEAL, RESUME],
            f"the timeline ends at 00:08.3, before {BOUND_30S} after partition worker->payments "
            "healed at 00:08.1: cannot tell",
        ),
    ],
    ids=["no-fault", "never-healed", "no-progress-at-all", "ends-too-soon"],
)
def test_resumes_is_broken_when_the_timeline_cannot_tell(
    entries: list[Entry], summary: str
) -> None:
    verdict = resumes_policy.check(RESUMES, make(*entries))
    assert verdict.status is Status.BROKEN
    assert verdict.summary.startswith(summary)


# --- steady_state -------------------------------------------------------------------------


def test_steady_state_passes_when_every_probe_recovers_in_time() -> None:
    timeline = make(*healthy_run())
    verdict = steady_policy.check(STEADY, timeline)
    assert verdict.status is Status.PASSED
    assert verdict.summary == (
        "every probe (api-health, orders) ok from 00:09.0, 0.9s after the last heal at 00:08.1 "
        f"and to the end (bound {BOUND_1M})"
    )
    assert verdict.evidence == (HEAL, probe(9.0, phase="observe"))


def test_steady_state_passes_when_the_fault_never_touched_the_probes() -> None:
    timeline = make(*(e for e in healthy_run() if not (isinstance(e, ProbeEntry) and not e.ok)))
    verdict = steady_policy.check(STEADY, timeline)
    assert verdict.status is Status.PASSED
    assert verdict.summary.startswith(
        "every probe (api-health, orders) ok through the last heal at 00:08.1 and to the end"
    )


def failing_until(end: float, *, then_ok: bool) -> list[Entry]:
    samples: list[Entry] = [probe(8.5 + i * 0.5, ok=False) for i in range(int((end - 8.5) * 2) + 1)]
    return samples + ([probe(end + 0.5, phase="verify")] if then_ok else [])


def test_steady_state_fails_when_a_probe_recovers_too_late() -> None:
    healthy = [e for e in healthy_run() if not isinstance(e, ProbeEntry) or e.t < 8]
    samples = failing_until(11.0, then_ok=True)
    timeline = make(*healthy, *samples, probe(9.0, name="orders"), END)
    verdict = steady_policy.check(STEADY, timeline)
    assert verdict.status is Status.FAILED
    assert verdict.summary == (
        f"steady state not restored within {BOUND_1M} after the last heal at 00:08.1: "
        "probe api-health last failed at 00:11.0 (HTTP 503), ok from 00:11.5"
    )
    assert verdict.evidence == (HEAL, samples[0], samples[-3], samples[-2], samples[-1])


def test_steady_state_fails_when_a_probe_is_still_failing_at_the_end() -> None:
    healthy = [e for e in healthy_run() if not isinstance(e, ProbeEntry) or e.t < 8]
    samples = failing_until(12.0, then_ok=False)
    timeline = make(*healthy, *samples, probe(9.0, name="orders"))
    verdict = steady_policy.check(STEADY, timeline)
    assert verdict.status is Status.FAILED
    assert verdict.summary.endswith(
        "probe api-health still failed at its last sample at 00:12.0 (HTTP 503)"
    )
    assert len(verdict.evidence) == 4  # the heal, the first and the last two failures
    assert verdict.evidence[-1] == samples[-1]


def test_steady_state_recovery_at_the_bound_passes_and_just_after_fails() -> None:
    base = [e for e in healthy_run() if not isinstance(e, ProbeEntry) or e.t < 8]
    at_bound: list[Entry] = [probe(8.5, ok=False), probe(11.1), probe(9.0, name="orders"), END]
    assert steady_policy.check(STEADY, make(*base, *at_bound)).status is Status.PASSED
    after: list[Entry] = [probe(8.5, ok=False), probe(11.2), probe(9.0, name="orders"), END]
    assert steady_policy.check(STEADY, make(*base, *after)).status is Status.FAILED


def test_steady_state_fails_a_probe_first_sampled_after_the_bound() -> None:
    late = probe(12.0, name="queue", phase="steady_state")
    verdict = steady_policy.check(STEADY, make(*healthy_run(), late))
    assert verdict.status is Status.FAILED
    assert verdict.summary.endswith(": probe queue first sampled at 00:12.0")


def test_steady_state_is_broken_when_the_system_was_not_steady_before_the_faults() -> None:
    bad = ProbeEntry(t=1.2, probe="api-health", ok=False, phase="steady_state", status=503)
    verdict = steady_policy.check(STEADY, make(*healthy_run(), bad))
    assert verdict.status is Status.BROKEN
    assert verdict.summary == (
        "the system was not in steady state before the faults: probe api-health failed at "
        "00:01.2 (HTTP 503); the experiment is invalid, not a policy failure"
    )
    assert verdict.evidence == (bad,)


@pytest.mark.parametrize(
    ("drop", "summary"),
    [
        (
            lambda e: isinstance(e, ProbeEntry) and e.phase == "steady_state",
            "probe api-health, orders sampled in steady state before the faults: cannot tell",
        ),
        (
            lambda e: isinstance(e, ProbeEntry),
            "no probe sampled in steady state before the faults: cannot tell",
        ),
        (
            lambda e: isinstance(e, FaultEntry),
            "no fault was injected: cannot tell whether steady state returns",
        ),
        (
            lambda e: e is HEAL,
            "partition worker->payments (f1) was never healed: cannot tell whether steady state",
        ),
        (
            lambda e: isinstance(e, ProbeEntry) and e.t > 8,
            "no sample of probe api-health, orders after the last heal at 00:08.1: cannot tell",
        ),
    ],
    ids=["probes-unsampled", "no-probes", "no-fault", "never-healed", "unseen"],
)
def test_steady_state_is_broken_when_the_timeline_cannot_tell(drop: Any, summary: str) -> None:
    timeline = make(*(e for e in healthy_run() if not drop(e)))
    verdict = steady_policy.check(STEADY, timeline)
    assert verdict.status is Status.BROKEN
    assert verdict.summary.startswith(summary)


def test_steady_state_is_broken_when_the_timeline_ends_before_the_bound() -> None:
    cut = [e for e in healthy_run() if e.t <= 8.1]
    verdict = steady_policy.check(
        STEADY, make(*cut, probe(8.5, ok=False), probe(8.5, name="orders"))
    )
    assert verdict.status is Status.BROKEN
    assert verdict.summary == (
        f"the timeline ends at 00:08.5, before {BOUND_1M} after the last heal at 00:08.1: "
        "cannot tell"
    )


def test_steady_state_names_every_late_probe_with_its_detail() -> None:
    base = [e for e in healthy_run() if not isinstance(e, ProbeEntry) or e.t < 8]
    late = [
        probe(9.0, ok=False, detail="HTTP 503, expected 200"),
        probe(9.0, ok=False, name="orders", detail="ConnectError"),
        probe(12.0),
        probe(12.5, name="orders"),
    ]
    verdict = steady_policy.check(STEADY, make(*base, *late))
    assert verdict.status is Status.FAILED
    assert verdict.summary.endswith(
        ": probe api-health last failed at 00:09.0 (HTTP 503, expected 200), ok from 00:12.0; "
        "probe orders last failed at 00:09.0 (ConnectError), ok from 00:12.5"
    )
    assert verdict.evidence == (HEAL, *late)


# --- judge, render, round trip ------------------------------------------------------------


def test_the_builtin_policies_are_registered() -> None:
    judge([], make())
    assert {"steady_state", "pauses", "resumes"} <= set(POLICIES)


def test_judge_reports_an_unknown_policy_as_broken() -> None:
    verdicts = judge([SimpleNamespace(policy="no_such_policy"), PAUSES], make(*healthy_run()))
    assert [v.status for v in verdicts] == [Status.BROKEN, Status.PASSED]
    assert verdicts[0].policy == "no_such_policy"
    assert verdicts[0].summary == "no policy called 'no_such_policy' is installed"


def test_verdict_render_shows_the_summary_and_one_line_per_evidence_entry() -> None:
    verdict = pauses_policy.check(PAUSES, make(*healthy_run(), failed(7.0)))
    assert verdict.render().splitlines() == [
        f"pauses: {verdict.summary}",
        "    00:05.2 fault inject partition worker->payments",
        "    00:05.6 event workflow.pause (controller): payments unreachable",
        "    00:07.0 event order.failed (worker): payments unreachable",
    ]
    assert Verdict(policy="x", status=Status.PASSED, summary="ok").render() == "x: ok"


@pytest.mark.parametrize(
    "entries",
    [
        healthy_run(),
        [*without(healthy_run(), PAUSE, RESUME, DONE_AFTER), failed(6.0)],
        [START, INJECT],
    ],
    ids=["passing", "failing", "broken"],
)
def test_a_stored_timeline_is_judged_the_same(entries: list[Entry]) -> None:
    timeline = make(*entries)
    expectations = [STEADY, PAUSES, RESUMES]
    again = judge(expectations, Timeline.from_json(timeline.to_json()))
    assert again == judge(expectations, timeline)
