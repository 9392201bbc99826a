"""Network faults on dependency edges, through Toxiproxy: partition and toxics.

A partition disables the edge's proxy (connections refused, open ones closed). Toxics are added
under a name unique to the run and fault, and removed on heal: never set to toxicity 0, which
still disturbs connections (Toxiproxy issue #603).
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.faults.base import FaultContext, FaultDriver, Injected
from harness.hookspecs import hookimpl
from harness.scenario import LatencyFault, PartitionFault, ResetPeerFault, TimeoutFault
from harness.timeline import JsonScalar


class PartitionDriver:
    """Cuts an edge: the proxy stops accepting and drops its connections."""

    def __init__(self, context: FaultContext) -> None:
        self._ctx = context

    def inject(self, fault: PartitionFault, fault_id: str) -> Injected:
        """Disable the edge's proxy; heal re-enables it."""
        proxy = self._ctx.proxy_for(fault.edge)
        client = self._ctx.toxiproxy
        client.update_proxy(proxy, enabled=False)

        def reconnect() -> None:
            client.update_proxy(proxy, enabled=True)

        return Injected(target=fault.edge, undo=reconnect, detail={"proxy": proxy})


ToxicFault = LatencyFault | TimeoutFault | ResetPeerFault


class ToxicDriver:
    """Adds one Toxiproxy toxic to an edge; heal removes it."""

    def __init__(self, context: FaultContext) -> None:
        self._ctx = context

    def inject(self, fault: ToxicFault, fault_id: str) -> Injected:
        """Add the toxic (durations scaled, in milliseconds) and return its removal."""
        proxy = self._ctx.proxy_for(fault.edge)
        name = f"{self._ctx.run_id}-{fault_id}"
        attributes = self._attributes(fault)
        client = self._ctx.toxiproxy
        client.add_toxic(
            proxy,
            name=name,
            type=fault.type,
            stream=fault.stream,
            toxicity=fault.toxicity,
            attributes=attributes,
        )
        detail: dict[str, JsonScalar] = {"proxy": proxy, "toxic": name, "stream": fault.stream}
        detail.update(attributes)
        return Injected(
            target=fault.edge,
            undo=lambda: client.remove_toxic(proxy, name, missing_ok=True),
            detail=detail,
        )

    def _attributes(self, fault: ToxicFault) -> dict[str, int]:
        def ms(seconds: float) -> int:
            return round(self._ctx.scaled(seconds) * 1000)

        if isinstance(fault, LatencyFault):
            return {"latency": ms(fault.latency), "jitter": ms(fault.jitter)}
        return {"timeout": ms(fault.timeout)}


@hookimpl(trylast=True)
def harness_fault_drivers(context: FaultContext) -> Mapping[str, FaultDriver]:
    """The built-in network fault drivers."""
    toxic = ToxicDriver(context)
    return {
        "partition": PartitionDriver(context),
        "latency": toxic,
        "timeout": toxic,
        "reset_peer": toxic,
    }
