"""Simulated users with real Locust: distributed mode (a master and two workers on loopback), a
scenario's own locustfile, and no Locust process outliving the run."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import psutil
import pytest
from e2e_support import ROOT, SCALE

from harness.faults.toxiproxy import ToxiproxyClient
from harness.policies import Status
from harness.prepare import prepare
from harness.runner import Runner, RunOptions, RunResult
from harness.timeline import LoadEntry

pytestmark = pytest.mark.integration


def variant(tmp_path: Path, old: str, new: str) -> Path:
    text = (ROOT / "scenarios" / "payments-partition.yaml").read_text()
    text = text.replace("../fixtures/sut/system.yaml", str(ROOT / "fixtures/sut/system.yaml"))
    assert old in text
    path = tmp_path / "payments-partition.yaml"
    path.write_text(text.replace(old, new))
    return path


def run(toxiproxy: ToxiproxyClient, tmp_path: Path, scenario: Path) -> RunResult:
    options = RunOptions(
        time_scale=float(SCALE), toxiproxy_url=toxiproxy.url, reports_dir=tmp_path / "reports"
    )
    return Runner(options).run(prepare(scenario, None))


def locust_left(result: RunResult) -> list[str]:
    state = json.loads((result.run_dir / "state.json").read_text())
    left = []
    for tracked in state["processes"]:
        if tracked["name"].startswith("locust"):
            try:
                proc = psutil.Process(tracked["pid"])
                if abs(proc.create_time() - tracked["create_time"]) < 0.01:
                    left.append(f"{tracked['name']}[{tracked['pid']}]")
            except psutil.Error:
                continue
    return left


def test_distributed_locust_master_and_two_workers(
    toxiproxy: ToxiproxyClient, tmp_path: Path
) -> None:
    scenario = variant(tmp_path, "  wait: 500ms\n", "  wait: 500ms\n  workers: 2\n")

    result = run(toxiproxy, tmp_path, scenario)

    verdict = next(v for v in result.verdicts if v.policy == "user_impact")
    assert verdict.status == Status.PASSED, verdict.render()
    files = sorted((result.run_dir / "load").glob("*.jsonl"))
    assert len(files) == 2, files  # one per worker: the users ran in the workers
    assert all(f.stat().st_size for f in files)
    state = json.loads((result.run_dir / "state.json").read_text())
    names = {tracked["name"] for tracked in state["processes"]}
    assert {"locust-master", "locust-worker-1", "locust-worker-2"} <= names
    loads = result.timeline.of(LoadEntry)
    assert sum(e.requests for e in loads) > 50
    assert locust_left(result) == []


def test_a_scenario_brings_its_own_locustfile(toxiproxy: ToxiproxyClient, tmp_path: Path) -> None:
    (tmp_path / "shoppers.py").write_text(
        textwrap.dedent("""\
        from locust import HttpUser, constant, task


        class Shopper(HttpUser):
            wait_time = constant(0.2)

            @task
            def stats(self):
                self.client.get("/stats")
        """)
    )
    load = (ROOT / "scenarios" / "payments-partition.yaml").read_text()
    start = load.index("\nload:") + 1
    end = load.index("\nfaults:") + 1
    scenario = variant(tmp_path, load[start:end], "load: {users: 5, locustfile: shoppers.py}\n\n")

    result = run(toxiproxy, tmp_path, scenario)

    verdict = next(v for v in result.verdicts if v.policy == "user_impact")
    assert verdict.status == Status.PASSED, verdict.render()
    lines = [
        json.loads(line)
        for f in (result.run_dir / "load").glob("*.jsonl")
        for line in f.read_text().splitlines()
    ]
    assert lines
    assert {line["name"] for line in lines} == {"/stats"}
    assert locust_left(result) == []
