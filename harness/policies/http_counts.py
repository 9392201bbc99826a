"""Calls on an HTTP-aware edge, as its proxy counted them: pure helpers for policies.

The proxy counts per interval (``HttpEntry``); an interval counts towards ``[t0, t1]`` when its
midpoint lies inside, so a count is as precise as the interval (one second, scaled, at least a
tenth). Requests count in the interval in which they *arrived*.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.timeline import HttpCount, HttpEntry, Timeline


@dataclass(frozen=True)
class Calls:
    """What a client sent over an edge in a span of the run."""

    total: int = 0
    by_status: Mapping[int | None, int] = field(default_factory=dict)
    """Each status (None: no answer) and how many requests got it."""
    by_fault: Mapping[str, int] = field(default_factory=dict)
    """The harness faults that acted on requests, and on how many."""
    entries: tuple[HttpEntry, ...] = ()
    """The intervals counted, in time order (the evidence)."""

    def status_text(self) -> str:
        """``503: 120, 200: 4, no answer: 2``, most frequent first."""
        ranked = sorted(self.by_status.items(), key=lambda kv: (-kv[1], str(kv[0])))
        return ", ".join(f"{'no answer' if s is None else s}: {n}" for s, n in ranked) or "none"

    def busiest(self, n: int = 2) -> list[HttpEntry]:
        """The ``n`` intervals with the most requests, in time order."""
        top = sorted(self.entries, key=lambda e: -e.requests)[:n]
        return sorted(top, key=lambda e: e.t)


def http_entries(timeline: Timeline, edge: str) -> tuple[HttpEntry, ...]:
    """Every count of ``edge``'s proxy, in time order; empty when the edge was not HTTP-aware."""
    return tuple(e for e in timeline.of(HttpEntry) if e.edge == edge)


def matches(count: HttpCount, method: str | None, path: str | None) -> bool:
    """Whether a row counts for a filter: the method (any case) and a path prefix."""
    if method is not None and count.method.upper() != method.upper():
        return False
    return path is None or count.path.startswith(path)


def calls(
    timeline: Timeline,
    edge: str,
    t0: float,
    t1: float,
    *,
    method: str | None = None,
    path: str | None = None,
) -> Calls:
    """The requests on ``edge`` that arrived in ``[t0, t1]``, by status and fault."""
    statuses: Counter[int | None] = Counter()
    faults: Counter[str] = Counter()
    counted: list[HttpEntry] = []
    for entry in http_entries(timeline, edge):
        if not t0 <= entry.t - entry.window / 2 <= t1:
            continue
        rows = [c for c in entry.counts if matches(c, method, path)]
        for row in rows:
            statuses[row.status] += row.count
            if row.fault is not None:
                faults[row.fault] += row.count
        if rows:
            counted.append(entry)
    return Calls(
        total=sum(statuses.values()),
        by_status=dict(statuses),
        by_fault=dict(faults),
        entries=tuple(counted),
    )
