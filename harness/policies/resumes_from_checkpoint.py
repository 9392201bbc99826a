"""The ``resumes_from_checkpoint`` policy: a crashed service picks up its unfinished work.

For each ``crash`` fault window, the crashed service (``detail["service"]``, else the fault's
target) reports ``resume_action`` within ``within`` (scaled) of the heal, which is its restart. A
resume it reports after the crash but before the harness recorded the restart counts too: the
service starts while the heal is being recorded. Then the work must add up, exactly once: every
accepted order completed once; none lost, none failed, none completed twice.
"""

from __future__ import annotations

from harness.clock import format_offset
from harness.expectations import ResumesFromCheckpointExpectation
from harness.policies.base import Status, Verdict, bound_text, policy
from harness.policies.common import attr_number, count, cut_short, elapsed, verdict
from harness.policies.history import ClientHistory, client_history
from harness.policies.reconcile import Reconciliation, drain_note, ids_text, reconcile
from harness.policies.vocabulary import names_text, need
from harness.timeline import Entry, EventEntry, FaultWindow, Timeline

NAME = "resumes_from_checkpoint"
SHOWN = 3  # orders quoted as evidence


def _service(window: FaultWindow) -> str:
    """The crashed service: named in the fault's detail, else its target."""
    return str(window.inject.detail.get("service") or window.inject.target)


def _crash_text(window: FaultWindow) -> str:
    """``worker crashed at 00:03.2 and restarted at 00:03.7``."""
    text = f"{_service(window)} crashed at {format_offset(window.start)}"
    return text + (f" and restarted at {format_offset(window.end)}" if window.end else "")


def _resume(
    exp: ResumesFromCheckpointExpectation, timeline: Timeline, window: FaultWindow
) -> EventEntry | None:
    """The crashed service's first resume after the crash, before the next crash or the end."""
    crashes = [w for w in timeline.fault_windows() if w.inject.fault_type == "crash"]
    horizon = min([timeline.end(), *(w.start for w in crashes if w.start > window.start)])
    return next(
        (
            e
            for e in timeline.events(exp.resume_action, start=window.start, end=horizon)
            if e.service == _service(window) and e.t > window.start
        ),
        None,
    )


def _resumed(timeline: Timeline, resume: EventEntry, lead: str = ",") -> str:
    """``, resumed 3``: how many items the resume took back (the contract's attributes.count)."""
    resumed = attr_number(resume, timeline.contract.attributes.count)
    return f"{lead} resumed {resumed:g}" if resumed is not None else ""


def _resume_text(
    exp: ResumesFromCheckpointExpectation, timeline: Timeline, resume: EventEntry | None
) -> str:
    """``checkpoint.resume at 00:03.9, resumed 0``, or ``no checkpoint.resume``."""
    if resume is None:
        return f"no {names_text(exp.resume_action)}"
    return f"{resume.action} at {format_offset(resume.t)}{_resumed(timeline, resume, '')}"


def _restart(
    exp: ResumesFromCheckpointExpectation, timeline: Timeline, window: FaultWindow
) -> tuple[Status, str, EventEntry | None]:
    """Judge one restart: whether, and how soon after it, the service resumed its checkpoint."""
    heal, bound = window.heal or window.inject, bound_text(exp.within, timeline)
    resume, deadline = _resume(exp, timeline, window), heal.t + timeline.scaled(exp.within)
    crash = _crash_text(window)
    if resume is not None and resume.t <= deadline:
        when = f"{elapsed(resume.t - heal.t)} after" if resume.t > heal.t else "at the restart of"
        return (
            Status.PASSED,
            f"{resume.action} {when} {crash} (bound {bound}){_resumed(timeline, resume)}",
            resume,
        )
    if resume is None and timeline.end() < deadline:
        return Status.BROKEN, f"{cut_short(timeline, bound, crash)}: cannot tell", None
    text = f"no {names_text(exp.resume_action)} from {_service(window)} within {bound} "
    text += f"after {crash}"
    if resume is not None:
        text += f": {resume.action} came {elapsed(resume.t - heal.t)} after the restart"
    return Status.FAILED, text, resume


def _work_problems(
    exp: ResumesFromCheckpointExpectation, orders: Reconciliation, context: str, timeline: Timeline
) -> tuple[list[str], list[Entry]]:
    """What did not add up exactly once, and the entries that show it."""
    noun, note = timeline.contract.work.noun, drain_note(timeline)
    texts: list[str] = []
    lost, failed, twice = orders.lost(), orders.failures(), orders.completed_twice()
    if lost:
        what = f"{count(len(lost), 'accepted ' + noun)} never completed after {context}"
        texts.append(f"{what}: lost [{ids_text(lost)}]{note}")
    if failed:
        texts.append(f"{count(len(failed), 'accepted ' + noun)} failed: [{ids_text(failed)}]")
    if twice:
        times = ", ".join(f"{i} x{len(orders.completed[i])}" for i in twice[:SHOWN])
        done = names_text(exp.completed_action)
        texts.append(f"{count(len(twice), noun)} {done} more than once: {times}")
    proof: list[Entry] = [orders.accepted[i] for i in lost[:SHOWN]]
    proof += [orders.failed[i] for i in failed[:SHOWN]]
    proof += [e for i in twice[:1] for e in orders.completed[i][:2]]
    return texts, proof


