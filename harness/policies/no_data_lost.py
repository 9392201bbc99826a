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

from harness.expectations import NoDataLostExpectation
from harness.policies.base import Status, Verdict, policy
from harness.policies.common import verdict
from harness.policies.reconcile import Reconciliation, drain_note, ids_text, reconcile
from harness.policies.vocabulary import names_text, need
from harness.timeline import Entry, Timeline

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


@policy(NAME)
def check(exp: NoDataLostExpectation, timeline: Timeline) -> Verdict:
    """Judge whether every accepted work item was completed, and charged, exactly once."""
    need(exp, "accepted_action")
    need(exp, "completed_action")
    orders = reconcile(
        timeline,
        accepted=exp.accepted_action,
        completed=exp.completed_action,
        failed=exp.failed_action,
        charge=exp.charge_action,
    )
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
