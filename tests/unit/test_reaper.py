"""The reaper: the marker scan on real processes, and what it does once its pipe closes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.cleanup import RUN_MARKER, marked_processes
from harness.reaper import Watchdog, reap_if_abandoned
from harness.state import StateFile, read_record


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)


def _sleeper(started: list[subprocess.Popen[bytes]], run_id: str | None) -> psutil.Process:
    env = {k: v for k, v in os.environ.items() if k != RUN_MARKER}
    if run_id is not None:
        env[RUN_MARKER] = run_id
    command = [sys.executable, "-c", "import time; time.sleep(60)"]
    proc = subprocess.Popen(command, env=env, start_new_session=True)
    started.append(proc)
    return psutil.Process(proc.pid)


def _state(tmp_path: Path, run_id: str, *, keep_env: bool = False) -> StateFile:
    state = StateFile(tmp_path / "state.json", run_id, keep_env=keep_env)
    state.record.owner = None  # the harness is gone
    return state


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_the_marker_scan_finds_exactly_the_runs_processes(
    sleepers: list[subprocess.Popen[bytes]],
) -> None:
    ours = _sleeper(sleepers, "run-a")
    other = _sleeper(sleepers, "run-b")
    unmarked = _sleeper(sleepers, None)
    deadline = time.monotonic() + 5
    while ours.pid not in {p.pid for p in marked_processes("run-a")}:
        assert time.monotonic() < deadline, "the marked process was never found"
        time.sleep(0.02)
    found = {p.pid for p in marked_processes("run-a")}
    assert ours.pid in found
    assert other.pid not in found
    assert unmarked.pid not in found


def test_an_unfinished_run_is_reaped_with_its_unrecorded_processes(
    tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    recorded = _sleeper(sleepers, None)
    unrecorded = _sleeper(sleepers, "run-x")  # started just before a kill: only the marker tells
    bystander = _sleeper(sleepers, None)
    state = _state(tmp_path, "run-x")
    state.add_process("service", recorded.pid)

    outcome = reap_if_abandoned(state.path, "run-x", timeout=10)

    assert outcome.startswith("reaped run run-x"), outcome
    assert _gone(recorded), outcome
    assert _gone(unrecorded), outcome
    assert not _gone(bystander)
    assert read_record(state.path).finished


LAUNCHER = """
import os, signal, subprocess, sys, time
def late(*_):  # a process of the run that starts another as it is stopped: the first scan missed it
    env = {**os.environ, "HARNESS_RUN_ID": sys.argv[1]}
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env,
                             start_new_session=True)
    print(child.pid, flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, late)
print("ready", flush=True)
time.sleep(60)
"""


def test_a_process_started_while_reaping_is_found_by_a_rescan(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != RUN_MARKER}
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, "run-z"], env=env, stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    assert launcher.stdout is not None
    assert launcher.stdout.readline().strip() == "ready"
    state = _state(tmp_path, "run-z")
    state.add_process("launcher", launcher.pid)
    try:
        outcome = reap_if_abandoned(state.path, "run-z", timeout=10)
        late = psutil.Process(int(launcher.stdout.readline()))
        assert _gone(late), outcome
        assert outcome.count("[") == 2, outcome  # the launcher and the late one, both named
        assert read_record(state.path).finished
    finally:
        launcher.wait(timeout=5)
        launcher.stdout.close()
        for proc in marked_processes("run-z"):
            proc.kill()


@pytest.mark.parametrize("kept", [False, True], ids=["finished", "kept"])
def test_a_finished_or_kept_run_is_left_alone(
    kept: bool, tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    marked = _sleeper(sleepers, "run-y")
    state = _state(tmp_path, "run-y", keep_env=kept)
    state.add_process("service", marked.pid)
    if not kept:
        state.finish()

    outcome = reap_if_abandoned(state.path, "run-y", timeout=10)

    assert "nothing to reap" in outcome or "kept" in outcome, outcome
    assert not _gone(marked)
    assert read_record(state.path).finished is not kept


def test_the_reaper_process_reaps_when_its_pipe_closes(
    tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    """The real thing: a reaper process, a marked child, and the harness letting go."""
    state = _state(tmp_path, "run-z")
    before = os.environ.get(RUN_MARKER)
    watchdog = Watchdog.start(state.path, "run-z", tmp_path / "reaper.log")
    assert os.environ.get(RUN_MARKER) == "run-z", "what the run starts inherits the marker"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    sleepers.append(child)

    began = time.monotonic()
    watchdog.release()  # as a dying harness's pipe closes: the run is not finished
    took = time.monotonic() - began

    assert os.environ.get(RUN_MARKER) == before
    assert child.wait(timeout=5) != 0, "the marked child was stopped"
    assert read_record(state.path).finished
    log = (tmp_path / "reaper.log").read_text()
    assert "reaped run run-z" in log, log
    assert took < 10, f"the reaper took {took:.1f}s"
