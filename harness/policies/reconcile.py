"""Reconciliation of orders: what the timeline says became of every accepted order.

Jepsen's ``set`` checker, for the order pipeline: the accepted orders (from the acceptance
events' ``correlation_id``) are matched against their completions, failures and charges, and
against the idempotency key each was accepted under. The policies that promise exactly-once work
(``resumes_from_checkpoint``, ``no_data_lost``) judge the same reconciliation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harness.policies.common import attr_text
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


def _group(events: Iterable[EventEntry]) -> dict[str, tuple[EventEntry, ...]]:
    """Events by their correlation id (events without one are left out), in time order."""
    grouped: dict[str, tuple[EventEntry, ...]] = {}
    for event in events:
        if event.correlation_id is not None:
            grouped[event.correlation_id] = (*grouped.get(event.correlation_id, ()), event)
    return grouped


def reconcile(
    timeline: Timeline,
    *,
    accepted: str,
    completed: str,
    failed: str | None = None,
    charge: str | None = None,
) -> Reconciliation:
    """Reconcile the orders of ``timeline``, naming the event actions of each kind."""
    first = {i: es[0] for i, es in _group(timeline.events(accepted)).items()}
    by_key: dict[str, tuple[str, ...]] = {}
    for order, event in first.items():
        key = attr_text(event, "idempotency_key")
        if key is not None:
            by_key[key] = (*by_key.get(key, ()), order)
    charges = timeline.events(charge) if charge else ()
    return Reconciliation(
        accepted=first,
        completed=_group(timeline.events(completed)),
        failed={i: es[0] for i, es in _group(timeline.events(failed) if failed else ()).items()},
        charged=_group(charges),
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
