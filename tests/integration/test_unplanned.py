"""What really held: the harness never blames the automation for what it did not plan.

Each run is sigint-partition (a 3 s partition at time scale 0.05) on the process target,
disturbed from outside the way an adversarial user did it: the partitioned proxy re-enabled
through Toxiproxy's API, Redis (a service the harness started) SIGKILLed, the harness itself
stopped for four seconds. Every verdict is broken ("cannot tell"), exit code 3, never failed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_support import ROOT
from test_exit_codes import HARNESS, SCENARIO

from harness.faults.toxiproxy import ToxiproxyClient

pytestmark = pytest.mark.integration
Disturbance = Callable[[subprocess.Popen[str], str, Path, ToxiproxyClient], None]


def cut_proxy(toxiproxy: ToxiproxyClient) -> str | None:
    for name, proxy in toxiproxy.proxies().items():
        if "sigint" in name and not proxy.enabled:
            return name
    return None


def run_disturbed(
    tmp_path: Path,
    toxiproxy: ToxiproxyClient,
    disturb: Callable[[subprocess.Popen[str], str], None],
) -> tuple[int, str, list[dict[str, str]]]:
    """Run the scenario; once its partition holds, ``disturb`` it; the verdicts it sealed."""
    proc = subprocess.Popen(
        [HARNESS, "run", str(SCENARIO), "--time-scale", "0.05", f"--toxiproxy={toxiproxy.url}",
         "--reports-dir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while (proxy := cut_proxy(toxiproxy)) is None:
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the partition never came"
            time.sleep(0.02)
        time.sleep(0.3)  # the automation has seen it
        disturb(proc, proxy)
        output, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (run_dir,) = (tmp_path / "runs").iterdir()
    return proc.returncode, output, json.loads((run_dir / "verdicts.json").read_text())


def assert_all_broken(code: int, output: str, verdicts: list[dict[str, str]], why: str) -> None:
    assert [v["status"] for v in verdicts] == ["broken"] * 3, output
    for verdict in verdicts:
        assert verdict["summary"].startswith("cannot tell: the plan did not hold"), verdict
        assert why in verdict["summary"], verdict
    assert code == 3, output


def re_enable(
    proc: subprocess.Popen[str], proxy: str, run: Path, toxiproxy: ToxiproxyClient
) -> None:
    """Someone else lifts the partition through Toxiproxy's API."""
    toxiproxy.update_proxy(proxy, enabled=True)


def kill_redis(
    proc: subprocess.Popen[str], proxy: str, run: Path, toxiproxy: ToxiproxyClient
) -> None:
    """A service the harness started dies outside any fault."""
    (state,) = run.glob("runs/*/state.json")
    (redis,) = [p for p in json.loads(state.read_text())["processes"] if p["name"] == "redis"]
    os.kill(redis["pid"], signal.SIGKILL)


def stall(proc: subprocess.Popen[str], proxy: str, run: Path, toxiproxy: ToxiproxyClient) -> None:
    """The harness stops for 4 s: the 3 s partition lasts about 4.3 s."""
    proc.send_signal(signal.SIGSTOP)
    time.sleep(4)
    proc.send_signal(signal.SIGCONT)


@pytest.mark.parametrize(
    ("disturb", "why"),
    [
        (re_enable, "was enabled again by someone else"),
        (kill_redis, "service 'redis' exited (killed by SIGKILL)"),
        (stall, "against the 3.00s planned"),
    ],
    ids=["lifted-by-someone-else", "service-killed", "harness-stalled"],
)
def test_a_plan_that_did_not_hold_is_broken_never_judged(
    tmp_path: Path, toxiproxy: ToxiproxyClient, disturb: Disturbance, why: str
) -> None:
    code, output, verdicts = run_disturbed(
        tmp_path, toxiproxy, lambda proc, proxy: disturb(proc, proxy, tmp_path, toxiproxy)
    )
    assert_all_broken(code, output, verdicts, why)
