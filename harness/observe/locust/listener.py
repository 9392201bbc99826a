"""Run by Locust (``-f listener.py,<users>``): every request as one JSON line for the harness.

Each Locust process (a local runner, or each worker in distributed mode) appends to its own file
``$HARNESS_LOAD_DIR/<pid>.jsonl``, flushed per line, so the harness can follow the users live.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO, Any

from locust import events

_out: IO[str] | None = None


def _file() -> IO[str]:
    global _out
    if _out is None:
        folder = Path(os.environ["HARNESS_LOAD_DIR"])
        _out = (folder / f"{os.getpid()}.jsonl").open("a", encoding="utf-8", buffering=1)
    return _out


def _record(
    request_type: str,
    name: str,
    response_time: float,
    response_length: int,
    response: Any = None,
    exception: BaseException | None = None,
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
    _file().write(json.dumps(line) + "\n")


events.request.add_listener(_record)  # type: ignore[no-untyped-call]
