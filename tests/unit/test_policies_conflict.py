"""escalates_on_conflict and bounded_recovery, judged on hand-built timelines (scale 0.05)."""

from __future__ import annotations

from typing import Literal

import pytest
from timelines import make

from harness.expectations import BoundedRecoveryExpectation, EscalatesOnConflictExpectation
from harness.policies import POLICIES, Status, judge
from harness.policies import bounded_recovery as recovery_policy
from harness.policies import escalates_on_conflict as conflict_policy
from harness.spec import JsonScalar
from harness.timeline import (
    Entry,
    EscalationEntry,
    EventEntry,
    FaultEntry,
    PhaseEntry,
    ProbeEntry,
    RequestEntry,
)

CONFLICT = EscalatesOnConflictExpectation(policy="escalates_on_conflict")  # within 1m -> 3s
RECOVERY = BoundedRecoveryExpectation(policy="bounded_recovery")  # 3 in 1h (3m), within 1m (3s)
BOUND_1M = "1m (scaled 3s)"
WINDOW_1H = "1h (scaled 3m)"


def fault(
    t: float,
    action: Literal["inject", "heal"] = "inject",
    fault_type: str = "timeout",
    target: str = "worker->redis",
    fid: str = "f1",
) -> FaultEntry:
    return FaultEntry(t=t, action=action, fault_id=fid, fault_type=fault_type, target=target)


def ev(t: float, action: str, service: str = "worker", **attrs: JsonScalar) -> EventEntry:
    return EventEntry(t=t, action=action, service=service, attributes=attrs)


def done(t: float) -> EventEntry:
    return ev(t, "order.completed")


def probe(t: float, ok: bool = True, name: str = "worker-healthy") -> ProbeEntry:
    return ProbeEntry(t=t, probe=name, ok=ok, phase="inject", detail="" if ok else "HTTP 503")


def request(t: float) -> RequestEntry:
    return RequestEntry(t=t, method="POST", url="http://api/orders", status=201)


def escalation(
    t: float, summary: str = "signals disagree", severity: str | None = "warning"
) -> EscalationEntry:
    return EscalationEntry(
        t=t, summary=summary, severity=severity, runbook_url="https://rb/conflicting-signals"
    )


def without(entries: list[Entry], *drop: Entry) -> list[Entry]:
    return [e for e in entries if all(e is not d for d in drop)]


START = ev(0.1, "automation.start", "controller")
TEARDOWN = PhaseEntry(t=12.0, phase="teardown")


def test_both_policies_are_registered_and_judged() -> None:
    timeline = make(*conflict_run())
    verdicts = judge([CONFLICT, RECOVERY], timeline)
    assert {"escalates_on_conflict", "bounded_recovery"} <= set(POLICIES)
    assert [v.status for v in verdicts] == [Status.PASSED, Status.BROKEN]


# --- escalates_on_conflict ------------------------------------------------------------------

STALL = fault(0.5)  # timeout worker->redis; the bound ends at 00:03.5
STALL_HEAL = fault(8.0, "heal")
LAST_DONE = done(0.4)
PAGED = escalation(2.1)
GREEN = [probe(0.6 + i) for i in range(8)]  # 00:00.6 ... 00:07.6, every one ok


def conflict_run(*extra: Entry) -> list[Entry]:
    """Orders complete, then the fault: health green, orders accepted, none completed; paged."""
    return [
        START,
        done(0.2),
        LAST_DONE,
        STALL,
        *GREEN,
        *(request(0.55 + i / 2) for i in range(15)),
        PAGED,
        STALL_HEAL,
        done(8.2),
        *extra,
        TEARDOWN,
    ]


def test_escalates_on_conflict_passes_an_escalation_and_no_action() -> None:
    verdict = conflict_policy.check(CONFLICT, make(*conflict_run()))
    assert verdict.status is Status.PASSED
    assert verdict.summary == (
        f"escalated 1.6s after timeout worker->redis at 00:00.5 (bound {BOUND_1M}; warning: "
        "signals disagree) while health stayed green and no order.completed for 1.7s; "
        "no workflow.pause, workflow.resume or rollback during the fault"
    )
    # the last progress, the fault, the last green sample before the page, the page, the heal
    assert verdict.evidence == (LAST_DONE, STALL, GREEN[1], PAGED, STALL_HEAL)
    assert (verdict.bound, verdict.scaled_bound) == (60.0, 3.0)


