"""What every target offers the runner, whatever runs the system under test."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.errors import TargetError
from harness.faults.base import ServiceControl
from harness.faults.toxiproxy import ToxiproxyClient
from harness.state import StateFile
from harness.system import Hook, SystemSpec

LineSink = Callable[[str, str], bool]
"""Receives (service, stdout line); returns True if the line was an event."""


def hook_sender(hook: str) -> str:
    """The name a hook's command speaks under (its stdout, its sink token): ``hook:<name>``."""
    return f"hook:{hook}"


class HttpProxies(Protocol):
    """The HTTP proxies of the edges declared ``protocol: http`` (``faults/http_edges.py``).

    Each sits behind the edge's Toxiproxy proxy: the target points the Toxiproxy proxy at
    ``address(edge)`` and tells the HTTP proxy where the dependency listens.
    """

    def is_http(self, edge: str) -> bool:
        """Whether ``edge`` has an HTTP proxy."""
        ...

    def address(self, edge: str) -> tuple[str, int]:
        """Where the edge's HTTP proxy listens (host, port)."""
        ...

    def start_edge(self, edge: str, upstream: tuple[str, int]) -> None:
        """Start the edge's HTTP proxy towards the dependency, or re-point a running one."""
        ...


@dataclass(frozen=True)
class TargetContext:
    """Everything a target needs from the run."""

    system: SystemSpec
    system_dir: Path
    toxiproxy: ToxiproxyClient | None
    """The run's Toxiproxy; None for a target that brings its own (compose)."""
    run_id: str
    logs_dir: Path
    env: Mapping[str, str]
    on_line: LineSink
    state: StateFile
    http: HttpProxies | None = None
    """The HTTP-aware edges' proxies; None when the system declares none."""
    sinks: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Per service (and ``hook_sender(hook)``): the sink URLs, with its own token, as variables.

    Added to ``env`` for that service only, so no service holds another's token.
    """


class Target(ServiceControl, Protocol):
    """Starts and stops the system under test, with its dependency edges behind Toxiproxy."""

    def start(self) -> None:
        """Create the edges' proxies, start every service, wait until each is healthy."""
        ...

    def stop(self) -> None:
        """Stop every service and remove every proxy this target created; idempotent."""
        ...

    def close(self) -> None:
        """Release what outlived ``stop`` (a compose project: its Toxiproxy, networks)."""
        ...

    def toxiproxy(self) -> ToxiproxyClient:
        """The Toxiproxy holding this target's proxies (after ``start``)."""
        ...

    def endpoints(self) -> Mapping[str, str]:
        """Endpoint names (as scenarios use them in URLs) to base URLs."""
        ...

    def proxy_for(self, edge: str) -> str:
        """The Toxiproxy proxy that realises ``edge``."""
        ...

    def exited(self) -> Mapping[str, str]:
        """Services that stopped though the harness neither stopped nor killed them: how."""
        ...


def hook_spec(ctx: TargetContext, hook: str) -> Hook:
    """The system's hook ``hook``; a TargetError saying how to declare it if there is none."""
    spec = ctx.system.hooks.get(hook)
    if spec is None:
        raise TargetError(
            what=f"the system declares no {hook!r} hook",
            where=str(ctx.system_dir),
            hint=f"add hooks.{hook}.command to the system file",
        )
    return spec


def run_hook_command(
    ctx: TargetContext, hook: str, command: list[str], env: Mapping[str, str], timeout: float
) -> str:
    """Run an expanded hook command in the system's folder; return its stdout.

    Its stdout lines go to the timeline (JSON lines become events); TargetError if it fails.
    """
    try:
        done = subprocess.run(
            command,
            cwd=ctx.system_dir,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TargetError(
            what=f"the {hook} hook did not run: {exc}", actual=" ".join(command)
        ) from exc
    for line in done.stdout.splitlines():
        ctx.on_line(hook_sender(hook), line)
    if done.returncode != 0:
        raise TargetError(
            what=f"the {hook} hook failed with code {done.returncode}",
            actual=f"{' '.join(command)}\n{done.stderr.strip()}",
            hint="run the command by hand to see why",
        )
    return done.stdout
