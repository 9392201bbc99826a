"""End to end: pytest --scenario against the reference system, through a real Toxiproxy.

Each run is a separate pytest process, as a user starts it. After each, the shared Toxiproxy
server must hold nothing of the run and no process of the run may be alive.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_support import SCALE, SCENARIO, assert_nothing_left, only_run, run_processes, run_pytest

from harness.faults.toxiproxy import ToxiproxyClient

pytestmark = pytest.mark.integration


def test_reference_automation_passes(toxiproxy: ToxiproxyClient, tmp_path: Path) -> None:
    result = run_pytest(
        "--scenario",
        str(SCENARIO),
        "--time-scale",
        SCALE,
        "--toxiproxy",
        toxiproxy.url,
        reports=tmp_path,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    run_dir = only_run(tmp_path)
    verdicts = json.loads((run_dir / "verdicts.json").read_text())
    assert {v["policy"]: v["status"] for v in verdicts} == {
        "steady_state": "passed",
        "pauses": "passed",
        "resumes": "passed",
        "escalates": "passed",
        "no_data_lost": "passed",
        "user_impact": "passed",
    }
    assert f"results: {run_dir}" in result.stdout
    assert_nothing_left(run_dir, toxiproxy)


def test_no_pause_defect_fails_with_a_finding(toxiproxy: ToxiproxyClient, tmp_path: Path) -> None:
    result = run_pytest(
        "--scenario",
        "payments-partition",
        "--time-scale",
        SCALE,
        "--sut-env",
        "DEFECT=no-pause",
        "--toxiproxy",
        toxiproxy.url,
        reports=tmp_path,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed" in result.stdout
    assert (
        "pauses: no workflow.pause within 30s (scaled 1.5s) after partition worker->payments"
        in result.stdout
    )
    assert "last automation event: observation" in result.stdout
    assert "Traceback" not in result.stdout
    assert_nothing_left(only_run(tmp_path), toxiproxy)


def test_private_toxiproxy_is_started_and_stopped(tmp_path: Path) -> None:
    """Without --toxiproxy, the run starts its own server and stops it with everything else."""
    result = run_pytest("--scenario", "payments-partition", "--time-scale", SCALE, reports=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = only_run(tmp_path)
    state = json.loads((run_dir / "state.json").read_text())
    assert "toxiproxy" in [p["name"] for p in state["processes"]]
    assert state["finished"] is True
    assert run_processes(run_dir) == []


def test_dry_run_plans_and_touches_nothing(tmp_path: Path) -> None:
    result = run_pytest(
        "--scenario", "payments-partition", "--time-scale", SCALE, "--dry-run", reports=tmp_path
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "inject f1-partition (partition worker->payments) for 3s" in result.stdout
    assert "expect pauses within 30s (scaled 1.5s)" in result.stdout
    assert not (tmp_path / "runs").exists()