def _history(timeline: Timeline) -> ClientHistory | None:
    """The client history and store, when the run read them and acknowledged work."""
    history = client_history(timeline)
    if history is None or history.unreadable or history.records("completed") is None:
        return None
    return history if history.acked else None


def _state_problems(
    history: ClientHistory, context: str, timeline: Timeline
) -> tuple[list[str], list[Entry]]:
    """What did not add up exactly once in the store, and the entries that show it."""
    noun, note = timeline.contract.work.noun, drain_note(timeline)
    lost, failed, twice = history.lost(), history.failures(), history.held_twice()
    texts: list[str] = []
    if lost:
        what = f"{count(len(lost), 'acknowledged ' + noun)} not completed in the store after "
        texts.append(f"{what}{context}: lost [{ids_text(lost)}]{note}")
    if failed:
        texts.append(f"{count(len(failed), 'acknowledged ' + noun)} failed: [{ids_text(failed)}]")
    if twice:
        texts.append(f"{count(len(twice), noun)} held more than once: [{ids_text(twice)}]")
    proof: list[Entry] = [history.acked[i] for i in lost[:SHOWN]]
    proof += list(history.state.values())
    return texts, proof


def _judge(
    exp: ResumesFromCheckpointExpectation, timeline: Timeline, crashes: list[FaultWindow]
) -> Verdict:
    """Judge the restart of every crash, then whether the work added up exactly once."""
    restarts = [_restart(exp, timeline, w) for w in crashes]
    proof = [
        e
        for w, (_, _, resume) in zip(crashes, restarts, strict=True)
        for e in (w.inject, w.heal, resume)
    ]
    broken = next((text for status, text, _ in restarts if status is Status.BROKEN), None)
    if broken is not None:
        return verdict(NAME, exp.within, timeline, Status.BROKEN, broken, *proof)
    last = crashes[-1]
    context = f"{_crash_text(last)} ({_resume_text(exp, timeline, restarts[-1][2])})"
    context = f"{len(crashes)} crashes, the last: {context}" if len(crashes) > 1 else context
    history = _history(timeline)
    if history is not None:
        problems, shown = _state_problems(history, context, timeline)
        accepted = len(history.acked)
    else:
        orders = reconcile(
            timeline,
            accepted=exp.accepted_action,
            completed=exp.completed_action,
            failed=exp.failed_action,
        )
        problems, shown = _work_problems(exp, orders, context, timeline)
        accepted = len(orders.accepted)
    problems = [text for status, text, _ in restarts if status is Status.FAILED] + problems
    if problems:
        text = "; ".join(problems)
        return verdict(NAME, exp.within, timeline, Status.FAILED, text, *proof, *shown)
    noun = timeline.contract.work.noun
    done = f"{count(accepted, 'accepted ' + noun)} each completed exactly once"
    done += " (from the store)" if history is not None else ""
    text = "; ".join([*(text for _, text, _ in restarts), done])
    return verdict(NAME, exp.within, timeline, Status.PASSED, text, *proof)


@policy(NAME)
def check(exp: ResumesFromCheckpointExpectation, timeline: Timeline) -> Verdict:
    """Judge whether every crashed service resumed its checkpoint and no work was lost."""
    need(exp, "resume_action")
    if _history(timeline) is None:  # the work is judged from the system's events then
        need(exp, "accepted_action")
        need(exp, "completed_action")
    crashes = [w for w in timeline.fault_windows() if w.inject.fault_type == "crash"]
    if not crashes:
        text = "no crash fault was injected: nothing to resume from"
        return verdict(NAME, exp.within, timeline, Status.BROKEN, text)
    unhealed = next((w for w in crashes if w.heal is None), None)
    if unhealed is not None:
        text = f"{_crash_text(unhealed)} and was never restarted: cannot tell"
        return verdict(NAME, exp.within, timeline, Status.BROKEN, text, unhealed.inject)
    if not timeline.events(exp.accepted_action) and _history(timeline) is None:
        what = names_text(exp.accepted_action)
        text = f"the workload had no {what}: cannot tell whether work survived"
        return verdict(NAME, exp.within, timeline, Status.BROKEN, text, crashes[0].inject)
    return _judge(exp, timeline, crashes)
