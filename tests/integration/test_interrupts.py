"""A run interrupted in the middle of a fault heals it and stops every process it started.

The run is a real `pytest --scenario` process; the test waits until Toxiproxy shows the
partition (a disabled proxy of the run), notes every descendant process, sends the signal, and
then reads Toxiproxy's API and the process table. After a SIGKILL of the harness and its reaper
(test_reaper_kill.py has the reaper alone) nothing can heal itself, so `harness cleanup` must.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from e2e_support import (
    ROOT,
    assert_nothing_left,
    kill_with_its_reaper,
    only_run,
    proxies_of,
    pytest_command,
    run_processes,
)

from harness.faults.toxiproxy import ToxiproxyClient

pytestmark = pytest.mark.integration


def start_run(toxiproxy: ToxiproxyClient, reports: Path) -> subprocess.Popen[str]:
    # a long fault (60 s at scale 0.5 = 30 s), so the signal lands while it is active
    command = pytest_command(
        "--scenario",
        "payments-partition",
        "--time-scale",
        "0.5",
        "--toxiproxy",
        toxiproxy.url,
        reports=reports,
    )
    return subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_for_partition(
    proc: subprocess.Popen[str], toxiproxy: ToxiproxyClient, reports: Path, timeout: float = 60
) -> Path:
    """Poll until a proxy of the run is disabled; return the run directory."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before its fault started"
        runs = list((reports / "runs").glob("*")) if (reports / "runs").exists() else []
        if runs:
            disabled = [
                p
                for name, p in toxiproxy.proxies().items()
                if name.startswith(runs[0].name) and not p.enabled
            ]
            if disabled:
                return runs[0]
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the partition never showed up in Toxiproxy")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_heals_and_stops_everything(
    sig: signal.Signals, toxiproxy: ToxiproxyClient, tmp_path: Path
) -> None:
    proc = start_run(toxiproxy, tmp_path)
    run_dir = wait_for_partition(proc, toxiproxy, tmp_path)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert len(children) >= 5, children  # redis, payments, api, worker, controller

    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=60)

    assert proc.returncode != 0, output
    _, alive = psutil.wait_procs(children, timeout=5)
    assert alive == [], f"still running after {sig.name}: {alive}"
    assert_nothing_left(run_dir, toxiproxy)
    assert only_run(tmp_path) == run_dir


def test_cleanup_after_sigkill(toxiproxy: ToxiproxyClient, tmp_path: Path) -> None:
    proc = start_run(toxiproxy, tmp_path)
    run_dir = wait_for_partition(proc, toxiproxy, tmp_path)
    children = psutil.Process(proc.pid).children(recursive=True)

    kill_with_its_reaper(proc)
    proc.communicate(timeout=30)
    assert proxies_of(run_dir, toxiproxy), "a SIGKILLed run cannot have cleaned up"

    cleanup = subprocess.run(
        [str(Path(sys.executable).parent / "harness"), "cleanup", "--reports-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert run_dir.name in cleanup.stdout
    _, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []
    assert_nothing_left(run_dir, toxiproxy)
    again = subprocess.run(
        [str(Path(sys.executable).parent / "harness"), "cleanup", "--reports-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "nothing to clean up" in again.stdout


def test_keep_env_heals_faults_leaves_the_system_and_cleanup_stops_it(
    toxiproxy: ToxiproxyClient, tmp_path: Path
) -> None:
    result = subprocess.run(
        pytest_command(
            "--scenario", "payments-partition", "--time-scale", "0.05", "--keep-env",
            "--toxiproxy", toxiproxy.url, reports=tmp_path,
        ),
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    harness = str(Path(sys.executable).parent / "harness")
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        run_dir = only_run(tmp_path)

        proxies = {n: p for n, p in toxiproxy.proxies().items() if n.startswith(run_dir.name)}
        assert proxies, "--keep-env keeps the edges' proxies"
        assert all(p.enabled and p.toxics == () for p in proxies.values()), "every fault healed"
        assert len(run_processes(run_dir)) >= 5, "--keep-env leaves the services running"
    finally:  # a kept system must not outlive a failed assertion
        cleanup = subprocess.run(
            [harness, "cleanup", "--reports-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert_nothing_left(run_dir, toxiproxy)


def test_the_next_run_reaps_what_a_killed_run_left(
    toxiproxy: ToxiproxyClient, tmp_path: Path
) -> None:
    proc = start_run(toxiproxy, tmp_path)
    killed = wait_for_partition(proc, toxiproxy, tmp_path)
    children = psutil.Process(proc.pid).children(recursive=True)
    kill_with_its_reaper(proc)
    proc.communicate(timeout=30)
    assert proxies_of(killed, toxiproxy), "a SIGKILLed run cannot have cleaned up"

    result = subprocess.run(
        pytest_command(
            "--scenario", "payments-partition", "--time-scale", "0.05", "--toxiproxy",
            toxiproxy.url, reports=tmp_path,
        ),
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout
    _, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []
    assert_nothing_left(killed, toxiproxy)
    assert '"finished": true' in (killed / "state.json").read_text()
