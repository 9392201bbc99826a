"""Inconclusive is not a pass: a fault on an edge no traffic crosses is judged broken.

The reference system gets one extra edge, api -> payments, that nothing uses; a latency fault
on it reaches no connection, which Toxiproxy's own byte counters show, so every verdict must be
broken with that reason, never passed (and never failed: the system broke no promise).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import ROOT

from harness.faults.toxiproxy import ToxiproxyClient
from harness.policies import Status
from harness.prepare import prepare
from harness.runner import Runner, RunOptions
from harness.timeline import TrafficEntry

pytestmark = pytest.mark.integration

SCENARIO = """\
name: unused-edge
system: system.yaml
warmup: 5s
settle: 10s
steady_state:
  - name: api
    http: {url: "{api}/health"}
workload: {rate: 10, url: "{api}/orders", json: {amount: 1}}
faults:
  - {type: latency, edge: api -> payments, latency: 5s, at: 0s, duration: 30s}
expectations:
  - {policy: pauses, within: 30s}
  - {policy: steady_state, within: 30s}
"""


def test_fault_on_an_unused_edge_is_inconclusive(
    toxiproxy: ToxiproxyClient, tmp_path: Path
) -> None:
    system = (ROOT / "fixtures" / "sut" / "system.yaml").read_text()
    system = system.replace("edges:\n", "edges:\n  - {from: api, to: payments}\n", 1)
    (tmp_path / "system.yaml").write_text(system)
    (tmp_path / "ordersut").symlink_to(ROOT / "fixtures" / "sut" / "ordersut")
    scenario = tmp_path / "unused-edge.yaml"
    scenario.write_text(SCENARIO)
    options = RunOptions(time_scale=0.05, toxiproxy_url=toxiproxy.url, reports_dir=tmp_path)

    result = Runner(options).run(prepare(scenario, None))

    assert [v.status for v in result.verdicts] == [Status.BROKEN, Status.BROKEN]
    for verdict in result.verdicts:
        assert "latency api->payments" in verdict.summary
        assert "never reached traffic" in verdict.summary
    traffic = {e.edge: e.bytes for e in result.timeline.of(TrafficEntry)}
    assert traffic["api->payments"] == 0
    assert traffic["worker->payments"] > 0  # the counters do see the edges in use
