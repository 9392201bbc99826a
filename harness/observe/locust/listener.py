"""Run by Locust (``-f listener.py,<users>``): every request as one JSON line for the harness.

Each Locust process (a local runner, or each worker in distributed mode) appends to its own file
``$HARNESS_LOAD_DIR/<pid>.jsonl``, flushed per line, so the harness can follow the users live;
a 2xx answer carries the work id found at ``$HARNESS_WORK_ID_PATH`` (client history). A user
file may announce a request before sending it (``sent``); its answer then carries the same token,
so the harness can tell which requests were never answered.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import IO, Any

from locust import events

_out: IO[str] | None = None
WORK_ID_PATH = os.environ.get("HARNESS_WORK_ID_PATH", "")
_tokens = itertools.count(1)


def _file() -> IO[str]:
    global _out
    if _out is None:
        folder = Path(os.environ["HARNESS_LOAD_DIR"])
        _out = (folder / f"{os.getpid()}.jsonl").open("a", encoding="utf-8", buffering=1)
    return _out


def sent(method: str, name: str) -> str:
    """Announce a request about to be sent; the token its answer's line will carry."""
    token = f"{os.getpid()}-{next(_tokens)}"
    line = {"wall": time.time(), "sent": token, "name": name, "method": method}
    _file().write(json.dumps(line) + "\n")
    return token


def _record(
    request_type: str,
    name: str,
    response_time: float,
    response_length: int,
    response: Any = None,
    exception: BaseException | None = None,
    context: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    status = getattr(response, "status_code", None)
    line = {
        "wall": time.time(),
        "name": name,
        "method": request_type,
        "status": status if isinstance(status, int) and status > 0 else None,
        "ms": round(float(response_time), 3),
        "failed": exception is not None,
    }
    if context and context.get("harness_sent"):
        line["answers"] = context["harness_sent"]
    if WORK_ID_PATH and isinstance(status, int) and 200 <= status < 300:
        line["work_id"] = _work_id(response)
    _file().write(json.dumps(line) + "\n")


def _work_id(response: Any) -> str | None:
    """The work id of a 2xx answer, where the system's contract says (requests.work_id)."""
    try:
        from harness.jsonpaths import find

        found = find(WORK_ID_PATH, response.json())
    except Exception:  # not JSON, or no harness here: no id, the request still counts
        return None
    value = found[0] if found else None
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


events.request.add_listener(_record)  # type: ignore[no-untyped-call]
