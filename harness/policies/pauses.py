"""The ``pauses`` policy: the automation pauses the workflow soon after a fault starts.

For each fault window, the first ``pause_action`` event in ``[inject, inject + within]`` (scaled)
keeps the promise, and so does a pause already in force at the inject (an earlier, overlapping
fault paused the workflow and the contract's ``automation.resume`` has not undone it since). Any
``failure_actions`` event (default: the contract's ``work.failed``) from the inject to the heal
(or the end of the timeline) breaks it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from harness.clock import format_offset
from harness.policies.base import Status, Verdict, bound_text, policy
from harness.policies.common import (
    Progress,
    elapsed,
    failures_of,
    last_automation_event,
    pause_in_force,
    verdict,
)
from harness.policies.vocabulary import names_text, need
from harness.scenario import PausesExpectation
from harness.timeline import CounterEntry, Entry, EventEntry, FaultWindow, Timeline

SHOWN = 3  # failures quoted as evidence; the summary counts all of them


def _failures_text(failures: Sequence[Progress]) -> str:
    """``4 order.failed during the fault (first at 00:06.1: payments unreachable)``."""
    kinds = Counter(e.action if isinstance(e, EventEntry) else f"rise of the {e.name} counter"
                    for e in failures)  # fmt: skip
    counts = ", ".join(f"{n} {a}" for a, n in kinds.items())
    one = failures[0]
    reason = (one.trigger or one.actual_outcome) if isinstance(one, EventEntry) else one.action
    at = format_offset(one.t) + (f": {reason}" if reason else "")
    return f"{counts} during the fault (first at {at})"


def _find_pause(
    exp: PausesExpectation, timeline: Timeline, window: FaultWindow, deadline: float
) -> tuple[EventEntry | None, EventEntry | None]:
    """The pause that keeps the promise (in time, or in force at the inject), and a late one."""
    pauses = timeline.events(exp.pause_action, start=window.start)
    pause = next((e for e in pauses if e.t <= deadline), None)
    resume = _resume(exp, timeline)
    if pause is None and resume:
        pause = pause_in_force(timeline, window.start, exp.pause_action, resume)
    fault_end = timeline.end() if window.end is None else window.end
    return pause, next((e for e in pauses if deadline < e.t <= fault_end), None)


def _failures(exp: PausesExpectation, timeline: Timeline, window: FaultWindow) -> list[Progress]:
    """The failures (events, or rises of the failed counter) from the inject to the heal."""
    end = timeline.end() if window.end is None else window.end
    return failures_of(timeline, exp.failure_actions, start=window.start, end=end)


def _counted(timeline: Timeline) -> bool:
    """Whether the run sampled the store's failed counter."""
    return any(c.name == "failed" for c in timeline.of(CounterEntry))


def _resume(exp: PausesExpectation, timeline: Timeline) -> tuple[str, ...]:
    """The actions that end the pause: the contract's resume, when the pause is the contract's."""
    automation = timeline.contract.automation
    return automation.resume if exp.pause_action == automation.pause else ()


def _judge_window(exp: PausesExpectation, timeline: Timeline, window: FaultWindow) -> Verdict:
    """Judge one fault window: a pause in time, and no failure while the fault lasts."""
    start, deadline = window.start, window.start + timeline.scaled(exp.within)
    failures = _failures(exp, timeline, window)
    pause, late = _find_pause(exp, timeline, window, deadline)
    name = f"{window.inject.fault_type} {window.inject.target} at {format_offset(start)}"
    bound = bound_text(exp.within, timeline)
    if pause is not None:
        when = "in force at" if pause.t < start else f"{elapsed(pause.t - start)} after"
        kept = f"{pause.action} {when} {name} (bound {bound})"
        if failures:
            text = f"{kept}, but {_failures_text(failures)}"
            proof: list[Entry | None] = [window.inject, pause, *failures[:SHOWN]]
            return verdict("pauses", exp.within, timeline, Status.FAILED, text, *proof)
        quiet = f"; no {' or '.join(exp.failure_actions)} during the fault"
        text = kept + quiet if exp.failure_actions else kept
        if _counted(timeline):
            text += "; the failed counter did not rise"
        return verdict("pauses", exp.within, timeline, Status.PASSED, text, window.inject, pause)
    if not failures and timeline.end() < deadline:  # a pause may yet have come
        ends = f"the timeline ends at {format_offset(timeline.end())}"
        text = f"{ends}, before {bound} after {name}: cannot tell"
        return verdict("pauses", exp.within, timeline, Status.BROKEN, text, window.inject)
    last = last_automation_event(timeline, deadline, exp.pause_action, _resume(exp, timeline))
    parts = [
        f"{late.action} came {elapsed(late.t - start)} after {name}, later than {bound}"
        if late
        else f"no {names_text(exp.pause_action)} within {bound} after {name}",
        *([_failures_text(failures)] if failures else []),
        f"last automation event: {last.action} at {format_offset(last.t)}"
        if last
        else "the automation emitted no event before then",
    ]
    proof = [window.inject, late, *failures[:SHOWN], last]
    return verdict("pauses", exp.within, timeline, Status.FAILED, "; ".join(parts), *proof)


@policy("pauses")
def check(exp: PausesExpectation, timeline: Timeline) -> Verdict:
    """Judge whether every fault was met by a timely pause, with no work failing during it."""
    need(exp, "pause_action")
    windows = timeline.fault_windows()
    if not windows:
        text = "no fault was injected: nothing to pause for"
        return verdict("pauses", exp.within, timeline, Status.BROKEN, text)
    if not timeline.events():
        text = "the automation never emitted an event: cannot tell"
        return verdict("pauses", exp.within, timeline, Status.BROKEN, text, windows[0].inject)
    verdicts = [_judge_window(exp, timeline, w) for w in windows]
    bad = next((v for v in verdicts if v.status is not Status.PASSED), None)
    if bad is not None or len(verdicts) == 1:
        return bad or verdicts[0]
    text = f"{len(verdicts)} faults checked: " + " | ".join(v.summary for v in verdicts)
    proof = [e for v in verdicts for e in v.evidence]
    return verdict("pauses", exp.within, timeline, Status.PASSED, text, *proof)
