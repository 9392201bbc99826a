"""Reconciliation from the harness's own evidence: what the clients were told, what the store holds.

Jepsen's ``set`` checker with client history: every request the harness sent has an outcome
(``ok`` with the work's id from the answer, ``failed``, ``unknown``), and after the drain the
store was read (``state`` entries: the ids held as ``completed``, ``failed``, ``stored``, and
the ``effects`` per id). Then, without a word from the system:

- **lost**: acknowledged (``ok``) but neither completed nor failed in the store;
- **duplicated**: held twice (a count above one), an effect taken twice, or one idempotency key
  acknowledged as two different work items;
- **half-saved**: completed with no effect, when the effects are read and there are any;
- **unexpected**: completed or stored but never acknowledged, beyond what the requests whose
  outcome is unknown (a timeout, a 5xx: each may have created one item) can explain.

``disagreements`` compares the system's own events with the store: an item its events call
completed that the store does not hold as completed is a finding of its own ("the system's
events disagree with its state").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.clients import WRITES
from harness.timeline import RequestEntry, StateEntry, Timeline

Records = Mapping[str, int]


@dataclass(frozen=True)
class ClientHistory:
    """What the harness's own requests were told, and what the store holds after the drain."""

    acked: Mapping[str, RequestEntry]  # work id -> the first ok answer naming it
    by_key: Mapping[str, tuple[str, ...]]  # idempotency key -> distinct ids acknowledged for it
    unknown: Sequence[RequestEntry]  # writes whose outcome the client cannot know
    state: Mapping[str, StateEntry]  # role -> its final-state read
    unreadable: Sequence[StateEntry] = field(default_factory=tuple)

    def records(self, role: str) -> Records | None:
        """The records of a final-state role, or None when it was not read."""
        entry = self.state.get(role)
        return None if entry is None or not entry.ok else (entry.records or {})

    def lost(self) -> list[str]:
        """Acknowledged items the store holds neither as completed nor as failed."""
        completed, failed = self.records("completed") or {}, self.records("failed") or {}
        return [i for i in self.acked if i not in completed and i not in failed]

    def failures(self) -> list[str]:
        """Acknowledged items the store holds as failed and not as completed."""
        completed, failed = self.records("completed") or {}, self.records("failed") or {}
        return [i for i in self.acked if i in failed and i not in completed]

    def held_twice(self) -> list[str]:
        """Items the store holds more than once (completed or stored)."""
        twice = [
            i
            for role in ("completed", "stored")
            for i, n in (self.records(role) or {}).items()
            if n > 1
        ]
        return list(dict.fromkeys(twice))

    def effects_twice(self) -> list[str]:
        """Items whose effect was taken more than once."""
        return [i for i, n in (self.records("effects") or {}).items() if n > 1]

    def shared_keys(self) -> dict[str, tuple[str, ...]]:
        """Idempotency keys acknowledged as more than one work item."""
        return {k: ids for k, ids in self.by_key.items() if len(ids) > 1}

    def half_saved(self) -> list[str]:
        """Completed items without an effect (judged when effects were read and there are any)."""
        effects = self.records("effects")
        if not effects:
            return []
        return [i for i in self.records("completed") or {} if effects.get(i, 0) == 0]

    def unexpected(self) -> list[str]:
        """Items held but never acknowledged, beyond what the unknown outcomes explain."""
        held = {**(self.records("stored") or {}), **(self.records("completed") or {})}
        strays = [i for i in held if i not in self.acked]
        return strays if len(strays) > len(self.unknown) else []


def client_history(timeline: Timeline) -> ClientHistory | None:
    """The run's client history and final state; None when the run read no final state."""
    state = {e.name: e for e in timeline.of(StateEntry)}
    if not state:
        return None
    acked: dict[str, RequestEntry] = {}
    by_key: dict[str, tuple[str, ...]] = {}
    unknown: list[RequestEntry] = []
    for request in timeline.of(RequestEntry):
        if request.outcome == "ok" and request.work_id is not None:
            acked.setdefault(request.work_id, request)
            if request.idempotency_key is not None:
                ids = by_key.get(request.idempotency_key, ())
                if request.work_id not in ids:
                    by_key[request.idempotency_key] = (*ids, request.work_id)
        elif request.outcome == "unknown" and request.method in WRITES:
            unknown.append(request)
    unreadable = tuple(e for e in state.values() if not e.ok)
    return ClientHistory(acked, by_key, unknown, state, unreadable)


def disagreements(completed_by_events: Sequence[str], history: ClientHistory) -> list[str]:
    """Items the system's events call completed that the store does not hold as completed."""
    held = history.records("completed")
    if held is None:
        return []
    return [i for i in completed_by_events if i not in held]
