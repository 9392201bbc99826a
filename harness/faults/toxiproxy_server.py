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
from importlib import metadata
from pathlib import Path
from typing import Literal, Protocol, Self

import psutil

from harness.errors import ToxiproxyError
from harness.faults.toxiproxy import ToxiproxyClient

BINARY_NAME = "toxiproxy-server"
BINARY_ENV = "HARNESS_TOXIPROXY_BIN"
IMAGE_ENV = "HARNESS_TOXIPROXY_IMAGE"
COMPANION = "chaos-policy-harness-toxiproxy"
"""The companion distribution that ships the server binary (``pip install
'chaos-policy-harness[toxiproxy]'``): platform wheels built from the pinned Toxiproxy source."""
OFFICIAL_IMAGE = "ghcr.io/shopify/toxiproxy:2.12.0"
INSTALL_HINT = (
    "pip install 'chaos-policy-harness[toxiproxy]' (a toxiproxy-server for this platform); "
    "or pass --toxiproxy-bin PATH; in this repository `make toxiproxy`"
)
_POLL_INTERVAL = 0.05


def find_toxiproxy_binary(explicit: str | None = None) -> Path:
    """The server binary: explicit, $HARNESS_TOXIPROXY_BIN, companion, PATH, beside Python.

    The companion package is the ``[toxiproxy]`` extra. An explicit argument or the variable,
    when set, is the only place looked at: a wrong value is an error rather than a silent
    fall-back to another binary.
    """
    chosen = explicit or os.environ.get(BINARY_ENV)
    if chosen:
        places = [(f"{'argument' if explicit else BINARY_ENV}={chosen}", chosen)]
    else:
        beside_python = Path(sys.executable).parent / BINARY_NAME
        places = [
            (f"the {COMPANION} package", str(companion_binary() or "")),
            (f"{BINARY_NAME} on PATH", BINARY_NAME),
            (str(beside_python), str(beside_python)),
        ]
    for _, candidate in places:
        if candidate and (found := shutil.which(candidate)):
            return Path(found)
    docker = " (this machine runs Docker)" if not chosen and docker_answers() else ""
    raise ToxiproxyError(
        what="Toxiproxy server not found",
        where=", ".join(label for label, _ in places),
        expected=f"an executable {BINARY_NAME}",
        actual="no executable file there",
        hint=INSTALL_HINT
        + (
            f"; or run it from Docker: --toxiproxy-image {OFFICIAL_IMAGE}{docker}" if docker else ""
        ),
    )


def companion_binary() -> Path | None:
    """Where the companion package installed ``toxiproxy-server``, if it is installed.

    Read from the distribution's file list, so it is found wherever pip put its scripts (a
    venv's bin, ``~/.local/bin`` of a --user install), also when that is not on PATH.
    """
    try:
        files = metadata.distribution(COMPANION).files or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:  # the package's binary, not the console script that runs it
        if file.parts[-2:] == ("bin", BINARY_NAME) and file.parts[0] != "..":
            return Path(str(file.locate())).resolve()
    return None


