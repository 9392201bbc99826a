"""Loaded by mitmdump (``-s edge_addon.py``) on an HTTP-aware edge; never imported by the harness.

One mitmdump runs per edge declared ``protocol: http``, as a reverse proxy between the edge's
Toxiproxy proxy and the dependency. This addon does two things, and talks to the harness only
through two files whose paths it gets as options:

- **counts**: every request is counted once it has an outcome, in the interval (of
  ``harness_interval`` seconds on the monotonic clock, which every process of the machine shares)
  in which it *arrived*: per method, path (without the query), status (``null``: no answer) and
  the harness fault that answered it. Closed intervals are appended as JSON lines to
  ``harness_counts``, so a run of an hour at 100 requests a second writes one line per interval,
  not one per request. At most ``MAX_KEYS`` rows per interval; the rest is one ``(other)`` row.
- **faults**: ``harness_control`` holds the edge's active faults (and where to forward), written
  atomically by the harness. It is read again whenever it changes (a ``stat`` per request), so a
  fault starts and heals with the next request. ``error`` answers in place of the dependency,
  ``delay`` holds the answer before its headers go out, ``abort`` closes the client's connection
  without an answer. Each applies to a share of the requests (``rate``) or the first ``count``.

mitmproxy loads a script without entering it in ``sys.modules``: ``dataclasses`` cannot then
resolve string annotations, so this file evaluates its annotations (no ``__future__`` import).
"""

import asyncio
import contextlib
import json
import math
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any

from mitmproxy import http
from mitmproxy.addonmanager import Loader
from mitmproxy.ctx import options

MAX_KEYS = 100
"""Distinct (method, path, status, fault) rows per interval; the rest is counted as (other)."""
Key = tuple[str, str, int | None, str | None]


@dataclass
class Rule:
    """One active fault of the edge, as the harness's control file states it."""

    id: str
    type: str
    method: str | None = None
    path: str | None = None
    rate: float = 1.0
    count: int | None = None
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    delay: float = 0.0

    def matches(self, flow: http.HTTPFlow) -> bool:
        """Whether the request is one this fault is for (method, path prefix)."""
        request = flow.request
        if self.method and request.method.upper() != self.method.upper():
            return False
        return not self.path or request.path.split("?", 1)[0].startswith(self.path)


@dataclass
class Bucket:
    """What one interval's requests came to, so far."""

    counts: Counter[Key] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)


