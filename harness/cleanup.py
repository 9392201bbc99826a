"""Reap what an interrupted or killed run left behind: its processes and Toxiproxy proxies.

Reads every ``state.json`` under the reports directory that is not marked finished (a run that
was killed with SIGKILL, or kept with --keep-env), deletes the proxies it recorded from the
Toxiproxy server it used, and stops the processes it started (same pid *and* start time).
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from harness.errors import ToxiproxyError
from harness.faults.toxiproxy import ToxiproxyClient
from harness.state import RunRecord, live_processes, read_record, write_record

GRACE = 5.0


@dataclass
class Reaped:
    """What cleanup did for one run."""

    run_id: str
    proxies: list[str] = field(default_factory=list)
    processes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def unfinished_runs(reports_dir: Path) -> list[tuple[Path, RunRecord]]:
    """State files of runs that did not clean up after themselves."""
    found = []
    for path in sorted((reports_dir / "runs").glob("*/state.json")):
        record = read_record(path)
        if not record.finished:
            found.append((path, record))
    return found


def reap(path: Path, record: RunRecord) -> Reaped:
    """Delete the run's proxies, stop its processes, and mark its state file finished."""
    done = Reaped(record.run_id)
    if record.toxiproxy_url and record.proxies:
        try:
            with ToxiproxyClient(record.toxiproxy_url, timeout=3.0) as client:
                existing = set(client.proxies())
                for name in record.proxies:
                    if name in existing:
                        client.delete_proxy(name, missing_ok=True)
                        done.proxies.append(name)
        except ToxiproxyError as exc:
            done.problems.append(f"proxies not removed: {exc.what} ({record.toxiproxy_url})")
    for proc in live_processes(record):
        done.processes.append(f"{proc.name()}[{proc.pid}]")
        _stop_group(proc)
    if not done.problems:
        record.finished = True
        write_record(path, record)
    return done


def _stop_group(proc: psutil.Process) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=GRACE)
            return
        except psutil.TimeoutExpired:
            continue
        except psutil.Error:
            return
