"""Request faults: the same request sent several times (duplicate), or a past one again (replay).

Each request sent is recorded on the timeline with its idempotency key, so a policy can count
the effects one key had.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import httpx

from harness.clients import send_recorded
from harness.errors import FaultError
from harness.faults.base import FaultContext, FaultDriver, Injected
from harness.hookspecs import hookimpl
from harness.scenario import DuplicateFault, ReplayFault, RequestSpec
from harness.timeline import JsonScalar, RequestEntry, Timeline


def send(
    client: httpx.Client,
    spec: RequestSpec,
    url: str,
    key: str | None,
    timeline: Timeline,
    origin: str,
) -> RequestEntry:
    """Send one request and record what came back (a transport error is recorded, not raised)."""
    headers = {spec.idempotency_header: key} if spec.idempotency_header and key else {}
    return send_recorded(
        client, timeline, spec.method, url, json=spec.json_, headers=headers, key=key, origin=origin
    )


def send_many(
    spec: RequestSpec,
    url: str,
    key: str | None,
    count: int,
    concurrent: bool,
    timeline: Timeline,
    origin: str,
) -> None:
    """Send the request ``count`` times, one after another or all at once."""
    with httpx.Client(timeout=spec.timeout) as client:
        if not concurrent:
            for _ in range(count):
                send(client, spec, url, key, timeline, origin)
            return
        gate = threading.Barrier(count)

        def one() -> None:
            gate.wait(timeout=10)
            send(client, spec, url, key, timeline, origin)

        threads = [threading.Thread(target=one, daemon=True) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=spec.timeout + 15)


class DuplicateDriver:
    """Sends one request ``count`` times under a single idempotency key."""

    def __init__(self, context: FaultContext) -> None:
        self._ctx = context

    def inject(self, fault: DuplicateFault, fault_id: str) -> Injected:
        """Send the duplicates now; nothing is left to heal."""
        url = fault.request.url.format_map(dict(self._ctx.endpoints))
        key = f"{self._ctx.run_id}-{fault_id}"
        send_many(
            fault.request, url, key, fault.count, fault.concurrent, self._ctx.timeline, fault_id
        )
        detail: dict[str, JsonScalar] = {
            "idempotency_key": key,
            "count": fault.count,
            "concurrent": fault.concurrent,
        }
        return Injected(target=url, undo=lambda: None, detail=detail)


class ReplayDriver:
    """Sends a request the workload already sent again, with the same idempotency key."""

    def __init__(self, context: FaultContext) -> None:
        self._ctx = context

    def inject(self, fault: ReplayFault, fault_id: str) -> Injected:
        """Replay the workload's request number ``index`` now."""
        workload = self._ctx.workload
        sent = [
            e
            for e in self._ctx.timeline.of(RequestEntry)
            if e.idempotency_key and e.origin == "workload"
        ]
        if workload is None or len(sent) <= fault.index:
            raise FaultError(
                what=f"nothing to replay: the workload sent {len(sent)} keyed requests",
                expected=f"at least {fault.index + 1} (replay index {fault.index})",
                hint="declare a workload, or replay later (a larger 'at')",
            )
        original = sent[fault.index]
        spec = RequestSpec.model_validate(workload.model_dump(by_alias=True, exclude={"rate"}))
        send_many(
            spec,
            original.url,
            original.idempotency_key,
            fault.count,
            False,
            self._ctx.timeline,
            fault_id,
        )
        detail = {"idempotency_key": original.idempotency_key, "count": fault.count}
        return Injected(target=original.url, undo=lambda: None, detail=detail)


@hookimpl(trylast=True)
def harness_fault_drivers(context: FaultContext) -> Mapping[str, FaultDriver]:
    """The built-in request fault drivers."""
    return {"duplicate": DuplicateDriver(context), "replay": ReplayDriver(context)}
