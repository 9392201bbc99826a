"""Reap what an interrupted or killed run left behind: processes, proxies, compose projects.

Reads every ``state.json`` under the reports directory that is not marked finished (a run that
was killed with SIGKILL, or kept with --keep-env), deletes the proxies it recorded from the
Toxiproxy server it used, stops the processes it started (same pid *and* start time), and
removes its compose project's containers, networks and volumes (found by the project's label).
A run whose harness process still runs is left alone, unless it was kept with --keep-env.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from harness.errors import ToxiproxyError
from harness.faults.toxiproxy import ToxiproxyClient
from harness.state import RunRecord, is_alive, live_processes, read_record, write_record

GRACE = 5.0
PRIVATE_TOXIPROXY = "toxiproxy"  # the name the runner records its private server under


@dataclass
class Reaped:
    """What cleanup did for one run."""

    run_id: str
    proxies: list[str] = field(default_factory=list)
    processes: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    gone_proxies: list[str] = field(default_factory=list)
    """Proxies of a private Toxiproxy that no longer runs: they went with it."""
    running: int | None = None
    """The pid of the harness still running this run (then nothing was touched)."""


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
    owner = is_alive(record.owner) if record.owner and not record.keep_env else None
    if owner is not None and owner.pid != os.getpid():
        done.running = owner.pid
        return done
    if record.compose_project:
        _remove_compose(record.compose_project, done)
        for file in record.compose_files:  # the private override (it holds the environment)
            folder = Path(file).parent
            if folder.name.startswith(f"harness-{record.compose_project}-"):
                shutil.rmtree(folder, ignore_errors=True)
        record.proxies = []  # they lived in the project's own Toxiproxy, gone with it
    if record.toxiproxy_url and record.proxies:
        try:
            with ToxiproxyClient(record.toxiproxy_url, timeout=3.0) as client:
                existing = set(client.proxies())
                for name in record.proxies:
                    if name in existing:
                        client.delete_proxy(name, missing_ok=True)
                        done.proxies.append(name)
        except ToxiproxyError as exc:
            if _private_toxiproxy_gone(record):  # its proxies died with it: nothing to heal
                done.gone_proxies.extend(record.proxies)
            else:
                done.problems.append(f"proxies not removed: {exc.what} ({record.toxiproxy_url})")
    for proc in live_processes(record):
        done.processes.append(f"{proc.name()}[{proc.pid}]")
        _stop_group(proc)
    if not done.problems:
        record.finished = True
        write_record(path, record)
    return done


def _private_toxiproxy_gone(record: RunRecord) -> bool:
    """Whether the run started its own Toxiproxy (recorded as a process) and it no longer runs."""
    private = [proc for proc in record.processes if proc.name == PRIVATE_TOXIPROXY]
    return bool(private) and all(is_alive(proc) is None for proc in private)


def _remove_compose(project: str, done: Reaped) -> None:
    from harness.errors import TargetError
    from harness.targets.compose import docker_client, remove_project

    try:
        client = docker_client()
    except TargetError as exc:
        done.problems.append(f"compose project {project} not removed: {exc.what}")
        return
    try:
        done.containers.extend(remove_project(client, project))
    except Exception as exc:
        done.problems.append(f"compose project {project} not fully removed: {exc}")
    finally:
        client.close()


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
