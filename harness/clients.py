"""Client history: every request the harness sends, with what the client knows came of it.

Jepsen's lesson: judge what the clients saw, not only what the system says. Each request the
harness sends (the workload, duplicate and replay faults) becomes a ``RequestEntry`` with its
outcome as a client can know it:

- **ok**: a 2xx answer; the work's id is read from its body where the system's contract says
  (``requests.work_id``, a JSON path), so the final state can be checked for it;
- **failed**: a 4xx answer: the system refused, so nothing should have happened;
- **unknown**: a 5xx answer, a timeout, a reset: the work may or may not have happened. Only
  the final read of the store can tell, and a policy never counts an unknown as lost.
"""

from __future__ import annotations

import time
from typing import Literal

import httpx

from harness.jsonpaths import find
from harness.timeline import RequestEntry, Timeline

Outcome = Literal["ok", "failed", "unknown"]
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
"""Methods whose request may create or change work (the others only read)."""


def outcome_of(status: int | None) -> Outcome:
    """What a client knows from a status (None: no answer at all)."""
    if status is None or status >= 500:
        return "unknown"
    return "ok" if 200 <= status < 300 else "failed"


def work_id_of(response: httpx.Response, path: str | None) -> str | None:
    """The work id a 2xx answer names at ``path``, or None (no path, not JSON, no match)."""
    if path is None or not 200 <= response.status_code < 300:
        return None
    try:
        found = find(path, response.json())
    except ValueError:
        return None
    value = found[0] if found else None
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def send_recorded(
    client: httpx.Client,
    timeline: Timeline,
    method: str,
    url: str,
    *,
    json: object = None,
    headers: dict[str, str] | None = None,
    key: str | None = None,
    origin: str = "workload",
) -> RequestEntry:
    """Send one request, record it (a transport error is recorded, never raised), return it."""
    start = time.monotonic()
    status, error, work_id = None, None, None
    try:
        response = client.request(method, url, json=json, headers=headers or {})
        status = response.status_code
        work_id = work_id_of(response, timeline.contract.requests.work_id)
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    entry = RequestEntry(
        t=timeline.now(),
        method=method,
        url=url,
        status=status,
        latency_ms=round((time.monotonic() - start) * 1000, 1),
        error=error,
        idempotency_key=key,
        origin=origin,
        outcome=outcome_of(status),
        work_id=work_id,
    )
    timeline.append(entry)
    return entry
