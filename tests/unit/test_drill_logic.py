"""Drills without a system: the runbook format and its errors, operators, the runbook verdict,
and the KPIs of a run, on hand-built timelines."""

from __future__ import annotations

import shutil
import textwrap
import threading
from pathlib import Path

import pytest
from timelines import make

from harness.drills import (
    InteractiveOperator,
    ScriptedOperator,
    Step,
    load_runbook,
    runbook_verdict,
)
from harness.errors import ScenarioError
from harness.observe.guards import error_rate_trip
from harness.policies import Status
from harness.prepare import prepare
from harness.report.kpi import hidden_incidents, noisy_escalations, run_kpis, summarise
from harness.scenario import ErrorRateGuard
from harness.timeline import (
    Entry,
    EscalationEntry,
    EventEntry,
    FaultEntry,
    LoadEntry,
    ProbeEntry,
    RequestEntry,
    StepEntry,
    Timeline,
)

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "fixtures" / "sut" / "runbooks" / "payments-outage.yaml"


def write(tmp_path: Path, text: str, name: str = "runbook.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# --- the format ---------------------------------------------------------------------------


def test_reference_runbook_loads() -> None:
    runbook = load_runbook(RUNBOOK)
    assert [s.action for s in runbook.steps] == ["wait", "http", "wait", "http", "http"]
    assert runbook.steps[0].reaction == 120.0


def test_a_step_with_two_actions_is_located(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        name: x
        steps:
          - name: both
            restart: worker
            http: {url: "{api}/admin/pause"}
        """,
    )
    with pytest.raises(ScenarioError) as info:
        load_runbook(path)
    (problem,) = info.value.problems
    assert (problem.path, problem.line, problem.field) == (path, 3, "steps[0]")
    assert problem.message.endswith("; found http, restart")


def test_a_wait_needs_exactly_one_condition(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nsteps:\n  - name: w\n    wait: {within: 1m}\n")
    with pytest.raises(ScenarioError) as info:
        load_runbook(path)
    (problem,) = info.value.problems
    assert (problem.line, problem.field) == (4, "steps[0].wait")
    assert "exactly one of: event, escalation, http" in problem.message


def test_reaction_needs_a_unit(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nsteps:\n  - {name: r, restart: worker, reaction: 30}\n")
    with pytest.raises(ScenarioError) as info:
        load_runbook(path)
    assert info.value.problems[0].field == "steps[0].reaction"


def scenario_with_runbook(tmp_path: Path, runbook_text: str | None) -> Path:
    scenario = (ROOT / "scenarios" / "payments-outage.yaml").read_text()
    system = str(ROOT / "fixtures" / "sut" / "system.yaml")
    scenario = scenario.replace("../fixtures/sut/system.yaml", system)
    scenario = scenario.replace("../fixtures/sut/runbooks/payments-outage.yaml", "runbook.yaml")
    path = tmp_path / "payments-outage.yaml"
    path.write_text(scenario)
    if runbook_text is not None:
        write(tmp_path, runbook_text)
    return path


def test_a_missing_runbook_is_located_at_drill_runbook(tmp_path: Path) -> None:
    path = scenario_with_runbook(tmp_path, None)
    with pytest.raises(ScenarioError) as info:
        prepare(path, None)
    (problem,) = info.value.problems
    assert problem.field == "drill.runbook"
    assert problem.message == f"no such file: {tmp_path / 'runbook.yaml'}"


def test_runbook_steps_must_fit_the_system(tmp_path: Path) -> None:
    text = RUNBOOK.read_text().replace("{api}/admin/resume", "{shop}/admin/resume")
    text += "  - {name: r, restart: ledger}\n"
    path = scenario_with_runbook(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        prepare(path, None)
    found = {(p.path.name, p.field) for p in info.value.problems}
    assert found == {("runbook.yaml", "steps[3].http.url"), ("runbook.yaml", "steps[5].restart")}


def test_the_reference_drill_prepares(tmp_path: Path) -> None:
    shutil.copy(RUNBOOK, tmp_path / "runbook.yaml")
    prepared = prepare(scenario_with_runbook(tmp_path, None), None)
    assert prepared.runbook is not None
    assert prepared.runbook.name == "payments-outage"


# --- operators ----------------------------------------------------------------------------


def test_scripted_operator_waits_its_reaction_but_not_past_the_end() -> None:
    stop = threading.Event()
    operator, step = ScriptedOperator(stop), Step(name="s", restart="worker")
    stop.set()
    operator.react(step, 1, 1, 60.0)  # returns at once: the run is over


def test_interactive_operator_shows_the_step_and_waits_for_enter() -> None:
    said: list[str] = []
    answers = iter(["\n"])
    operator = InteractiveOperator(lambda: next(answers), said.append)
    operator.react(Step(name="resume", http={"url": "{api}/admin/resume"}), 2, 5, 3.0)
    assert "step 2/5: resume" in said[0]
    assert "call POST {api}/admin/resume" in said[0]
    with pytest.raises(StopIteration):  # it read exactly one answer
        next(answers)


# --- the runbook verdict and KPIs ---------------------------------------------------------


def step(index: int, name: str, t: float, ok: bool = True, action: str = "http") -> StepEntry:
    return StepEntry(
        t=t, index=index, step=name, action=action, started=t - 1, acted=t - 0.5, ok=ok
    )


def test_runbook_verdict_passes_when_every_step_worked() -> None:
    runbook = load_runbook(RUNBOOK)
    steps = [step(i, s.name, 10.0 + i) for i, s in enumerate(runbook.steps, start=1)]
    verdict = runbook_verdict(runbook, make(*steps))
    assert verdict.status == Status.PASSED
    assert verdict.summary.startswith("all 5 steps of runbook payments-outage carried out")


def test_runbook_verdict_names_the_step_that_failed() -> None:
    runbook = load_runbook(RUNBOOK)
    timeline = make(step(1, "notice the alert", 5.0), step(2, "pause the workflow", 6.0, False))
    verdict = runbook_verdict(runbook, timeline)
    assert verdict.status == Status.FAILED
    assert "step 2 (pause the workflow) did not work" in verdict.summary


def test_runbook_verdict_fails_an_unfinished_runbook() -> None:
    runbook = load_runbook(RUNBOOK)
    verdict = runbook_verdict(runbook, make(step(1, "notice the alert", 5.0)))
    assert verdict.status == Status.FAILED
    assert verdict.summary.endswith(
        "1 of 5 steps carried out by the end of the run; next was 'pause the workflow'"
    )


def inject(t: float) -> FaultEntry:
    return FaultEntry(
        t=t, action="inject", fault_id="f1", fault_type="partition", target="worker->payments"
    )


def probe(t: float, ok: bool, name: str = "flowing") -> ProbeEntry:
    return ProbeEntry(t=t, probe=name, ok=ok)


def event(t: float, action: str, expected: str = "x", actual: str = "x") -> EventEntry:
    return EventEntry(
        t=t, action=action, service="controller", expected_outcome=expected, actual_outcome=actual
    )


def test_kpis_of_an_automated_run() -> None:
    timeline = make(
        probe(0.5, True),
        inject(1.0),
        event(1.1, "workflow.pause"),
        event(1.2, "retry.scheduled", "retried", "gave up"),
        event(1.3, "order.completed"),  # business, not an action
        probe(2.0, False),
        probe(3.0, True),
        probe(4.0, True),
        scale=0.5,
    )
    kpis = run_kpis(timeline)
    assert kpis.mode == "automated"
    assert kpis.mttd == pytest.approx(0.2)  # 0.1 s measured, at scale 0.5
    assert kpis.mttr == pytest.approx(4.0)  # restored at 3.0: 2.0 s measured
    assert (kpis.automation_actions, kpis.automation_success_rate) == (2, 0.5)
    assert (kpis.escalations_sent, kpis.escalations_noise, kpis.hidden_incidents) == (0, 0, 0)


def test_in_a_drill_detection_is_when_the_operator_acted_on_the_alert() -> None:
    alert = StepEntry(t=4.0, index=1, step="alert", action="wait", started=1.0, acted=4.0, ok=True)
    kpis = run_kpis(make(inject(1.0), event(1.5, "retry.scheduled"), alert, scale=1.0), "drill")
    assert kpis.mttd == 3.0
    assert kpis.runbook_steps == [("alert", 3.0)]


def test_recoveries_beyond_the_bound_are_hidden_unless_escalated() -> None:
    resumes = [
        EventEntry(t=float(t), action="checkpoint.resume", service="worker") for t in range(5)
    ]
    assert hidden_incidents(make(*resumes)) == 2  # the 4th and 5th
    late = EscalationEntry(t=3.5, summary="restart loop")
    assert hidden_incidents(make(*resumes, late)) == 0
    assert hidden_incidents(make(*resumes[:3])) == 0


def test_noise_is_a_second_escalation_or_one_while_every_probe_passed() -> None:
    quiet = make(probe(1.0, True), EscalationEntry(t=2.0, summary="?"))
    assert noisy_escalations(quiet) == 1
    needed = make(probe(1.0, False), EscalationEntry(t=2.0, summary="down"))
    assert noisy_escalations(needed) == 0
    twice = make(
        probe(1.0, False), EscalationEntry(t=2.0, summary="a"), EscalationEntry(t=3.0, summary="b")
    )
    assert noisy_escalations(twice) == 1


def test_summary_gives_median_and_p95_per_scenario_and_mode() -> None:
    runs = [
        run_kpis(make(probe(0.0, True), inject(1.0), probe(1.5, False), probe(t, True), scale=1))
        for t in (2.0, 3.0, 4.0)
    ]
    lines = summarise([("outage", k) for k in runs])
    assert lines == [
        "outage (automated, 3 runs): MTTR median 2.0s, p95 2.9s, MTTD -; "
        "3 of 3 restored (scenario time)"
    ]


# --- guards (halt conditions) and scope ---------------------------------------------------


def at(now: float, *entries: Entry) -> Timeline:
    """A timeline at scale 0.1 whose clock reads ``now`` (seconds since its start)."""
    clock = [0.0]
    timeline = Timeline(time_scale=0.1, monotonic=lambda: clock[0])
    for entry in entries:
        timeline.append(entry)
    clock[0] = now
    return timeline


def test_error_rate_guard_counts_the_harness_own_requests_in_the_window() -> None:
    rule = ErrorRateGuard(above=0.5, window="10s", min_requests=4)  # 1 s at scale 0.1
    old = [RequestEntry(t=0.0, method="POST", url="/o", status=503) for _ in range(9)]
    recent = [RequestEntry(t=1.5, method="POST", url="/o", status=s) for s in (201, 503, None)]
    assert error_rate_trip(rule, at(0.5, *old)) is not None  # 9 of 9 failed in the window
    assert error_rate_trip(rule, at(2.0, *old, *recent)) is None  # fewer than 4 requests
    load = LoadEntry(t=1.9, window=0.5, requests=10, failures=6)
    tripped = error_rate_trip(rule, at(2.0, *old, *recent, load))
    assert tripped == "8 of 13 requests failed (62%) in the last 10s (scaled), above 50%"
    calm = LoadEntry(t=1.9, window=0.5, requests=10, failures=0)
    assert error_rate_trip(rule, at(2.0, *old, *recent, calm)) is None  # 2 of 13


def test_a_guard_needs_one_condition(tmp_path: Path) -> None:
    text = (ROOT / "scenarios" / "payments-partition.yaml").read_text()
    text += "guards:\n  - {name: g, after: 2}\n"
    path = tmp_path / "s.yaml"
    path.write_text(text.replace("../fixtures", str(ROOT / "fixtures")))
    with pytest.raises(ScenarioError) as info:
        prepare(path, None)
    (problem,) = info.value.problems
    assert problem.field == "guards[0]"
    assert "exactly one of: a probe (http, command, sql, redis, prometheus), error_rate" in (
        problem.message
    )


def test_a_url_outside_the_system_is_refused_before_anything_runs(tmp_path: Path) -> None:
    text = (ROOT / "scenarios" / "payments-partition.yaml").read_text()
    text = text.replace('url: "{payments}/health"', 'url: "http://10.0.0.7/health"')
    path = tmp_path / "s.yaml"
    path.write_text(text.replace("../fixtures", str(ROOT / "fixtures")))
    with pytest.raises(ScenarioError) as info:
        prepare(path, None)
    (problem,) = info.value.problems
    assert problem.field == "steady_state[1].http.url"
    assert problem.message.startswith("'http://10.0.0.7/health' is not one of the system's")


def test_aborted_verdict_says_which_guard_and_how_soon_faults_healed() -> None:
    from harness.runner import aborted_verdict
    from harness.timeline import GuardEntry

    heal = FaultEntry(
        t=5.3, action="heal", fault_id="f1", fault_type="partition", target="worker->payments"
    )
    timeline = make(inject(1.0), GuardEntry(t=5.1, guard="stalled", detail="x failed"), heal)
    verdict = aborted_verdict(timeline)
    assert verdict.status == Status.ABORTED
    assert verdict.summary == (
        "aborted: guard stalled tripped at 00:05.1: x failed; every fault healed 0.20s later"
    )