def test_escalates_on_conflict_fails_without_an_escalation() -> None:
    pause_later = ev(9.0, "workflow.pause", "controller")  # after the heal: not judged
    entries = without(conflict_run(pause_later), PAGED)
    verdict = conflict_policy.check(CONFLICT, make(*entries))
    assert verdict.status is Status.FAILED
    assert verdict.summary == (
        f"no escalation within {BOUND_1M} after timeout worker->redis at 00:00.5 although "
        "health stayed green and no order.completed for 3.1s; "
        "last automation event: automation.start at 00:00.1"
    )
    assert verdict.evidence == (START, LAST_DONE, STALL, GREEN[2])


def test_escalates_on_conflict_fails_a_late_escalation() -> None:
    late = escalation(5.0)
    entries = [*without(conflict_run(), PAGED), late]
    verdict = conflict_policy.check(CONFLICT, make(*entries))
    assert verdict.status is Status.FAILED
    assert "no escalation within 1m (scaled 3s)" in verdict.summary
    assert "; the first escalation came 4.5s after the fault;" in verdict.summary
    assert late in verdict.evidence


def test_escalates_on_conflict_fails_an_action_although_it_escalated() -> None:
    pause = ev(1.0, "workflow.pause", "controller")
    rollback = ev(2.5, "rollback", "controller")
    verdict = conflict_policy.check(CONFLICT, make(*conflict_run(pause, rollback)))
    assert verdict.status is Status.FAILED
    assert verdict.summary == (
        f"escalated 1.6s after timeout worker->redis at 00:00.5 (bound {BOUND_1M}; warning: "
        "signals disagree), but the automation acted although the signals disagreed: "
        "workflow.pause at 00:01.0, rollback at 00:02.5 (during timeout worker->redis at "
        "00:00.5, healed at 00:08.0)"
    )
    assert verdict.evidence == (STALL, pause, PAGED, rollback)


def test_escalates_on_conflict_fails_an_action_instead_of_an_escalation() -> None:
    rollback = ev(6.0, "rollback", "controller")  # after the bound, before the heal: judged
    entries = without(conflict_run(rollback), PAGED)
    verdict = conflict_policy.check(CONFLICT, make(*entries))
    assert verdict.status is Status.FAILED
    assert verdict.summary.startswith(f"no escalation within {BOUND_1M} after timeout")
    assert verdict.summary.endswith(
        "; the automation acted although the signals disagreed: rollback at 00:06.0 "
        "(during timeout worker->redis at 00:00.5, healed at 00:08.0)"
    )
    assert rollback in verdict.evidence


def test_escalates_on_conflict_quotes_at_most_three_actions() -> None:
    pauses = [ev(1.0 + i / 10, "workflow.pause", "controller") for i in range(5)]
    verdict = conflict_policy.check(CONFLICT, make(*conflict_run(*pauses)))
    assert verdict.status is Status.FAILED
    assert "workflow.pause at 00:01.2 and 2 more (during" in verdict.summary


def test_escalates_on_conflict_uses_the_expectation_s_action_names() -> None:
    exp = CONFLICT.model_copy(
        update={"progress_actions": ["job.done"], "forbidden_actions": ["scale.up"]}
    )
    entries = [*conflict_run(ev(1.0, "workflow.pause", "controller")), ev(0.3, "job.done")]
    verdict = conflict_policy.check(exp, make(*entries))
    assert verdict.status is Status.PASSED  # a pause is no forbidden action here
    assert "no job.done for 1.8s; no scale.up during the fault" in verdict.summary


def test_escalates_on_conflict_counts_escalations_and_partial_health() -> None:
    red = probe(1.1, ok=False)
    again = escalation(3.0)
    verdict = conflict_policy.check(CONFLICT, make(*conflict_run(red, again)))
    assert verdict.status is Status.PASSED
    assert "signals disagree), 2 escalations in all while health checks passed in 3 of 4 " in (
        verdict.summary
    )


