"""The judging benchmark runs at its smoke size and still reaches the verdicts it recorded.

A smoke test, never a timed assertion: the benchmark's timelines are synthetic and seeded, so
its verdict digest at 10^3 entries is the same on every machine; a digest other than the one in
``benchmarks/results/judging.json`` means a change of the judging code changed verdicts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "benchmarks" / "results" / "judging.json"


def _smoke(results: Path) -> Any:
    env = {**os.environ, "BENCH_RESULTS_DIR": str(results)}
    done = subprocess.run(
        [sys.executable, "benchmarks/judging.py", "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads((results / "judging-smoke.json").read_text())


def test_judging_smoke_reaches_the_recorded_verdicts(tmp_path: Path) -> None:
    result = _smoke(tmp_path)
    assert result["smoke"] is True
    assert {"platform", "cpu", "cpus", "python"} <= set(result["machine"])
    (row,) = result["sizes"]
    assert row["verdicts"] > 0
    assert row["judging_seconds"] > 0
    recorded = json.loads(RECORDED.read_text())["sizes"]
    same = next(r for r in recorded if r["entries"] == row["entries"])
    assert row["verdict_digest"] == same["verdict_digest"], (
        "the judging code reaches other verdicts on the benchmark's timeline than it recorded: "
        "if that is intended, re-run `.venv/bin/python benchmarks/judging.py --sizes 1000 10000 "
        "100000` and commit benchmarks/results/judging.json"
    )
