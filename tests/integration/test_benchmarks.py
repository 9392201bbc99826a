"""Every benchmark runs at its smallest size (BENCH_SMOKE=1) and writes well-formed results.

A smoke test, never a timed assertion: the figures are checked for shape, not for speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import ROOT

pytestmark = pytest.mark.integration


def test_http_edge_benchmark_writes_its_figures(tmp_path: Path) -> None:
    env = {**os.environ, "BENCH_SMOKE": "1", "BENCH_RESULTS_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "benchmarks/http_edge.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "http_edge-smoke.json").read_text())
    assert result["smoke"] is True
    assert result["requests_per_path"] == 20
    assert set(result["paths"]) == {"direct", "toxiproxy", "toxiproxy+mitmproxy"}
    for figures in result["paths"].values():
        assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    assert set(result["added_by_http_edge_ms"]) == {"p50_ms", "p99_ms"}
    assert {"platform", "cpu", "cpus", "python"} <= set(result["machine"])
    assert result["versions"]["mitmproxy"]
