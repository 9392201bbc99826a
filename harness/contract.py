"""The system's vocabulary, declared once in its system file: what its events and requests mean.

The harness judges promises about *work* (accepted, completed exactly once, never lost) and about
the *automation* (pauses, breakers, retries, rollbacks, escalations). Every system names these
its own way, so the names are data: the ``contract:`` section of the system file maps each role
the harness knows to the event names the system emits, says where an event carries the work's
id and idempotency key, which events are business records and which are automation actions,
and how the harness's own requests carry a key and read back a work id. Policies, KPIs and
reports take every default from here; a scenario's expectation may still name others.

A role nobody declared is not guessed: a policy that needs it is *broken*, and says which field
of the contract (or of the expectation) would have told it (``MissingVocabulary``).

The contract travels with the timeline (``timeline.json``), so a stored run is judged again, and
its KPIs computed again, with the vocabulary it was recorded under. This module imports nothing
of the harness but ``spec``'s base model.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from harness.jsonpaths import JsonPath
from harness.spec import Model


def _names(value: object) -> object:
    """One event name or a list of them, as YAML writes it."""
    return [value] if isinstance(value, str) else value


Names = Annotated[
    tuple[str, ...],
    BeforeValidator(_names),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "items": {"type": "string", "minLength": 1}},
            ]
        }
    ),
    Field(description="an event name, or a list of names"),
]
"""Event names as YAML writes them: one name, or a list."""


class MissingVocabulary(LookupError):
    """A policy needs a role the contract does not declare; its verdict is broken."""

    def __init__(self, role: str, override: str = "") -> None:
        self.role, self.override = role, override
        also = f" or the expectation's '{override}'" if override else ""
        super().__init__(
            f"the system's contract declares no {role} event: cannot tell; declare "
            f"'contract.{role}' in the system file{also} (docs/contract.md)"
        )


class WorkEvents(Model):
    """The unit of work the system promises about (an order, a job, a message)."""

    noun: str = Field(
        default="work item", description="what findings call one item: 'order', 'job'"
    )
    id: str = Field(
        default="correlation_id",
        description="where an event carries the work's id: a field ('correlation_id') or an "
        "attribute path ('job.id')",
    )
    key: str = Field(
        default="idempotency_key",
        description="where an event carries the idempotency key the work was accepted under",
    )
    accepted: Names = Field(default=(), description="work was accepted (stored, queued)")
    completed: Names = Field(default=(), description="work was completed")
    failed: Names = Field(default=(), description="work failed for good")
    duplicate: Names = Field(default=(), description="a known idempotency key came again")
    rejected: Names = Field(default=(), description="a request was refused, nothing stored")
    effect: Names = Field(
        default=(),
        description="a side effect that must happen at most once per work item (a charge)",
    )


class DependencyEvents(Model):
    """What the dependency behind an edge records of its own calls."""

    call: Names = Field(default=(), description="the dependency received a call")


class AutomationEvents(Model):
    """The automation's actions, by the role each plays in a promise."""

    start: Names = Field(default=(), description="the automation announces itself (boot)")
    pause: Names = Field(default=(), description="the workflow was paused")
    resume: Names = Field(default=(), description="the workflow was resumed")
    breaker_open: Names = Field(default=(), description="a circuit breaker opened")
    breaker_close: Names = Field(default=(), description="a circuit breaker closed")
    retry: Names = Field(default=(), description="a failed call will be retried")
    checkpoint_resume: Names = Field(
        default=(), description="a restarted service resumed its work from its checkpoint"
    )
    recovery: Names = Field(default=(), description="an automatic recovery of a service")
    rollback: Names = Field(default=(), description="a bad change was rolled back")
    escalate: Names = Field(
        default=(), description="the automation called a human (also sent to the escalation sink)"
    )
    conflict: Names = Field(default=(), description="the automation saw its signals disagree")


