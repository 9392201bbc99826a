"""The ``resumes`` policy: work continues soon after a fault is healed.

A heal counts when no other fault is still active after it (an overlapping fault may rightly keep
the workflow paused). Within ``within`` (scaled) of it, one ``progress_actions`` event (default:
the contract's ``work.completed``) is required, and a ``resume_action`` event (the contract's
``automation.resume``) too if the workflow is paused at the heal (of the contract's
``automation.pause`` and resume events, the last so far is a pause). Without a declared pause
event (or with a resume the scenario names itself), a resume is always required; without a resume
event, only progress is judged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple, TypeVar

from harness.clock import format_offset
from harness.policies.base import Status, Verdict, bound_text, policy
from harness.policies.common import (
    Progress,
    elapsed,
    last_automation_event,
    need_progress,
    pause_in_force,
    progress_of,
    verdict,
)
from harness.policies.vocabulary import names_text
from harness.scenario import ResumesExpectation
from harness.timeline import Entry, EventEntry, FaultEntry, FaultWindow, Timeline

P = TypeVar("P", EventEntry, Progress)


class _Seen(NamedTuple):
    """What follows one heal; ``late_*`` come after the bound but before the next fault."""

    heal: FaultEntry
    held: EventEntry | None  # the pause in force at the heal
    need_resume: bool
    resumed: EventEntry | None
    late_resume: EventEntry | None
    progressed: Progress | None
    late_progress: Progress | None


def _recovered(windows: Sequence[FaultWindow]) -> list[FaultEntry]:
    """The heals after which no fault is still active, in time order."""
    heals = sorted((w.heal for w in windows if w.heal is not None), key=lambda h: h.t)
    spans = [(w.start, math.inf if w.end is None else w.end) for w in windows]
    return [h for h in heals if not any(start < h.t < end for start, end in spans)]


def _pause(exp: ResumesExpectation, timeline: Timeline) -> tuple[str, ...]:
    """The actions the resume undoes: the contract's pause, when the resume is the contract's.

    A resume the scenario names itself has no known pause counterpart (none: always required).
    """
    automation = timeline.contract.automation
    return automation.pause if exp.resume_action == automation.resume else ()


def _observe(exp: ResumesExpectation, timeline: Timeline, heal: FaultEntry) -> _Seen:
    """Find the pause in force at ``heal``, and the first resume and progress after it."""
    deadline = heal.t + timeline.scaled(exp.within)
    later = [w.start for w in timeline.fault_windows() if w.start > heal.t]
    horizon = min([timeline.end(), *later])

    def first(found: Sequence[P], after: float, until: float) -> P | None:
        return next((e for e in found if after <= e.t <= until), None)

    pause = _pause(exp, timeline)
    held = pause_in_force(timeline, heal.t, pause, exp.resume_action) if pause else None
    until = max(deadline, horizon)  # both bounds below lie in [heal, until]
    resume = timeline.events(exp.resume_action, start=heal.t, end=until)
    progress = progress_of(timeline, exp.progress_actions, start=heal.t, end=until)
    return _Seen(
        heal=heal,
        held=held,
        need_resume=bool(exp.resume_action) and (held is not None or not pause),
        resumed=first(resume, heal.t, deadline),
        late_resume=first(resume, deadline, horizon),
        progressed=first(progress, heal.t, deadline),
        late_progress=first(progress, deadline, horizon),
    )


def _resume_text(exp: ResumesExpectation, seen: _Seen) -> str:
    """How the workflow stands after the heal: resumed when, or paused since when."""
    resume = seen.resumed or seen.late_resume
    if resume is not None:
        return f"{resume.action} {elapsed(resume.t - seen.heal.t)} after the heal"
    if seen.held is not None:
        held = f"last {seen.held.action} at {format_offset(seen.held.t)}"
        return f"workflow still paused ({held})"
    return f"no {names_text(exp.resume_action)} after it"


def _failure_text(exp: ResumesExpectation, seen: _Seen, name: str, bound: str) -> str:
    """The finding: work did not continue, or the workflow did not resume, in time."""
    if seen.progressed is None:
        late = seen.late_progress
        work = (
            f"the first {late.action} came {elapsed(late.t - seen.heal.t)} after it"
            if late
            else f"no {names_text(exp.progress_actions)} after it"
        )
        paused = f"; {_resume_text(exp, seen)}" if seen.need_resume else ""
        return f"work did not continue within {bound} after {name}: {work}{paused}"
    done = f"{seen.progressed.action} {elapsed(seen.progressed.t - seen.heal.t)} after the heal"
    if seen.late_resume is not None:
        came = elapsed(seen.late_resume.t - seen.heal.t)
        return f"{seen.late_resume.action} came {came} after {name}, later than {bound}; {done}"
    what = names_text(exp.resume_action)
    return f"no {what} within {bound} after {name}: {_resume_text(exp, seen)}"


def _judge_heal(exp: ResumesExpectation, timeline: Timeline, heal: FaultEntry) -> Verdict:
    """Judge one heal: progress, and a resume if the workflow is paused, within the bound."""
    seen, deadline = _observe(exp, timeline, heal), heal.t + timeline.scaled(exp.within)
    name = f"{heal.fault_type} {heal.target} healed at {format_offset(heal.t)}"
    bound = bound_text(exp.within, timeline)
    last = last_automation_event(timeline, deadline, exp.resume_action, _pause(exp, timeline))
    proof: list[Entry | None] = [heal, seen.held, seen.resumed or seen.late_resume, last]
    proof.append(seen.progressed or seen.late_progress)
    if seen.progressed and (seen.resumed or not seen.need_resume):
        kept = [e for e in (seen.resumed, seen.progressed) if e is not None]
        text = " and ".join(f"{e.action} {elapsed(e.t - heal.t)}" for e in kept)
        paused = "" if seen.need_resume else "; the workflow was not paused at the heal"
        text = f"{text} after {name} (bound {bound}){paused}"
        return verdict("resumes", exp.within, timeline, Status.PASSED, text, *proof)
    if timeline.end() < deadline:  # whatever is missing may yet have come
        ends = f"the timeline ends at {format_offset(timeline.end())}"
        text = f"{ends}, before {bound} after {name}: cannot tell"
        return verdict("resumes", exp.within, timeline, Status.BROKEN, text, heal)
    text = _failure_text(exp, seen, name, bound)
    return verdict("resumes", exp.within, timeline, Status.FAILED, text, *proof)


@policy("resumes")
def check(exp: ResumesExpectation, timeline: Timeline) -> Verdict:
    """Judge whether work continued, and a paused workflow resumed, in time after every heal."""
    need_progress(exp, "progress_actions", timeline)
    windows = timeline.fault_windows()
    heals = _recovered(windows)
    if not heals:
        text = "no fault was healed with no other fault still active: cannot tell"
        injects = [w.inject for w in windows]
        return verdict("resumes", exp.within, timeline, Status.BROKEN, text, *injects)
    if not progress_of(timeline, exp.progress_actions):
        what = names_text(exp.progress_actions)
        text = f"the workload never produced {what}: cannot tell whether work continues"
        return verdict("resumes", exp.within, timeline, Status.BROKEN, text, *heals)
    verdicts = [_judge_heal(exp, timeline, h) for h in heals]
    bad = next((v for v in verdicts if v.status is not Status.PASSED), None)
    if bad is not None or len(verdicts) == 1:
        return bad or verdicts[0]
    text = f"{len(verdicts)} heals checked: " + " | ".join(v.summary for v in verdicts)
    proof = [e for v in verdicts for e in v.evidence]
    return verdict("resumes", exp.within, timeline, Status.PASSED, text, *proof)
