"""The ``ignores_duplicates`` policy: requests repeated under one idempotency key act once.

For each ``duplicate`` or ``replay`` fault window, the key it sent is ``detail["idempotency_key"]``;
without one, it is every key that more than one workload request carried, one of them sent within
``NEAR`` seconds of the fault (the driver sends while injecting, and the inject entry is recorded
when it returns, so its requests may come just before it). For each key:

- exactly one ``effect_action`` event (default: the contract's ``work.accepted``) carries it
  (where the contract's ``work.key`` says an event carries the key);
- at most one ``charge_action`` event (the contract's ``work.effect``) carries it, or belongs to
  one of those effects' work items (``work.id``).

Inconclusive: no such fault; no key to judge; none of the key's requests got an answer; or no
effect carries the key at all (the system may not report it).
"""

from __future__ import annotations

from collections import Counter
from functools import cached_property

from harness.clock import format_offset
from harness.expectations import IgnoresDuplicatesExpectation
from harness.policies.base import Status, Verdict, policy
from harness.policies.common import combine, count, fault_text, verdict, work_id, work_key
from harness.policies.history import ClientHistory, client_history
from harness.policies.reconcile import ids_text
from harness.policies.vocabulary import names_text, need
from harness.timeline import Entry, EventEntry, FaultWindow, RequestEntry, Timeline

NAME = "ignores_duplicates"
NEAR = 2.0  # seconds (real, unscaled) around the fault in which its requests are looked for
SHOWN = 3  # effects and charges quoted as evidence


class _ByKey:
    """The run's requests, effects and charges grouped by key once, for every window and key.

    Judging each key against the whole timeline cost keys x entries; the groups cost one pass.
    """

    def __init__(self, exp: IgnoresDuplicatesExpectation, timeline: Timeline) -> None:
        self.exp, self.timeline = exp, timeline
        self.requests: dict[str | None, list[RequestEntry]] = {}
        for request in timeline.of(RequestEntry):
            self.requests.setdefault(request.idempotency_key, []).append(request)
        self.sent = Counter({key: len(found) for key, found in self.requests.items()})

    @cached_property
    def effects(self) -> dict[str | None, list[EventEntry]]:
        """The ``effect_action`` events by the key they carry."""
        found: dict[str | None, list[EventEntry]] = {}
        for event in self.timeline.events(self.exp.effect_action):
            found.setdefault(work_key(event, self.timeline), []).append(event)
        return found

    @cached_property
    def history(self) -> ClientHistory | None:
        """The run's client history and final state (``client_history``)."""
        return client_history(self.timeline)


def _keys(timeline: Timeline, window: FaultWindow, sent: Counter[str | None]) -> list[str]:
    """The idempotency keys the fault sent: from its detail, else the repeated keys near it."""
    named = window.inject.detail.get("idempotency_key")
    if named is not None:
        return [str(named)]
    start, end = window.start - NEAR, (window.end or window.start) + NEAR
    window_requests = timeline.of(RequestEntry, start=start, end=end)
    near = [r.idempotency_key for r in window_requests if r.idempotency_key]
    return [key for key in dict.fromkeys(near) if sent[key] > 1]


def _charges(
    exp: IgnoresDuplicatesExpectation, timeline: Timeline, key: str, effects: list[EventEntry]
) -> list[EventEntry]:
    """The charges under ``key``, or of one of the work items its effects created."""
    items = {i for i in (work_id(e, timeline) for e in effects) if i is not None}
    return [
        e
        for e in timeline.events(exp.charge_action)
        if work_id(e, timeline) in items or work_key(e, timeline) in {key, *items}
    ]


def _sent_text(window: FaultWindow, key: str, requests: list[RequestEntry]) -> str:
    """``5 requests with idempotency key k-1 (duplicate api at 00:02.0)``."""
    number = len(requests) or window.inject.detail.get("count")
    sent = count(int(number), "request") if isinstance(number, int | float) else "requests"
    return f"{sent} with idempotency key {key} ({fault_text(window.inject)})"


def _judge_key(
    exp: IgnoresDuplicatesExpectation,
    timeline: Timeline,
    window: FaultWindow,
    key: str,
    by_key: _ByKey,
) -> Verdict:
    """Judge one key: from the answers and the store where it can, and from the events."""
    requests = by_key.requests.get(key, [])
    sent = _sent_text(window, key, requests)
    answered = [r for r in requests if r.error is None]
    if requests and not answered:
        text = f"none of the {sent} got an answer ({requests[0].error}): cannot tell"
        return verdict(NAME, None, timeline, Status.BROKEN, text, window.inject, requests[0])
    seen = _from_answers(timeline, window, sent, answered, by_key.history)
    reported = bool(exp.effect_action) and bool(timeline.events(exp.effect_action))
    if seen is not None and not reported:
        return seen  # the system reports no effects: the answers and the store tell
    said = _from_events(exp, timeline, window, key, sent, answered, by_key.effects.get(key, []))
    if seen is None or (said.is_failed and not seen.is_failed):
        return said
    return seen  # a failure of the answers first; else they pass, the events agreeing or mute


