"""The run's edges: a signal while its folder is made, a guard that trips after the last look."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from harness.policies import Status
from harness.prepare import prepare
from harness.reaper import Watchdog
from harness.report.bundle import verify_bundle
from harness.runner import Runner, RunOptions
from harness.state import read_record
from harness.timeline import GuardEntry, PhaseEntry, Timeline

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "payments-partition.yaml"


def test_ctrl_c_while_the_reaper_starts_seals_the_run_as_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen in CI: a SIGTERM right after state.json appeared left a folder that was never sealed."""
    start = Watchdog.start

    def start_then_interrupt(*args: Any, **kwargs: Any) -> Any:
        watchdog = start(*args, **kwargs)
        signal.raise_signal(signal.SIGINT)  # the moment state.json exists and the reaper runs
        return watchdog

    monkeypatch.setattr(Watchdog, "start", start_then_interrupt)
    options = RunOptions(time_scale=0.05, reports_dir=tmp_path)

    with pytest.raises(KeyboardInterrupt):
        Runner(options).run(prepare(SCENARIO, None))

    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "manifest.json").exists()
    assert verify_bundle(run_dir) == []
    verdicts = json.loads((run_dir / "verdicts.json").read_text())
    assert [(v["policy"], v["status"]) for v in verdicts] == [("run", "interrupted")]
    assert "interrupted by SIGINT" in verdicts[0]["summary"]
    assert read_record(run_dir / "state.json").finished


def test_a_guard_that_tripped_after_the_last_look_still_aborts_the_run(tmp_path: Path) -> None:
    """Seen in CI: a guard tripped in the drain, after the runner's last look; the run passed."""
    prepared = prepare(SCENARIO, None)
    run_dir = tmp_path / "runs" / "late-guard"
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "scenario.yaml").write_text(SCENARIO.read_text())
    timeline = Timeline(0.05)
    timeline.append(PhaseEntry(t=0.1, phase="inject"))
    tripped = timeline.append(GuardEntry(t=0.6, guard="backlog", detail="exit code 7"))
    timeline.append(PhaseEntry(t=0.7, phase="drain"))
    timeline.write(run_dir / "timeline.json")
    runner = Runner(RunOptions(time_scale=0.05, reports_dir=tmp_path))

    result = runner._conclude(prepared, timeline, "automated", "late-guard", run_dir, None, None)

    assert [(v.policy, v.status) for v in result.verdicts] == [("guard", Status.ABORTED)]
    assert result.verdicts[0].evidence[0] == tripped
    assert verify_bundle(run_dir) == []
