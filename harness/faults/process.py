"""Process faults on a named service: crash (SIGKILL), pause (SIGSTOP/docker pause), restart.

A crash is healed by starting the service again, as its supervisor would; what the service does
with its unfinished work on the way back up is the automation's promise to keep.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.faults.base import FaultContext, FaultDriver, Injected
from harness.hookspecs import hookimpl
from harness.scenario import CrashFault, PauseFault, RestartFault


class CrashDriver:
    """Kills a service; heal starts it again and waits for its health check."""

    def __init__(self, context: FaultContext) -> None:
        self._services = context.services

    def inject(self, fault: CrashFault, fault_id: str) -> Injected:
        """SIGKILL the service now."""
        services, name = self._services, fault.service
        services.kill(name)
        return Injected(
            target=name,
            undo=lambda: services.start_service(name),
            detail={"service": name, "signal": "SIGKILL"},
        )


class PauseDriver:
    """Freezes a service; heal lets it run again."""

    def __init__(self, context: FaultContext) -> None:
        self._services = context.services

    def inject(self, fault: PauseFault, fault_id: str) -> Injected:
        """Suspend the service now."""
        services, name = self._services, fault.service
        services.freeze(name)
        return Injected(target=name, undo=lambda: services.thaw(name), detail={"service": name})


class RestartDriver:
    """Restarts a service gracefully; nothing is left to heal."""

    def __init__(self, context: FaultContext) -> None:
        self._services = context.services

    def inject(self, fault: RestartFault, fault_id: str) -> Injected:
        """Stop and start the service now, waiting for its health."""
        self._services.restart(fault.service)
        return Injected(target=fault.service, undo=lambda: None, detail={"service": fault.service})


@hookimpl(trylast=True)
def harness_fault_drivers(context: FaultContext) -> Mapping[str, FaultDriver]:
    """The built-in process fault drivers."""
    return {
        "crash": CrashDriver(context),
        "pause": PauseDriver(context),
        "restart": RestartDriver(context),
    }
