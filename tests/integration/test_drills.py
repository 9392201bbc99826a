"""No-automation drills of payments-outage against the reference system, at time scale 0.05.

The automated run and the drill each give an MTTR; the drill's, with a person's reaction times,
is larger, and both reach the evidence bundle, the run history and the council page. A runbook
that forgets a step does not recover the system: the drill fails on steady_state (the negative
control). A person at the terminal is played by a pipe.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from e2e_support import ROOT, SCALE, run_pytest

from harness.faults.toxiproxy import ToxiproxyClient
from harness.policies import Status
from harness.prepare import prepare
from harness.report import verify_reports
from harness.report.council import seconds, write_council
from harness.runner import Runner, RunOptions, RunResult
from harness.timeline import StepEntry

pytestmark = pytest.mark.integration

SCENARIO = ROOT / "scenarios" / "payments-outage.yaml"
RUNBOOK = ROOT / "fixtures" / "sut" / "runbooks" / "payments-outage.yaml"


def run(toxiproxy: ToxiproxyClient, reports: Path, scenario: Path, **options: object) -> RunResult:
    opts = RunOptions(
        time_scale=float(SCALE),
        toxiproxy_url=toxiproxy.url,
        reports_dir=reports,
        **options,  # type: ignore[arg-type]
    )
    return Runner(opts).run(prepare(scenario, None))


def statuses(result: RunResult) -> dict[str, Status]:
    return {v.policy: v.status for v in result.verdicts}


def test_a_drill_recovers_later_than_the_automation_and_both_are_reported(
    toxiproxy: ToxiproxyClient, tmp_path: Path
) -> None:
    automated = run(toxiproxy, tmp_path, SCENARIO)
    drill = run(toxiproxy, tmp_path, SCENARIO, drill="no-automation")

    assert set(statuses(automated).values()) == {Status.PASSED}, automated.verdicts
    assert statuses(drill) == {
        "runbook": Status.PASSED,
        "steady_state": Status.PASSED,
        "no_data_lost": Status.PASSED,
    }, "\n".join(v.render() for v in drill.verdicts)
    assert automated.kpis is not None
    assert drill.kpis is not None
    assert (automated.kpis.mode, drill.kpis.mode) == ("automated", "no-automation")
    assert automated.kpis.mttr is not None
    assert drill.kpis.mttr is not None
    # the operator notices payments is back 20 s (scenario time) later than the automation
    assert drill.kpis.mttr > automated.kpis.mttr + 10, (drill.kpis, automated.kpis)
    assert drill.kpis.mttd is not None
    assert automated.kpis.mttd is not None
    assert drill.kpis.mttd > automated.kpis.mttd + 100  # a 2-minute reaction to the alert
    steps = drill.timeline.of(StepEntry)
    assert [s.step for s in steps] == [
        "notice the alert",
        "pause the workflow",
        "wait for payments to come back",
        "resume the workflow",
        "retry the orders that failed",
    ]
    assert all(s.ok and s.operator == "scripted" for s in steps)

    # the bundle holds both figures, sealed; the council page shows them side by side
    for result in (automated, drill):
        kpis = json.loads((result.run_dir / "kpis.json").read_text())
        assert kpis["mttr"] == pytest.approx(result.kpis.mttr if result.kpis else None)
        manifest = json.loads((result.run_dir / "manifest.json").read_text())
        assert "kpis.json" in {f["path"] for f in manifest["files"]}
    assert verify_reports(tmp_path).problems == []
    page = BeautifulSoup(write_council(tmp_path).read_text(), "html.parser")
    row = next(
        r
        for r in page.select("tr")
        if r.select_one('[data-kpi="mttr-manual-median"]') and "payments-outage" in r.get_text()
    )
    automated_cell = row.select_one('[data-kpi="mttr-automated-median"]')
    manual_cell = row.select_one('[data-kpi="mttr-manual-median"]')
    assert automated_cell is not None
    assert manual_cell is not None
    assert automated_cell.get_text(strip=True) == seconds(automated.kpis.mttr)
    assert manual_cell.get_text(strip=True) == seconds(drill.kpis.mttr)


def test_a_runbook_that_forgets_to_resume_fails_the_drill(
    toxiproxy: ToxiproxyClient, tmp_path: Path
) -> None:
    runbook = RUNBOOK.read_text()
    resume = '  - name: resume the workflow\n    http: {method: POST, url: "{api}/admin/resume"}\n'
    assert resume in runbook
    (tmp_path / "runbook.yaml").write_text(runbook.replace(resume, ""))
    scenario = (
        SCENARIO.read_text()
        .replace("../fixtures/sut/runbooks/payments-outage.yaml", "runbook.yaml")
        .replace("../fixtures/sut/system.yaml", str(ROOT / "fixtures" / "sut" / "system.yaml"))
    )
    (tmp_path / "payments-outage.yaml").write_text(scenario)

    drill = run(toxiproxy, tmp_path, tmp_path / "payments-outage.yaml", drill="no-automation")

    found = statuses(drill)
    assert found["runbook"] == Status.PASSED  # every step it has was carried out
    assert found["steady_state"] == Status.FAILED  # but the workflow stays paused
    assert drill.kpis is not None
    assert drill.kpis.mttr is None


def test_an_interactive_operator_confirms_each_step_at_the_terminal(
    toxiproxy: ToxiproxyClient, tmp_path: Path
) -> None:
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "harness"), "run", "payments-outage",
            "--time-scale", SCALE, "--drill", "no-automation", "--operator", "interactive",
            "--toxiproxy", toxiproxy.url, "--reports-dir", str(tmp_path),
        ],
        input="\n" * 5, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("press Enter to carry it out") == 5, done.stdout
    assert "step 5/5: retry the orders that failed" in done.stdout
    assert "no-automation: MTTR" in done.stdout
    (run_dir,) = (tmp_path / "runs").iterdir()
    timeline = json.loads((run_dir / "timeline.json").read_text())
    steps = [e for e in timeline["entries"] if e["kind"] == "step"]
    assert [s["operator"] for s in steps] == ["interactive"] * 5


def test_trials_give_median_and_p95(toxiproxy: ToxiproxyClient, tmp_path: Path) -> None:
    result = run_pytest(
        "--scenario", "payments-partition", "--time-scale", SCALE, "--trials", "2",
        f"--toxiproxy={toxiproxy.url}", reports=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    assert "payments-partition[trial-1]" in result.stdout
    assert "payments-partition[trial-2]" in result.stdout
    assert "payments-partition (automated, 2 runs): MTTR median" in result.stdout
