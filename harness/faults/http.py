"""HTTP faults on HTTP-aware edges: answers, delays and aborts Toxiproxy cannot make.

Each driver turns its fault into a rule of the edge's proxy (``HttpRule``) and returns an
``Injected`` whose heal removes the rule. The proxy applies a rule from the next request on, so
inject and heal take effect at once. The TCP faults of the same edge stay on Toxiproxy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from harness.errors import FaultError
from harness.faults.base import FaultContext, FaultDriver, Injected
from harness.faults.http_rules import HttpFaultControl, HttpRule
from harness.faultspec import HttpAbortFault, HttpDelayFault, HttpErrorFault
from harness.hookspecs import hookimpl
from harness.timeline import JsonScalar

HttpFault = HttpErrorFault | HttpDelayFault | HttpAbortFault


class HttpFaultDriver:
    """Puts one HTTP fault on an edge's proxy; heal takes it off."""

    def __init__(self, context: FaultContext) -> None:
        self._ctx = context

    def inject(self, fault: HttpFault, fault_id: str) -> Injected:
        """Add the fault's rule to the edge's proxy and return its removal."""
        control = self._control(fault)
        rule = self.rule(fault, fault_id)
        control.set_rule(fault.edge, rule)
        detail: dict[str, JsonScalar] = {"rule": rule.type, "rate": rule.rate}
        for name in ("method", "path", "count"):
            value = getattr(rule, name)
            if value is not None:
                detail[name] = value
        if rule.type == "error":
            detail["status"] = rule.status
        if rule.type == "delay":
            detail["delay_s"] = rule.delay
        return Injected(
            target=fault.edge,
            undo=lambda: control.clear_rule(fault.edge, rule.id),
            detail=detail,
        )

    def rule(self, fault: HttpFault, fault_id: str) -> HttpRule:
        """The proxy's rule for ``fault``: durations scaled, Retry-After in whole seconds."""
        base = HttpRule(
            id=fault_id,
            type="abort",
            method=fault.method,
            path=fault.path,
            rate=fault.rate,
            count=fault.count,
        )
        match fault:
            case HttpErrorFault():
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(math.ceil(self._ctx.scaled(fault.retry_after)))
                update = {"type": "error", "status": fault.status, "headers": headers}
                return base.model_copy(update={**update, "body": fault.body})
            case HttpDelayFault():
                return base.model_copy(
                    update={"type": "delay", "delay": self._ctx.scaled(fault.delay)}
                )
        return base

    def _control(self, fault: HttpFault) -> HttpFaultControl:
        control = self._ctx.http
        if control is None or not control.is_http(fault.edge):
            raise FaultError(
                what=f"{fault.type} needs an HTTP-aware edge, and {fault.edge} is not one",
                hint=f"declare 'protocol: http' on the edge {fault.edge} in the system file",
            )
        return control


@hookimpl(trylast=True)
def harness_fault_drivers(context: FaultContext) -> Mapping[str, FaultDriver]:
    """The built-in HTTP fault drivers."""
    driver = HttpFaultDriver(context)
    return dict.fromkeys(("http_error", "http_delay", "http_abort"), driver)
