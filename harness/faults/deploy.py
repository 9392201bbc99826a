"""Change faults: deploy a named version of a service through the system's ``deploy`` hook.

The deploy itself is instant; whether the automation rolls a bad version back is its promise to
keep, so healing does not undo the deploy.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.faults.base import FaultContext, FaultDriver, Injected
from harness.hookspecs import hookimpl
from harness.scenario import DeployFault


class DeployDriver:
    """Runs the deploy hook with the fault's service and version."""

    def __init__(self, context: FaultContext) -> None:
        self._services = context.services

    def inject(self, fault: DeployFault, fault_id: str) -> Injected:
        """Deploy now."""
        self._services.run_hook("deploy", {"service": fault.service, "version": fault.version})
        return Injected(
            target=f"{fault.service}@{fault.version}",
            undo=lambda: None,
            detail={"service": fault.service, "version": fault.version},
        )


@hookimpl(trylast=True)
def harness_fault_drivers(context: FaultContext) -> Mapping[str, FaultDriver]:
    """The built-in change fault driver."""
    return {"deploy": DeployDriver(context)}
