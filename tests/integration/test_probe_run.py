"""A real run reads the system through Redis and a command, not only HTTP.

The reference system, with one more endpoint (its Redis) in a copy of its system file: the
steady state is also a Redis PING and a command, the drain is the length of its queue read
from Redis, and a guard watches the queue. A second run's guard is a command that fails: the
run is aborted by it, which shows a non-HTTP guard can trip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import ROOT, only_run

from harness.faults.toxiproxy import ToxiproxyClient
from harness.timeline import GuardEntry, ProbeEntry, Timeline

pytestmark = pytest.mark.integration

SCENARIO = """\
name: probe-kinds
system: system.yaml
warmup: 2s
settle: 2s
steady_state:
  - name: api-healthy
    http: {{url: "{{api}}/health", json: {{status: ok}}}}
  - name: redis-answers
    redis: {{url: "{{redis}}/0", command: [PING], expect: {{equals: true}}}}
  - name: tool-answers
    command: {{argv: [{python}, -c, "print('[]')"], json: true, expect: {{empty: true}}}}
workload: {{rate: 10, method: POST, url: "{{api}}/orders", json: {{amount: 42}}}}
faults:
  - {{type: partition, edge: worker -> payments, at: 0s, duration: 20s}}
drain:
  redis: {{url: "{{redis}}/0", command: [LLEN, "queue:orders"], expect: {{equals: 0}}}}
  within: 1m
guards:
  - name: backlog
    {guard}
    after: 2
expectations:
  - {{policy: steady_state, within: 1m}}
"""
QUEUE_GUARD = (
    'redis: {url: "{redis}/0", command: [LLEN, "queue:orders"], expect: {range: [0, 100000]}}'
)
# a shell, not Python: on a loaded machine a Python start-up per check (twice in a row) could
# outlast the short run, and the guard would never trip; and a partition of 20 s (1 s here), as
# in CI a 0.1 s one ended before two checks 0.1 s apart had failed
FAILING_GUARD = 'command: {argv: [sh, -c, "exit 7"]}'


def write_run(tmp_path: Path, guard: str) -> Path:
    system = (ROOT / "fixtures/sut/system.yaml").read_text()  # declares the {redis} endpoint
    (tmp_path / "system.yaml").write_text(system)
    path = tmp_path / "probe-kinds.yaml"
    path.write_text(SCENARIO.format(python=sys.executable, guard=guard))
    return path


def harness_run(scenario: Path, toxiproxy: ToxiproxyClient, reports: Path) -> int:
    env = dict(os.environ)
    # the system file's copy is elsewhere: its services still import ordersut from fixtures/sut
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "fixtures/sut"), env.get("PYTHONPATH")) if p
    )
    done = subprocess.run(
        [str(Path(sys.executable).parent / "harness"), "run", str(scenario), "--time-scale", "0.05",
         "--toxiproxy", toxiproxy.url, "--reports-dir", str(reports)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    print(done.stdout, done.stderr)
    return done.returncode


def test_steady_state_drain_and_guards_read_redis_and_commands(
    toxiproxy: ToxiproxyClient, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    assert harness_run(write_run(tmp_path, QUEUE_GUARD), toxiproxy, reports) == 0
    timeline = Timeline.from_json((only_run(reports) / "timeline.json").read_text())
    samples = timeline.of(ProbeEntry)
    redis = [s for s in samples if s.probe == "redis-answers"]
    assert redis, "the redis probe was never sampled"
    assert all(s.ok and s.detail == "value true" for s in redis), redis
    assert all(s.ok for s in samples if s.probe == "tool-answers")
    (drain,) = [s for s in samples if s.probe == "drain"]
    assert (drain.ok, drain.detail) == (True, "value 0")
    assert timeline.of(GuardEntry) == ()


def test_a_guard_that_is_a_failing_command_aborts_the_run(
    toxiproxy: ToxiproxyClient, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    assert harness_run(write_run(tmp_path, FAILING_GUARD), toxiproxy, reports) == 4
    run_dir = only_run(reports)
    timeline = Timeline.from_json((run_dir / "timeline.json").read_text())
    (tripped,) = timeline.of(GuardEntry)
    assert tripped.guard == "backlog"
    assert "failed 2 times in a row" in tripped.detail
    assert "exit code 7, expected 0" in tripped.detail
    verdicts = json.loads((run_dir / "verdicts.json").read_text())
    assert [v["policy"] for v in verdicts] == ["guard"]
