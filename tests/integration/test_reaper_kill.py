"""A SIGKILLed harness leaves nothing behind, without `harness cleanup`: its reaper reaps.

A real ``harness run payments-partition --time-scale 0.05`` on the process target, with its own
private Toxiproxy, is SIGKILLed (the harness process alone) at twenty moments. Eight are fixed:
0.5, 0.75 and 1 s after its start, right after its ``state.json`` appears and 0.1 and 0.3 s
later (while its private toxiproxy-server starts, before it is recorded), and 3.5 and 7 s after
(partition, heal). Twelve are random: four in the first second after the start, eight anywhere
from the state file's appearance to 8 s after it (the run's whole span at this scale). The seed
is printed; ``HARNESS_KILL_SEED=<seed>`` replays them.

After each kill, polled for up to ``BOUND`` seconds: no process of the run is alive (by the
pids its state file names and by its ``HARNESS_RUN_ID`` marker), the private Toxiproxy holds no
proxy of the run (so no fault is in force), the state is finished and the reaper exited. The
time from the kill until nothing was left is printed for each moment, with the median and the
maximum: the goal is under one second; ``BOUND`` leaves room for a loaded CI machine, since a
timed assertion would measure the machine, not the reaper.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from e2e_support import ROOT, run_processes

from harness.errors import ToxiproxyError
from harness.faults.toxiproxy import ToxiproxyClient

pytestmark = pytest.mark.integration

HARNESS = str(Path(sys.executable).parent / "harness")
BOUND = 5.0  # seconds from the kill until nothing may be left (the goal is under one)
FIXED = [("start", 0.5), ("start", 0.75), ("start", 1.0), ("state", 0.0), ("state", 0.1),
         ("state", 0.3), ("state", 3.5), ("state", 7.0)]  # fmt: skip
RANDOM_IN_FIRST_SECOND, RANDOM_IN_RUN = 4, 8
RUN_SPAN = 8.0  # seconds from state.json to the run's end at time scale 0.05


def moments(seed: int) -> list[tuple[str, float]]:
    """The fixed moments, then the random ones the seed gives, rounded to milliseconds."""
    rng = random.Random(seed)
    early = [("start", round(rng.uniform(0.0, 1.0), 3)) for _ in range(RANDOM_IN_FIRST_SECOND)]
    later = [("state", round(rng.uniform(0.0, RUN_SPAN), 3)) for _ in range(RANDOM_IN_RUN)]
    return [*FIXED, *early, *later]


@dataclass
class Kill:
    """One kill: when, and what was left how long after it."""

    moment: str
    seconds: float = 0.0
    left: str = ""

    def line(self) -> str:
        if self.left:
            return f"{self.moment:<24} still left after {self.seconds:4.2f}s: {self.left}"
        return f"{self.moment:<24} nothing left after {self.seconds:4.2f}s"


def _run_dir(reports: Path) -> Path | None:
    found = sorted(reports.glob("runs/*/state.json"))
    return found[0].parent if found else None


def _reaper(proc: subprocess.Popen[bytes]) -> psutil.Process | None:
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(proc.pid).children():
            if "harness.reaper" in child.cmdline():
                return child
    return None


def _wait_for_moment(
    proc: subprocess.Popen[bytes], reports: Path, since: str, delay: float
) -> None:
    began = time.monotonic()
    if since == "state":
        while _run_dir(reports) is None:
            assert time.monotonic() - began < 60, "the run never wrote its state.json"
            assert proc.poll() is None, "the harness ended before its run began"
            time.sleep(0.005)
        began = time.monotonic()
    time.sleep(max(0.0, began + delay - time.monotonic()))


def _left(run_dir: Path | None, reaper: psutil.Process | None) -> list[str]:
    """What of the run is still there: processes, proxies, an unfinished state, the reaper."""
    if run_dir is None:
        return []  # killed before the run began: it started nothing
    state = json.loads((run_dir / "state.json").read_text())
    left = [f"process {pid}" for pid in sorted({p.pid for p in run_processes(run_dir)})]
    if state["toxiproxy_url"]:
        with (
            ToxiproxyClient(state["toxiproxy_url"], timeout=0.5) as client,
            contextlib.suppress(ToxiproxyError),  # the server is gone, and its proxies with it
        ):
            left += [f"proxy {n}" for n in client.proxies() if n.startswith(run_dir.name)]
    if not state["finished"]:
        left.append("state not finished")
    if reaper is not None and _runs(reaper):
        left.append("the reaper still runs")
    return left


def _runs(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def kill_at(reports: Path, since: str, delay: float) -> Kill:
    outcome = Kill(f"{since}+{delay:g}s")
    proc = subprocess.Popen(
        [HARNESS, "run", "payments-partition", "--time-scale", "0.05",
         "--reports-dir", str(reports)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for_moment(proc, reports, since, delay)
        reaper = _reaper(proc)
        if _run_dir(reports) is None:
            outcome.moment += " (no run yet)"
        proc.kill()
        killed = time.monotonic()
        proc.wait(timeout=10)
        while True:
            left = _left(_run_dir(reports), reaper)
            outcome.seconds = time.monotonic() - killed
            if not left or outcome.seconds > BOUND:
                outcome.left = "; ".join(left)
                return outcome
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.timeout(900)
def test_a_sigkilled_harness_leaves_nothing_without_cleanup(tmp_path: Path) -> None:
    seed = int(os.environ.get("HARNESS_KILL_SEED") or random.SystemRandom().randrange(10**6))
    print(f"seed {seed} (HARNESS_KILL_SEED={seed} replays these moments)")
    kills = []
    for i, (since, delay) in enumerate(moments(seed)):
        kill = kill_at(tmp_path / f"kill{i}", since, delay)
        print(kill.line())
        kills.append(kill)
    times = [k.seconds for k in kills if not k.left]
    if times:
        print(f"{len(times)} reaped: median {statistics.median(times):.2f}s, max {max(times):.2f}s")
    failed = [k.line() for k in kills if k.left]
    assert len(kills) == len(FIXED) + RANDOM_IN_FIRST_SECOND + RANDOM_IN_RUN
    assert not failed, f"seed {seed}:\n" + "\n".join(failed)
