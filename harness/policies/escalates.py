"""The ``escalates`` policy: a human is called when, and only when, the automation cannot recover.

For each fault window, the bound runs from the inject: ``deadline = inject + within`` (scaled);
``from: detection`` starts it at the automation's first action or alert after the inject,
``from: pause`` at its first pause (either: the inject when there is none).
The work *recovered* if the fault was healed by then and a ``progress_actions`` event (default:
the contract's ``work.completed``) followed the heal by then too (a fault never healed has not
recovered).

- Not recovered: exactly one escalation in ``[inject, deadline]``, with a runbook link and a
  severity (an escalation without a runbook link is a defect of the automation); and no second
  one from the inject to the heal (or the end of the timeline), at least until the deadline.
- Recovered: no escalation from the inject to ``heal + within``.
"""

from __future__ import annotations

from harness.clock import format_offset
from harness.expectations import EscalatesExpectation
from harness.policies.base import Status, Verdict, bound_text, policy
from harness.policies.common import (
    Progress,
    combine,
    count,
    cut_short,
    elapsed,
    fault_text,
    last_automation_event,
    last_text,
    need_progress,
    progress_of,
    verdict,
)
from harness.policies.vocabulary import names_text
from harness.timeline import Entry, EscalationEntry, FaultWindow, Timeline

NAME = "escalates"
SHOWN = 3  # escalations quoted in a summary


def _escalation_text(escalation: EscalationEntry) -> str:
    """``00:03.1 (critical: payments unreachable)``."""
    severity = escalation.severity or "no severity"
    return f"{format_offset(escalation.t)} ({severity}: {escalation.summary})"


def _recovery(
    exp: EscalatesExpectation, timeline: Timeline, window: FaultWindow
) -> Progress | None:
    """The first progress after the heal and by the deadline: proof the work recovered."""
    deadline = _deadline(exp, timeline, window)
    if window.heal is None:
        return None
    progress = progress_of(timeline, exp.progress_actions)
    return next((e for e in progress if window.heal.t <= e.t <= deadline), None)


def _anchor(exp: EscalatesExpectation, timeline: Timeline, window: FaultWindow) -> float:
    """Where the bound starts: the fault (``from: fault``), or the first action or alert, or pause.

    The first at or after the fault; the fault's start when there is none.
    """
    if exp.from_ == "fault":
        return window.start
    if exp.from_ == "pause":
        found: list[Entry] = [e for e in timeline.events(timeline.contract.automation.pause)]
    else:
        found = [e for e in timeline.events() if timeline.contract.is_action(e.action)]
        found += list(timeline.of(EscalationEntry))
    times = [e.t for e in found if e.t >= window.start]
    return min(times, default=window.start)


def _deadline(exp: EscalatesExpectation, timeline: Timeline, window: FaultWindow) -> float:
    return _anchor(exp, timeline, window) + timeline.scaled(exp.within)


def _bound(exp: EscalatesExpectation, timeline: Timeline, window: FaultWindow) -> str:
    """``3m (scaled 9s)``, and where it starts when that is not the fault."""
    text = bound_text(exp.within, timeline)
    if exp.from_ == "fault":
        return text
    at = _anchor(exp, timeline, window)
    if at == window.start:
        return f"{text} from the fault: no {exp.from_} to start it at"
    return f"{text} from the {exp.from_} at {format_offset(at)}"


def _unrecovered(exp: EscalatesExpectation, timeline: Timeline, window: FaultWindow) -> str:
    """Why the work had not recovered by the deadline."""
    deadline = _deadline(exp, timeline, window)
    if window.heal is None or window.heal.t > deadline:
        return f"the fault was still active at {format_offset(deadline)}"
    progress = names_text(exp.progress_actions)
    return (
        f"healed at {format_offset(window.heal.t)}, but no {progress} by {format_offset(deadline)}"
    )


