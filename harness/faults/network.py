"""Network faults on dependency edges, through Toxiproxy: partition and toxics.

A partition disables the edge's proxy (connections refused, open ones closed). Toxics are added
under a name unique to the run and fault, and removed on heal: never set to toxicity 0, which
still disturbs connections (Toxiproxy issue #603).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from harness.faults.base import FaultContext, FaultDriver, Injected
from harness.hookspecs import hookimpl
from harness.scenario import (
    FlapFault,
    LatencyFault,
    LimitDataFault,
    PartitionFault,
    ResetPeerFault,
    SlicerFault,
    SlowFault,
    TimeoutFault,
)
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

        def still_cut() -> str | None:
            if client.get_proxy(proxy).enabled:
                return f"proxy {proxy} of {fault.edge} was enabled again by someone else"
            return None

        return Injected(target=fault.edge, undo=reconnect, detail={"proxy": proxy}, check=still_cut)


class FlapDriver:
    """Takes an edge down and up on a schedule, in a thread, until healed."""

    def __init__(self, context: FaultContext) -> None:
        self._ctx = context

    def inject(self, fault: FlapFault, fault_id: str) -> Injected:
        """Start flapping now (down first); heal stops the thread and leaves the edge up."""
        proxy = self._ctx.proxy_for(fault.edge)
        client = self._ctx.toxiproxy
        stop = threading.Event()
        down, up = self._ctx.scaled(fault.down), self._ctx.scaled(fault.up)

        def flap() -> None:
            while not stop.is_set():
                client.update_proxy(proxy, enabled=False)
                if stop.wait(down):
                    return
                client.update_proxy(proxy, enabled=True)
                stop.wait(up)

        thread = threading.Thread(target=flap, name=f"flap-{fault_id}", daemon=True)
        thread.start()

        def settle() -> None:
            stop.set()
            thread.join(timeout=10)
            client.update_proxy(proxy, enabled=True)

        return Injected(target=fault.edge, undo=settle, detail={"proxy": proxy, "down_s": down})


ToxicFault = LatencyFault | SlowFault | TimeoutFault | ResetPeerFault | SlicerFault | LimitDataFault
_TOXIC_TYPE = {"slow": "bandwidth"}


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
            type=_TOXIC_TYPE.get(fault.type, fault.type),
            stream=fault.stream,
            toxicity=fault.toxicity,
            attributes=attributes,
        )
        detail: dict[str, JsonScalar] = {"proxy": proxy, "toxic": name, "stream": fault.stream}
        detail.update(attributes)

        def still_toxic() -> str | None:
            if not any(t.name == name for t in client.toxics(proxy)):
                return f"toxic {name} on {fault.edge} was removed by someone else"
            return None

        return Injected(
            target=fault.edge,
            undo=lambda: client.remove_toxic(proxy, name, missing_ok=True),
            detail=detail,
            check=still_toxic,
        )

    def _attributes(self, fault: ToxicFault) -> dict[str, int]:
        def ms(seconds: float) -> int:
            return round(self._ctx.magnitude(seconds) * 1000)

        match fault:
            case LatencyFault():
                return {"latency": ms(fault.latency), "jitter": ms(fault.jitter)}
            case SlowFault():
                return {"rate": fault.rate_kb}
            case SlicerFault():  # Toxiproxy's slicer delay is in microseconds
                delay_us = round(self._ctx.magnitude(fault.delay) * 1_000_000)
                return {
                    "average_size": fault.average_size,
                    "size_variation": fault.size_variation,
                    "delay": delay_us,
                }
            case LimitDataFault():
                return {"bytes": fault.bytes}
        return {"timeout": ms(fault.timeout)}


@hookimpl(trylast=True)
def harness_fault_drivers(context: FaultContext) -> Mapping[str, FaultDriver]:
    """The built-in network fault drivers."""
    toxic = ToxicDriver(context)
    drivers: dict[str, FaultDriver] = {
        "partition": PartitionDriver(context),
        "flap": FlapDriver(context),
    }
    drivers.update(
        dict.fromkeys(("latency", "slow", "timeout", "reset_peer", "slicer", "limit_data"), toxic)
    )
    return drivers
