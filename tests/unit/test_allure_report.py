"""What Allure shows of a run: labels, ids, outcome, categories, environment, steps, evidence."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from timelines import make, reference_contract

from harness.errors import ProbeError, ScenarioError, TargetError, ToxiproxyError
from harness.faultspec import Fault
from harness.policies import Status, Verdict
from harness.report import allure as meta
from harness.report.allure_steps import MAX_SUBSTEPS, phase_steps
from harness.report.attachments import MASK, Scrubber, masked_env, run_attachments
from harness.report.timeline_chart import timeline_png
from harness.scenario import Scenario, load_scenario
from harness.timeline import (
    EscalationEntry,
    EventEntry,
    FaultEntry,
    GuardEntry,
    LoadEntry,
    PhaseEntry,
    ProbeEntry,
    RequestEntry,
    StepEntry,
    Timeline,
    TrafficEntry,
)

REPO = Path(__file__).resolve().parents[2]
PARTITION = REPO / "scenarios" / "payments-partition.yaml"


def scenario(faults: list[dict[str, Any]], policies: list[str]) -> Scenario:
    return Scenario.model_validate(
        {
            "name": "made-up",
            "steady_state": [{"name": "api", "http": {"url": "{api}/health"}}],
            "faults": faults,
            "expectations": [{"policy": p} for p in policies],
        }
    )


def context(**changes: Any) -> meta.RunContext:
    values: dict[str, Any] = {
        "target": "process",
        "time_scale": 0.05,
        "sut_env": {},
        "run_id": "made-up-20260101T000000-abcd",
    }
    values.update(changes)
    return meta.RunContext(**values)


# --- labels, parameters, ids, links -------------------------------------------------------


def test_labels_of_the_partition_scenario() -> None:
    labels = meta.labels(load_scenario(PARTITION), context(sut_env={"DEFECT": "no-pause"}))
    found = [(x.name, x.value) for x in labels]
    assert found == [
        ("epic", "Operations automation promises"),
        ("feature", "network"),
        ("story", "steady_state"),
        ("story", "pauses"),
        ("story", "resumes"),
        ("story", "escalates"),
        ("story", "no_data_lost"),
        ("story", "user_impact"),
        ("severity", "critical"),
        ("tag", "target=process"),
        ("tag", "time-scale=0.05"),
        ("tag", "DEFECT=no-pause"),
    ]


def test_areas_follow_the_faults_and_severity_the_promises() -> None:
    crash = {"type": "crash", "service": "worker", "at": "0s", "duration": "1s"}
    deploy = {"type": "deploy", "service": "api", "version": "v2", "at": "0s"}
    latency = {"type": "latency", "edge": "a -> b", "at": "0s", "duration": "1s", "latency": "1s"}
    made = scenario([crash, deploy, latency, crash], ["rolls_back", "rolls_back", "steady_state"])
    assert meta.areas(made) == ["process", "change", "network"]
    assert meta.stories(made) == ["rolls_back", "steady_state"]
    assert meta.severity(made) == "normal"
    for promise in ("no_data_lost", "escalates", "escalates_on_conflict", "bounded_recovery"):
        assert meta.severity(scenario([crash], ["steady_state", promise])) == "critical"


def test_every_fault_type_has_an_area() -> None:
    union = typing.get_args(typing.get_args(Fault)[0])
    types = {typing.get_args(model.model_fields["type"].annotation)[0] for model in union}
    assert len(types) == len(union) > 10
    assert types == set(meta.FAULT_AREAS)


def test_a_drill_is_tagged_and_is_a_parameter_of_its_own() -> None:
    drill = context(mode="no-automation", trial=3)
    assert "mode=no-automation" in meta.tags(drill)
    found = {p.name: (p.value, p.excluded) for p in meta.parameters(drill)}
    assert found["mode"] == ("no-automation", False)
    assert found["trial"] == ("3", False)
    assert "mode" not in {p.name for p in meta.parameters(context())}


def test_a_scenario_that_did_not_load_keeps_epic_and_tags() -> None:
    found = [(x.name, x.value) for x in meta.labels(None, context())]
    assert found == [
        ("epic", meta.EPIC),
        ("tag", "target=process"),
        ("tag", "time-scale=0.05"),
    ]


def test_history_is_per_scenario_target_and_sut_env_never_per_run() -> None:
    def history(**changes: Any) -> str:
        return meta.history_id("payments-partition", meta.parameters(context(**changes)))

    first = history(run_id="payments-partition-20260101T000000-aaaa", time_scale=0.05)
    assert history(run_id="payments-partition-20260108T000000-bbbb", time_scale=1.0) == first
    assert history(target="compose") != first
    assert history(sut_env={"DEFECT": "no-pause"}) != first
    assert history(mode="no-automation") != first
    assert history(trial=1) != first
    assert history(trial=2, run_id="other") == history(trial=2)
    assert history(trial=2) != history(trial=1)
    assert meta.history_id("worker-crash", meta.parameters(context())) != first
    assert meta.test_case_id("payments-partition") == meta.test_case_id("payments-partition")
    assert meta.test_case_id("payments-partition") != meta.test_case_id("worker-crash")


def test_parameters_exclude_what_varies_from_run_to_run_and_mask_secrets() -> None:
    env = {"DEFECT": "no-pause", "API_TOKEN": "s3cr3t-value"}
    found = {p.name: (p.value, p.excluded) for p in meta.parameters(context(sut_env=env))}
    assert found == {
        "target": ("process", False),
        "SUT env": (f"API_TOKEN={MASK} DEFECT=no-pause", False),
        "time scale": ("0.05", True),
        "run id": ("made-up-20260101T000000-abcd", True),
    }


def test_links_name_the_scenario_and_each_runbook_once() -> None:
    runbook = "https://runbooks.example/payments-outage"
    timeline = make(
        EscalationEntry(t=1.0, summary="payments down", runbook_url=runbook),
        EscalationEntry(t=2.0, summary="payments still down", runbook_url=runbook),
        EscalationEntry(t=3.0, summary="no runbook"),
    )
    links = meta.links(PARTITION, "scenarios/payments-partition.yaml", timeline)
    assert [(x.name, x.url) for x in links] == [
        ("scenario scenarios/payments-partition.yaml", PARTITION.as_uri()),
        (f"runbook {runbook}", runbook),
    ]


# --- outcomes and categories --------------------------------------------------------------


def verdict(policy: str, status: Status, summary: str) -> Verdict:
    return Verdict(policy=policy, status=status, summary=summary)


def unscrubbed(text: str) -> str:
    return text


def category(status: str, message: str, *, allure: int) -> str | None:
    """The category a result lands in: Allure 2 matches whole messages, Allure 3 searches."""
    for rule in meta.CATEGORIES:
        statuses = typing.cast(list[str], rule["matchedStatuses"])
        pattern = typing.cast(str | None, rule.get("messageRegex"))
        if status not in statuses:
            continue
        if pattern is None:
            return str(rule["name"])
        found = re.fullmatch(pattern, message) if allure == 2 else re.search(pattern, message)
        if found:
            return str(rule["name"])
    return None


RUN_DIR = Path("/reports/runs/x")
UNREACHED = (
    "inconclusive: partition worker->payments at 00:01.0 never reached traffic (no byte "
    "crossed the edge's proxy after it started, per Toxiproxy's counters); is the edge in use?"
)
CASES = [
    (
        meta.outcome([verdict("pauses", Status.FAILED, "no workflow.pause")], RUN_DIR, unscrubbed),
        "failed",
        "Policy violations",
    ),
    (
        meta.outcome(
            [verdict("pauses", Status.BROKEN, UNREACHED), verdict("resumes", Status.FAILED, "x")],
            RUN_DIR,
            unscrubbed,
        ),
        "broken",
        "Inconclusive (fault never reached traffic)",
    ),
    (
        meta.outcome(
            [verdict("pauses", Status.BROKEN, "the automation never said a word")],
            RUN_DIR,
            unscrubbed,
        ),
        "broken",
        "Inconclusive (a policy could not tell)",
    ),
    (
        meta.outcome(
            [verdict("guard", Status.ABORTED, "aborted: guard error-rate tripped at 00:02.0: 60%")],
            RUN_DIR,
            unscrubbed,
        ),
        "broken",
        "Aborted by a guard (every fault healed)",
    ),
    (
        meta.error_outcome(ProbeError(what="the system is not in its steady state"), unscrubbed),
        "broken",
        "System under test unavailable",
    ),
    (
        meta.error_outcome(TargetError(what="api did not start", hint="read its log"), unscrubbed),
        "broken",
        "System under test unavailable",
    ),
    (
        meta.error_outcome(ToxiproxyError(what="Toxiproxy server not found"), unscrubbed),
        "broken",
        "Harness errors",
    ),
    (
        meta.error_outcome(ScenarioError(what="never reached traffic"), unscrubbed),
        "broken",
        "Harness errors",
    ),
]


@pytest.mark.parametrize(("outcome", "status", "expected"), CASES)
def test_each_outcome_lands_in_its_category_in_allure_2_and_3(
    outcome: meta.Outcome, status: str, expected: str
) -> None:
    assert outcome.status == status
    assert "Traceback" not in outcome.message
    assert category(outcome.status, outcome.message, allure=2) == expected
    assert category(outcome.status, outcome.message, allure=3) == expected


def test_passed_verdicts_pass_and_findings_name_policy_and_results() -> None:
    passed = meta.outcome([verdict("pauses", Status.PASSED, "ok")], RUN_DIR, unscrubbed)
    assert (passed.status, passed.message) == ("passed", "")
    failed = meta.outcome(
        [verdict("pauses", Status.FAILED, "no pause"), verdict("resumes", Status.PASSED, "ok")],
        RUN_DIR,
        unscrubbed,
    )
    assert failed.message == f"pauses: no pause\nresults: {RUN_DIR}"
    assert category("passed", "", allure=3) is None


def test_allurerc_mirrors_the_categories_and_keeps_history_under_reports() -> None:
    config = json.loads((REPO / "allurerc.json").read_text())
    assert config["categories"] == json.loads(json.dumps(list(meta.CATEGORIES)))
    assert config["historyPath"].startswith("reports/")
    assert config["output"].startswith("reports/")
    assert config["plugins"]["awesome"]["options"]["singleFile"] is True
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert config["historyPath"] in ignored
    assert f"{config['output']}/" in ignored


def test_environment_properties_are_escaped() -> None:
    text = meta.environment_properties({"a key": "x=1\\2", "multi": "one\ntwo", "plain": "v"})
    assert text == "a\\ key=x=1\\\\2\nmulti=one\\ntwo\nplain=v\n"


# --- secrets --------------------------------------------------------------------------------


def test_secret_values_are_masked_and_scrubbed_but_short_ones_only_masked() -> None:
    env = {"API_TOKEN": "tok-12345", "DB_PASSWORD": "pw-678", "KEY": "k1", "DEFECT": "no-pause"}
    assert masked_env(env) == {
        "API_TOKEN": MASK,
        "DB_PASSWORD": MASK,
        "KEY": MASK,
        "DEFECT": "no-pause",
    }
    scrub = Scrubber(env)
    assert scrub("url?t=tok-12345&p=pw-678 k1 no-pause") == f"url?t={MASK}&p={MASK} k1 no-pause"


def test_attachments_are_the_evidence_scrubbed(tmp_path: Path) -> None:
    timeline = make(
        PhaseEntry(t=0.0, phase="inject"),
        ProbeEntry(t=0.5, probe="api", ok=True, status=200, latency_ms=3.0),
        ProbeEntry(t=1.5, probe="api", ok=False, detail="503"),
        FaultEntry(
            t=1.0,
            action="inject",
            fault_id="f1-partition",
            fault_type="partition",
            target="worker->payments",
            detail={"proxy": "run.worker.to.payments", "bytes_at_inject": 10},
        ),
        FaultEntry(
            t=1.0, action="inject", fault_id="f2-crash", fault_type="crash", target="worker"
        ),
        EventEntry(t=1.2, action="workflow.pause", trigger="secret tok-12345 leaked"),
        RequestEntry(t=1.3, method="POST", url="http://api/orders", status=503),
        LoadEntry(t=2.0, window=1.0, requests=20, failures=2, status_5xx=1, p99_ms=80.0),
        TrafficEntry(t=3.0, edge="worker->payments", bytes=500),
    )
    timeline.write(tmp_path / "timeline.json")
    (tmp_path / "kpis.json").write_text('{"mttr": 1.5}')
    found = {
        a.name: a for a in run_attachments(timeline, tmp_path, Scrubber({"TOKEN": "tok-12345"}))
    }
    assert set(found) == {
        "timeline.json",
        "kpis.json",
        "events.json",
        "escalations.json",
        "toxiproxy.json",
        "probes.csv",
        "requests.csv",
        "load.csv",
    }
    for attachment in found.values():
        assert b"tok-12345" not in attachment.body
    assert found["probes.csv"].mime == "text/csv"
    rows = list(csv.DictReader(io.StringIO(found["probes.csv"].body.decode())))
    assert [(r["t"], r["ok"], r["detail"]) for r in rows] == [
        ("0.5", "True", ""),
        ("1.5", "False", "503"),
    ]
    toxiproxy = json.loads(found["toxiproxy.json"].body)
    assert [f["fault_id"] for f in toxiproxy["faults"]] == ["f1-partition"]
    assert toxiproxy["traffic"] == [
        {"t": 3.0, "kind": "traffic", "edge": "worker->payments", "bytes": 500}
    ]
    assert json.loads(found["events.json"].body)[0]["trigger"] == f"secret {MASK} leaked"
    load = list(csv.DictReader(io.StringIO(found["load.csv"].body.decode())))
    assert [(r["requests"], r["failures"], r["p99_ms"]) for r in load] == [("20", "2", "80.0")]


# --- steps ----------------------------------------------------------------------------------

START = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


def run_timeline() -> Timeline:
    timeline = Timeline(
        0.05, monotonic=lambda: 0.0, started_at=START, contract=reference_contract()
    )
    inject = FaultEntry(
        t=2.0, action="inject", fault_id="f1", fault_type="partition", target="worker->payments"
    )
    for entry in (
        PhaseEntry(t=0.0, phase="setup"),
        PhaseEntry(t=1.0, phase="steady_state"),
        PhaseEntry(t=1.5, phase="inject"),
        inject,
        EventEntry(t=2.1, action="order.failed", service="worker"),
        EventEntry(t=2.2, action="breaker.open", service="worker"),
        FaultEntry(
            t=4.0, action="heal", fault_id="f1", fault_type="partition", target="worker->payments"
        ),
        PhaseEntry(t=4.0, phase="heal"),
        PhaseEntry(t=6.0, phase="verify"),
        ProbeEntry(t=6.1, probe="api", ok=True, phase="verify"),
        PhaseEntry(t=6.2, phase="teardown"),
        TrafficEntry(t=7.0, edge="worker->payments", bytes=10),
    ):
        timeline.append(entry)
    return timeline


def test_phase_steps_have_the_runs_own_times_and_the_verdicts() -> None:
    timeline = run_timeline()
    failure = timeline.of(EventEntry)[0]
    verdicts = [
        Verdict(policy="steady_state", status=Status.PASSED, summary="fine"),
        Verdict(
            policy="pauses",
            status=Status.FAILED,
            summary="order.failed during the fault",
            bound=30.0,
            scaled_bound=1.5,
            evidence=(timeline.of(FaultEntry)[0], failure),
        ),
    ]
    steps = phase_steps(timeline, verdicts)
    base = round(START.timestamp() * 1000)
    assert [(s.name.split(":")[0], s.start - base, s.stop - base, s.status) for s in steps] == [
        ("setup", 0, 1000, "passed"),
        ("steady state", 1000, 1500, "passed"),
        ("inject", 1500, 4000, "failed"),
        ("heal", 4000, 6000, "passed"),
        ("verify", 6000, 6200, "failed"),
        ("teardown", 6200, 7000, "passed"),
    ]
    inject = steps[2]
    assert inject.message == "evidence of pauses (failed)"
    assert [s.name for s in inject.steps] == [
        "00:02.0 fault inject partition worker->payments",
        "00:02.2 event breaker.open (worker)",  # business events are counted, not listed
    ]
    assert dict(inject.parameters) == {"events": "2"}
    verify = steps[4]
    assert [(s.name, s.status, s.message) for s in verify.steps] == [
        ("steady_state: passed", "passed", "fine"),
        ("pauses: failed", "failed", "order.failed during the fault"),
    ]
    pauses = verify.steps[1]
    assert dict(pauses.parameters) == {"bound, stated (s)": "30", "bound, in this run (s)": "1.5"}
    assert [s.start - base for s in pauses.steps] == [2000, 2100]
    assert dict(verify.parameters) == {"probes": "1 ok, 0 failed"}


def test_a_broken_verdict_breaks_its_phase_and_the_verify_step() -> None:
    timeline = run_timeline()
    verdicts = [
        Verdict(
            policy="steady_state",
            status=Status.BROKEN,
            summary="cannot tell",
            evidence=(timeline.of(TrafficEntry)[0],),
        )
    ]
    statuses = {s.name.split(":")[0]: s.status for s in phase_steps(timeline, verdicts)}
    assert statuses["teardown"] == "broken"
    assert statuses["verify"] == "broken"
    assert statuses["inject"] == "passed"


def test_a_runbook_step_lasts_from_its_start_and_fails_if_it_did_not_work() -> None:
    done = StepEntry(t=3.0, index=1, step="restart worker", action="restart", started=2.0, ok=True)
    failed = StepEntry(t=5.0, index=2, step="check", action="http", started=4.5, ok=False)
    contract = reference_contract()
    timeline = Timeline(1.0, monotonic=lambda: 0.0, started_at=START, contract=contract)
    for entry in (PhaseEntry(t=0.0, phase="inject"), done, failed):
        timeline.append(entry)
    (inject,) = phase_steps(timeline, [])
    base = round(START.timestamp() * 1000)
    found = [(s.name, s.status, s.start - base, s.stop - base) for s in inject.steps]
    assert found == [
        ("00:03.0 runbook step 1 restart worker done: ", "passed", 2000, 3000),
        ("00:05.0 runbook step 2 check FAILED: ", "failed", 4500, 5000),
    ]
    assert inject.status == "failed"


def test_a_tripped_guard_breaks_its_phase_and_the_aborted_verdict_is_broken() -> None:
    guard = GuardEntry(t=2.5, guard="error-rate", detail="60% of requests failed")
    timeline = make(PhaseEntry(t=0.0, phase="inject"), guard, PhaseEntry(t=3.0, phase="verify"))
    aborted = Verdict(policy="guard", status=Status.ABORTED, summary="aborted", evidence=(guard,))
    inject, verify = phase_steps(timeline, [aborted])
    assert [(s.name, s.status) for s in inject.steps] == [
        ("00:02.5 guard error-rate TRIPPED: 60% of requests failed", "broken")
    ]
    assert (inject.status, inject.message) == ("broken", "evidence of guard (aborted)")
    assert [(s.name, s.status) for s in verify.steps] == [("guard: aborted", "broken")]
    assert verify.status == "broken"


def test_a_storm_of_automation_events_is_cut_short() -> None:
    storm = [EventEntry(t=1.0 + i / 1000, action="retry.scheduled") for i in range(250)]
    timeline = make(PhaseEntry(t=0.0, phase="inject"), *storm)
    (inject,) = phase_steps(timeline, [])
    assert len(inject.steps) == MAX_SUBSTEPS + 1
    assert inject.steps[-1].name == "... and 150 more (events.json has them all)"


# --- the chart ------------------------------------------------------------------------------


def test_the_chart_is_a_png_of_the_timeline() -> None:
    timeline = run_timeline()
    timeline.append(EscalationEntry(t=5.0, summary="paged"))
    timeline.append(RequestEntry(t=2.5, method="POST", url="http://api/orders", error="refused"))
    timeline.append(LoadEntry(t=3.0, window=1.0, requests=20, failures=4, status_5xx=4))
    timeline.append(GuardEntry(t=3.5, guard="error-rate"))
    png = timeline_png(timeline, title="made-up")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 10_000
    assert timeline_png(Timeline(1.0)).startswith(b"\x89PNG")


def test_the_plugin_stays_cheap_to_import_without_allure() -> None:
    code = (
        "import sys, harness.plugin, harness.report.allure, harness.report.allure_steps; "
        "print(sorted(m for m in ('allure_commons', 'allure_pytest', 'matplotlib') "
        "if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert done.stdout.strip() == "[]"
