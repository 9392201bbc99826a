"""A machine with Docker and no toxiproxy-server binary: `--toxiproxy-image` runs the private
Toxiproxy from an image (here the local build of the official one, `make images`), and nothing
of it is left after a run, also after SIGTERM mid-fault; the run is judged like any other."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from docker import DockerClient
from e2e_support import ROOT, run_processes

from harness.faults.toxiproxy_server import CONTAINER_LABEL

pytestmark = [pytest.mark.integration, pytest.mark.compose]

HARNESS = str(Path(sys.executable).parent / "harness")
SCENARIO = Path(__file__).parent / "scenarios" / "sigint-partition.yaml"
REAP_BOUND = 30.0  # seconds for the reaper to stop the container (its grace is 5 s)


def command(reports: Path) -> list[str]:
    image = os.environ.get("TOXIPROXY_IMAGE", "chaos-policy-harness/toxiproxy:local")
    return [
        HARNESS, "run", str(SCENARIO), "--time-scale", "0.05", "--toxiproxy-image", image,
        "--reports-dir", str(reports),
    ]  # fmt: skip


def containers(engine: DockerClient) -> list[str]:
    """Names of the harness's Toxiproxy containers, from the list call alone (``sparse``: a
    container removed between the list and an inspect would raise NotFound)."""
    selector: dict[str, str | list[str] | bool] = {"label": CONTAINER_LABEL}
    listed = engine.containers.list(all=True, sparse=True, filters=selector)
    return [str(c.attrs["Names"][0]).lstrip("/") for c in listed]


def start_until_the_container_runs(
    docker_engine: DockerClient, tmp_path: Path
) -> subprocess.Popen[str]:
    """Start a run and return once it is in its warm-up, the container's proxies in place."""
    proc = subprocess.Popen(command(tmp_path), cwd=ROOT, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not containers(docker_engine):
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "no Toxiproxy container ever ran"
        time.sleep(0.05)
    time.sleep(1.0)
    return proc


def test_a_run_on_the_image_passes_and_leaves_nothing(
    docker_engine: DockerClient, tmp_path: Path
) -> None:
    done = subprocess.run(
        command(tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert containers(docker_engine) == []
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert "Starting Toxiproxy" in (run_dir / "logs" / "toxiproxy.log").read_text()


def test_sigterm_mid_fault_removes_the_container(
    docker_engine: DockerClient, tmp_path: Path
) -> None:
    proc = start_until_the_container_runs(docker_engine, tmp_path)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert containers(docker_engine) == []


def test_sigkill_mid_fault_the_reaper_removes_the_container(
    docker_engine: DockerClient, tmp_path: Path
) -> None:
    """The harness alone is SIGKILLed: its reaper, not `harness cleanup`, removes the container."""
    proc = start_until_the_container_runs(docker_engine, tmp_path)
    proc.kill()
    proc.communicate(timeout=60)
    killed = time.monotonic()
    (run_dir,) = (tmp_path / "runs").iterdir()

    def left() -> list[str]:
        return containers(docker_engine) + [f"pid {p.pid}" for p in run_processes(run_dir)]

    while left() and time.monotonic() - killed < REAP_BOUND:
        time.sleep(0.1)
    took = time.monotonic() - killed
    print(f"{took:.2f}s after the kill, left: {left()}")
    assert left() == [], f"still there {took:.1f}s after the kill"