def test_escalates_on_conflict_lets_work_in_flight_at_the_inject_finish() -> None:
    in_flight = done(0.7)  # within the grace: a tenth of the bound (0.3s) after the inject
    verdict = conflict_policy.check(CONFLICT, make(*conflict_run(in_flight)))
    assert verdict.status is Status.PASSED
    assert "no order.completed for 1.4s" in verdict.summary
    assert in_flight in verdict.evidence


def test_escalates_on_conflict_judges_a_short_fault_until_its_heal() -> None:
    short_heal = fault(2.0, "heal")
    entries = [*without(conflict_run(), STALL_HEAL, PAGED), short_heal, done(2.5)]
    verdict = conflict_policy.check(CONFLICT, make(*entries))
    assert verdict.status is Status.FAILED  # still no escalation by 00:03.5
    assert "no order.completed for 1.6s" in verdict.summary  # from 00:00.4 to the heal


def test_escalates_on_conflict_fails_the_worst_of_several_faults() -> None:
    second: list[Entry] = [
        fault(20.0, fid="f2"),
        probe(20.5),
        request(20.6),
        fault(30.0, "heal", fid="f2"),
    ]
    verdict = conflict_policy.check(CONFLICT, make(*conflict_run(), *second))
    assert verdict.status is Status.FAILED
    assert "after timeout worker->redis at 00:20.0" in verdict.summary
    verdict = conflict_policy.check(CONFLICT, make(*conflict_run(), *second, escalation(21.0)))
    assert verdict.status is Status.PASSED
    assert verdict.summary.startswith("2 faults checked: escalated 1.6s after")


@pytest.mark.parametrize(
    ("entries", "summary"),
    [
        ([START, LAST_DONE, *GREEN, TEARDOWN], "no fault was injected: no conflict to escalate"),
        (
            without(conflict_run(), *GREEN),
            "no steady-state probe was sampled during timeout worker->redis at 00:00.5 "
            "(00:00.5 to 00:03.5): cannot tell whether health stayed green",
        ),
        (
            [*without(conflict_run(), *GREEN), probe(1.0, ok=False), probe(2.0, ok=False)],
            "no steady-state probe passed during timeout worker->redis at 00:00.5 (00:00.5 to "
            "00:03.5; 2 samples, none ok): health was not green, so the signals did not "
            "disagree; cannot tell",
        ),
        (
            [e for e in conflict_run() if not isinstance(e, RequestEntry)],
            "the workload sent no request during timeout worker->redis at 00:00.5 (00:00.5 to "
            "00:03.5): no work to be stuck, so the signals did not disagree; cannot tell",
        ),
        (
            conflict_run(done(1.0), done(2.0), done(3.4)),
            "order.completed kept coming during timeout worker->redis at 00:00.5 (3 events "
            "from 00:00.8 to 00:03.5, the last at 00:03.4): the work was not stuck, so the "
            "signals did not disagree; cannot tell",
        ),
        (
            [START, LAST_DONE, STALL, probe(0.6), request(0.7), probe(1.6)],
            f"the timeline ends at 00:01.6, before {BOUND_1M} after timeout worker->redis at "
            "00:00.5: cannot tell",
        ),
    ],
    ids=["no-fault", "no-probe", "never-green", "no-work", "work-moved", "ends-too-soon"],
)
def test_escalates_on_conflict_is_broken_when_the_signals_did_not_disagree(
    entries: list[Entry], summary: str
) -> None:
    verdict = conflict_policy.check(CONFLICT, make(*entries))
    assert verdict.status is Status.BROKEN
    assert verdict.summary == summary


def test_escalates_on_conflict_shows_why_work_was_not_stuck() -> None:
    moved = [done(1.0), done(2.0)]
    verdict = conflict_policy.check(CONFLICT, make(*conflict_run(*moved)))
    assert verdict.status is Status.BROKEN
    assert verdict.evidence == (STALL, *moved)


# --- bounded_recovery -----------------------------------------------------------------------


def resume(t: float, service: str = "worker") -> EventEntry:
    return ev(t, "checkpoint.resume", service, count=0)


