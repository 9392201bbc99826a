"""Reap what an interrupted or killed run left behind: processes, proxies, compose projects.

Reads every ``state.json`` under the reports directory that is not marked finished (a run that
was killed with SIGKILL, or kept with --keep-env), deletes the proxies it recorded from the
Toxiproxy server it used, stops the processes it started (same pid *and* start time), and
removes its compose project's containers, networks and volumes (found by the project's label),
then stops every process that still carries the run's marker in its environment
(``HARNESS_RUN_ID=<run id>``), recorded or not: one started just before a kill is found too.
A run whose harness process still runs is left alone, unless it was kept with --keep-env.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from harness.errors import ToxiproxyError
from harness.faults.toxiproxy import ToxiproxyClient
from harness.state import RunRecord, is_alive, live_processes, read_record, write_record

GRACE = 5.0
RESCANS = 4
RESCAN_DELAY = 0.05
"""How often, and how long after a stop, reaping looks again for a process the run started."""
_POLL = 0.02
RUN_MARKER = "HARNESS_RUN_ID"
"""Set to the run id in the environment of every process a run starts (harness/reaper.py)."""
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
    procs = {proc.pid: proc for proc in live_processes(record)}
    for proc in marked_processes(record.run_id):  # also those started just before a kill
        procs.setdefault(proc.pid, proc)
    _stop_late_ones_too(record.run_id, procs, done)
    if not done.problems:
        record.finished = True
        write_record(path, record)
    return done


def _stop_late_ones_too(run_id: str, procs: dict[int, psutil.Process], done: Reaped) -> None:
    """Stop ``procs``, then rescan for the marker until no new process of the run shows up.

    A process that was being started at the first scan (forked, not yet exec'd) shows the
    marker only a moment later, so one scan can miss it; a rescan finds it. Bounded.
    """
    batch = list(procs.values())
    for _ in range(RESCANS):
        for proc in batch:
            done.processes.append(_describe(proc))
        stop_all(batch)
        time.sleep(RESCAN_DELAY)
        batch = [proc for proc in marked_processes(run_id) if proc.pid not in procs]
        if not batch:
            return
        procs.update((proc.pid, proc) for proc in batch)
    done.problems.append(f"processes still being started: {', '.join(map(_describe, batch))}")


def stop_stragglers(run_id: str) -> list[str]:
    """Stop every process that still carries the run's marker; what was stopped, and problems.

    At a run's own end, after its teardown: a process whose start a signal cut short (forked
    and exec'd, but its pid never returned to be recorded) is stopped by nothing else, and the
    reaper leaves a finished run alone. Costs one scan when there is nothing to stop.
    """
    found = {proc.pid: proc for proc in marked_processes(run_id)}
    if not found:
        return []
    done = Reaped(run_id)
    _stop_late_ones_too(run_id, found, done)
    return done.processes + done.problems


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


def marked_processes(run_id: str) -> list[psutil.Process]:
    """Live processes whose environment carries ``RUN_MARKER=run_id`` (this process excluded)."""
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            if proc.environ().get(RUN_MARKER) == run_id and _running(proc):
                found.append(proc)
        except psutil.Error:  # gone, or another user's: not ours to read (nor to stop)
            continue
    return found


def stop_all(procs: list[psutil.Process], grace: float = GRACE) -> None:
    """SIGTERM every process (its whole group when it leads one), then SIGKILL what remains.

    All at once, so stopping N processes takes one grace period at most, not N. A zombie counts
    as stopped: it holds nothing, and it waits for its parent (often init, which may be slow).
    """
    alive = procs
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for proc in alive:
            _signal(proc, sig)
        alive = _wait_gone(alive, grace)
        if not alive:
            return


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Poll (bounded) until every process ended; those still running."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [proc for proc in procs if _running(proc)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(_POLL)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal(proc: psutil.Process, sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)  # a group leader (every service starts a session): all of it
    except ProcessLookupError:  # not a group leader: the process alone
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)
    except PermissionError:
        pass


def _describe(proc: psutil.Process) -> str:
    try:
        return f"{proc.name()}[{proc.pid}]"
    except psutil.Error:
        return f"?[{proc.pid}]"