def docker_answers() -> bool:
    """True when a ``docker`` command is installed and its engine answers (bounded: 10 s)."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        done = subprocess.run(
            [docker, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


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
        binary = self._find()
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

    def _find(self) -> Path:
        return find_toxiproxy_binary(str(self._binary) if self._binary else None)

    def _owner(
        self, process: subprocess.Popen[bytes], port: int
    ) -> Literal["us", "other", "nobody"]:
        return _port_owner(process.pid, port)

    def _by_hand(self, binary: Path) -> str:
        return f"{binary} -host 127.0.0.1 -port 8474"

    def _command(self, binary: Path, port: int) -> list[str]:
        command = [str(binary), "-host", self._host, "-port", str(port), "-proxy-metrics"]
        if self._seed is not None:
            command += ["-seed", str(self._seed)]
        return command

    def _spawn(self, binary: Path, port: int) -> subprocess.Popen[bytes]:
        command = self._command(binary, port)
        log = self._log_path.open("ab") if self._log_path is not None else None
        # it inherits the environment, and with it a run's marker (harness/reaper.py)
        try:  # the child keeps its own copy of the log's file descriptor
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if log is None else log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
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
                owner = self._owner(process, port)
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
            hint=f"run `{self._by_hand(binary)}` by hand to see why; {INSTALL_HINT}",
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


class ToxiproxyContainer(ToxiproxyServer):
    """A private Toxiproxy run from a Docker image (``--toxiproxy-image``); removed on exit.

    For a machine with Docker and no server binary.
    ``docker run --rm --network host IMAGE -host 127.0.0.1 -port N -proxy-metrics``, attached:
    the proxies listen on this machine's loopback like a local server's would, the server's
    log goes to ``log_path``, and the tracked process is the ``docker run`` client, which
    forwards SIGTERM to the container (so ``harness cleanup`` stops it like a local server).
    ``stop`` also removes the container by name, so a client killed first leaves nothing.
    Host networking needs a Linux engine (Docker Desktop: enable host networking).
    """

    def __init__(
        self,
        image: str,
        *,
        log_path: Path | None = None,
        seed: int | None = None,
        host: str = "127.0.0.1",
        start_timeout: float = 30.0,
        pull_timeout: float = 600.0,
    ) -> None:
        super().__init__(None, log_path=log_path, seed=seed, host=host, start_timeout=start_timeout)
        self.image, self._pull_timeout = image, pull_timeout
        self._names: list[str] = []

    def stop(self) -> None:
        """Stop the ``docker run`` client and remove every container it started."""
        try:
            super().stop()
        finally:
            names, self._names = self._names, []
            for name in names:
                _docker(["rm", "-f", name], timeout=30)

    def _find(self) -> Path:
        docker = shutil.which("docker")
        if docker is None or not docker_answers():
            raise ToxiproxyError(
                what="Docker is needed to run Toxiproxy from an image",
                where=f"--toxiproxy-image {self.image}",
                expected="a `docker` command whose engine answers",
                actual="no docker command" if docker is None else "the engine does not answer",
                hint=INSTALL_HINT,
            )
        if _docker(["image", "inspect", self.image], timeout=30).returncode != 0:
            pulled = _docker(["pull", self.image], timeout=self._pull_timeout)
            if pulled.returncode != 0:
                raise ToxiproxyError(
                    what="the Toxiproxy image is not here and cannot be pulled",
                    where=self.image,
                    actual=pulled.stdout.decode(errors="replace").strip()[-500:],
                    hint="pull or build it first (in this repository: `make images` builds "
                    "chaos-policy-harness/toxiproxy:local), or log in to its registry",
                )
        return Path(docker)

    def _owner(
        self, process: subprocess.Popen[bytes], port: int
    ) -> Literal["us", "other", "nobody"]:
        return "us"  # the server runs in the container: its answer on /version is the proof

    def _by_hand(self, binary: Path) -> str:
        return f"{binary} run --rm --network host {self.image} -host 127.0.0.1 -port 8474"

    def _command(self, binary: Path, port: int) -> list[str]:
        name = f"harness-toxiproxy-{os.getpid()}-{port}"
        self._names.append(name)
        server = super()._command(Path(self.image), port)
        return [
            str(binary), "run", "--rm", "--pull", "never", "--name", name, "--network", "host",
            "--label", f"{CONTAINER_LABEL}={os.getpid()}", *server,
        ]  # fmt: skip


CONTAINER_LABEL = "io.github.chaos-policy-harness.toxiproxy"
"""Set on a Toxiproxy container, with the harness's pid as its value."""


def _docker(args: list[str], *, timeout: float) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["docker", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(["docker", *args], 1, str(exc).encode())


def private_toxiproxy(
    binary: str | None, image: str | None, *, log_path: Path | None = None
) -> ToxiproxyServer:
    """The private server of a run: from ``image`` (or $HARNESS_TOXIPROXY_IMAGE), else a binary.

    An explicit ``binary`` wins over the variable; the binary is what ``find_toxiproxy_binary``
    finds.
    """
    chosen = image or (None if binary else os.environ.get(IMAGE_ENV))
    if chosen:
        return ToxiproxyContainer(chosen, log_path=log_path)
    return ToxiproxyServer(find_toxiproxy_binary(binary), log_path=log_path)
