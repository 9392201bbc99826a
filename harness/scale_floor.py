"""Too small a time scale, measured: bounds shorter than the system took in warmup to do its work.

A system file may declare the smallest time scale its timers honour (``min_time_scale``);
below it the run is refused before it starts. Without a declaration, the harness looks at the
warmup (the inject phase before the first fault) after the run: how long the system took to
complete one unit of work, from its ``accepted`` event to its ``completed`` one (the contract's
``work`` roles, matched by work id). A bound that, scaled, is shorter than that is judged
against the system's own speed rather than its automation: the run warns, naming the floor
it measured and what to declare.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median
from typing import Any

from harness.durations import render_duration
from harness.policies.common import work_id
from harness.timeline import FaultEntry, PhaseEntry, Timeline

MIN_SAMPLES = 3
"""Completed work items the warmup must hold before a floor is measured from them."""


def warmup_work_seconds(timeline: Timeline) -> tuple[float, int] | None:
    """Median seconds from accepted to completed of the warmup's work, and how many; or None."""
    work = timeline.contract.work
    if not work.accepted or not work.completed:
        return None
    starts = [e.t for e in timeline.of(PhaseEntry) if e.phase == "inject"]
    faults = [e.t for e in timeline.of(FaultEntry) if e.action == "inject"]
    if not starts:
        return None
    start, end = starts[0], (faults[0] if faults else timeline.end())
    accepted: dict[str, float] = {}
    took: list[float] = []
    for event in timeline.events([*work.accepted, *work.completed], start=start, end=end):
        key = work_id(event, timeline)
        if key is None:
            continue
        if event.action in work.accepted:
            accepted.setdefault(key, event.t)
        elif key in accepted:
            took.append(event.t - accepted.pop(key))
    if len(took) < MIN_SAMPLES:
        return None
    return median(took), len(took)


def measured_scale_warnings(
    expectations: Sequence[Any], timeline: Timeline, *, declared: bool
) -> list[str]:
    """Bounds that, scaled, are shorter than the warmup's work took; none with a declared floor."""
    if declared or timeline.time_scale >= 1:
        return []
    measured = warmup_work_seconds(timeline)
    if measured is None:
        return []
    seconds, count = measured
    noun = timeline.contract.work.noun
    found = []
    for e in expectations:
        within = getattr(e, "within", None)
        if within is None or within * timeline.time_scale >= seconds:
            continue
        found.append(
            f"{e.policy}: its bound {render_duration(within)} scales to "
            f"{render_duration(within * timeline.time_scale)}, shorter than the {seconds:.2f}s "
            f"the system took in warmup to complete a {noun} (median of {count}): its own "
            "timers may not run that fast; use a larger --time-scale, or declare "
            "min_time_scale in the system file"
        )
    return found
