"""Find the toxiproxy-server binary and run a private instance of it on a free local port.

Facts from the v2.12.0 source (``cmd/server/server.go``) that shape this module: the API server
listens in a goroutine, so when its port is taken it logs "Server finished with error" and keeps
running without answering; the process only ends on SIGTERM/SIGINT. Readiness therefore means
"this very process listens on the port and answers ``GET /version``", and a port lost to another
process is detected (through psutil) and retried on a new port.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal, Protocol, Self

import psutil

from harness.errors import ToxiproxyError
from harness.faults.toxiproxy import ToxiproxyClient

BINARY_NAME = "toxiproxy-server"
BINARY_ENV = "HARNESS_TOXIPROXY_BIN"
PARENT_ENV = "HARNESS_TOXIPROXY_PARENT"  # set in the server's environment, to reap orphans
INSTALL_HINT = (
    "run `make toxiproxy`, or `GOBIN=$PWD/.venv/bin go install -ldflags "
    '"-X github.com/Shopify/toxiproxy/v2.Version=2.12.0" '
    "github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0 && "
    "mv .venv/bin/server .venv/bin/toxiproxy-server`"
)
_POLL_INTERVAL = 0.05


def find_toxiproxy_binary(explicit: str | None = None) -> Path:
    """The server binary: ``explicit``, else $HARNESS_TOXIPROXY_BIN, else PATH, else the venv.

    An explicit argument or the variable, when set, is the only place looked at: a wrong value
    is an error rather than a silent fall-back to another binary.
    """
    chosen = explicit or os.environ.get(BINARY_ENV)
    if chosen:
        places = [(f"{'argument' if explicit else BINARY_ENV}={chosen}", chosen)]
    else:
        beside_python = Path(sys.executable).parent / BINARY_NAME
        places = [(f"{BINARY_NAME} on PATH", BINARY_NAME), (str(beside_python), str(beside_python))]
    for _, candidate in places:
        if found := shutil.which(candidate):
            return Path(found)
    raise ToxiproxyError(
        what="Toxiproxy server not found",
        where=", ".join(label for label, _ in places),
        expected=f"an executable {BINARY_NAME}",
        actual="no executable file there",
        hint=INSTALL_HINT,
    )


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _port_owner(pid: int, port: int) -> Literal["us", "other", "nobody"]:
    """Who listens on ``port``: process ``pid``, another process, or nobody (as far as we see)."""
    try:
        if any(_listens(conn, port) for conn in psutil.Process(pid).net_connections("tcp")):
            return "us"
        if any(_listens(conn, port) for conn in psutil.net_connections("tcp")):
            return "other"
    except (psutil.AccessDenied, psutil.NoSuchProcess):  # macOS needs root for the full table
        pass
    return "nobody"


class _Connection(Protocol):
    """The two fields of a psutil connection entry that tell a listening socket's port."""

    @property
    def status(self) -> str: ...
    @property
    def laddr(self) -> tuple[str, int] | tuple[()]: ...


def _listens(conn: _Connection, port: int) -> bool:
    return conn.status == psutil.CONN_LISTEN and conn.laddr[1:] == (port,)


