"""The process target: the system under test as local processes, the embedded default.

Each service runs in its own session (process group), with its dependencies reached through
Toxiproxy proxies on loopback. Ports are allocated per run, so runs never collide. Stopping sends
SIGTERM to each group in reverse start order, then SIGKILL to whatever is left.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import httpx

from harness.errors import TargetError
from harness.faults.toxiproxy import ToxiproxyClient
from harness.system import PLACEHOLDER, HealthCheck, Service
from harness.targets.base import TargetContext, hook_sender, hook_spec, run_hook_command

STOP_GRACE = 5.0
_POLL = 0.05


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (held together while chosen)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file, or a note that there is none."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"


class _Running:
    def __init__(
        self, name: str, proc: subprocess.Popen[bytes], log: Path, reader: threading.Thread
    ):
        self.name, self.proc, self.log, self.reader = name, proc, log, reader


class ProcessTarget:
    """Runs a SystemSpec's services as local processes."""

    def __init__(self, ctx: TargetContext) -> None:
        self._ctx = ctx
        names = list(ctx.system.services)
        edges = ctx.system.edge_names()
        ports = free_ports(len(names) + len(edges))
        self._ports = dict(zip(names, ports, strict=False))
        self._edge_ports = dict(zip(edges, ports[len(names) :], strict=True))
        self._proxies: list[str] = []
        self._running: dict[str, _Running] = {}

    # --- Target protocol ------------------------------------------------------------------

    def start(self) -> None:
        """Create the edges' proxies, then start each service in order and wait for its health."""
        self._ctx.logs_dir.mkdir(parents=True, exist_ok=True)
        for edge in self._ctx.system.edges:
            self._create_proxy(edge.name, edge.to)
        for name in self._ctx.system.services:
            self.start_service(name)

    def stop(self) -> None:
        """Stop services in reverse order and delete this target's proxies; idempotent."""
        while self._running:
            self._terminate(self._running.pop(next(reversed(self._running))))
        while self._proxies:
            self.toxiproxy().delete_proxy(self._proxies.pop(), missing_ok=True)

    def close(self) -> None:
        """Nothing outlives ``stop`` on this target."""

    def toxiproxy(self) -> ToxiproxyClient:
        """The run's Toxiproxy, which the runner started (or was given)."""
        if self._ctx.toxiproxy is None:
            raise TargetError(what="the process target needs the run's Toxiproxy client")
        return self._ctx.toxiproxy

    def endpoints(self) -> Mapping[str, str]:
        """The system's endpoints, expanded to loopback URLs."""
        return {k: self._expand(v, own_port=None) for k, v in self._ctx.system.endpoints.items()}

    def proxy_for(self, edge: str) -> str:
        """The proxy name of ``edge``: the run id and the edge, so runs never share one."""
        return f"{self._ctx.run_id}.{edge.replace('->', '.to.')}"

    def exited(self) -> Mapping[str, str]:
        """Services whose process ended though the harness did not stop it (a kill pops first)."""
        found = {}
        for name, running in list(self._running.items()):
            code = running.proc.poll()
            if code is not None:
                how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"code {code}"
                found[name] = f"exited ({how}), pid {running.proc.pid}"
        return found

    def service_pids(self) -> dict[str, int]:
        """The pid of each running service."""
        return {name: r.proc.pid for name, r in self._running.items()}

    # --- process faults ---------------------------------------------------------------------

    def start_service(self, name: str) -> None:
        """Start one service (again, after a crash) and wait for its health check."""
        service = self._ctx.system.services[name]
        running = self._spawn(name, service)
        if service.health:
            self._wait_healthy(running, service.health)

    def kill(self, name: str) -> None:
        """SIGKILL the service's whole process group, as a crash would."""
        running = self._running.pop(self._live(name).name)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(running.proc.pid, signal.SIGKILL)
        running.proc.wait(timeout=STOP_GRACE)
        if running.reader.ident is not None:  # started
            running.reader.join(timeout=STOP_GRACE)

    def freeze(self, name: str) -> None:
        """Suspend the service (SIGSTOP to its group)."""
        os.killpg(self._live(name).proc.pid, signal.SIGSTOP)

    def thaw(self, name: str) -> None:
        """Resume a frozen service (SIGCONT to its group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._running[name].proc.pid, signal.SIGCONT)

    def restart(self, name: str) -> None:
        """Stop the service gracefully and start it again."""
        self._terminate(self._running.pop(self._live(name).name))
        self.start_service(name)

    def _live(self, name: str) -> _Running:
        """The running service ``name``; a TargetError if it is not running."""
        running = self._running.get(name)
        if running is None or running.proc.poll() is not None:
            raise TargetError(
                what=f"service {name!r} is not running, so the fault cannot act on it",
                actual="it crashed, exited, or an earlier fault stopped it",
                hint=f"read {self._ctx.logs_dir / (name + '.log')}; space the faults further apart",
            )
        return running

    def run_hook(self, hook: str, values: Mapping[str, str]) -> str:
        """Run a hook of the system (e.g. deploy); its JSON lines become events. Return stdout."""
        spec = hook_spec(self._ctx, hook)
        command = [self._expand(arg, None, values) for arg in spec.command]
        env = self._environment(hook_sender(hook), spec.env, None, values)
        return run_hook_command(self._ctx, hook, command, env, spec.timeout)

    # --- internals ------------------------------------------------------------------------

    def _create_proxy(self, edge: str, to: str) -> None:
        """Toxiproxy in front; behind it the dependency, or the edge's HTTP proxy and then it."""
        name = self.proxy_for(edge)
        self._ctx.state.add_proxy(name)
        self._proxies.append(name)
        upstream = ("127.0.0.1", self._ports[to])
        http = self._ctx.http
        if http is not None and http.is_http(edge):
            http.start_edge(edge, upstream)
            upstream = http.address(edge)
        self.toxiproxy().create_proxy(
            name, f"127.0.0.1:{self._edge_ports[edge]}", f"{upstream[0]}:{upstream[1]}"
        )

    def _expand(
        self, text: str, own_port: int | None, values: Mapping[str, str] | None = None
    ) -> str:
        def one(match: re.Match[str]) -> str:
            name, arg = match.group(1), (match.group(2) or "").replace(" ", "")
            if values and name in values and not arg:
                return values[name]
            match name:
                case "port" if own_port is not None:
                    return str(own_port)
                case "python":
                    return sys.executable
                case "dir":
                    return str(self._ctx.system_dir)
                case "addr":
                    return f"127.0.0.1:{self._ports[arg]}"
                case "edge":
                    return f"127.0.0.1:{self._edge_ports[arg]}"
            return str(match.group(0))

        return PLACEHOLDER.sub(one, text)

    def _environment(
        self,
        name: str,
        own: Mapping[str, str],
        port: int | None,
        values: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self._ctx.env)
        env.update({k: self._expand(v, port, values) for k, v in own.items()})
        env.update(self._ctx.sinks.get(name, {}))  # last: its own token, whatever env says
        env["HARNESS_SERVICE"] = name
        env["PYTHONUNBUFFERED"] = "1"
        path = [str(self._ctx.system_dir)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        env["PYTHONPATH"] = os.pathsep.join(path)
        return env

    def _spawn(self, name: str, service: Service) -> _Running:
        earlier = self._running.pop(name, None)
        if earlier is not None:  # never lose track of a process: a heal may run twice
            self._terminate(earlier)
        port = self._ports[name]
        command = [self._expand(arg, port) for arg in service.command]
        log = self._ctx.logs_dir / f"{name}.log"
        with log.open("ab") as err:
            try:
                proc = subprocess.Popen(
                    command,
                    cwd=self._ctx.system_dir,
                    env=self._environment(name, service.env, port),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    start_new_session=True,
                )
            except OSError as exc:
                raise TargetError(
                    what=f"cannot start service {name!r}: {exc.strerror or exc}",
                    where=f"services.{name}.command",
                    actual=" ".join(command),
                    hint=f"install {command[0]!r} or fix the command in the system file",
                ) from exc
        assert proc.stdout is not None
        reader = threading.Thread(
            target=self._read_stdout, args=(name, proc.stdout, log), daemon=True
        )
        running = _Running(name, proc, log, reader)
        self._running[name] = running  # tracked before anything else can fail
        self._ctx.state.add_process(name, proc.pid)
        reader.start()
        return running

    def _read_stdout(self, name: str, stream: IO[bytes], log: Path) -> None:
        with stream, log.open("a", encoding="utf-8") as out:
            for raw in stream:
                line = raw.decode("utf-8", errors="replace")
                try:
                    event = self._ctx.on_line(name, line)
                except Exception as exc:  # keep draining: a full pipe would block the service
                    out.write(f"[harness] could not record this line ({exc!r}): ")
                    event = False
                if not event:
                    out.write(f"[stdout] {line}")
                    out.flush()

    def _wait_healthy(self, running: _Running, health: HealthCheck) -> None:
        deadline = time.monotonic() + health.timeout
        port = self._ports[running.name]
        last = "no answer yet"
        while time.monotonic() < deadline:
            code = running.proc.poll()
            if code is not None:
                raise TargetError(
                    what=f"service {running.name!r} exited with code {code} during start-up",
                    actual=log_tail(running.log),
                    hint=f"read {running.log}",
                )
            ok, last = _probe(port, health)
            if ok:
                return
            time.sleep(_POLL)
        raise TargetError(
            what=f"service {running.name!r} did not become healthy within {health.timeout:g}s",
            expected=f"{'GET ' + health.http if health.http else 'TCP connect'} on port {port}",
            actual=f"{last}\n{log_tail(running.log)}",
            hint=f"read {running.log}; raise services.{running.name}.health.timeout if it is slow",
        )

    def _terminate(self, running: _Running) -> None:
        proc = running.proc
        for sig, grace in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, STOP_GRACE)):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything the service left in its group
        if running.reader.ident is not None:  # started
            running.reader.join(timeout=STOP_GRACE)


def _probe(port: int, health: HealthCheck) -> tuple[bool, str]:
    if health.http:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}{health.http}", timeout=1.0)
        except httpx.HTTPError as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return response.is_success, f"HTTP {response.status_code}"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True, "connected"
    except OSError as exc:
        return False, f"TCP: {exc}"
