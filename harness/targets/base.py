"""What every target offers the runner, whatever runs the system under test."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness.faults.toxiproxy import ToxiproxyClient
from harness.state import StateFile
from harness.system import SystemSpec

LineSink = Callable[[str, str], bool]
"""Receives (service, stdout line); returns True if the line was an event."""


@dataclass(frozen=True)
class TargetContext:
    """Everything a target needs from the run."""

    system: SystemSpec
    system_dir: Path
    toxiproxy: ToxiproxyClient
    run_id: str
    logs_dir: Path
    env: Mapping[str, str]
    on_line: LineSink
    state: StateFile


class Target(Protocol):
    """Starts and stops the system under test, with its dependency edges behind Toxiproxy."""

    def start(self) -> None:
        """Create the edges' proxies, start every service, wait until each is healthy."""
        ...

    def stop(self) -> None:
        """Stop every service and remove every proxy this target created; idempotent."""
        ...

    def endpoints(self) -> Mapping[str, str]:
        """Endpoint names (as scenarios use them in URLs) to base URLs."""
        ...

    def proxy_for(self, edge: str) -> str:
        """The Toxiproxy proxy that realises ``edge``."""
        ...
