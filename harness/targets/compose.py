"""The compose target: the system under test as a docker compose project, one project per run.

``up``/``down`` go through the installed compose command (``docker compose`` v2, else
``docker-compose`` v1); everything per container (ports, health, kill, pause, logs) goes through
the Docker Engine API, finding containers by the ``com.docker.compose.project``/``.service``
labels that both compose versions set. The harness adds its wiring in a generated override file
next to the user's compose file: each service's environment from the system file (edges pointing
at the Toxiproxy service), a loopback-only published port, a run label on every container and
network, and ``host.docker.internal`` for the harness's sinks.

Toxiproxy runs as a service of the project. It comes up first, the edges' proxies are created in
it, then every other service starts; each is waited for by its health check through its published
port. Teardown (``down -v --remove-orphans``, then removal by label of anything left) always runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from harness.errors import ConfigError, TargetError
from harness.faults.toxiproxy import ToxiproxyClient
from harness.secrets import REDACTED, is_secret, mask_sink_tokens
from harness.system import PLACEHOLDER, HealthCheck
from harness.targets.base import TargetContext, hook_sender, hook_spec, run_hook_command

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

RUN_LABEL = "io.github.chaos-policy-harness.run"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
TOXIPROXY_API_PORT = 8474
EDGE_PORT_BASE = 21000
"""Edge ``i`` listens on ``EDGE_PORT_BASE + i`` inside the Toxiproxy container (not published)."""
SINK_HOST = "host.docker.internal"
"""The name containers use for the harness's sinks (``extra_hosts: host-gateway``)."""
STOP_GRACE = 5
UP_TIMEOUT = 600.0
"""Real seconds ``up`` may take: it builds missing images for users with a registry."""
COMMAND_TIMEOUT = 120.0
_POLL = 0.1
ENGINE_HINT = (
    "start a Docker engine (`make engine` installs Debian's docker.io and starts dockerd), "
    "set DOCKER_HOST, or run with --target process"
)


def project_name(run_id: str) -> str:
    """The compose project of a run: its id, as compose accepts it (lowercase, [a-z0-9_-])."""
    name = re.sub(r"[^a-z0-9_-]", "-", run_id.lower()).strip("-_")
    return name or "harness"


def docker_client() -> docker.DockerClient:
    """A client of the Docker engine the environment names; TargetError if none answers."""
    from harness.extras import require

    require("docker", "compose", "the compose target")
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except DockerException as exc:
        raise TargetError(
            what="no Docker engine answers, so the compose target cannot run",
            actual=_first_line(str(exc)),
            hint=ENGINE_HINT,
        ) from exc
    return client


COMPOSE_ENV = "HARNESS_COMPOSE"
"""Which compose the target uses: ``v2`` (``docker compose``), ``v1`` (``docker-compose``) or
``auto`` (the default: v2 when installed, else v1). CI runs the compose tests on both."""


def compose_command() -> list[str]:
    """The compose command line: as $HARNESS_COMPOSE forces, else v2 when installed, else v1."""
    wanted = os.environ.get(COMPOSE_ENV, "").strip().lower() or "auto"
    if wanted not in ("auto", "v1", "v2"):
        raise ConfigError(
            what=f"unknown compose version in ${COMPOSE_ENV}",
            expected="v2 (docker compose), v1 (docker-compose) or auto",
            actual=repr(os.environ[COMPOSE_ENV]),
            hint=f"unset {COMPOSE_ENV} to use v2 when installed, else v1",
        )
    docker_bin = shutil.which("docker")
    if wanted != "v1" and docker_bin and _answers([docker_bin, "compose", "version"]):
        return [docker_bin, "compose"]
    v1 = shutil.which("docker-compose")
    if wanted != "v2" and v1 and _answers([v1, "version"]):
        return [v1]
    forced = f" (${COMPOSE_ENV}={wanted})" if wanted != "auto" else ""
    names = {"v2": "`docker compose` (v2)", "v1": "`docker-compose` (v1)"}
    missing = names.get(wanted, "neither `docker compose` (v2) nor `docker-compose` (v1)")
    raise TargetError(
        what=f"{missing} is not installed{forced}",
        hint="install the compose plugin (`make compose-v2` builds it; or docker-compose-plugin) "
        "or Debian's docker-compose"
        + (f"; or unset {COMPOSE_ENV} to take whichever is installed" if forced else ""),
    )