class Attributes(Model):
    """Where automation events carry the details some policies read."""

    retry_delay_ms: str = Field(default="delay_ms", description="a retry's delay, milliseconds")
    attempt: str = Field(default="attempt", description="a retry's attempt number")
    target_service: str = Field(
        default="target_service", description="the service an action acted on"
    )
    count: str = Field(default="count", description="how many items a checkpoint resumed")


class EventFields(Model):
    """The JSON keys of the system's event objects, where they are not the harness's own."""

    action: str = Field(default="action", description="the key holding the event's name")
    service: str = Field(default="service", description="the key naming the emitting service")
    ts: str = Field(default="ts", description="the key holding the system's own timestamp")


class Classes(Model):
    """Which events are business records and which are automation actions (globs: ``order.*``).

    An event that is neither (``automation.start``, an observation, a deploy hook's report, what
    a drill's operator did) is a report: MTTD and the automation-action counts skip it.
    """

    business: tuple[str, ...] = Field(
        default=(), description="business records: never automation actions"
    )
    actions: tuple[str, ...] | None = Field(
        default=None,
        description="automation actions; default: every automation role's events but 'start'",
    )


class Requests(Model):
    """How the harness's own requests carry an idempotency key and read back the work's id."""

    idempotency_header: str | None = Field(
        default=None, description="the header carrying a fresh idempotency key per request"
    )
    work_id: JsonPath | None = Field(
        default=None, description="a JSON path into a 2xx answer's body: the id of the work"
    )


class Contract(Model):
    """The ``contract:`` section of a system file (docs/contract.md)."""

    work: WorkEvents = WorkEvents()
    dependency: DependencyEvents = DependencyEvents()
    automation: AutomationEvents = AutomationEvents()
    attributes: Attributes = Attributes()
    event_fields: EventFields = EventFields()
    classes: Classes = Classes()
    requests: Requests = Requests()

    @model_validator(mode="after")
    def _roles_are_distinct(self) -> Contract:
        seen: dict[str, str] = {}
        for role in ("accepted", "completed", "failed", "duplicate", "rejected", "effect"):
            for name in getattr(self.work, role):
                if name in seen:
                    raise ValueError(
                        f"work.{role} and work.{seen[name]} both name {name!r}: a policy could "
                        "not tell what the event means"
                    )
                seen[name] = role
        for role, names in self.automation_roles().items():
            clash = [n for n in names if _matches(n, self.classes.business)]
            if clash:
                raise ValueError(
                    f"automation.{role} names {clash[0]!r}, which classes.business also "
                    "matches: an event is a business record or an automation action, not both"
                )
        return self

    def automation_roles(self) -> dict[str, tuple[str, ...]]:
        """Each declared automation role and its event names."""
        return {k: v for k, v in self.automation.model_dump().items() if v}

    def action_patterns(self) -> tuple[str, ...]:
        """The globs of automation actions: declared, else every automation role's but start."""
        if self.classes.actions is not None:
            return self.classes.actions
        return tuple(
            name for role, names in self.automation_roles().items() if role != "start"
            for name in names
        )  # fmt: skip

    def is_business(self, action: str) -> bool:
        """Whether ``action`` is a business record (``classes.business``)."""
        return _matches(action, self.classes.business)

    def is_action(self, action: str) -> bool:
        """Whether ``action`` is something the automation did (see ``Classes``)."""
        return not self.is_business(action) and _matches(action, self.action_patterns())

    def role(
        self, path: str, override: str | Iterable[str] | None = None, field: str = ""
    ) -> tuple[str, ...]:
        """The event names of ``path`` (``automation.pause``), or the expectation's override.

        Raises ``MissingVocabulary`` (naming the expectation's ``field``) when neither has any.
        """
        if override is not None:
            names = (override,) if isinstance(override, str) else tuple(override)
            if names:
                return names
        section, _, field = path.partition(".")
        declared: Any = getattr(getattr(self, section), field)
        if not declared:
            raise MissingVocabulary(path, field)
        return tuple(declared)


def _matches(action: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(action, p) for p in patterns)
