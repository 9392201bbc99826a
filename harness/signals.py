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


@contextmanager
def shielded() -> Iterator[None]:
    """Defer SIGINT and SIGTERM until the block is done, then raise the interrupt it got."""
    if not _on_main_thread():
        yield
        return
    received: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, remember) for sig in _HANDLED}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        sig = signal.Signals(received[0])
        if sig == signal.SIGTERM:
            raise Terminated(f"received {sig.name} during cleanup")
        raise KeyboardInterrupt