class ToxiproxyServer:
    """A private ``toxiproxy-server -proxy-metrics`` on a free port; stopped on leaving ``with``.

    ``log_path`` receives the server's stdout and stderr (appended); without it they are
    discarded. ``seed`` is passed as ``-seed`` for the record, but v2.12.0 ignores it: its
    ``server.go`` builds a seeded source and drops it, toxics draw from Go's global source.
    """

    def __init__(
        self,
        binary: str | Path | None = None,
        *,
        log_path: Path | None = None,
        seed: int | None = None,
        host: str = "127.0.0.1",
        start_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        attempts: int = 3,
    ) -> None:
        self._binary, self._log_path, self._seed, self._host = binary, log_path, seed, host
        self._start_timeout, self._stop_timeout = start_timeout, stop_timeout
        self._attempts = attempts
        self._process: subprocess.Popen[bytes] | None = None
        self._port = 0

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL of the running server's API, e.g. ``http://127.0.0.1:40123``."""
        self._running()
        return f"http://{self._host}:{self._port}"

    @property
    def pid(self) -> int:
        """Process id of the running server."""
        return self._running().pid

    def client(self, *, timeout: float = 5.0) -> ToxiproxyClient:
        """A new client for this server; the caller closes it."""
        return ToxiproxyClient(self.url, timeout=timeout)

    def start(self) -> Self:
        """Start the server and wait until it answers; a no-op if it already runs."""
        if self._process is not None:
            return self
        binary = find_toxiproxy_binary(str(self._binary) if self._binary else None)
        for _ in range(self._attempts):
            port = _free_port(self._host)
            process = self._spawn(binary, port)
            try:
                ready = self._wait_ready(process, port, binary)
            except BaseException:
                self._terminate(process)
                raise
            if ready:
                self._process, self._port = process, port
                return self
            self._terminate(process)  # another process took the port first: try a new one
        raise ToxiproxyError(
            what="Toxiproxy server could not get a port",
            where=f"{self._host}, {self._attempts} attempts",
            expected="a free port to stay free until the server binds it",
            actual="another process bound it first every time",
            hint="too many processes racing for ports? pass a larger `attempts`",
        )

    def stop(self) -> None:
        """Terminate the server (kill it if it does not end in time); safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            self._terminate(process)

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise ToxiproxyError(
                what="Toxiproxy server is not running",
                expected="start() called (or the `with` block entered) before use",
                hint="use `with ToxiproxyServer() as server:`",
            )
        return self._process

    def _spawn(self, binary: Path, port: int) -> subprocess.Popen[bytes]:
        command = [str(binary), "-host", self._host, "-port", str(port), "-proxy-metrics"]
        if self._seed is not None:
            command += ["-seed", str(self._seed)]
        env = {**os.environ, PARENT_ENV: str(os.getpid())}
        log = self._log_path.open("ab") if self._log_path is not None else None
        try:  # the child keeps its own copy of the log's file descriptor
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if log is None else log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        finally:
            if log is not None:
                log.close()

    def _wait_ready(self, process: subprocess.Popen[bytes], port: int, binary: Path) -> bool:
        """True once ``process`` answers on ``port``; False if another process holds the port."""
        deadline = time.monotonic() + self._start_timeout
        url = f"http://{self._host}:{port}"
        with ToxiproxyClient(url, timeout=1.0) as client:
            while True:
                if process.poll() is not None:
                    raise self._start_error(
                        f"Toxiproxy server exited before it answered (code {process.returncode})",
                        binary,
                    )
                owner = _port_owner(process.pid, port)
                if owner == "other":
                    return False
                if owner == "us":
                    try:
                        client.version()
                        return True
                    except ToxiproxyError:
                        pass  # bound but not serving yet: poll again
                if time.monotonic() >= deadline:
                    raise self._start_error(
                        f"Toxiproxy server did not answer {url}/version "
                        f"within {self._start_timeout:g} s",
                        binary,
                    )
                time.sleep(_POLL_INTERVAL)

    def _start_error(self, what: str, binary: Path) -> ToxiproxyError:
        return ToxiproxyError(
            what=what,
            where=str(binary),
            expected="GET /version to answer",
            actual=f"last lines of its log:\n{self._log_tail()}",
            hint=f"run `{binary} -host 127.0.0.1 -port 8474` by hand to see why; {INSTALL_HINT}",
        )

    def _log_tail(self, lines: int = 20) -> str:
        if self._log_path is None:
            return "(no log kept: pass log_path to keep one)"
        try:
            text = self._log_path.read_bytes()[-8192:].decode(errors="replace")
        except OSError as exc:
            return f"(log unreadable: {exc})"
        return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"

    def _terminate(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=self._stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=self._stop_timeout)
