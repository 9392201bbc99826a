"""The ``no_data_lost`` policy: every accepted work item accounted for, exactly once.

Reconciliation over the whole timeline (``reconcile.py``), the kinds of violation being:

- lost: accepted, and neither completed nor failed;
- failed: accepted, failed and never completed (accounted for when ``allow_failed``);
- duplicated: completed more than once, charged more than once, or accepted as a second order
  under an idempotency key that already had one;
- half-saved: completed with no charge (judged only if the timeline has any charge at all).

A run that accepted no order cannot tell (broken). With lost orders, a timeline without a
``drain`` phase is named as context: the system may not have had the time to finish.
"""

from __future__ import annotations

from harness.clock import format_offset
from harness.expectations import NoDataLostExpectation
from harness.policies.base import Status, Verdict, policy
from harness.policies.common import count, verdict
from harness.policies.history import ClientHistory, client_history, disagreements
from harness.policies.reconcile import Reconciliation, drain_note, ids_text, reconcile
from harness.policies.vocabulary import names_text, need
from harness.timeline import Entry, ProbeEntry, Timeline

NAME = "no_data_lost"
SHOWN = 2  # entries quoted as evidence per kind of violation


def _duplicated(exp: NoDataLostExpectation, orders: Reconciliation) -> tuple[list[str], str]:
    """The duplicated orders, and how each kind shows: ``o-4 completed x2; key k-1: o-1, o-2``."""
    twice, charged = orders.completed_twice(), orders.charged_twice()
    shared = orders.shared_keys()
    extra = [i for ids in shared.values() for i in ids[1:]]
    kinds = [f"{i} {orders.completed[i][0].action} x{len(orders.completed[i])}" for i in twice[:1]]
    kinds += [f"{i} {orders.charged[i][0].action} x{len(orders.charged[i])}" for i in charged[:1]]
    kinds += [f"idempotency key {k} accepted as {ids_text(ids)}" for k, ids in shared.items()][:1]
    return list(dict.fromkeys([*twice, *charged, *extra])), "; ".join(kinds)


def _proof(orders: Reconciliation, exp: NoDataLostExpectation) -> list[Entry]:
    """A few entries per kind of violation: what was accepted and lost, what happened twice."""
    proof: list[Entry] = [orders.accepted[i] for i in orders.lost()[:SHOWN]]
    if not exp.allow_failed:
        proof += [orders.failed[i] for i in orders.failures()[:SHOWN]]
    proof += [orders.completed[i][1] for i in orders.completed_twice()[:SHOWN]]
    proof += [orders.charged[i][1] for i in orders.charged_twice()[:SHOWN]]
    proof += [orders.accepted[ids[1]] for ids in list(orders.shared_keys().values())[:SHOWN]]
    proof += [orders.completed[i][0] for i in orders.half_saved()[:SHOWN]]
    return proof


def _counted(ids: list[str], kind: str) -> str:
    """``2 lost (o-17, o-18)``, or ``0 lost``."""
    return f"{len(ids)} {kind} ({ids_text(ids)})" if ids else f"0 {kind}"


def _judge_events(exp: NoDataLostExpectation, timeline: Timeline) -> Verdict:
    """Reconcile the system's own events: accepted, completed, failed, charged."""
    need(exp, "accepted_action")
    need(exp, "completed_action")
    orders = _reconciled(exp, timeline)
    if not orders.accepted:
        what = names_text(exp.accepted_action)
        text = f"the workload had no {what}: nothing to reconcile; cannot tell"
        return verdict(NAME, None, timeline, Status.BROKEN, text)
    lost, failed, half = orders.lost(), orders.failures(), orders.half_saved()
    duplicated, how = _duplicated(exp, orders)
    if not (lost or duplicated or half or (failed and not exp.allow_failed)):
        charged = " and charged once" if orders.charges_seen else ""
        text = f"{len(orders.accepted)} accepted, each completed exactly once{charged}; "
        text += "none lost, duplicated or half-saved"
        if failed:
            done = len(orders.accepted) - len(failed)
            text = f"{len(orders.accepted)} accepted: {done} completed exactly once{charged}, "
            text += f"{_counted(failed, 'failed')} (allowed); none lost, duplicated or half-saved"
        return verdict(NAME, None, timeline, Status.PASSED, text)
    text = f"{len(orders.accepted)} accepted, {_counted(lost, 'lost')}, "
    text += f"{_counted(duplicated, 'duplicated')}, {_counted(half, 'half-saved')}"
    if failed:
        text += f", {_counted(failed, 'failed')}" + (" (allowed)" if exp.allow_failed else "")
    text += f"; duplicated: {how}" if how else ""
    text += drain_note(timeline) if lost else ""
    return verdict(NAME, None, timeline, Status.FAILED, text, *_proof(orders, exp))


def _reconciled(exp: NoDataLostExpectation, timeline: Timeline) -> Reconciliation:
    return reconcile(
        timeline,
        accepted=exp.accepted_action,
        completed=exp.completed_action,
        failed=exp.failed_action,
        charge=exp.charge_action,
    )


