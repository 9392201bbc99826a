"""The run's own record of what it created, so a killed run can be cleaned up afterwards.

Every process the harness starts, every Toxiproxy proxy it creates and the compose project it
brings up is written to
``<run dir>/state.json`` *before* it is used. A run that ends normally marks the file finished;
``harness cleanup`` (and the next run's setup) reaps whatever an unfinished file still names.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import psutil
from pydantic import BaseModel, Field


class TrackedProcess(BaseModel):
    """A process the run started; ``create_time`` guards against a recycled pid."""

    name: str
    pid: int
    create_time: float


class RunRecord(BaseModel):
    """What one run created."""

    run_id: str
    toxiproxy_url: str | None = None
    proxies: list[str] = Field(default_factory=list)
    processes: list[TrackedProcess] = Field(default_factory=list)
    owner: TrackedProcess | None = None
    """The harness process that runs it: a live owner's run is not reaped (unless kept)."""
    keep_env: bool = False
    compose_project: str | None = None
    compose_files: list[str] = Field(default_factory=list)
    finished: bool = False


class StateFile:
    """A RunRecord kept on disk, rewritten after every change (thread-safe)."""

    def __init__(self, path: Path, run_id: str, *, keep_env: bool = False) -> None:
        self.path = path
        self.record = RunRecord(run_id=run_id, owner=_tracked("harness", os.getpid()))
        self.record.keep_env = keep_env
        self._lock = threading.Lock()
        self._save()

    def set_toxiproxy(self, url: str) -> None:
        """Remember which Toxiproxy server holds this run's proxies."""
        with self._lock:
            self.record.toxiproxy_url = url
            self._save()

    def set_compose(self, project: str, files: list[str]) -> None:
        """Record the compose project before it is brought up."""
        with self._lock:
            self.record.compose_project, self.record.compose_files = project, list(files)
            self._save()

    def add_proxy(self, name: str) -> None:
        """Record a proxy before it is created."""
        with self._lock:
            self.record.proxies.append(name)
            self._save()

    def add_process(self, name: str, pid: int) -> None:
        """Record a process right after it started."""
        tracked = _tracked(name, pid)
        with self._lock:
            self.record.processes.append(tracked)
            self._save()

    def finish(self) -> None:
        """Mark the run as cleaned up by itself."""
        with self._lock:
            self.record.finished = True
            self._save()

    def _save(self) -> None:
        write_record(self.path, self.record)


def _tracked(name: str, pid: int) -> TrackedProcess:
    try:
        created = psutil.Process(pid).create_time()
    except psutil.Error:
        created = 0.0
    return TrackedProcess(name=name, pid=pid, create_time=created)


def write_record(path: Path, record: RunRecord) -> None:
    """Write a state file atomically (a reader never sees half of it)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(record.model_dump_json(indent=1), encoding="utf-8")
    tmp.replace(path)


def read_record(path: Path) -> RunRecord:
    """Read a state file written by a run."""
    return RunRecord.model_validate(json.loads(path.read_text(encoding="utf-8")))


def live_processes(record: RunRecord) -> list[psutil.Process]:
    """The recorded processes that still run (same pid and start time)."""
    return [proc for tracked in record.processes if (proc := is_alive(tracked)) is not None]


def is_alive(tracked: TrackedProcess) -> psutil.Process | None:
    """The process if it still runs (same pid and start time), else None."""
    try:
        proc = psutil.Process(tracked.pid)
        same = abs(proc.create_time() - tracked.create_time) < 0.01
        if same and proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
            return proc
    except psutil.Error:
        pass
    return None
