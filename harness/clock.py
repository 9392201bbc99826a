"""Time for the harness: monotonic seconds for every duration, UTC wall time only for display."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where the harness reads time; a fake one makes timing logic testable without sleeping."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes backwards."""
        ...

    def utcnow(self) -> datetime:
        """The current wall time in UTC, for display and reports only."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait for ``seconds``; interruptible by signals on the main thread."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """Return ``time.monotonic()``."""
        return time.monotonic()

    def utcnow(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        """Sleep for ``seconds`` (no-op for zero or negative values)."""
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A clock that only moves when told to: ``sleep`` and ``advance`` move it instantly."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._origin = datetime(2026, 1, 1, tzinfo=UTC)
        self._start = start
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        """Return the fake monotonic time."""
        with self._lock:
            return self._now

    def utcnow(self) -> datetime:
        """Return a UTC time that moves with the fake monotonic time."""
        return self._origin + timedelta(seconds=self.monotonic() - self._start)

    def sleep(self, seconds: float) -> None:
        """Advance instantly instead of sleeping."""
        self.advance(max(seconds, 0.0))

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        with self._lock:
            self._now += seconds


def format_offset(seconds: float) -> str:
    """Render a timeline offset as ``MM:SS.s`` (``HH:MM:SS.s`` past an hour)."""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 1:
        return f"{sign}{int(hours):02d}:{int(minutes):02d}:{secs:04.1f}"
    return f"{sign}{int(minutes):02d}:{secs:04.1f}"
