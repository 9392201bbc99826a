"""Simulated users with Locust, in processes of its own, recorded per interval on the timeline.

Locust is never imported here: its gevent monkey-patching would reach into pytest and the
harness's threads (LIBRARIES.md). It runs as ``locust --headless`` (or a master and N workers on
loopback, its distributed mode) with the harness's request listener beside the users, which
writes each request as a JSON line into the run's ``load/`` folder. A thread follows those files
and appends one ``LoadEntry`` per interval: requests, failures, 5xx, p50/p95/p99.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from harness.clients import WRITES, outcome_of
from harness.errors import HarnessError
from harness.extras import MissingExtra
from harness.observe.probes import expand_url
from harness.scenario import Load
from harness.timeline import LoadEntry, RequestEntry, Timeline

DRIVERS = Path(__file__).resolve().parent / "locust"
READY_WAIT = 60.0
"""Real seconds Locust may take to start and send its first request."""
STOP_GRACE = 10.0
STOP_TIMEOUT = 5.0
"""Real seconds Locust lets a user finish its request when stopped (then SIGKILL at STOP_GRACE);
a write still unanswered is recorded with an unknown outcome."""


class LoadError(HarnessError):
    """Locust could not be started or did not send any request."""


def locust_binary() -> str:
    """The ``locust`` command beside this Python, or on PATH; LoadError with the fix if none."""
    beside = Path(sys.executable).parent / "locust"
    found = str(beside) if beside.exists() else shutil.which("locust")
    if found is None:
        raise MissingExtra(  # a configuration error (exit 2), like every missing extra
            what="Locust is not installed, so the scenario's load cannot run",
            hint="pip install 'chaos-policy-harness[load]' (Locust >= 2.40)",
        )
    return found


class LoadRunner:
    """Starts Locust's processes, follows what the users see, stops them."""

    def __init__(
        self,
        load: Load,
        endpoints: Mapping[str, str],
        timeline: Timeline,
        folder: Path,
        scenario_dir: Path,
        track: Callable[[str, int], None],
    ) -> None:
        self.load, self._endpoints, self._timeline = load, endpoints, timeline
        self._folder, self._scenario_dir, self._track = folder, scenario_dir, track
        self._interval = max(timeline.scaled(1.0), 0.25)
        self._epoch = timeline.started_at.timestamp()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []
        self._stop = threading.Event()
        self._tail = threading.Thread(target=self._follow, name="harness-load", daemon=True)
        self._seen = threading.Event()
        self._pending: dict[int, list[dict[str, Any]]] = {}
        self._unanswered: dict[str, tuple[dict[str, Any], float]] = {}  # token -> sent line, t

    # --- life ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start Locust and wait (bounded) for its first request."""
        self._folder.mkdir(parents=True, exist_ok=True)
        binary = locust_binary()
        files = [str(DRIVERS / "listener.py"), self._users_file()]
        common = ["-f", ",".join(files), "--headless", "--loglevel", "WARNING"]
        common += ["--stop-timeout", f"{STOP_TIMEOUT:g}"]  # users finish the request in flight
        env = {
            **os.environ,
            "HARNESS_LOAD_DIR": str(self._folder),
            "HARNESS_WORK_ID_PATH": self._timeline.contract.requests.work_id or "",
            "HARNESS_LOAD_SPEC": str(self._folder / "spec.json"),
            "PYTHONUNBUFFERED": "1",
        }
        host = ["--host", self._host()]
        users = ["-u", str(self.load.users), "-r", f"{self.load.spawn_rate:g}"]
        if self.load.workers == 0:
            self._spawn("locust", [binary, *common, *host, *users], env)
        else:
            port = _free_port()
            master = [
                binary, *common, *host, *users, "--master", "--master-bind-host", "127.0.0.1",
                "--master-bind-port", str(port), "--expect-workers", str(self.load.workers),
            ]  # fmt: skip
            self._spawn("locust-master", master, env)
            for i in range(self.load.workers):
                worker = [
                    binary, *common, "--worker", "--master-host", "127.0.0.1",
                    "--master-port", str(port),
                ]  # fmt: skip
                self._spawn(f"locust-worker-{i + 1}", worker, env)
        self._tail.start()
        deadline = time.monotonic() + READY_WAIT
        while not self._seen.wait(0.1):
            dead = [p for p in self._procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                self.stop()
                why = f"exited with code {dead[0].returncode}" if dead else "sent no request"
                raise LoadError(
                    what=f"Locust {why} within {READY_WAIT:g}s",
                    actual=self._log_tail(),
                    hint=f"read {self._folder}/locust-*.log",
                )

    def stop(self) -> None:
        """Stop every Locust process (SIGTERM, then SIGKILL), record what is left; idempotent."""
        for proc in self._procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self._procs:
            try:
                proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=STOP_GRACE)
        self._procs.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()
        self._stop.set()
        if self._tail.is_alive():
            self._tail.join(timeout=STOP_GRACE)

    @property
    def pids(self) -> list[int]:
        """The pids of Locust's processes (master first)."""
        return [p.pid for p in self._procs]

    # --- internals ----------------------------------------------------------------------------

    def _users_file(self) -> str:
        if self.load.locustfile is not None:
            return str((self._scenario_dir / self.load.locustfile).resolve())
        assert self.load.requests is not None
        spec = {
            "host": self._host(),
            "wait": self.load.wait,
            "requests": [
                {
                    "weight": r.weight,
                    "name": r.name,
                    "template": r.url,
                    "method": r.method,
                    "url": expand_url(r.url, self._endpoints),
                    "json": r.json_,
                    "idempotency_header": r.idempotency_header,
                }
                for r in self.load.requests
            ],
        }
        (self._folder / "spec.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
        return str(DRIVERS / "users.py")

    def _host(self) -> str:
        return next(iter(self._endpoints.values()), "http://127.0.0.1")

    def _spawn(self, name: str, command: list[str], env: Mapping[str, str]) -> None:
        log = (self._folder / f"{name}.log").open("ab")
        self._logs.append(log)
        proc = subprocess.Popen(
            command,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._procs.append(proc)
        self._track(name, proc.pid)

    def _follow(self) -> None:
        offsets: dict[Path, int] = {}
        while True:
            stopping = self._stop.is_set()
            for path in sorted(self._folder.glob("*.jsonl")):
                offsets[path] = self._read(path, offsets.get(path, 0))
            self._flush(final=stopping)
            if stopping:
                self._record_unanswered()
                return
            self._stop.wait(min(self._interval, 0.25))

    def _read(self, path: Path, offset: int) -> int:
        with path.open("rb") as stream:
            stream.seek(offset)
            data = stream.read()
        complete = data[: data.rfind(b"\n") + 1]
        for raw in complete.splitlines():
            try:
                line = json.loads(raw)
                t = float(line["wall"]) - self._epoch
            except (ValueError, KeyError, TypeError):
                continue  # not a line of ours: never stop following
            if "sent" in line:  # announced before sending: answered later, or never
                if line.get("method") in WRITES:
                    self._unanswered[str(line["sent"])] = (line, t)
                continue
            self._unanswered.pop(str(line.get("answers")), None)
            self._pending.setdefault(int(t // self._interval), []).append(line)
            self._seen.set()
            if line.get("method") in WRITES:  # client history: the users' writes, one by one
                self._timeline.append(_history_entry(line, t))
        return offset + len(complete)

    def _record_unanswered(self) -> None:
        """Writes sent but never answered (in flight at the stop): outcome unknown."""
        for line, t in self._unanswered.values():
            self._timeline.append(_history_entry({**line, "failed": True}, t, unanswered=True))
        self._unanswered.clear()

    def _flush(self, final: bool) -> None:
        now = self._timeline.now()
        for bucket in sorted(self._pending):
            end = (bucket + 1) * self._interval
            if not final and end > now - self._interval:  # late lines may still come
                break
            lines = self._pending.pop(bucket)
            self._timeline.append(aggregate(lines, end, self._interval))

    def _log_tail(self) -> str:
        text = []
        for path in sorted(self._folder.glob("locust*.log")):
            lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            text.append(f"{path.name}: " + "\n".join(lines[-8:]))
        return "\n".join(text) or "(no log)"


def _history_entry(line: dict[str, Any], t: float, unanswered: bool = False) -> RequestEntry:
    """One simulated user's write as client history (``harness.clients``)."""
    status = line.get("status") if isinstance(line.get("status"), int) else None
    work_id = line.get("work_id")
    error: str | None = None
    if unanswered:
        error = "sent, still in flight when the load stopped: never answered"
    elif status is None and line.get("failed"):
        error = "failed without an answer"
    return RequestEntry(
        t=t,
        method=str(line.get("method")),
        url=str(line.get("name")),
        status=status,
        latency_ms=float(line.get("ms") or 0.0),
        error=error,
        origin="load",
        outcome=outcome_of(status),
        work_id=str(work_id) if isinstance(work_id, str | int) else None,
    )


def aggregate(lines: list[dict[str, Any]], end: float, window: float) -> LoadEntry:
    """One interval's requests as a LoadEntry: counts and latency percentiles."""
    times = sorted(float(line.get("ms") or 0.0) for line in lines)
    statuses = [line.get("status") for line in lines]
    failed = sum(bool(line.get("failed")) for line in lines)
    return LoadEntry(
        t=end,
        window=window,
        requests=len(lines),
        failures=failed,
        status_5xx=sum(isinstance(s, int) and s >= 500 for s in statuses),
        p50_ms=_rank(times, 0.50),
        p95_ms=_rank(times, 0.95),
        p99_ms=_rank(times, 0.99),
    )


def _rank(sorted_values: list[float], q: float) -> float | None:
    """The nearest-rank percentile, or None for no values."""
    if not sorted_values:
        return None
    index = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
