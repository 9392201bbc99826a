"""Cleanup of a run whose private Toxiproxy died: its proxies went with it, cleanup finishes."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from harness.cleanup import reap, unfinished_runs
from harness.cli import main
from harness.state import StateFile, read_record


def _closed_port_url() -> str:
    with socket.socket() as sock:  # a port nothing listens on once the socket is closed
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _killed_run(reports: Path, *, private: bool) -> Path:
    run_dir = reports / "runs" / "r1"
    run_dir.mkdir(parents=True)
    state = StateFile(run_dir / "state.json", "r1")
    if private:  # a process that ran and is gone, recorded as the run's own Toxiproxy
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        state.add_process("toxiproxy", proc.pid)
        proc.kill()
        proc.wait(timeout=5)
    state.set_toxiproxy(_closed_port_url())
    state.record.owner = None  # the harness itself died
    state.add_proxy("r1-payments")
    return run_dir / "state.json"


def test_cleanup_finishes_when_the_private_toxiproxy_is_gone(tmp_path: Path) -> None:
    path = _killed_run(tmp_path, private=True)
    done = reap(path, read_record(path))
    assert done.problems == []
    assert done.gone_proxies == ["r1-payments"]
    assert read_record(path).finished
    assert unfinished_runs(tmp_path) == []


def test_cleanup_command_exits_0_and_says_the_proxies_went_with_it(tmp_path: Path) -> None:
    _killed_run(tmp_path, private=True)
    result = CliRunner().invoke(main, ["cleanup", "--reports-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "private Toxiproxy is gone" in result.output
    again = CliRunner().invoke(main, ["cleanup", "--reports-dir", str(tmp_path)])
    assert again.exit_code == 0
    assert "nothing to clean up" in again.output


def test_an_unreachable_shared_toxiproxy_is_still_a_problem(tmp_path: Path) -> None:
    """A server the run did not start may come back: its proxies may still be in force."""
    path = _killed_run(tmp_path, private=False)
    done = reap(path, read_record(path))
    assert done.problems
    assert "not reachable" in done.problems[0]
    assert not read_record(path).finished
