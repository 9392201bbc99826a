"""Run by Locust: the scenario's ``load.requests`` as weighted tasks of one user class.

The spec (``$HARNESS_LOAD_SPEC``, JSON) holds absolute URLs (the system's endpoints expanded),
each request's weight, method, body and idempotency header, and the users' wait between
requests. A request with an idempotency header gets a fresh key each time, as a shop's client
would send. Before each request a ``sent`` line goes to the listener's file, and the request
carries the same token in its context: a request still in flight when Locust is stopped (so never
answered, yet perhaps done by the system) is client history with an unknown outcome, not a gap.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from locust import HttpUser, constant

# the harness's listener, loaded first (``-f listener.py,users.py``); never imported twice
_listener = sys.modules.get("listener")


def sent(method: str, name: str) -> str:
    """Announce a request to the listener (the token its answer carries); "" without one."""
    announce = getattr(_listener, "sent", None)
    return str(announce(method, name)) if callable(announce) else ""


SPEC: dict[str, Any] = json.loads(Path(os.environ["HARNESS_LOAD_SPEC"]).read_text())


def _task(request: dict[str, Any]) -> Any:
    def send(user: HttpUser) -> None:
        headers = {}
        if request.get("idempotency_header"):
            headers[request["idempotency_header"]] = uuid.uuid4().hex
        token = sent(request["method"], request.get("name") or request["template"])
        with user.client.request(
            request["method"],
            request["url"],
            json=request.get("json"),
            headers=headers,
            name=request.get("name") or request["template"],
            catch_response=True,
            timeout=10,
            context={"harness_sent": token} if token else {},
        ) as answer:
            if answer.status_code >= 400 or answer.status_code == 0:
                answer.failure(f"HTTP {answer.status_code}")
            else:
                answer.success()

    return send


class ScenarioUser(HttpUser):
    """One simulated user of the scenario."""

    host = SPEC["host"]
    wait_time = constant(SPEC["wait"])
    # a task listed ``weight`` times is picked in proportion to it (what Locust does with weights)
    tasks = [_task(r) for r in SPEC["requests"] for _ in range(r["weight"])]  # noqa: RUF012
