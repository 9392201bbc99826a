"""Signals during a run: SIGTERM interrupts like Ctrl-C, and cleanup cannot be interrupted.

While a run is under way, SIGTERM raises ``Terminated`` (a KeyboardInterrupt, so pytest and the
CLI stop the way they do on Ctrl-C) and every ``finally`` heals what it holds. While the cleanup
runs, SIGINT and SIGTERM are deferred: the cleanup finishes, then the interrupt is raised.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_HANDLED = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM during a run."""


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def interruptible() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated (on the main thread; elsewhere a no-op)."""
    if not _on_main_thread():
        yield
        return

    def raise_terminated(signum: int, frame: FrameType | None) -> None:
        raise Terminated(f"received signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Pending:
    """The interrupts a ``deferring`` block received, raised when the caller is ready."""

    def __init__(self) -> None:
        self.received: list[int] = []

    def raise_now(self) -> None:
        """Raise the first interrupt received (Terminated for SIGTERM), if any."""
        if not self.received:
            return
        sig = signal.Signals(self.received[0])
        self.received.clear()
        if sig == signal.SIGTERM:
            raise Terminated(f"received signal {sig.name}")
        raise KeyboardInterrupt


@contextmanager
def deferring() -> Iterator[Pending]:
    """Hold SIGINT and SIGTERM back during the block; the caller raises them with raise_now()."""
    pending = Pending()
    if not _on_main_thread():
        yield pending
        return

    def remember(signum: int, frame: FrameType | None) -> None:
        pending.received.append(signum)

    previous = {sig: signal.signal(sig, remember) for sig in _HANDLED}
    try:
        yield pending
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def shielded() -> Iterator[None]:
    """Defer SIGINT and SIGTERM until the block is done, then raise the interrupt it got."""
    with deferring() as pending:
        yield
    pending.raise_now()