def crash(t: float, n: int) -> list[Entry]:
    """Crash n of the worker at ``t``, healed 0.2s later (the restart)."""
    fid = f"f{n}"
    return [
        fault(t, fault_type="crash", target="worker", fid=fid),
        fault(t + 0.2, "heal", fault_type="crash", target="worker", fid=fid),
    ]


BOOT = resume(0.3)  # before the first fault: the worker's start-up, not a recovery
RESUMES = [resume(1.4 + 0.7 * i) for i in range(5)]  # 00:01.4, 02.1, 02.8, 03.5, 04.2
SEEN = [ev(r.t + 0.02, "recovery.restart", "controller", target_service="worker") for r in RESUMES]
LOOP = escalation(3.55, "worker recovered 4 times within 1h: restart loop")


def loop_run(*extra: Entry, resumes: list[EventEntry] = RESUMES) -> list[Entry]:
    """Five crashes, each followed by a recovery; the controller sees each one."""
    crashes = [e for i, r in enumerate(resumes) for e in crash(r.t - 0.4, i + 1)]
    seen = [s for s in SEEN if any(abs(s.t - r.t - 0.02) < 1e-9 for r in resumes)]
    return [START, BOOT, *crashes, *resumes, *seen, *extra, TEARDOWN]


def test_bounded_recovery_passes_an_escalated_restart_loop() -> None:
    verdict = recovery_policy.check(RECOVERY, make(*loop_run(LOOP)))
    assert verdict.status is Status.PASSED
    assert verdict.summary == (
        f"worker recovered 4 times within {WINDOW_1H}: 4th recovery (checkpoint.resume) at "
        f"00:03.5, escalated 50ms later (bound {BOUND_1M}; warning: worker recovered 4 times "
        "within 1h: restart loop)"
    )
    assert verdict.evidence == (RESUMES[2], RESUMES[3], LOOP)


def test_bounded_recovery_accepts_an_escalation_that_overtook_the_report() -> None:
    early = escalation(3.49, "restart loop")  # after the 3rd recovery, before the 4th arrived
    verdict = recovery_policy.check(RECOVERY, make(*loop_run(early)))
    assert verdict.status is Status.PASSED
    assert "escalated 10ms before its report reached the harness" in verdict.summary


def test_bounded_recovery_fails_a_hidden_restart_loop() -> None:
    verdict = recovery_policy.check(RECOVERY, make(*loop_run()))
    assert verdict.status is Status.FAILED
    assert verdict.summary == (
        f"worker recovered 4 times within {WINDOW_1H}: 4th recovery (checkpoint.resume) at "
        f"00:03.5, no escalation within {BOUND_1M}; "
        "last automation event: recovery.restart at 00:04.2"
    )
    # the first recovery in the window, the breach, the last automation event by the bound
    assert verdict.evidence == (RESUMES[0], RESUMES[3], SEEN[4])


def test_bounded_recovery_fails_an_escalation_from_before_the_loop_and_a_late_one() -> None:
    unrelated = escalation(1.0, "payments unreachable")  # before the 3rd recovery
    late = escalation(7.0)
    verdict = recovery_policy.check(RECOVERY, make(*loop_run(unrelated, late)))
    assert verdict.status is Status.FAILED
    assert "no escalation within 1m (scaled 3s); the first escalation after it came 3.5s " in (
        verdict.summary
    )
    assert late in verdict.evidence
    assert unrelated not in verdict.evidence


def test_bounded_recovery_passes_when_the_bound_was_never_exceeded() -> None:
    few = RESUMES[:3]
    verdict = recovery_policy.check(RECOVERY, make(*loop_run(resumes=few)))
    assert verdict.status is Status.PASSED
    assert verdict.summary == (
        f"bound never exceeded: worker recovered 3 times, at most 3 within {WINDOW_1H} "
        "(bound 3); no escalation needed"
    )
    assert verdict.evidence == tuple(few)


def test_bounded_recovery_counts_in_a_sliding_window() -> None:
    exp = RECOVERY.model_copy(update={"window": 60.0})  # 3s scaled
    spread = [resume(1.4 + 1.2 * i) for i in range(6)]  # 3 at most in any 3s
    verdict = recovery_policy.check(exp, make(*loop_run(resumes=spread)))
    assert verdict.status is Status.PASSED
    assert verdict.summary.startswith(
        "bound never exceeded: worker recovered 6 times, at most 3 within 1m (scaled 3s)"
    )