def remove_project(client: docker.DockerClient, project: str) -> list[str]:
    """Remove every container, network and volume labelled with ``project``; what was removed."""
    from docker.errors import APIError, NotFound

    removed = []
    selector: dict[str, str | list[str] | bool] = {"label": f"{PROJECT_LABEL}={project}"}
    for container in client.containers.list(all=True, filters=selector):
        with contextlib.suppress(NotFound):
            container.remove(force=True, v=True)
            removed.append(f"container {container.name}")
    for network in client.networks.list(filters=selector):
        with contextlib.suppress(NotFound, APIError):
            network.remove()
            removed.append(f"network {network.name}")
    for volume in client.volumes.list(filters=selector):
        with contextlib.suppress(NotFound, APIError):
            volume.remove(force=True)
            removed.append(f"volume {volume.name}")
    return removed


class ComposeTarget:
    """Runs a SystemSpec's services as one docker compose project."""

    def __init__(self, ctx: TargetContext, client: docker.DockerClient | None = None) -> None:
        compose = ctx.system.compose
        if compose is None:
            raise TargetError(
                what=f"system {ctx.system.name!r} has no compose section, so it cannot run on "
                "the compose target",
                where=str(ctx.system_dir),
                hint="add compose.file and compose.ports to the system file, or use --target "
                "process",
            )
        self._ctx, self._spec = ctx, compose
        self._file = (ctx.system_dir / compose.file).resolve()
        self.project = project_name(ctx.run_id)
        self._owns_client = client is None
        self._docker = client or docker_client()
        self._compose = compose_command()
        # the override holds the services' environment, secrets included: it lives in a private
        # folder for the run; the run directory keeps a copy with secret values redacted
        self._private = Path(tempfile.mkdtemp(prefix=f"harness-{self.project}-"))
        self._override = self._private / "compose.override.yaml"
        self._evidence = ctx.logs_dir.parent / "compose.override.yaml"
        self._edge_ports = {e: EDGE_PORT_BASE + i for i, e in enumerate(ctx.system.edge_names())}
        self._published: dict[str, int] = {}
        self._followers: dict[str, _Follower] = {}
        self._toxiproxy: ToxiproxyClient | None = None
        self._up = False
        self._down: set[str] = set()  # services the harness stopped, killed or is restarting

    # --- Target protocol ------------------------------------------------------------------

    def start(self) -> None:
        """Check the compose file, bring Toxiproxy up, create the proxies, start the rest."""
        self._ctx.logs_dir.mkdir(parents=True, exist_ok=True)
        self._check_services()
        doc = self._override_doc()
        self._override.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        self._override.chmod(0o600)
        self._evidence.write_text(json.dumps(_redacted(doc), indent=1), encoding="utf-8")
        self._ctx.state.set_compose(self.project, [str(self._file), str(self._override)])
        self._up = True
        self._compose_run(["up", "-d", "--no-deps", self._spec.toxiproxy], UP_TIMEOUT)
        api = self._publish(self._spec.toxiproxy, TOXIPROXY_API_PORT)
        self._toxiproxy = ToxiproxyClient(f"http://127.0.0.1:{api}")
        self._await_toxiproxy()
        self._ctx.state.set_toxiproxy(self._toxiproxy.url)
        for edge in self._ctx.system.edges:
            name = self.proxy_for(edge.name)
            self._ctx.state.add_proxy(name)
            self._toxiproxy.create_proxy(
                name, f"0.0.0.0:{self._edge_ports[edge.name]}", self._edge_upstream(edge.name)
            )
        self._compose_run(["up", "-d", "--no-deps", *self._ctx.system.services], UP_TIMEOUT)
        for name in self._ctx.system.services:
            self._published[name] = self._publish(name, self._spec.ports[name])
            self._wire_http(name)
            self._await_healthy(name)
            self._follow(name)

    def stop(self) -> None:
        """Stop the services in reverse order (Toxiproxy keeps running for its counters)."""
        self._down.update(self._ctx.system.services)
        for name in reversed(list(self._ctx.system.services)):
            container = self._find(name)
            if container is not None:
                with contextlib.suppress(Exception):
                    container.stop(timeout=STOP_GRACE)
        self._stop_followers()

    def close(self) -> None:
        """Keep every service's log, then ``down -v --remove-orphans`` and remove leftovers."""
        if not self._up:
            shutil.rmtree(self._private, ignore_errors=True)
            return
        self._up = False
        self._stop_followers()
        self._save_logs()
        if self._toxiproxy is not None:
            self._toxiproxy.close()
        problem = None
        try:
            self._compose_run(
                ["down", "-v", "--remove-orphans", "--timeout", str(STOP_GRACE)], COMMAND_TIMEOUT
            )
        except TargetError as exc:
            problem = exc
        remove_project(self._docker, self.project)  # whatever `down` could not
        shutil.rmtree(self._private, ignore_errors=True)
        if self._owns_client:
            self._docker.close()
        if problem is not None and self._find_any():
            raise problem

    def toxiproxy(self) -> ToxiproxyClient:
        """The client of this project's Toxiproxy service (after ``start``)."""
        if self._toxiproxy is None:
            raise TargetError(what="the compose project's Toxiproxy is not up yet")
        return self._toxiproxy

    def endpoints(self) -> Mapping[str, str]:
        """The system's endpoints, expanded to the services' published loopback ports."""
        return {k: self._expand_host(v) for k, v in self._ctx.system.endpoints.items()}

    def proxy_for(self, edge: str) -> str:
        """The proxy name of ``edge`` (the Toxiproxy service is the run's own)."""
        return edge.replace("->", ".to.")

    # --- process faults ---------------------------------------------------------------------

    def exited(self) -> Mapping[str, str]:
        """Declared services whose container stopped though the harness did not stop it."""
        if not self._up:
            return {}
        selector: dict[str, str | list[str] | bool] = {"label": f"{PROJECT_LABEL}={self.project}"}
        found = {}
        # sparse: one call, no inspect per container (which fails for one removed meanwhile)
        for container in self._docker.containers.list(all=True, filters=selector, sparse=True):
            attrs = container.attrs
            name = (attrs.get("Labels") or {}).get(SERVICE_LABEL, "")
            if name not in self._ctx.system.services or name in self._down:
                continue
            if attrs.get("State") in ("exited", "dead"):
                names = ",".join(n.lstrip("/") for n in attrs.get("Names") or [])
                found[name] = f"container {names} {attrs.get('Status', attrs['State'])}"
        return found

    def kill(self, name: str) -> None:
        """SIGKILL the service's container, as a crash would."""
        self._down.add(name)
        container = self._running(name)
        container.kill(signal="SIGKILL")
        self._wait_status(container, {"exited", "dead"})
        self._stop_follower(name)

    def start_service(self, name: str) -> None:
        """Start the service's container (again) and wait for its health check."""
        container = self._require(name)
        container.reload()
        if container.status == "paused":
            container.unpause()
        elif container.status != "running":
            container.start()
        self._published[name] = self._publish(name, self._spec.ports[name])
        self._wire_http(name)
        self._await_healthy(name)
        self._down.discard(name)
        self._follow(name)

    def freeze(self, name: str) -> None:
        """Suspend the service's container (docker pause: the cgroup freezer)."""
        self._running(name).pause()

    def thaw(self, name: str) -> None:
        """Resume a paused container."""
        container = self._require(name)
        container.reload()
        if container.status == "paused":
            container.unpause()

    def restart(self, name: str) -> None:
        """Stop the container gracefully, start it again, wait for its health."""
        container = self._running(name)
        self._down.add(name)
        container.restart(timeout=STOP_GRACE)
        self._stop_follower(name)  # its stream ended when the container stopped
        self._published[name] = self._publish(name, self._spec.ports[name])
        self._wire_http(name)
        self._await_healthy(name)
        self._down.discard(name)
        self._follow(name)

    def run_hook(self, hook: str, values: Mapping[str, str]) -> str:
        """Run a hook of the system on this machine; its JSON lines become events.

        The hook reaches the services through their published ports. Return its stdout.
        """
        spec = hook_spec(self._ctx, hook)
        command = [self._expand_host(arg, values) for arg in spec.command]
        env = dict(os.environ)
        env.update(self._ctx.env)
        env.update({k: self._expand_host(v, values) for k, v in spec.env.items()})
        env.update(self._ctx.sinks.get(hook_sender(hook), {}))
        env["HARNESS_SERVICE"] = hook_sender(hook)
        env["PYTHONPATH"] = str(self._ctx.system_dir)
        return run_hook_command(self._ctx, hook, command, env, spec.timeout)

    # --- compose ----------------------------------------------------------------------------

    def _compose_run(self, args: Sequence[str], timeout: float) -> str:
        files = ["-f", str(self._file)]
        if self._override.exists():
            files += ["-f", str(self._override)]
        command = [*self._compose, "-p", self.project, *files, *args]
        try:
            done = subprocess.run(
                command,
                cwd=self._file.parent,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise TargetError(
                what=f"`{' '.join(command[len(self._compose) :])}` did not finish within "
                f"{timeout:g}s",
                hint="see `docker ps` and the engine's log",
            ) from exc
        if done.returncode != 0:
            raise _compose_failure(command, done.stderr or done.stdout, self._file)
        return done.stdout

    def _check_services(self) -> None:
        """The compose file must parse and hold every service the system file names."""
        if not self._file.is_file():
            raise TargetError(
                what=f"the compose file {self._file} does not exist",
                where=f"{self._ctx.system_dir}: compose.file",
                hint="fix compose.file in the system file (relative to it)",
            )
        declared = set(self._compose_run(["config", "--services"], COMMAND_TIMEOUT).split())
        wanted = [*self._ctx.system.services, self._spec.toxiproxy]
        missing = [s for s in wanted if s not in declared]
        if missing:
            raise TargetError(
                what=f"the compose file has no service {', '.join(map(repr, missing))}",
                where=str(self._file),
                expected=f"the system's services {wanted}",
                actual=f"the compose file's services {sorted(declared)}",
                hint="add the services to the compose file, or rename them in the system file",
            )

    def _override_doc(self) -> dict[str, Any]:
        labels = {RUN_LABEL: self._ctx.run_id}
        services: dict[str, Any] = {
            self._spec.toxiproxy: {
                "labels": labels,
                "ports": [f"127.0.0.1::{TOXIPROXY_API_PORT}"],
            }
        }
        for name, service in self._ctx.system.services.items():
            port = self._spec.ports[name]
            env = {k: self._sink_url(v) for k, v in self._ctx.env.items()}
            env.update({k: self._expand_net(v, port) for k, v in service.env.items()})
            env.update({k: self._sink_url(v) for k, v in self._ctx.sinks.get(name, {}).items()})
            env["HARNESS_SERVICE"] = name
            env["PYTHONUNBUFFERED"] = "1"
            services[name] = {
                "environment": {k: v.replace("$", "$$") for k, v in env.items()},
                "labels": labels,
                "ports": [f"127.0.0.1::{port}"],
                "extra_hosts": [f"{SINK_HOST}:host-gateway"],
            }
        return {"services": services, "networks": {"default": {"labels": labels}}}

    # --- HTTP-aware edges -------------------------------------------------------------------

    def _edge_upstream(self, edge: str) -> str:
        """Where the edge's Toxiproxy proxy forwards: the dependency, or the HTTP proxy.

        The HTTP proxy runs on the host, on the sinks' bridge address, and forwards to the
        dependency's published port.
        """
        http = self._ctx.http
        if http is not None and http.is_http(edge):
            host, port = http.address(edge)
            return f"{host}:{port}"
        to = edge.split("->")[1]
        return f"{to}:{self._spec.ports[to]}"

    def _wire_http(self, service: str) -> None:
        """Point the HTTP proxies of the edges to ``service`` at its (new) published port."""
        http = self._ctx.http
        for edge in self._ctx.system.http_edges():
            if http is not None and edge.to == service:
                http.start_edge(edge.name, ("127.0.0.1", self._published[service]))

    # --- containers -------------------------------------------------------------------------

    def _find(self, name: str) -> Container | None:
        selector = [f"{PROJECT_LABEL}={self.project}", f"{SERVICE_LABEL}={name}"]
        found = self._docker.containers.list(all=True, filters={"label": selector})
        return found[0] if found else None

    def _find_any(self) -> bool:
        selector: dict[str, str | list[str] | bool] = {"label": f"{PROJECT_LABEL}={self.project}"}
        return bool(self._docker.containers.list(all=True, filters=selector))

    def _require(self, name: str) -> Container:
        container = self._find(name)
        if container is None:
            raise TargetError(
                what=f"service {name!r} has no container in compose project {self.project!r}",
                hint=f"run `docker ps -a --filter label={PROJECT_LABEL}={self.project}`",
            )
        return container

    def _running(self, name: str) -> Container:
        container = self._require(name)
        container.reload()
        if container.status != "running":
            raise TargetError(
                what=f"service {name!r} is not running ({container.status}), so the fault "
                "cannot act on it",
                actual=self._log_tail(container),
                hint="space the faults further apart",
            )
        return container

    def _publish(self, name: str, port: int) -> int:
        """The loopback port published for ``port`` of the service's container."""
        container = self._require(name)
        deadline = time.monotonic() + 10.0
        while True:
            container.reload()
            bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp")
            for binding in bindings or ():
                if binding.get("HostPort"):
                    return int(binding["HostPort"])
            if container.status not in ("created", "restarting") or time.monotonic() > deadline:
                break
            time.sleep(_POLL)
        raise TargetError(
            what=f"service {name!r} publishes no port {port} ({container.status})",
            expected=f"container port {port} (compose.ports.{name} in the system file)",
            actual=self._log_tail(container),
            hint="the harness publishes compose.ports on 127.0.0.1; check that the service "
            "listens on that port",
        )

    def _await_toxiproxy(self) -> None:
        assert self._toxiproxy is not None
        deadline, last = time.monotonic() + 30.0, ""
        while time.monotonic() < deadline:
            try:
                self._toxiproxy.version()
                return
            except Exception as exc:
                last = str(exc)
            time.sleep(_POLL)
        raise TargetError(
            what=f"the Toxiproxy service {self._spec.toxiproxy!r} does not answer",
            actual=last,
            hint="check its image (TOXIPROXY_IMAGE) and `docker logs` of its container",
        )

    def _await_healthy(self, name: str) -> None:
        health = self._ctx.system.services[name].health
        if health is None:
            return
        port, container = self._published[name], self._require(name)
        deadline, last = time.monotonic() + health.timeout, "no answer yet"
        while time.monotonic() < deadline:
            container.reload()
            if container.status in ("exited", "dead"):
                raise TargetError(
                    what=f"service {name!r} exited during start-up "
                    f"(code {container.attrs['State'].get('ExitCode')})",
                    actual=self._log_tail(container),
                    hint=f"read `docker logs {container.name}`",
                )
            ok, last = probe_published(port, health)
            if ok:
                return
            time.sleep(_POLL)
        raise TargetError(
            what=f"service {name!r} did not become healthy within {health.timeout:g}s",
            expected=f"{'GET ' + health.http if health.http else 'TCP'} on 127.0.0.1:{port}",
            actual=f"{last}\n{self._log_tail(container)}",
            hint=f"read `docker logs {container.name}`; raise services.{name}.health.timeout",
        )

    def _wait_status(self, container: Container, wanted: set[str]) -> None:
        deadline = time.monotonic() + STOP_GRACE * 2
        while time.monotonic() < deadline:
            container.reload()
            if container.status in wanted:
                return
            time.sleep(_POLL)

    def _log_tail(self, container: Container, lines: int = 15) -> str:
        try:
            raw: bytes = container.logs(tail=lines)
        except Exception as exc:
            return f"(no log: {exc})"
        return raw.decode("utf-8", errors="replace").strip() or "(empty log)"

    # --- logs and events ------------------------------------------------------------------

    def _follow(self, name: str) -> None:
        """Feed the container's stdout from its (re)start on to the timeline."""
        self._stop_follower(name)
        container = self._require(name)
        container.reload()
        follower = _Follower(name, container, self._ctx.on_line)
        self._followers[name] = follower
        follower.start()

    def _stop_follower(self, name: str) -> None:
        follower = self._followers.pop(name, None)
        if follower is not None:
            follower.stop()

    def _stop_followers(self) -> None:
        for name in list(self._followers):
            self._stop_follower(name)

    def _save_logs(self) -> None:
        for name in [*self._ctx.system.services, self._spec.toxiproxy]:
            container = self._find(name)
            if container is None:
                continue
            with contextlib.suppress(Exception):
                raw: bytes = container.logs(stdout=True, stderr=True, timestamps=True)
                (self._ctx.logs_dir / f"{name}.log").write_bytes(raw)

    # --- placeholders -----------------------------------------------------------------------

    def _expand_net(self, text: str, own_port: int) -> str:
        """Placeholders as a container sees them, on the project's network."""

        def one(match: re.Match[str]) -> str:
            name, arg = match.group(1), (match.group(2) or "").replace(" ", "")
            match name:
                case "port":
                    return str(own_port)
                case "python":
                    return "python3"
                case "addr":
                    return f"{arg}:{self._spec.ports[arg]}"
                case "edge":
                    return f"{self._spec.toxiproxy}:{self._edge_ports[arg]}"
            return str(match.group(0))

        return PLACEHOLDER.sub(one, text)

    def _expand_host(self, text: str, values: Mapping[str, str] | None = None) -> str:
        """Placeholders as the harness sees them: published ports on loopback."""

        def one(match: re.Match[str]) -> str:
            name, arg = match.group(1), (match.group(2) or "").replace(" ", "")
            if values and name in values and not arg:
                return values[name]
            match name:
                case "python":
                    return sys.executable
                case "dir":
                    return str(self._ctx.system_dir)
                case "addr":
                    return f"127.0.0.1:{self._published[arg]}"
            return str(match.group(0))

        return PLACEHOLDER.sub(one, text)

    @staticmethod
    def _sink_url(value: str) -> str:
        """A harness URL on the host, as containers reach it."""
        return re.sub(r"^http://[0-9.]+:", f"http://{SINK_HOST}:", value)


def _redacted(doc: dict[str, Any]) -> dict[str, Any]:
    """The override as evidence: every value under a secret-looking key, and sink tokens, hidden."""
    copy = json.loads(json.dumps(doc))
    for service in copy.get("services", {}).values():
        env = service.get("environment", {})
        for key in env:
            env[key] = REDACTED if is_secret(key) else mask_sink_tokens(str(env[key]))
    return dict(copy)


class _Follower:
    """Reads one container's stdout (from its current start on) line by line, in a thread."""

    def __init__(
        self, service: str, container: Container, on_line: Callable[[str, str], bool]
    ) -> None:
        self._service, self._container, self._on_line = service, container, on_line
        started = container.attrs["State"]["StartedAt"]
        self._since = _parse_docker_time(started)
        self._stream: Iterator[bytes] | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._read, name=f"logs-{service}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, drain: float = 1.0) -> None:
        """Let the stream end by itself for ``drain`` seconds, then close it."""
        self._thread.join(timeout=drain)
        self._stopped.set()
        self._close()
        self._thread.join(timeout=STOP_GRACE)

    def _close(self) -> None:
        close = getattr(self._stream, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()

    def _read(self) -> None:
        pending = b""
        try:
            self._stream = self._container.logs(
                stdout=True, stderr=False, stream=True, follow=True, since=self._since
            )
            for chunk in self._stream:
                if self._stopped.is_set():
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    self._deliver(raw)
        except Exception:  # the container went away or the stream was closed: done
            pass
        finally:
            self._close()
        if pending and not self._stopped.is_set():
            self._deliver(pending)

    def _deliver(self, raw: bytes) -> None:
        with contextlib.suppress(Exception):  # a bad line must not stop the reader
            self._on_line(self._service, raw.decode("utf-8", errors="replace") + "\n")


def _parse_docker_time(text: str) -> float:
    """Docker's RFC 3339 time with nanoseconds, as a POSIX timestamp (microsecond precision)."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text)
    if not match:
        return 0.0
    base = dt.datetime.fromisoformat(match.group(1) + (match.group(3).replace("Z", "+00:00")))
    fraction = float(match.group(2) or 0.0)
    return base.timestamp() + fraction


def probe_published(port: int, health: HealthCheck) -> tuple[bool, str]:
    """One health probe through a published port.

    Docker's port proxy accepts a TCP connection even while nothing listens in the container,
    then closes it; so a TCP check counts only a connection that stays open for a moment.
    """
    if health.http:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}{health.http}", timeout=1.0)
        except httpx.HTTPError as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return response.is_success, f"HTTP {response.status_code}"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.settimeout(0.3)
            try:
                data = sock.recv(1)
            except TimeoutError:
                return True, "connected"
            return (True, "connected") if data else (False, "TCP: closed by the port proxy")
    except OSError as exc:
        return False, f"TCP: {exc}"


def _compose_failure(command: list[str], output: str, file: Path) -> TargetError:
    text = output.strip()
    tail = "\n".join(text.splitlines()[-12:])
    lowered = text.lower()
    pulling = re.search(r"Pulling (\S+) \((\S+)\)", text)  # v1: "Pulling svc (image)..."
    pull_error = re.search(r"Image (\S+) Error", text)  # v2: " Image IMAGE Error <why>"
    if any(s in lowered for s in _NO_ENGINE):
        return TargetError(what="no Docker engine answers compose", actual=tail, hint=ENGINE_HINT)
    if pulling or pull_error or any(s in lowered for s in _PULL_FAILURES):
        image = (
            f" {pulling.group(2)} (service {pulling.group(1)})"
            if pulling
            else f" {pull_error.group(1)}"
            if pull_error
            else ""
        )
        return TargetError(
            what=f"an image of the compose file is missing here and cannot be pulled:{image}",
            actual=tail,
            hint="build the local images with `make images` and export the variables in "
            "fixtures/images/local.env (ORDERSUT_IMAGE, REDIS_IMAGE, TOXIPROXY_IMAGE), or log in "
            "to the registry that holds them",
        )
    if any(s in lowered for s in ("yaml", "invalid", "unsupported config", "parsing", "mapping")):
        return TargetError(
            what=f"the compose file does not parse: {file}",
            actual=tail,
            hint=f"run `{' '.join(command[: command.index('-p')])} -f {file} config` to see why",
        )
    return TargetError(
        what=f"`{' '.join(command)}` failed", actual=tail, hint="read the compose output above"
    )


_NO_ENGINE = ("cannot connect to the docker daemon", "couldn't connect to docker daemon")
_PULL_FAILURES = (
    "pull access denied",
    "manifest unknown",
    "no such image",
    "error pulling",
    "failed to resolve",
)


def _answers(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
