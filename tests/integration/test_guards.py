"""A guard that trips mid-fault heals every fault within a second and aborts the run.

The run is a real `pytest --scenario` process against the session's Toxiproxy; the test reads
Toxiproxy's API every 20 ms and notes when the partition it injected is gone, and compares
that with the moment the guard tripped (from the run's timeline, on the same wall clock).
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
from e2e_support import ROOT, pytest_command

from harness.faults.toxiproxy import ToxiproxyClient

pytestmark = pytest.mark.integration

GUARD = """
guards:
  - name: workflow-stalled        # the blast radius: users' orders stop moving
    http: {url: "{api}/stats", json: {paused: false}}
    after: 3
"""


def guarded_scenario(tmp_path: Path) -> Path:
    text = (ROOT / "scenarios" / "payments-partition.yaml").read_text()
    text = text.replace("../fixtures/sut/system.yaml", str(ROOT / "fixtures/sut/system.yaml"))
    path = tmp_path / "payments-partition.yaml"
    path.write_text(text + GUARD)
    return path


def test_a_tripped_guard_heals_every_fault_within_a_second(
    toxiproxy: ToxiproxyClient, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    command = pytest_command(
        f"--scenario={guarded_scenario(tmp_path)}", "--time-scale", "0.2",
        f"--toxiproxy={toxiproxy.url}", f"--rootdir={ROOT}", reports=reports,
    )  # fmt: skip
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    partitioned_at = healed_at = None
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        disabled = [p for p in toxiproxy.proxies().values() if not p.enabled]
        now = time.time()
        if disabled and partitioned_at is None:
            partitioned_at = now
        if partitioned_at is not None and not disabled and healed_at is None:
            healed_at = now
        time.sleep(0.02)
    output, _ = proc.communicate(timeout=60)

    assert partitioned_at is not None, output
    assert healed_at is not None, output
    assert "1 error" in output.strip().splitlines()[-1], output  # aborted is no pass or failure
    assert "aborted (a guard tripped; every fault was healed)" in output
    assert "guard workflow-stalled tripped at" in output
    (run_dir,) = (reports / "runs").iterdir()
    timeline = json.loads((run_dir / "timeline.json").read_text())
    started = datetime.fromisoformat(timeline["started_at"]).timestamp()
    (guard,) = [e for e in timeline["entries"] if e["kind"] == "guard"]
    tripped_at = started + guard["t"]
    # the partition lasts 12 s at this scale: it was healed by the guard, not by its end
    assert healed_at - partitioned_at < 6, (partitioned_at, healed_at)
    assert healed_at - tripped_at < 1.0, (tripped_at, healed_at)
    heals = [e for e in timeline["entries"] if e["kind"] == "fault" and e["action"] == "heal"]
    assert [h["t"] - guard["t"] < 1.0 for h in heals] == [True]
    verdicts = json.loads((run_dir / "verdicts.json").read_text())
    assert [(v["policy"], v["status"]) for v in verdicts] == [("guard", "aborted")]
    assert not [p for p in toxiproxy.proxies() if p.startswith(run_dir.name)]