class EdgeAddon:
    """Counts the edge's requests per interval and applies the harness's HTTP faults."""

    def __init__(self) -> None:
        self._rules: list[Rule] = []
        self._upstream: tuple[str, int] | None = None
        self._seen: tuple[int, int, int] | None = None
        self._used: Counter[str] = Counter()  # requests each fault acted on (for ``count``)
        self._buckets: dict[int, Bucket] = {}
        self._out: IO[str] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._random = random.Random()

    # --- mitmproxy's lifecycle ------------------------------------------------------------

    def load(self, loader: Loader) -> None:
        """Declare the options the harness passes with ``--set``."""
        loader.add_option("harness_edge", str, "", "the edge, client->dependency")
        loader.add_option("harness_control", str, "", "the control file the harness writes")
        loader.add_option("harness_counts", str, "", "the JSON-lines file of counts")
        loader.add_option("harness_interval", str, "1.0", "seconds per interval of counts")

    def running(self) -> None:
        """Open the counts file and start writing closed intervals."""
        if options.harness_counts:
            self._out = open(options.harness_counts, "a", encoding="utf-8")  # noqa: SIM115
        self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    def done(self) -> None:
        """Write every interval still open: the harness reads the file after mitmdump ends."""
        if self._flusher is not None:
            self._flusher.cancel()
        self._flush(everything=True)
        if self._out is not None:
            self._out.close()

    # --- requests ---------------------------------------------------------------------------

    async def request(self, flow: http.HTTPFlow) -> None:
        """Route the request, and let the first matching fault of each kind act on it."""
        flow.metadata["harness_t"] = time.monotonic()
        self._reload()
        if self._upstream is not None:
            flow.request.host, flow.request.port = self._upstream
        acting: dict[str, Rule] = {}
        for rule in self._rules:  # of several faults of one kind, the first declared acts
            if rule.type not in acting and rule.matches(flow) and self._hits(rule):
                acting[rule.type] = rule
        if "delay" in acting:
            flow.metadata["harness_delay"] = acting["delay"].delay
            flow.metadata["harness_fault"] = acting["delay"].id
        if "abort" in acting:
            flow.metadata["harness_fault"] = acting["abort"].id
            await self._hold(flow)
            flow.kill()  # type: ignore[no-untyped-call]
        elif "error" in acting:
            rule = acting["error"]
            flow.metadata["harness_fault"] = rule.id
            await self._hold(flow)
            flow.response = http.Response.make(rule.status, rule.body, rule.headers)

    async def response(self, flow: http.HTTPFlow) -> None:
        """Hold a delayed answer (before its headers leave), then count it."""
        if "harness_delay" in flow.metadata and flow.response is not None:
            await self._hold(flow)
        status = flow.response.status_code if flow.response is not None else None
        self._count(flow, status)

    def error(self, flow: http.HTTPFlow) -> None:
        """A request with no answer: aborted by a fault, or the dependency unreachable.

        When the dependency refused or dropped the connection, the client's connection is
        closed without an answer (killing the flow here stops mitmproxy's own 502), so the
        client sees what it would see on a plain TCP edge.
        """
        self._count(flow, None)
        if flow.killable:
            flow.kill()  # type: ignore[no-untyped-call]

    # --- internals --------------------------------------------------------------------------

    async def _hold(self, flow: http.HTTPFlow) -> None:
        delay = flow.metadata.pop("harness_delay", 0.0)
        if delay > 0:
            await asyncio.sleep(delay)

    def _hits(self, rule: Rule) -> bool:
        """Whether the fault acts on this request: the first ``count``, or a share ``rate``."""
        if rule.count is not None:
            if self._used[rule.id] >= rule.count:
                return False
        elif rule.rate < 1.0 and self._random.random() >= rule.rate:
            return False
        self._used[rule.id] += 1
        return True

    def _reload(self) -> None:
        """Read the control file again if it changed since the last request."""
        path = options.harness_control
        try:
            stat = os.stat(path)
        except OSError:
            return
        seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if seen == self._seen:
            return
        try:
            with open(path, encoding="utf-8") as stream:
                doc: dict[str, Any] = json.load(stream)
            rules = [Rule(**raw) for raw in doc.get("faults", [])]
        except (OSError, ValueError, TypeError):
            return  # half a file cannot happen (atomic rename); keep the last good state
        upstream = doc.get("upstream")
        if isinstance(upstream, list) and len(upstream) == 2:
            self._upstream = (str(upstream[0]), int(upstream[1]))
        self._rules, self._seen = rules, seen

    def _count(self, flow: http.HTTPFlow, status: int | None) -> None:
        arrived = flow.metadata.get("harness_t")
        if arrived is None:  # not a request this addon saw arrive
            return
        now = time.monotonic()
        bucket = self._buckets.setdefault(self._index(arrived), Bucket())
        path = flow.request.path.split("?", 1)[0]
        key: Key = (flow.request.method, path, status, flow.metadata.get("harness_fault"))
        if key not in bucket.counts and len(bucket.counts) >= MAX_KEYS:
            key = (flow.request.method, "(other)", status, key[3])
        bucket.counts[key] += 1
        bucket.latencies.append((now - arrived) * 1000.0)

    def _index(self, moment: float) -> int:
        return math.floor(moment / self._interval())

    def _interval(self) -> float:
        try:
            return max(float(options.harness_interval), 0.01)
        except ValueError:
            return 1.0

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval() / 2)
            self._flush(everything=False)

    def _flush(self, *, everything: bool) -> None:
        """Append each closed interval (all of them at the end) as one JSON line."""
        current = self._index(time.monotonic())
        for index in sorted(self._buckets):
            if index >= current and not everything:
                break
            self._write(index, self._buckets.pop(index))

    def _write(self, index: int, bucket: Bucket) -> None:
        if self._out is None:
            return
        width = self._interval()
        latencies = sorted(bucket.latencies)
        line = {
            "edge": options.harness_edge,
            "start": index * width,
            "end": (index + 1) * width,
            "counts": [
                {"method": m, "path": p, "status": s, "fault": f, "count": n}
                for (m, p, s, f), n in sorted(bucket.counts.items(), key=str)
            ],
            "p50_ms": _rank(latencies, 0.50),
            "p99_ms": _rank(latencies, 0.99),
        }
        with contextlib.suppress(OSError):
            self._out.write(json.dumps(line) + "\n")
            self._out.flush()


def _rank(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile of sorted ``values``, or None."""
    if not values:
        return None
    return values[max(0, min(len(values) - 1, math.ceil(q * len(values)) - 1))]


addons = [EdgeAddon()]
