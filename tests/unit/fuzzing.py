"""What the property tests share: Hypothesis profiles, their example counts, a hard time limit.

``ci`` (the default) is bounded for a 2-core CI; ``deep`` digs twenty times further: run with
``HYPOTHESIS_PROFILE=deep``. Each property test asks for a share of the profile's
``max_examples`` through ``examples``, so ``deep`` scales every one of them alike.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import FrameType
from typing import Any

from hypothesis import HealthCheck, settings

_SLOW_INPUTS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

settings.register_profile(
    "ci",
    max_examples=250,
    deadline=timedelta(seconds=5),  # generous: the machine is shared; a hang is caught harder
    database=None,  # nothing written into the work tree; a failure prints its reproduction blob
    print_blob=True,
    suppress_health_check=_SLOW_INPUTS,
)
settings.register_profile(
    "deep",
    max_examples=5000,
    deadline=timedelta(seconds=5),
    print_blob=True,
    suppress_health_check=_SLOW_INPUTS,
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def examples(share: float) -> Callable[[Any], Any]:
    """This test's share of the profile's ``max_examples`` (``ci``: 250, ``deep``: 5000)."""
    return settings(max_examples=max(10, int(settings.get_profile(PROFILE).max_examples * share)))


class Hang(Exception):
    """One example took longer than its hard limit."""


@contextmanager
def hard_limit(seconds: float) -> Iterator[None]:
    """Raise ``Hang`` in the test if the block runs longer than ``seconds`` (SIGALRM).

    Hypothesis's deadline only judges an example once it has ended; this ends it. pytest-timeout
    uses the same timer: its remaining time is put back afterwards, and when it is the sooner of
    the two it is left to fire.
    """

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"one example took more than {seconds:g} s")

    outer, interval = signal.getitimer(signal.ITIMER_REAL)
    if outer and outer <= seconds:  # the outer timer ends this sooner: leave it be
        yield
        return
    start = time.monotonic()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            left = max(outer - (time.monotonic() - start), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, interval)
