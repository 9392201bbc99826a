"""Reconciliation of work: what the timeline's events say became of every accepted work item.

Jepsen's ``set`` checker, on the system's events: the accepted work items (by the work id the
contract locates, ``work.id``) are matched against their completions, failures and effects (a
charge), and against the idempotency key each was accepted under (``work.key``). The policies
that promise exactly-once work (``resumes_from_checkpoint``, ``no_data_lost``) judge the same
reconciliation. Event names are the caller's (an expectation resolved against the contract).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.policies.common import work_id, work_key
from harness.timeline import EventEntry, PhaseEntry, Timeline

SHOWN = 3  # ids quoted in a summary; the counts cover all of them


@dataclass(frozen=True)
class Reconciliation:
    """The orders of a run: their acceptance, completions, failures and charges, by order id."""

    accepted: Mapping[str, EventEntry]  # order id -> its (first) acceptance, in time order
    completed: Mapping[str, tuple[EventEntry, ...]]  # order id -> every completion
    failed: Mapping[str, EventEntry]  # order id -> its (first) failure
    charged: Mapping[str, tuple[EventEntry, ...]]  # order id -> every charge
    by_key: Mapping[str, tuple[str, ...]]  # idempotency key -> the orders accepted under it
    charges_seen: bool  # the timeline has charge events at all

    def lost(self) -> list[str]:
        """Accepted orders that neither completed nor failed."""
        return [i for i in self.accepted if i not in self.completed and i not in self.failed]

    def failures(self) -> list[str]:
        """Accepted orders that failed and never completed."""
        return [i for i in self.accepted if i not in self.completed and i in self.failed]

    def completed_twice(self) -> list[str]:
        """Orders completed more than once."""
        return [i for i, done in self.completed.items() if len(done) > 1]

    def charged_twice(self) -> list[str]:
        """Orders charged more than once."""
        return [i for i, charges in self.charged.items() if len(charges) > 1]

    def shared_keys(self) -> dict[str, tuple[str, ...]]:
        """Idempotency keys under which more than one order was accepted."""
        return {key: ids for key, ids in self.by_key.items() if len(ids) > 1}

    def half_saved(self) -> list[str]:
        """Completed orders with no charge (only judged when the timeline has charges at all)."""
        if not self.charges_seen:
            return []
        return [i for i in self.completed if i not in self.charged]


def _group(timeline: Timeline, events: Iterable[EventEntry]) -> dict[str, tuple[EventEntry, ...]]:
    """Events by their work id (events without one are left out), in time order."""
    grouped: dict[str, tuple[EventEntry, ...]] = {}
    for event in events:
        item = work_id(event, timeline)
        if item is not None:
            grouped[item] = (*grouped.get(item, ()), event)
    return grouped


def reconcile(
    timeline: Timeline,
    *,
    accepted: Sequence[str],
    completed: Sequence[str],
    failed: Sequence[str] = (),
    charge: Sequence[str] = (),
) -> Reconciliation:
    """Reconcile the work of ``timeline``, naming the event actions of each kind."""
    first = {i: es[0] for i, es in _group(timeline, timeline.events(accepted)).items()}
    by_key: dict[str, tuple[str, ...]] = {}
    for item, event in first.items():
        key = work_key(event, timeline)
        if key is not None:
            by_key[key] = (*by_key.get(key, ()), item)
    charges = timeline.events(charge) if charge else ()
    failures = timeline.events(failed) if failed else ()
    return Reconciliation(
        accepted=first,
        completed=_group(timeline, timeline.events(completed)),
        failed={i: es[0] for i, es in _group(timeline, failures).items()},
        charged=_group(timeline, charges),
        by_key=by_key,
        charges_seen=bool(charges),
    )


def ids_text(ids: Iterable[str], shown: int = SHOWN) -> str:
    """``o-1, o-2, o-3 and 4 more``: the first few ids and how many others."""
    listed = list(ids)
    text = ", ".join(listed[:shown])
    return f"{text} and {len(listed) - shown} more" if len(listed) > shown else text


def drain_note(timeline: Timeline) -> str:
    """Context for lost orders: ``""`` if the run drained its work, else a warning to append."""
    if any(p.phase == "drain" for p in timeline.of(PhaseEntry)):
        return ""
    return " (the timeline has no 'drain' phase: the system may not have finished its work)"
