"""Helpers for integration tests that run the harness as a separate process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import psutil

from harness.faults.toxiproxy import ToxiproxyClient

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "payments-partition.yaml"
SCALE = "0.05"


def makefile_pin(name: str) -> str:
    """A version the Makefile pins (TOXIPROXY_VERSION, COMPOSE_VERSION...): the one place."""
    found = re.search(rf"^{name}\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert found, f"the Makefile pins no {name}"
    return found.group(1)


def pytest_command(*args: str, reports: Path) -> list[str]:
    """A `pytest --scenario ...` command line as a user types it, with results in ``reports``."""
    return [sys.executable, "-m", "pytest", f"--reports-dir={reports}", *args]


def run_pytest(*args: str, reports: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run pytest in the project root and wait (bounded) for it."""
    return subprocess.run(
        pytest_command(*args, reports=reports),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def only_run(reports: Path) -> Path:
    """The one run directory under ``reports``."""
    runs = sorted((reports / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def run_processes(run_dir: Path) -> list[psutil.Process]:
    """Live processes of a run: by the pids its state file names, and by HARNESS_RUN_ID."""
    state = json.loads((run_dir / "state.json").read_text())
    alive = []
    for tracked in state["processes"]:
        try:
            proc = psutil.Process(tracked["pid"])
            same = abs(proc.create_time() - tracked["create_time"]) < 0.01
            if same and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.Error:
            continue
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("HARNESS_RUN_ID") == state["run_id"]:
                alive.append(proc)
        except psutil.Error:
            continue
    return alive


def proxies_of(run_dir: Path, client: ToxiproxyClient) -> list[str]:
    """Proxies on the server that belong to the run."""
    return [name for name in client.proxies() if name.startswith(run_dir.name)]


def assert_nothing_left(run_dir: Path, client: ToxiproxyClient) -> None:
    """No proxy, no toxic and no process of the run remains."""
    assert proxies_of(run_dir, client) == [], f"proxies of {run_dir.name} left in Toxiproxy"
    assert run_processes(run_dir) == [], "processes of the run are still alive"


def kill_with_its_reaper(proc: subprocess.Popen[str]) -> None:
    """SIGKILL a harness and, first, its reaper: a kill of both (for tests of `harness cleanup`)."""
    try:
        children = psutil.Process(proc.pid).children()
    except psutil.Error:
        children = []
    for child in children:
        try:
            if "harness.reaper" in child.cmdline():
                child.kill()
                child.wait(timeout=10)
        except psutil.Error:
            continue
    proc.kill()
