"""Twenty Ctrl-Cs at random moments of a run: after each, nothing of the run is left anywhere.

A real ``pytest --scenario`` process runs ``scenarios/sigint-partition.yaml`` (payments-partition
cut to about eight seconds at time scale 0.05) against the session's Toxiproxy. One whole run
measures how long a run takes here; then twenty runs are each sent SIGINT once, at moments
spread over the first nine tenths of that length (one at random in each twentieth of it), so
that start-up, setup, steady state, warm-up, the partition, heal, drain, teardown and the end
all get their share; the phase each one hit is printed. After each: the process exited
(bounded), no proxy it made is left in Toxiproxy (so no toxic either), and no process it
started is alive.

The moments come from a seeded random: the seed is printed, and ``HARNESS_SIGINT_SEED=<seed>``
replays them.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psutil
import pytest
from e2e_support import ROOT, proxies_of, pytest_command, run_processes

from harness.faults.toxiproxy import ToxiproxyClient

pytestmark = pytest.mark.integration

SCENARIO = Path(__file__).parent / "scenarios" / "sigint-partition.yaml"
RUNS = 20
EXIT_BOUND = 60.0  # seconds from SIGINT to the process's end: teardown is bounded well below


@dataclass
class Outcome:
    """One interrupted run: when the signal went, what the run was doing, what was left."""

    offset: float
    phase: str = "?"
    code: int | None = None
    exit_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        left = "; ".join(self.problems) or "nothing left"
        return (
            f"{self.offset:5.2f}s  {self.phase:<22} exit {self.code!s:>4} "
            f"after {self.exit_seconds:4.1f}s  {left}"
        )


def start(toxiproxy: ToxiproxyClient, reports: Path, log: Path) -> subprocess.Popen[bytes]:
    command = pytest_command(
        "--scenario", str(SCENARIO), "--time-scale", "0.05", "--toxiproxy", toxiproxy.url,
        reports=reports,
    )  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def descendants(proc: subprocess.Popen[bytes], seen: dict[int, psutil.Process]) -> None:
    """Add every process below ``proc`` to ``seen`` (those it started may outlive it)."""
    try:
        for child in psutil.Process(proc.pid).children(recursive=True):
            seen.setdefault(child.pid, child)
    except psutil.Error:
        pass


def stop_for_good(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def interrupt_once(toxiproxy: ToxiproxyClient, work: Path, offset: float) -> Outcome:
    """Start a run, SIGINT it ``offset`` seconds later, and list what it left behind."""
    outcome = Outcome(offset)
    work.mkdir()
    before = set(toxiproxy.proxies())
    proc = start(toxiproxy, work / "reports", work / "output.log")
    seen: dict[int, psutil.Process] = {}
    deadline = time.monotonic() + offset
    while (wait := deadline - time.monotonic()) > 0 and proc.poll() is None:
        descendants(proc, seen)
        time.sleep(min(wait, 0.05))
    descendants(proc, seen)
    sent, sent_wall = time.monotonic(), time.time()
    ended = proc.poll() is not None
    if not ended:
        proc.send_signal(signal.SIGINT)
    try:
        outcome.code = proc.wait(timeout=EXIT_BOUND)
    except subprocess.TimeoutExpired:
        outcome.problems.append(f"still running {EXIT_BOUND:g}s after SIGINT")
        stop_for_good(proc)
    outcome.exit_seconds = time.monotonic() - sent
    _, alive = psutil.wait_procs(list(seen.values()), timeout=10)
    if alive:
        outcome.problems.append(f"processes alive: {_describe(alive)}")
    made = sorted(set(toxiproxy.proxies()) - before)
    if made:
        outcome.problems.append(f"proxies left in Toxiproxy: {made}")
    runs = sorted((work / "reports" / "runs").glob("*"))
    for run_dir in runs:
        if proxies_of(run_dir, toxiproxy):
            outcome.problems.append(f"proxies of {run_dir.name} left")
        if (run_dir / "state.json").exists() and (left := run_processes(run_dir)):
            outcome.problems.append(f"processes of {run_dir.name} alive: {_describe(left)}")
    outcome.phase = "ended: no signal sent" if ended else phase_at(runs, sent_wall)
    return outcome


def _describe(procs: list[psutil.Process]) -> list[str]:
    found = []
    for proc in procs:
        try:
            found.append(f"{proc.pid} {' '.join(proc.cmdline())[:80]}")
        except psutil.Error:
            found.append(str(proc.pid))
    return found


def phase_at(runs: list[Path], wall: float) -> str:
    """What the run was doing at wall-clock time ``wall``, from the timeline it wrote."""
    if not runs:
        return "start-up (no run yet)"
    path = runs[0] / "timeline.json"
    if not path.exists():
        return "run starting"
    if path.stat().st_mtime < wall:
        return "after the run"
    doc = json.loads(path.read_text(encoding="utf-8"))
    at = wall - datetime.fromisoformat(doc["started_at"]).timestamp()
    phase, partitioned = "setup", False
    for entry in doc["entries"]:
        if entry["t"] > at:
            break
        if entry["kind"] == "phase":
            phase = entry["phase"]
        elif entry["kind"] == "fault":
            partitioned = entry["action"] == "inject"
    if phase == "inject":
        return "inject: partitioned" if partitioned else "inject: warm-up"
    return "teardown (cleanup)" if phase == "teardown" else phase


@pytest.mark.timeout(900)
def test_twenty_random_sigints_leave_nothing_behind(
    toxiproxy: ToxiproxyClient, tmp_path: Path
) -> None:
    seed = int(os.environ.get("HARNESS_SIGINT_SEED") or random.SystemRandom().randrange(2**32))
    print(f"HARNESS_SIGINT_SEED={seed}")
    rng = random.Random(seed)

    whole = tmp_path / "whole"
    whole.mkdir()
    warm = subprocess.run(  # imports and byte-compiles everything, so the measure is fair
        pytest_command("--scenario", str(SCENARIO), "--dry-run", reports=whole / "dry"),
        cwd=ROOT, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert warm.returncode == 0, warm.stdout + warm.stderr
    began = time.monotonic()
    proc = start(toxiproxy, whole / "reports", whole / "output.log")
    try:
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            stop_for_good(proc)
    length = time.monotonic() - began
    assert code == 0, (whole / "output.log").read_text(errors="replace")
    print(f"an uninterrupted run took {length:.1f}s")

    outcomes = []
    for i in range(RUNS):
        offset = 0.9 * length * (i + rng.random()) / RUNS  # the last tenth: the process ends
        outcome = interrupt_once(toxiproxy, tmp_path / f"run{i:02d}", offset)
        print(outcome.line())
        outcomes.append(outcome)

    failed = [o.line() for o in outcomes if o.problems]
    assert not failed, f"seed {seed}:\n" + "\n".join(failed)