def test_bounded_recovery_needs_an_escalation_for_each_new_breach() -> None:
    exp = RECOVERY.model_copy(update={"window": 60.0})  # 3s scaled
    burst = [resume(1.0 + 0.5 * i) for i in range(4)]  # 4 within 1.5s: breach at 00:02.5
    again = [resume(7.0 + 0.5 * i) for i in range(4)]  # fell back, then a breach at 00:08.5
    first_page = escalation(2.6, "restart loop")
    verdict = recovery_policy.check(exp, make(*loop_run(first_page, resumes=[*burst, *again])))
    assert verdict.status is Status.FAILED
    assert verdict.summary.startswith(
        "worker recovered 4 times within 1m (scaled 3s): 4th recovery (checkpoint.resume) at "
        "00:08.5, no escalation"
    )
    second_page = escalation(8.6, "restart loop")
    entries = loop_run(first_page, second_page, resumes=[*burst, *again])
    verdict = recovery_policy.check(exp, make(*entries))
    assert verdict.status is Status.PASSED
    assert verdict.summary.startswith("2 breaches, each escalated: worker recovered 4 times")
    assert first_page in verdict.evidence
    assert second_page in verdict.evidence


def test_bounded_recovery_counts_per_service() -> None:
    mixed = [resume(1.0), resume(1.5, "api"), resume(2.0), resume(2.5, "api"), resume(3.0)]
    verdict = recovery_policy.check(RECOVERY, make(*loop_run(resumes=mixed)))
    assert verdict.status is Status.PASSED
    # the api's first resume came after the first fault: a recovery, not its start-up
    assert verdict.summary == (
        f"bound never exceeded: worker recovered 3 times, at most 3 within {WINDOW_1H}; "
        f"api recovered 2 times, at most 2 within {WINDOW_1H} (bound 3); no escalation needed"
    )


def test_bounded_recovery_counts_the_service_an_event_names() -> None:
    exp = RECOVERY.model_copy(update={"recovery_actions": ["recovery.restart"]})
    verdict = recovery_policy.check(exp, make(*loop_run(LOOP)))
    assert verdict.status is Status.PASSED
    assert verdict.summary.startswith(
        f"worker recovered 4 times within {WINDOW_1H}: 4th recovery (recovery.restart) at "
        "00:03.5, escalated 30ms later"
    )


def test_bounded_recovery_with_no_recovery_allowed() -> None:
    exp = RECOVERY.model_copy(update={"max_recoveries": 0})
    page = escalation(1.5, "worker restarted")
    verdict = recovery_policy.check(exp, make(*loop_run(page, resumes=RESUMES[:1])))
    assert verdict.status is Status.PASSED
    assert verdict.summary.startswith("worker recovered 1 time within 1h (scaled 3m): 1st")


@pytest.mark.parametrize(
    ("entries", "summary"),
    [
        (
            [START, *crash(1.0, 1), TEARDOWN],
            "no checkpoint.resume in the timeline: nothing recovered, nothing to bound; "
            "cannot tell",
        ),
        (
            [START, BOOT, resume(0.5, "api"), *crash(1.0, 1), TEARDOWN],
            "no recovery: the only checkpoint.resume came at start-up, before the first fault "
            "(worker at 00:00.3, api at 00:00.5); nothing to bound, cannot tell",
        ),
        (
            [START, BOOT, *RESUMES[:4]],
            f"the timeline ends at 00:03.5, before {BOUND_1M} after the 4th recovery of worker: "
            "cannot tell",
        ),
    ],
    ids=["no-recovery", "only-start-ups", "ends-too-soon"],
)
def test_bounded_recovery_is_broken_when_nothing_can_be_told(
    entries: list[Entry], summary: str
) -> None:
    verdict = recovery_policy.check(RECOVERY, make(*entries))
    assert verdict.status is Status.BROKEN
    assert verdict.summary == summary


@pytest.mark.parametrize(
    ("n", "text"),
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (21, "21st")],
)
def test_ordinals(n: int, text: str) -> None:
    assert recovery_policy.ordinal(n) == text