def _judge_recovered(
    exp: EscalatesExpectation, timeline: Timeline, window: FaultWindow, progress: Progress
) -> Verdict:
    """The work recovered by itself: any escalation until ``within`` after the heal is noise."""
    heal = window.heal or window.inject
    quiet_until = heal.t + timeline.scaled(exp.within)
    noisy = timeline.of(EscalationEntry, start=window.start, end=quiet_until)
    how = f"{fault_text(window.inject)} healed at {format_offset(heal.t)} and "
    how += f"{progress.action} followed {elapsed(progress.t - heal.t)} later, "
    how += f"within {bound_text(exp.within, timeline)} of its start"
    if noisy:
        first = _escalation_text(noisy[0])
        text = f"escalated although the automation recovered by itself: {how}; "
        text += f"{count(len(noisy), 'escalation')}, the first at {first}"
        proof: list[Entry | None] = [heal, progress, *noisy[:SHOWN]]
        return verdict(NAME, exp.within, timeline, Status.FAILED, text, window.inject, *proof)
    text = f"recovered without a human: {how}; no escalation, rightly"
    return verdict(NAME, exp.within, timeline, Status.PASSED, text, window.inject, heal, progress)


def _judge_one(
    exp: EscalatesExpectation, timeline: Timeline, window: FaultWindow, one: EscalationEntry
) -> Verdict:
    """The one escalation the unrecovered fault needed: it must carry a runbook and a severity."""
    name, bound = fault_text(window.inject), _bound(exp, timeline, window)
    when = f"{elapsed(one.t - window.start)} after {name}"
    fields = (("runbook link", one.runbook_url), ("severity", one.severity))
    missing = [what for what, value in fields if not value]
    if missing:
        about = f"{one.severity or 'no severity'}: {one.summary}"
        text = f"the escalation {when} ({about}) has no {' and no '.join(missing)}"
        if one.runbook_url is None:
            text += ": an escalation without a runbook link is a defect of the automation"
        return verdict(NAME, exp.within, timeline, Status.FAILED, text, window.inject, one)
    text = f"work had not recovered ({_unrecovered(exp, timeline, window)}); one escalation "
    text += f"{when} (bound {bound}): severity {one.severity}, runbook {one.runbook_url}"
    return verdict(NAME, exp.within, timeline, Status.PASSED, text, window.inject, one)


def _judge_unrecovered(
    exp: EscalatesExpectation, timeline: Timeline, window: FaultWindow
) -> Verdict:
    """The work had not recovered: exactly one escalation by the deadline, and no second one."""
    name, bound = fault_text(window.inject), _bound(exp, timeline, window)
    deadline = _deadline(exp, timeline, window)
    until = max(deadline, timeline.end() if window.heal is None else window.heal.t)
    escalations = timeline.of(EscalationEntry, start=window.start, end=until)
    if escalations and escalations[0].t <= deadline and len(escalations) > 1:
        shown = ", ".join(_escalation_text(e) for e in escalations[:SHOWN])
        text = f"{len(escalations)} escalations for {name}, one expected: {shown}"
        proof = escalations[:SHOWN]
        return verdict(NAME, exp.within, timeline, Status.FAILED, text, window.inject, *proof)
    if escalations and escalations[0].t <= deadline:
        return _judge_one(exp, timeline, window, escalations[0])
    if timeline.end() < deadline:
        text = f"{cut_short(timeline, bound, name)}: cannot tell"
        return verdict(NAME, exp.within, timeline, Status.BROKEN, text, window.inject)
    last = last_automation_event(timeline, deadline, timeline.contract.automation.escalate)
    text = f"no escalation within {bound} after {name} although work had not recovered "
    text += f"({_unrecovered(exp, timeline, window)})"
    late = timeline.first(EscalationEntry, after=deadline)
    if late is not None:
        text += f"; the first escalation came {elapsed(late.t - window.start)} after the fault"
    text += f"; {last_text(last)}"
    return verdict(NAME, exp.within, timeline, Status.FAILED, text, window.inject, late, last)


@policy(NAME)
def check(exp: EscalatesExpectation, timeline: Timeline) -> Verdict:
    """Judge whether each fault was escalated once, with a runbook, exactly when it had to be."""
    need_progress(exp, "progress_actions", timeline)
    windows = timeline.fault_windows()
    if not windows:
        text = "no fault was injected: nothing to escalate"
        return verdict(NAME, exp.within, timeline, Status.BROKEN, text)
    if not timeline.events():
        text = "the system never emitted an event: cannot tell whether work recovered"
        return verdict(NAME, exp.within, timeline, Status.BROKEN, text, windows[0].inject)
    verdicts = []
    for window in windows:
        progress = _recovery(exp, timeline, window)
        if progress is not None:
            verdicts.append(_judge_recovered(exp, timeline, window, progress))
        else:
            verdicts.append(_judge_unrecovered(exp, timeline, window))
    return combine(NAME, exp.within, timeline, verdicts)
