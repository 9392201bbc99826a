"""What the world holds: the store's counters during the run, its records after the drain.

``CounterSampler`` reads every declared counter (``state.counters``) at a fixed interval onto
the timeline as ``CounterEntry`` samples, from before the first fault to the end of the
observation; ``read_final_state`` reads every declared final-state role once, after the drain,
as ``StateEntry`` records. Both read through the probe kinds, so they reach only what the
system declares, and a read that fails is recorded as unreadable, never guessed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

import httpx

from harness.jsonpaths import find
from harness.probes.base import ProbeContext
from harness.probes.sampling import read
from harness.probes.state import read_state
from harness.statespec import Counter, StateSpec
from harness.timeline import CounterEntry, Timeline


def read_counter(
    name: str, counter: Counter, context: ProbeContext, timeline: Timeline
) -> CounterEntry:
    """Read one counter once (never raises: an unreadable counter has no value)."""
    kind, spec = counter.check()
    reading = read(kind, spec, context)
    t = timeline.now()
    if reading.error is not None or reading.problems:
        why = reading.error or "; ".join(reading.problems)
        return CounterEntry(t=t, name=name, value=None, detail=why)
    value = reading.value
    if counter.value is not None:
        found = find(counter.value, value)
        value = found[0] if found else None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return CounterEntry(t=t, name=name, value=None, detail=f"not a number: {value!r}")
    try:
        return CounterEntry(t=t, name=name, value=float(value))
    except ValueError:
        return CounterEntry(t=t, name=name, value=None, detail=f"not a number: {value!r}")


class CounterSampler:
    """Samples every declared counter at a fixed interval in a thread until stopped."""

    def __init__(
        self,
        state: StateSpec,
        endpoints: Mapping[str, str],
        timeline: Timeline,
        interval: float,
        base_dir: Path,
    ) -> None:
        self._counters = [
            (name, c) for name in type(state.counters).model_fields
            if (c := getattr(state.counters, name)) is not None
        ]  # fmt: skip
        self._endpoints, self._timeline = endpoints, timeline
        self._interval, self._base_dir = interval, base_dir
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="harness-counters", daemon=True)

    def __bool__(self) -> bool:
        return bool(self._counters)

    def sample_all(self) -> None:
        """Read every counter once, onto the timeline."""
        with httpx.Client() as client:
            self._round(ProbeContext(self._endpoints, self._base_dir, http=client))

    def start(self) -> None:
        """Begin sampling (nothing to do without counters)."""
        if self._counters:
            self._thread.start()

    def stop(self) -> None:
        """Stop sampling (bounded wait); idempotent."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _round(self, context: ProbeContext) -> None:
        for name, counter in self._counters:
            self._timeline.append(read_counter(name, counter, context, self._timeline))

    def _loop(self) -> None:
        with httpx.Client() as client:
            context = ProbeContext(self._endpoints, self._base_dir, http=client)
            while not self._stop.wait(self._interval):
                self._round(context)


def read_final_state(
    state: StateSpec, endpoints: Mapping[str, str], timeline: Timeline, base_dir: Path
) -> None:
    """Read every declared final-state role once, onto the timeline (``state`` entries)."""
    readers = [
        (name, r) for name in type(state.final).model_fields
        if (r := getattr(state.final, name)) is not None
    ]  # fmt: skip
    if not readers:
        return
    with httpx.Client() as client:
        context = ProbeContext(endpoints, base_dir, http=client)
        for name, reader in readers:
            timeline.append(read_state(reader, context).entry(timeline.now(), name))
