"""The ``escalates_on_conflict`` policy: when the signals disagree, a human decides.

Health checks green while the work is stuck is a conflict no automatic action can safely
resolve: acting on one signal goes against the other. For each fault window, with
``deadline = inject + within`` (scaled), the conflict is judged from the inject to ``until``:
the heal or the deadline, whichever comes first (the end of the timeline for a fault never
healed).

The signals must actually have disagreed, or the verdict is broken (inconclusive): a
steady-state probe sample passed in ``[inject, until]`` (health green), the workload sent a
request in it (there was work to do), and no ``progress_actions`` event came in
``[inject + grace, until]`` (the work was stuck; the grace, a tenth of the bound, lets work
already in flight at the inject finish). Then:

- an escalation came in ``[inject, deadline]``;
- no ``forbidden_actions`` event came in ``[inject, heal]`` (to the end if never healed): the
  automation escalates instead of acting.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.clock import format_offset
from harness.expectations import EscalatesOnConflictExpectation
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
from harness.timeline import (
    EscalationEntry,
    EventEntry,
    FaultWindow,
    ProbeEntry,
    RequestEntry,
    Timeline,
)

NAME = "escalates_on_conflict"
SHOWN = 3  # forbidden actions quoted in a summary
GRACE = 0.1  # share of the bound in which work in flight at the inject may still finish


def _or_list(names: Sequence[str]) -> str:
    """``a, b or c`` (``forbidden action`` when the contract declares none)."""
    if not names:
        return "forbidden action (the contract declares no pause, resume or rollback)"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _health_text(samples: Sequence[ProbeEntry]) -> str:
    """``health stayed green``, or how many samples passed."""
    ok = sum(s.ok for s in samples)
    if ok == len(samples):
        return "health stayed green"
    return f"health checks passed in {ok} of {count(len(samples), 'sample')}"


def _stall_text(exp: EscalatesOnConflictExpectation, since: Progress | None, at: float) -> str:
    """``no order.completed for 2.9s``: from the last progress to ``at`` (``at all``: none)."""
    progress = names_text(exp.progress_actions)
    return f"no {progress} for {elapsed(at - since.t)}" if since else f"no {progress} at all"


def _samples(timeline: Timeline, start: float, until: float) -> list[ProbeEntry]:
    """The steady-state probe samples in ``[start, until]`` (the drain check is no probe)."""
    return [s for s in timeline.of(ProbeEntry, start=start, end=until) if s.phase != "drain"]


def _last_progress(
    exp: EscalatesOnConflictExpectation, timeline: Timeline, at: float
) -> Progress | None:
    """The last progress (a ``progress_actions`` event, a completed counter's rise) by ``at``."""
    progress = progress_of(timeline, exp.progress_actions, end=at)
    return progress[-1] if progress else None


def _green(samples: Sequence[ProbeEntry], at: float) -> ProbeEntry:
    """The last passing sample by ``at`` (else the first one): health was green then."""
    ok = [s for s in samples if s.ok]
    return next((s for s in reversed(ok) if s.t <= at), ok[0])


def _inconclusive(
    exp: EscalatesOnConflictExpectation, timeline: Timeline, window: FaultWindow, until: float
) -> Verdict | None:
    """Broken if the signals did not disagree during ``[inject, until]``; else None."""
    name, start = fault_text(window.inject), window.start
    span = f"{format_offset(start)} to {format_offset(until)}"
    samples = _samples(timeline, start, until)
    if not samples:
        text = f"no steady-state probe was sampled during {name} ({span}): cannot tell whether "
        text += "health stayed green"
        return verdict(NAME, exp.within, timeline, Status.BROKEN, text, window.inject)
    if not any(s.ok for s in samples):
        text = f"no steady-state probe passed during {name} ({span}; "
        text += f"{count(len(samples), 'sample')}, none ok): health was not green, so the "
        text += "signals did not disagree; cannot tell"
        return verdict(NAME, exp.within, timeline, Status.BROKEN, text, window.inject, samples[0])
    if not timeline.of(RequestEntry, start=start, end=until):
        text = f"the workload sent no request during {name} ({span}): no work to be stuck, so "
        text += "the signals did not disagree; cannot tell"
        return verdict(NAME, exp.within, timeline, Status.BROKEN, text, window.inject)
    grace = timeline.scaled(exp.within) * GRACE
    moving = progress_of(timeline, exp.progress_actions, start=start + grace, end=until)
    if moving:
        text = f"{names_text(exp.progress_actions)} kept coming during {name} "
        text += f"({count(len(moving), 'event')} from {format_offset(start + grace)} to "
        text += f"{format_offset(until)}, the last at {format_offset(moving[-1].t)}): the work "
        text += "was not stuck, so the signals did not disagree; cannot tell"
        proof = (window.inject, moving[0], moving[-1])
        return verdict(NAME, exp.within, timeline, Status.BROKEN, text, *proof)
    return None


def _acted_text(acted: Sequence[EventEntry], name: str, heal: float | None) -> str:
    """``the automation acted although ...: workflow.pause at 00:01.2 (during ...)``."""
    shown = ", ".join(f"{e.action} at {format_offset(e.t)}" for e in acted[:SHOWN])
    more = f" and {len(acted) - SHOWN} more" if len(acted) > SHOWN else ""
    healed = "never healed" if heal is None else f"healed at {format_offset(heal)}"
    text = f"the automation acted although the signals disagreed: {shown}{more} "
    return text + f"(during {name}, {healed})"


def _judge_window(
    exp: EscalatesOnConflictExpectation, timeline: Timeline, window: FaultWindow
) -> Verdict:
    """Judge one fault: if the signals disagreed, an escalation in time and no action."""
    name, bound = fault_text(window.inject), bound_text(exp.within, timeline)
    deadline = window.start + timeline.scaled(exp.within)
    end = timeline.end() if window.heal is None else window.heal.t
    until = min(end, deadline)
    broken = _inconclusive(exp, timeline, window, until)
    if broken is not None:
        return broken
    samples = _samples(timeline, window.start, until)
    escalations = timeline.of(EscalationEntry, start=window.start, end=deadline)
    acted = timeline.events(exp.forbidden_actions, start=window.start, end=end)
    acted_text = _acted_text(acted, name, window.end)
    if not escalations:
        if not acted and timeline.end() < deadline:
            text = f"{cut_short(timeline, bound, name)}: cannot tell"
            return verdict(NAME, exp.within, timeline, Status.BROKEN, text, window.inject)
        since = _last_progress(exp, timeline, until)
        last = last_automation_event(timeline, deadline, timeline.contract.automation.escalate)
        text = f"no escalation within {bound} after {name} although {_health_text(samples)} "
        text += f"and {_stall_text(exp, since, until)}"
        late = timeline.first(EscalationEntry, after=deadline)
        if late is not None:
            text += f"; the first escalation came {elapsed(late.t - window.start)} after the fault"
        text += f"; {last_text(last)}" + (f"; {acted_text}" if acted else "")
        proof = [window.inject, since, _green(samples, until), last, late, *acted[:SHOWN]]
        return verdict(NAME, exp.within, timeline, Status.FAILED, text, *proof)
    first = escalations[0]
    head = f"escalated {elapsed(first.t - window.start)} after {name} (bound {bound}; "
    head += f"{first.severity or 'no severity'}: {first.summary})"
    if len(escalations) > 1:
        head += f", {count(len(escalations), 'escalation')} in all"
    if acted:
        proof = [window.inject, first, *acted[:SHOWN]]
        text = f"{head}, but {acted_text}"
        return verdict(NAME, exp.within, timeline, Status.FAILED, text, *proof)
    at = min(first.t, until)
    since = _last_progress(exp, timeline, at)
    text = f"{head} while {_health_text(samples)} and {_stall_text(exp, since, at)}; "
    text += f"no {_or_list(exp.forbidden_actions)} during the fault"
    proof = [window.inject, since, _green(samples, at), first, window.heal]
    return verdict(NAME, exp.within, timeline, Status.PASSED, text, *proof)


@policy(NAME)
def check(exp: EscalatesOnConflictExpectation, timeline: Timeline) -> Verdict:
    """Judge whether every fault that made the signals disagree was escalated, not acted on."""
    need_progress(exp, "progress_actions", timeline)
    windows = timeline.fault_windows()
    if not windows:
        text = "no fault was injected: no conflict to escalate"
        return verdict(NAME, exp.within, timeline, Status.BROKEN, text)
    verdicts = [_judge_window(exp, timeline, w) for w in windows]
    return combine(NAME, exp.within, timeline, verdicts)
