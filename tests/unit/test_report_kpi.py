"""MTTD and MTTR as pure functions of hand-built timelines."""

from __future__ import annotations

from typing import Literal

import pytest
from timelines import make

from harness.contract import Contract
from harness.report import kpi
from harness.timeline import (
    EscalationEntry,
    EventEntry,
    FaultEntry,
    PhaseEntry,
    ProbeEntry,
)


def fault(t: float, action: Literal["inject", "heal"] = "inject", fid: str = "f1") -> FaultEntry:
    return FaultEntry(
        t=t, action=action, fault_id=fid, fault_type="partition", target="worker->payments"
    )


def probe(t: float, ok: bool = True, name: str = "api", phase: str = "inject") -> ProbeEntry:
    return ProbeEntry(t=t, probe=name, ok=ok, phase=phase)


def event(t: float, action: str, service: str = "controller") -> EventEntry:
    return EventEntry(t=t, action=action, service=service)


BASELINE = (probe(1.0, phase="steady_state"), probe(1.0, name="flow", phase="steady_state"))


def test_no_fault_has_no_kpis() -> None:
    timeline = make(*BASELINE, probe(2.0), event(2.5, "workflow.pause"))
    assert kpi.first_injection(timeline) is None
    assert kpi.mttd(timeline) is None
    assert kpi.mttr(timeline) is None
    assert kpi.steady_state_lost(timeline) is None


def test_mttr_is_zero_when_one_fault_never_moved_the_probes() -> None:
    timeline = make(*BASELINE, fault(2.0), probe(2.1), probe(2.1, name="flow"), fault(5.0, "heal"))
    timeline.append(probe(5.5))
    timeline.append(probe(5.5, name="flow"))
    assert kpi.mttr(timeline) == 0.0
    assert kpi.steady_state_lost(timeline) is False


def test_mttr_runs_to_the_first_sample_of_the_last_passing_run_of_the_slowest_probe() -> None:
    timeline = make(
        *BASELINE,
        fault(2.0),
        probe(2.5, ok=False, name="flow"),
        probe(3.0, ok=True, name="flow"),  # a flap: not yet restored
        probe(3.5, ok=False, name="flow"),
        fault(4.0, "heal"),
        probe(4.5, ok=False),
        probe(4.6, ok=True),  # api back at 4.6
        probe(5.2, ok=True, name="flow"),  # flow back at 5.2, for good
        probe(6.0),
        probe(6.0, name="flow", phase="verify"),
    )
    assert kpi.restoration(timeline) == 5.2
    assert kpi.mttr(timeline) == pytest.approx(3.2)
    assert kpi.steady_state_lost(timeline) is True


def test_a_failing_last_sample_means_not_restored() -> None:
    timeline = make(*BASELINE, fault(2.0), probe(2.5, ok=False), fault(3.0, "heal"))
    timeline.append(probe(3.5, name="flow"))
    timeline.append(probe(4.0, ok=False, phase="verify"))
    assert kpi.restoration(timeline) is None
    assert kpi.mttr(timeline) is None


def test_a_probe_unsampled_after_the_last_injection_cannot_tell() -> None:
    timeline = make(*BASELINE, fault(2.0), probe(2.5), fault(3.0, "heal"))  # flow: baseline only
    assert kpi.mttr(timeline) is None


def test_no_probe_at_all_cannot_tell() -> None:
    assert kpi.mttr(make(fault(2.0), fault(3.0, "heal"))) is None


def test_restoration_is_never_before_the_last_injection() -> None:
    timeline = make(
        *BASELINE,
        fault(2.0, fid="f1"),
        probe(2.5, ok=False),
        probe(3.0, ok=True),
        fault(3.0, "heal", fid="f1"),
        fault(6.0, fid="f2"),  # the probes stay green through the second fault
        probe(6.5),
        probe(6.5, name="flow"),
        fault(7.0, "heal", fid="f2"),
    )
    assert kpi.restoration(timeline) == 6.0
    assert kpi.mttr(timeline) == 4.0


def test_a_probe_failing_until_just_before_the_last_injection_counts_to_its_recovery() -> None:
    timeline = make(
        *BASELINE,
        fault(2.0, fid="f1"),
        probe(2.9, ok=False),
        fault(3.0, fid="f2"),
        probe(3.4, ok=True),
        probe(3.4, name="flow"),
    )
    assert kpi.restoration(timeline) == 3.4


def test_the_drain_check_is_no_steady_state_probe() -> None:
    timeline = make(
        *BASELINE,
        fault(2.0),
        probe(2.5, ok=False),
        probe(3.0),
        probe(3.0, name="flow"),
        probe(4.0, ok=False, name="drain", phase="drain"),
    )
    assert kpi.restoration(timeline) == 3.0


def test_mttd_is_the_first_automation_action_after_the_first_fault() -> None:
    timeline = make(
        event(0.4, "automation.start"),
        event(1.0, "breaker.open", "worker"),  # before the fault: not a detection of it
        *BASELINE,
        fault(2.0),
        event(2.1, "order.completed", "worker"),
        event(2.2, "payment.call", "payments"),
        event(2.3, "observation"),
        event(2.4, "deploy", "deploy"),
        event(2.6, "retry.scheduled", "worker"),
        event(2.9, "workflow.pause"),
    )
    found = kpi.detection(timeline)
    assert isinstance(found, EventEntry)
    assert found.action == "retry.scheduled"
    assert kpi.mttd(timeline) == pytest.approx(0.6)


def test_an_escalation_is_a_detection() -> None:
    timeline = make(
        fault(2.0),
        event(2.2, "order.failed", "worker"),
        EscalationEntry(t=3.0, summary="payments down", runbook_url="http://runbooks/x"),
        event(3.5, "workflow.pause"),
    )
    assert isinstance(kpi.detection(timeline), EscalationEntry)
    assert kpi.mttd(timeline) == pytest.approx(1.0)


def test_nothing_acted_means_not_detected() -> None:
    timeline = make(fault(2.0), event(2.5, "order.accepted", "api"), PhaseEntry(t=3, phase="heal"))
    assert kpi.detection(timeline) is None
    assert kpi.mttd(timeline) is None


def test_automation_actions_are_what_the_contract_says() -> None:
    timeline = make()  # the reference contract: actions and business records as globs
    assert not kpi.is_action(event(0, "order.requeued"), timeline)  # business: order.*
    assert not kpi.is_action(event(0, "deploy"), timeline)  # neither: a report
    assert not kpi.is_action(event(0, "automation.start"), timeline)
    assert kpi.is_action(event(0, "breaker.open"), timeline)
    assert kpi.is_action(event(0, "rollback"), timeline)
    assert not kpi.is_action(event(0, "rollback.later"), timeline)  # "rollback" is exact
    # without classes.actions, every automation role's events but start are actions
    own = Contract.model_validate({"automation": {"start": "boot", "pause": "hold"}})
    bare = make(contract=own)
    assert kpi.is_action(event(0, "hold"), bare)
    assert not kpi.is_action(event(0, "boot"), bare)
    assert not kpi.is_action(event(0, "breaker.open"), bare)  # this system never declared it


def test_scenario_seconds_divide_by_the_time_scale() -> None:
    assert kpi.scenario_seconds(1.5, 0.05) == pytest.approx(30.0)
    assert kpi.scenario_seconds(None, 0.05) is None
