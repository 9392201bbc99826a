"""What the harness reads of the system's store itself: counters during the run, state after it.

The third source of evidence (docs/contract.md): not what the system says happened, nor what
the clients saw, but what the world holds. Declared once in the system file (``state:``) and,
role by role, overridable in a scenario:

- ``counters``: numbers sampled with the steady-state probes during the run (a ``SCARD`` of the
  completed set, a ``SELECT count(*)``, a JSON field of a stats endpoint). A rise of the
  ``completed`` counter is work progressing, of ``failed`` work failing, whether or not the
  system reports it as events.
- ``final``: reads taken once, after the drain, as records ``id -> how many times held``
  (``harness/probes/state.py``): the work the store holds as ``completed``, as ``failed``, in
  any state (``stored``), and the ``effects`` per work item (charges at the payment provider).

Every read goes through a probe kind (``http``, ``sql``, ``redis``, ``command``, ...), so its
address must start with an endpoint name the system declares, like every other probe.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import Field, model_validator

from harness.jsonpaths import JsonPath
from harness.probespec import Checks, StateReader
from harness.spec import Model

M = TypeVar("M", bound=Model)
COUNTER_ROLES = ("completed", "failed")
FINAL_ROLES = ("completed", "failed", "stored", "effects")


class Counter(Checks):
    """A number read periodically: the value itself, or the number at ``value`` (a JSON path)."""

    value: JsonPath | None = Field(
        default=None, description="where the number is in the reading ('$.completed')"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Counter:
        self._exactly_one()
        if self.check()[1].expect is not None:
            raise ValueError("a counter has no 'expect': the policies judge how it moves")
        return self


class Counters(Model):
    """Counters of the work, by the role they play."""

    completed: Counter | None = Field(default=None, description="work completed so far")
    failed: Counter | None = Field(default=None, description="work failed for good so far")


class FinalState(Model):
    """What the store holds once the run has drained, by the role each read plays."""

    completed: StateReader | None = Field(default=None, description="ids of completed work")
    failed: StateReader | None = Field(default=None, description="ids of work failed for good")
    stored: StateReader | None = Field(
        default=None, description="ids of all the work the store holds, in any state"
    )
    effects: StateReader | None = Field(
        default=None, description="per work id, how many times its side effect happened"
    )


class StateSpec(Model):
    """The ``state:`` section of a system file or a scenario."""

    counters: Counters = Counters()
    final: FinalState = FinalState()

    def over(self, base: StateSpec) -> StateSpec:
        """The roles declared here, and ``base``'s for the others (a scenario over its system)."""
        return StateSpec(
            counters=_fill(self.counters, base.counters), final=_fill(self.final, base.final)
        )

    def reads(self) -> list[tuple[str, Checks]]:
        """Every read declared, as (``counters.completed``-style location, spec)."""
        found: list[tuple[str, Checks]] = []
        for section in ("counters", "final"):
            part = getattr(self, section)
            for role in type(part).model_fields:
                spec = getattr(part, role)
                if spec is not None:
                    found.append((f"{section}.{role}", spec))
        return found


def _fill(mine: M, theirs: M) -> M:
    """``mine`` with each role it leaves empty taken from ``theirs``."""
    fields = type(mine).model_fields
    missing = {n: getattr(theirs, n) for n in fields if getattr(mine, n) is None}
    return mine.model_copy(update=missing)
