"""The promises a scenario expects the automation to keep, one model per policy.

Bounds (``within``) are written as the policy states them and scaled by the run's time scale.
Event names default to the system's contract (``contract:`` in its system file,
docs/contract.md); a field set here names other events for this expectation only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from harness.contract import Names
from harness.durations import Duration, Fraction
from harness.spec import Edge, Model

ROLE = "x-contract-role"
"""The JSON Schema key of a field's contract roles (comma-separated), read by ``resolve``."""


def _role(*roles: str) -> Any:
    """Event names, by default the contract's ``roles`` (``automation.pause``)."""
    default = " and ".join(roles)
    return Field(
        default=(),
        description=f"event name(s); default: the contract's {default}",
        json_schema_extra={ROLE: ",".join(roles)},
    )


class SteadyStateExpectation(Model):
    """Probes hold before the faults, and hold again ``within`` after the last fault is healed."""

    policy: Literal["steady_state"]
    within: Duration = 60.0


class PausesExpectation(Model):
    """The workflow reports paused ``within`` of a fault starting, and no work fails meanwhile."""

    policy: Literal["pauses"]
    within: Duration = 30.0
    pause_action: Names = _role("automation.pause")
    failure_actions: Names = _role("work.failed")


class ResumesExpectation(Model):
    """Work continues ``within`` of the fault ending: the workflow resumes and work completes."""

    policy: Literal["resumes"]
    within: Duration = 30.0
    resume_action: Names = _role("automation.resume")
    progress_actions: Names = _role("work.completed")


class IsolatesExpectation(Model):
    """A slow or failing dependency is isolated: breaker, backoff, no retry storm."""

    policy: Literal["isolates"]
    within: Duration = Field(default=30.0, description="the breaker opens this soon after")
    max_calls_while_open: int = Field(
        default=20, ge=0, description="ceiling of calls to the dependency while the breaker is open"
    )
    open_action: Names = _role("automation.breaker_open")
    close_action: Names = _role("automation.breaker_close")
    retry_action: Names = _role("automation.retry")
    call_action: Names = _role("dependency.call")
    method: str | None = Field(
        default=None, description="with an HTTP-aware edge's counts: only this method's calls"
    )
    path: str | None = Field(
        default=None, description="with an HTTP-aware edge's counts: only paths starting so"
    )


class ResumesFromCheckpointExpectation(Model):
    """A crashed service resumes its work from the checkpoint once it is back."""

    policy: Literal["resumes_from_checkpoint"]
    within: Duration = Field(default=30.0, description="from the restart to checkpoint.resume")
    resume_action: Names = _role("automation.checkpoint_resume")
    accepted_action: Names = _role("work.accepted")
    completed_action: Names = _role("work.completed")
    failed_action: Names = _role("work.failed")


class IgnoresDuplicatesExpectation(Model):
    """Duplicated requests (one idempotency key) have exactly one effect."""

    policy: Literal["ignores_duplicates"]
    effect_action: Names = _role("work.accepted")
    charge_action: Names = _role("work.effect")


class RollsBackExpectation(Model):
    """A bad deploy is rolled back ``within`` the bound and the error rate returns to normal."""

    policy: Literal["rolls_back"]
    within: Duration = 300.0
    rollback_action: Names = _role("automation.rollback")
    max_error_rate: float = Field(
        default=0.05, ge=0, le=1, description="of workload requests after the rollback"
    )


class EscalatesExpectation(Model):
    """Unrecovered within the bound: exactly one escalation with a runbook; recovered: none."""

    policy: Literal["escalates"]
    within: Duration = 180.0
    from_: Literal["fault", "detection", "pause"] = Field(
        default="fault",
        alias="from",
        description="where the bound starts: the fault, the automation's first action or "
        "alert (detection), or its first pause",
    )
    progress_actions: Names = _role("work.completed")


class NoDataLostExpectation(Model):
    """Reconciliation: every accepted order completed once, charged once; none lost."""

    policy: Literal["no_data_lost"]
    accepted_action: Names = _role("work.accepted")
    completed_action: Names = _role("work.completed")
    failed_action: Names = _role("work.failed")
    charge_action: Names = _role("work.effect")
    allow_failed: bool = Field(default=False, description="count failed orders as accounted for")


class EscalatesOnConflictExpectation(Model):
    """When the signals disagree (health green, work stuck), escalate instead of acting."""

    policy: Literal["escalates_on_conflict"]
    within: Duration = Field(default=60.0, description="the escalation comes this soon after")
    progress_actions: Names = _role("work.completed")
    forbidden_actions: Names = _role("automation.pause", "automation.resume", "automation.rollback")


class BoundedRecoveryExpectation(Model):
    """Too many automatic recoveries of one service are themselves escalated, not hidden.

    More than ``max_recoveries`` within ``window`` need an escalation ``within`` of the one that
    exceeds the bound.
    """

    policy: Literal["bounded_recovery"]
    max_recoveries: int = Field(default=3, ge=0)
    window: Duration = Field(default=3600.0, description="sliding window (scaled)")
    within: Duration = Field(default=60.0, description="escalation after the bound is exceeded")
    recovery_actions: Names = _role("automation.recovery")


class UserImpactExpectation(Model):
    """What simulated users (the scenario's ``load``) saw from the first fault to the end.

    The error rate stays at most ``max_error_rate``, the p99 latency of every interval at most
    ``max_p99`` (real time: users wait real seconds), and no user sees a 5xx while the workflow
    is paused (between ``pause_action`` and its resume).
    """

    policy: Literal["user_impact"]
    max_error_rate: Fraction = Field(default=0.01, ge=0, le=1, description="of the requests")
    max_p99: Duration | None = Field(default=None, description="real time, not scaled")
    no_5xx_while_paused: bool = True
    pause_action: Names = _role("automation.pause")


class NoRetryStormExpectation(Model):
    """During each fault, the calls a client makes to a dependency stay bounded: no retry storm.

    Counted by the proxy of an HTTP-aware edge (``protocol: http``), not from the system's own
    events: at most ``max_calls`` in a fault's window, and/or a rate at most ``max_rate`` times
    the rate before the first fault (the warmup's).
    """

    policy: Literal["no_retry_storm"]
    edge: Edge
    method: str | None = Field(default=None, description="count only this method's requests")
    path: str | None = Field(default=None, description="count only paths starting with this")
    max_calls: int | None = Field(default=None, ge=0, description="per fault window")
    max_rate: float | None = Field(
        default=None, gt=0, description="times the warmup's call rate (calls per second)"
    )

    @model_validator(mode="after")
    def _a_bound(self) -> NoRetryStormExpectation:
        if self.max_calls is None and self.max_rate is None:
            raise ValueError("give max_calls, max_rate or both: the bound of a storm")
        return self


Expectation = Annotated[
    SteadyStateExpectation
    | PausesExpectation
    | ResumesExpectation
    | IsolatesExpectation
    | ResumesFromCheckpointExpectation
    | IgnoresDuplicatesExpectation
    | RollsBackExpectation
    | EscalatesExpectation
    | NoDataLostExpectation
    | EscalatesOnConflictExpectation
    | BoundedRecoveryExpectation
    | UserImpactExpectation
    | NoRetryStormExpectation,
    Field(discriminator="policy"),
]
