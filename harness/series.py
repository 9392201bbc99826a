"""Timeline entries of one kind kept in time order, for queries by window of time (bisection).

The timeline keeps one series of every entry, one per kind and one per event action; each is
appended to as entries arrive (in time order almost always: an append, else an insertion after
the entries of equal offset, as a stable sort would place it).
"""

from __future__ import annotations

import bisect
import heapq
from typing import Generic, Protocol, TypeVar


class Timed(Protocol):
    """Anything with an offset ``t`` (a timeline entry)."""

    @property
    def t(self) -> float:
        """Seconds since the run started."""
        ...


T = TypeVar("T", bound=Timed)


class Series(Generic[T]):
    """Items in time order (stable: equal offsets in the order they were added)."""

    __slots__ = ("items", "seqs", "times")

    def __init__(self) -> None:
        self.items: list[T] = []
        self.times: list[float] = []
        self.seqs: list[int] = []

    def add(self, item: T, seq: int) -> None:
        """Add ``item``, the ``seq``-th of the timeline (``seq`` grows with every addition)."""
        if not self.times or item.t >= self.times[-1]:
            self.items.append(item)
            self.times.append(item.t)
            self.seqs.append(seq)
            return
        at = bisect.bisect_right(self.times, item.t)  # after the equal ones: stable
        self.items.insert(at, item)
        self.times.insert(at, item.t)
        self.seqs.insert(at, seq)

    def span(self, start: float | None, end: float | None) -> Span[T]:
        """The items with ``start <= t <= end`` (either bound None: open)."""
        lo = 0 if start is None else bisect.bisect_left(self.times, start)
        hi = len(self.times) if end is None else bisect.bisect_right(self.times, end)
        return Span(self, lo, hi)

    def first_after(self, after: float) -> T | None:
        """The earliest item strictly after ``after``, or None."""
        at = bisect.bisect_right(self.times, after)
        return self.items[at] if at < len(self.items) else None


class Span(Generic[T]):
    """A slice ``lo:hi`` of a series, not yet copied."""

    __slots__ = ("hi", "lo", "series")

    def __init__(self, series: Series[T], lo: int, hi: int) -> None:
        self.series, self.lo, self.hi = series, lo, hi

    def items(self) -> list[T]:
        """The items of the slice."""
        return self.series.items[self.lo : self.hi]


def merge(spans: list[Span[T]]) -> tuple[T, ...]:
    """The items of several spans in time order, equal offsets in the order they were added."""
    spans = [s for s in spans if s.hi > s.lo]
    if len(spans) == 1:
        return tuple(spans[0].items())
    keyed = (
        zip(s.series.times[s.lo : s.hi], s.series.seqs[s.lo : s.hi], s.items(), strict=True)
        for s in spans
    )
    return tuple(item for _, _, item in heapq.merge(*keyed))
