"""The contract: a system's own vocabulary, declared once, is what every policy and KPI reads.

The same runs are judged in the reference system's names and in a made-up system's names
(``job.*``, the work id in a nested attribute, the action under structlog's ``event`` key), and
come out the same; a role nobody declared is broken, never passed or failed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from timelines import make, reference_contract

from harness.contract import Contract
from harness.errors import ScenarioError
from harness.expectations import NoDataLostExpectation, PausesExpectation
from harness.observe.collector import parse_event
from harness.policies import Status
from harness.policies import no_data_lost as data_policy
from harness.policies import pauses as pauses_policy
from harness.prepare import with_contract
from harness.report import kpi
from harness.scenario import load_scenario
from harness.system import load_system
from harness.timeline import EventEntry, FaultEntry, PhaseEntry, Timeline

ROOT = Path(__file__).resolve().parents[2]

JOBS = Contract.model_validate(
    {
        "work": {
            "noun": "job",
            "id": "job.id",
            "key": "job.token",
            "accepted": "job.queued",
            "completed": ["job.done", "job.finished"],
            "failed": "job.dead",
        },
        "automation": {"start": "boot", "pause": "intake.stop", "resume": "intake.start"},
        "classes": {"business": ["job.*"]},
        "event_fields": {"action": "event", "service": "logger"},
    }
)


def fault(t: float, action: str = "inject") -> FaultEntry:
    return FaultEntry(
        t=t, action=action, fault_id="f1", fault_type="partition", target="runner->store"
    )


def job(t: float, action: str, n: int, service: str = "runner") -> EventEntry:
    """A job event as the made-up system sends it, read through the collector."""
    body = {"event": action, "logger": service, "job": {"id": f"j-{n}", "token": f"k-{n}"}}
    return parse_event(body, t=t, source="stdout", fields=JOBS.event_fields)


def test_events_in_a_systems_own_keys_are_read_through_its_contract() -> None:
    entry = job(1.0, "job.queued", 7, service="api")
    assert (entry.action, entry.service) == ("job.queued", "api")
    assert entry.attributes == {"job.id": "j-7", "job.token": "k-7"}  # nested: dotted
    with pytest.raises(ValueError, match="non-empty string 'event'"):
        parse_event({"action": "job.queued"}, t=0.0, source="http", fields=JOBS.event_fields)


def jobs_run(*, lose: bool) -> list[EventEntry | FaultEntry | PhaseEntry]:
    entries: list[EventEntry | FaultEntry | PhaseEntry] = [job(0.1, "boot", 0, "keeper")]
    entries += [job(0.2 + i / 10, "job.queued", i) for i in range(4)]
    entries += [fault(1.0), job(1.1, "intake.stop", 0, "keeper"), fault(3.0, "heal")]
    entries += [job(3.2, "intake.start", 0, "keeper"), PhaseEntry(t=4.0, phase="drain")]
    done = range(3) if lose else range(4)
    entries += [job(3.5 + i / 10, "job.done" if i % 2 else "job.finished", i) for i in done]
    return entries


def test_a_system_never_seen_is_judged_in_its_own_words() -> None:
    exp = NoDataLostExpectation(policy="no_data_lost")
    kept = data_policy.check(exp, make(*jobs_run(lose=False), contract=JOBS))
    assert kept.status is Status.PASSED, kept.summary
    assert kept.summary.startswith("4 accepted, each completed exactly once")
    lost = data_policy.check(exp, make(*jobs_run(lose=True), contract=JOBS))
    assert lost.status is Status.FAILED
    assert "1 lost (j-3)" in lost.summary
    pauses = pauses_policy.check(
        PausesExpectation(policy="pauses"), make(*jobs_run(lose=False), contract=JOBS)
    )
    assert pauses.status is Status.PASSED, pauses.summary
    assert pauses.summary.startswith("intake.stop 0.1s after partition runner->store")


def test_kpis_use_the_contracts_split_of_actions_and_business() -> None:
    timeline = make(*jobs_run(lose=False), contract=JOBS)
    found = kpi.detection(timeline)
    assert isinstance(found, EventEntry)
    assert found.action == "intake.stop"  # job.* is business; boot is a report
    assert kpi.run_kpis(timeline).automation_actions == 2  # intake.stop, intake.start


def test_a_role_nobody_declared_is_broken_and_says_what_to_declare() -> None:
    timeline = make(*jobs_run(lose=False), contract=Contract())
    verdict = pauses_policy.check(PausesExpectation(policy="pauses"), timeline)
    assert verdict.status is Status.BROKEN
    assert verdict.summary == (
        "the system's contract declares no automation.pause event: cannot tell; declare "
        "'contract.automation.pause' in the system file or the expectation's 'pause_action' "
        "(docs/contract.md)"
    )
    # the scenario may name it instead
    named = PausesExpectation(policy="pauses", pause_action=("intake.stop",))
    assert pauses_policy.check(named, timeline).status is Status.PASSED


def test_the_contract_travels_with_a_stored_timeline() -> None:
    timeline = make(*jobs_run(lose=True), contract=JOBS)
    again = Timeline.from_json(timeline.to_json())
    assert again.contract == JOBS
    exp = NoDataLostExpectation(policy="no_data_lost")
    assert data_policy.check(exp, again).summary == data_policy.check(exp, timeline).summary
    old = '{"time_scale": 1.0, "started_at": "2026-11-01T00:00:00+00:00", "entries": []}'
    assert Timeline.from_json(old).contract == Contract()  # round 1's files still load


@pytest.mark.parametrize(
    ("contract", "message"),
    [
        (
            "  work: {completed: done, failed: done}\n",
            "work.failed and work.completed both name 'done'",
        ),
        (
            "  automation: {pause: order.hold}\n  classes: {business: ['order.*']}\n",
            "automation.pause names 'order.hold', which classes.business also matches",
        ),
        ("  work: {acepted: x}\n", "acepted"),
    ],
)
def test_a_contract_that_cannot_be_read_one_way_is_a_located_error(
    tmp_path: Path, contract: str, message: str
) -> None:
    path = tmp_path / "system.yaml"
    path.write_text(f"name: s\nservices:\n  a: {{command: [x]}}\ncontract:\n{contract}")
    with pytest.raises(ScenarioError) as caught:
        load_system(path)
    rendered = caught.value.render()
    assert f"{path}:5:" in rendered or f"{path}:4:" in rendered, rendered
    assert message in rendered, rendered


def test_requests_get_the_contracts_idempotency_header_unless_they_say_otherwise() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "payments-partition.yaml")
    filled = with_contract(scenario, reference_contract())
    assert filled.workload is not None
    assert filled.load is not None
    assert filled.load.requests
    assert filled.workload.idempotency_header == "Idempotency-Key"
    headers = {r.url: r.idempotency_header for r in filled.load.requests}
    assert headers == {"{api}/orders": "Idempotency-Key", "{api}/stats": None}  # null: none
    bare = with_contract(scenario, Contract())
    assert bare.workload is not None
    assert bare.workload.idempotency_header is None


def test_the_reference_system_declares_every_role_its_catalog_needs() -> None:
    contract = load_system(ROOT / "fixtures" / "sut" / "system.yaml").contract
    assert contract == reference_contract()
    for role in ("accepted", "completed", "failed", "effect"):
        assert getattr(contract.work, role), role
    needed = ("pause", "resume", "breaker_open", "retry", "checkpoint_resume", "rollback")
    assert all(getattr(contract.automation, r) for r in needed)
    assert contract.requests.idempotency_header
    assert contract.requests.work_id
