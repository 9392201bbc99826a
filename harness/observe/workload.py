"""A steady workload: requests at a fixed rate, each answer recorded on the timeline.

This is the small built-in load of a scenario's ``workload:`` section (real time, not scaled);
it gives the automation work to protect. Each answer is client history (``clients.py``).
Heavy, user-like load is Locust's job.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping

import httpx

from harness.clients import send_recorded
from harness.observe.probes import expand_url
from harness.scenario import Workload
from harness.timeline import Timeline


class WorkloadRunner:
    """Sends the workload's requests in a background thread until stopped."""

    def __init__(
        self, spec: Workload, endpoints: Mapping[str, str], timeline: Timeline, run_id: str
    ) -> None:
        self._spec, self._timeline, self._run_id = spec, timeline, run_id
        self._url = expand_url(spec.url, endpoints)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="harness-workload", daemon=True)
        self.sent = 0

    def start(self) -> None:
        """Begin sending."""
        self._thread.start()

    def stop(self) -> None:
        """Stop sending (bounded wait for the request in flight); idempotent."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._spec.timeout + 5)

    def _loop(self) -> None:
        period = 1.0 / self._spec.rate
        next_at = time.monotonic()
        with httpx.Client(timeout=self._spec.timeout) as client:
            while not self._stop.is_set():
                self._send(client)
                next_at = max(next_at + period, time.monotonic())  # no burst after a stall
                self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _send(self, client: httpx.Client) -> None:
        spec = self._spec
        key = f"{self._run_id}-{self.sent}-{uuid.uuid4().hex[:6]}"
        headers = {spec.idempotency_header: key} if spec.idempotency_header else {}
        self.sent += 1
        send_recorded(
            client,
            self._timeline,
            spec.method,
            self._url,
            json=spec.json_,
            headers=headers,
            key=key if spec.idempotency_header else None,
        )