def _judge_history(
    exp: NoDataLostExpectation, timeline: Timeline, history: ClientHistory
) -> Verdict:
    """Reconcile the client history against the store: no system event needed."""
    acked, noun = len(history.acked), timeline.contract.work.noun
    lost, failed, half = history.lost(), history.failures(), history.half_saved()
    shared = history.shared_keys()
    duplicated = [*history.held_twice(), *history.effects_twice()]
    duplicated += [i for ids in shared.values() for i in ids[1:]]
    duplicated = list(dict.fromkeys(duplicated))
    strays = history.unexpected()
    unknown = (
        f"; {count(len(history.unknown), 'request')} of unknown outcome" if history.unknown else ""
    )
    head = f"from the store: {acked} acknowledged to the harness"
    if not (lost or duplicated or half or strays or (failed and not exp.allow_failed)):
        charged = " and charged once" if history.records("effects") else ""
        done = acked - len(failed)
        text = f"{head}, {done} completed exactly once{charged}"
        text += f", {_counted(failed, 'failed')} (allowed)" if failed else ""
        text += f"; none lost, duplicated, half-saved or unexpected{unknown}"
        return verdict(NAME, None, timeline, Status.PASSED, text, *history.state.values())
    parts = [f"{_counted(lost, 'lost')}", f"{_counted(duplicated, 'duplicated')}"]
    parts += [f"{_counted(half, 'half-saved')}", f"{_counted(strays, 'unexpected')}"]
    if failed:
        parts.append(_counted(failed, "failed") + (" (allowed)" if exp.allow_failed else ""))
    text = f"{head}: " + ", ".join(parts) + unknown
    if lost:
        text += f" (acknowledged, but the store holds no completed or failed {noun} with that id)"
        text += drain_note(timeline)
    if shared:
        key, ids = next(iter(shared.items()))
        text += f"; idempotency key {key} acknowledged as {ids_text(ids)}"
    if strays:
        text += f" (held, never acknowledged, beyond the {len(history.unknown)} unknown outcomes)"
    proof = [history.acked[i] for i in lost[:SHOWN]] + list(history.state.values())
    return verdict(NAME, None, timeline, Status.FAILED, text, *proof)


def _cross_check(
    exp: NoDataLostExpectation, timeline: Timeline, history: ClientHistory
) -> Verdict | None:
    """A failed verdict if the system's events call completed what its store does not hold."""
    if not exp.completed_action:
        return None
    orders = _reconciled(exp, timeline)
    disagree = disagreements(list(orders.completed), history)
    if not disagree:
        return None
    said = orders.completed[disagree[0]][0]
    text = f"the system's events disagree with its state: {_counted(disagree, 'item')} reported "
    text += f"{said.action} that the store does not hold as completed"
    state = history.state.get("completed")
    proof = [orders.completed[i][0] for i in disagree[:SHOWN]] + ([state] if state else [])
    return verdict(NAME, None, timeline, Status.FAILED, text, *proof)


@policy(NAME)
def check(exp: NoDataLostExpectation, timeline: Timeline) -> Verdict:
    """Judge whether every accepted work item was completed, and charged, exactly once.

    With a final state read, from the client history and the store (and the system's events
    checked against the store, when it reports any); without one, from its events. A failure
    with nothing done twice, found after a drain that ran out of time, is broken: the state was
    read while the system still worked, and late is not lost.
    """
    found = _check(exp, timeline)
    drained = timeline.of(ProbeEntry)
    last = next((e for e in reversed(drained) if e.phase == "drain"), None)
    if not found.is_failed or last is None or last.ok or _done_twice(exp, timeline):
        return found
    text = (
        f"the system had not finished its work when the drain's bound ran out ({last.detail} "
        f"at {format_offset(last.t)}): its final state was read mid-work, so late cannot be "
        f"told from lost; cannot tell (read as it was: {found.summary})"
    )
    return verdict(NAME, None, timeline, Status.BROKEN, text, last, *found.evidence)


def _done_twice(exp: NoDataLostExpectation, timeline: Timeline) -> bool:
    """Whether anything was completed, charged or accepted twice: no later work undoes that."""
    if (
        exp.accepted_action
        and exp.completed_action
        and _duplicated(exp, _reconciled(exp, timeline))[0]
    ):
        return True
    history = client_history(timeline)
    if history is None or history.unreadable:
        return False
    return bool(history.held_twice() or history.effects_twice() or history.shared_keys())


def _check(exp: NoDataLostExpectation, timeline: Timeline) -> Verdict:
    history = client_history(timeline)
    if history is None or (history.records("completed") is None and not history.unreadable):
        return _judge_events(exp, timeline)
    if history.unreadable:
        bad = history.unreadable[0]
        text = f"the final state could not be read ({bad.name}: {bad.detail}): cannot tell"
        return verdict(NAME, None, timeline, Status.BROKEN, text, bad)
    said = bool(exp.accepted_action) and bool(timeline.events(exp.accepted_action))
    if not history.acked:
        if said:
            return _cross_check(exp, timeline, history) or _judge_events(exp, timeline)
        text = "no request was acknowledged with a work id (the contract's requests.work_id) "
        text += "and the system reported no accepted work: nothing to reconcile; cannot tell"
        return verdict(NAME, None, timeline, Status.BROKEN, text)
    found = _judge_history(exp, timeline, history)
    if not said:
        return found
    disagreeing = _cross_check(exp, timeline, history)
    events = _judge_events(exp, timeline)
    failed = [v for v in (disagreeing, found, events) if v is not None and v.is_failed]
    if failed:
        text = " | ".join(v.summary for v in failed)
        proof = [e for v in failed for e in v.evidence]
        return verdict(NAME, None, timeline, Status.FAILED, text, *proof)
    if events.status is Status.PASSED:
        text = f"{found.summary}; the system's events agree: {events.summary}"
    else:
        text = f"{found.summary} (its own events cannot tell: {events.summary})"
    return verdict(NAME, None, timeline, found.status, text, *found.evidence)