def _from_answers(
    timeline: Timeline,
    window: FaultWindow,
    sent: str,
    answered: list[RequestEntry],
    history: ClientHistory | None,
) -> Verdict | None:
    """One work item for the key in the answers, its effect at most once in the store.

    None when no answer names a work id (the contract's requests.work_id is not declared, or
    the system answers without one).
    """
    items = list(dict.fromkeys(r.work_id for r in answered if r.work_id is not None))
    if not items:
        return None
    effects = history.records("effects") if history is not None else None
    taken = {i: effects.get(i, 0) for i in items} if effects is not None else {}
    proof: list[Entry | None] = [window.inject, *answered[:SHOWN]]
    if history is not None:
        proof += [history.state[r] for r in ("effects",) if r in history.state]
    charged = sum(taken.values())
    effect_text = "" if effects is None else f"; its effect taken {count(charged, 'time')}"
    if len(items) == 1 and charged <= 1:
        text = f"{sent} were answered with one work item, {items[0]}{effect_text}"
        return verdict(NAME, None, timeline, Status.PASSED, text, *proof)
    text = f"{sent} were answered with {count(len(items), 'work item')} ({ids_text(items)})"
    if charged > 1:
        each = ids_text(f"{i} x{n}" for i, n in taken.items() if n)
        text += f"; the store shows {count(charged, 'effect')} ({each})"
    return verdict(NAME, None, timeline, Status.FAILED, text, *proof)


def _from_events(
    exp: IgnoresDuplicatesExpectation,
    timeline: Timeline,
    window: FaultWindow,
    key: str,
    sent: str,
    answered: list[RequestEntry],
    effects: list[EventEntry],
) -> Verdict:
    """One effect event carries the key (``effects``: those that do), at most one charge event."""
    if not effects:
        what = names_text(need(exp, "effect_action"))
        text = f"no {what} carries idempotency key {key} after {sent}: cannot tell"
        return verdict(NAME, None, timeline, Status.BROKEN, text, window.inject, *answered[:1])
    charges = _charges(exp, timeline, key, effects)
    orders = [work_id(e, timeline) or "?" for e in effects]
    proof: list[Entry | None] = [window.inject, *effects[:SHOWN], *charges[:SHOWN]]
    if len(effects) == 1 and len(charges) <= 1:
        once = "charged once" if charges else f"no {names_text(exp.charge_action)}"
        text = f"{sent} had exactly one effect: {effects[0].action} {orders[0]} "
        text += f"at {format_offset(effects[0].t)}; {once}"
        return verdict(NAME, None, timeline, Status.PASSED, text, *proof)
    if len(effects) > 1:
        text = f"{sent} had {len(effects)} effects ({effects[0].action} x{len(effects)}: "
        text += f"{ids_text(orders)})"
    else:
        text = f"{sent} had one effect ({effects[0].action} {orders[0]})"
    if len(charges) > 1:
        each = ids_text(f"{work_id(c, timeline) or '?'} at {format_offset(c.t)}" for c in charges)
        text += f"{';' if len(effects) > 1 else ' but'} {len(charges)} {charges[0].action}: {each}"
    return verdict(NAME, None, timeline, Status.FAILED, text, *proof)


@policy(NAME)
def check(exp: IgnoresDuplicatesExpectation, timeline: Timeline) -> Verdict:
    """Judge whether every duplicated or replayed request had exactly one effect."""
    windows = [
        w for w in timeline.fault_windows() if w.inject.fault_type in ("duplicate", "replay")
    ]
    if not windows:
        text = "no duplicate or replay fault was injected: nothing to deduplicate"
        return verdict(NAME, None, timeline, Status.BROKEN, text)
    verdicts = []
    by_key = _ByKey(exp, timeline)
    for window in windows:
        keys = _keys(timeline, window, by_key.sent)
        if not keys:
            text = f"no idempotency key to judge for {fault_text(window.inject)}: cannot tell"
            verdicts.append(verdict(NAME, None, timeline, Status.BROKEN, text, window.inject))
        verdicts += [_judge_key(exp, timeline, window, key, by_key) for key in keys]
    return combine(NAME, None, timeline, verdicts)
