"""What a fault driver is: inject a fault, get back a handle whose ``heal`` undoes it.

Every injection is a scoped pair. The runner pushes each handle's ``heal`` onto one ExitStack,
so a fault is healed at its scheduled time, and again (idempotently) if the run fails, is
interrupted, or is terminated.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.faults.http_rules import HttpFaultControl
from harness.faults.toxiproxy import ToxiproxyClient
from harness.scenario import Workload
from harness.timeline import JsonScalar, Timeline


class ServiceControl(Protocol):
    """What process and change faults need of a target (the process and compose targets)."""

    def kill(self, name: str) -> None:
        """Kill the service at once (SIGKILL)."""
        ...

    def start_service(self, name: str) -> None:
        """Start the service (again) and wait for its health check."""
        ...

    def freeze(self, name: str) -> None:
        """Suspend the service."""
        ...

    def thaw(self, name: str) -> None:
        """Resume a suspended service."""
        ...

    def restart(self, name: str) -> None:
        """Stop the service gracefully and start it again."""
        ...

    def run_hook(self, hook: str, values: Mapping[str, str]) -> str:
        """Run one of the system's hooks (e.g. deploy) and return its output."""
        ...


@dataclass(frozen=True)
class FaultContext:
    """What a driver may use: Toxiproxy, HTTP proxies, the target's services, the timeline."""

    toxiproxy: ToxiproxyClient
    proxy_for: Callable[[str], str]
    time_scale: float
    run_id: str
    services: ServiceControl
    endpoints: Mapping[str, str]
    timeline: Timeline
    workload: Workload | None = None
    scales_magnitudes: bool = True
    """False when the system does not honour HARNESS_TIME_SCALE: a latency stays a latency."""
    http: HttpFaultControl | None = None
    """The HTTP-aware edges' proxies (``protocol: http``); None when the system has none."""

    def scaled(self, seconds: float) -> float:
        """A duration from the scenario, scaled to this run."""
        return seconds * self.time_scale

    def magnitude(self, seconds: float) -> float:
        """A fault's magnitude (a latency, a timeout): scaled only if the system scales too."""
        return self.scaled(seconds) if self.scales_magnitudes else seconds


@dataclass
class Injected:
    """An active fault. ``heal`` runs its undo once; later calls do nothing."""

    target: str
    undo: Callable[[], None]
    detail: Mapping[str, JsonScalar] = field(default_factory=dict)
    check: Callable[[], str | None] | None = None
    """Why the fault no longer holds (someone else lifted it), or None while it holds."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    healed: bool = False

    def lifted(self) -> str | None:
        """Why the fault stopped holding though nobody healed it; None if held, healed, unknown.

        Checked under the heal's lock: a heal under way is never mistaken for a lift.
        """
        if self.check is None:
            return None
        with self._lock:
            return None if self.healed else self.check()

    def heal(self) -> bool:
        """Undo the fault if still active; return True if this call healed it."""
        with self._lock:
            if self.healed:
                return False
            self.undo()
            self.healed = True
            return True


class FaultDriver(Protocol):
    """Injects one type of fault."""

    def inject(self, fault: Any, fault_id: str) -> Injected:
        """Start the fault now and return the handle that heals it."""
        ...
