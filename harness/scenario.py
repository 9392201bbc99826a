"""The scenario format, version 1: frozen pydantic models and their loading from YAML.

A scenario says what steady state looks like, which faults to inject when, what workload to run,
and which promises (expectations) the automation must keep. Durations are written as the policy
states them (``within: 30s``); the run's time scale shrinks them, never the scenario.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from harness.durations import Duration, Fraction
from harness.expectations import (
    BoundedRecoveryExpectation,
    EscalatesExpectation,
    EscalatesOnConflictExpectation,
    Expectation,
    IgnoresDuplicatesExpectation,
    IsolatesExpectation,
    NoDataLostExpectation,
    PausesExpectation,
    ResumesExpectation,
    ResumesFromCheckpointExpectation,
    RollsBackExpectation,
    SteadyStateExpectation,
    UserImpactExpectation,
)
from harness.faultspec import (
    CrashFault,
    DeployFault,
    DuplicateFault,
    Fault,
    FlapFault,
    LatencyFault,
    LimitDataFault,
    PartitionFault,
    PauseFault,
    ReplayFault,
    ResetPeerFault,
    RestartFault,
    SlicerFault,
    SlowFault,
    TimeoutFault,
)
from harness.probes.tolerance import Tolerance
from harness.probespec import (
    BUILTIN_KINDS,
    Checks,
    CheckSpec,
    CommandCheck,
    HttpCheck,
    Probe,
    PrometheusCheck,
    RedisCheck,
    SqlCheck,
    StateReader,
)
from harness.spec import Edge, JsonScalar, Model, RequestSpec
from harness.statespec import StateSpec
from harness.yamlsource import load_model

__all__ = [
    "BoundedRecoveryExpectation",
    "CheckSpec",
    "CommandCheck",
    "CrashFault",
    "DeployFault",
    "Drain",
    "DuplicateFault",
    "Edge",
    "EscalatesExpectation",
    "EscalatesOnConflictExpectation",
    "Expectation",
    "Fault",
    "FlapFault",
    "HttpCheck",
    "IgnoresDuplicatesExpectation",
    "IsolatesExpectation",
    "JsonScalar",
    "LatencyFault",
    "LimitDataFault",
    "NoDataLostExpectation",
    "PartitionFault",
    "PauseFault",
    "PausesExpectation",
    "Probe",
    "PrometheusCheck",
    "RedisCheck",
    "ReplayFault",
    "RequestSpec",
    "ResetPeerFault",
    "RestartFault",
    "ResumesExpectation",
    "ResumesFromCheckpointExpectation",
    "RollsBackExpectation",
    "Scenario",
    "SlicerFault",
    "SlowFault",
    "SqlCheck",
    "StateReader",
    "SteadyStateExpectation",
    "TimeoutFault",
    "Tolerance",
    "UserImpactExpectation",
    "Workload",
    "load_scenario",
]

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*$"


# --- steady state: probes of any kind (harness/probespec.py) ------------------------------

# --- workload -----------------------------------------------------------------------------


class Workload(Model):
    """Steady traffic the harness sends while the scenario runs (real time, not scaled)."""

    rate: float = Field(gt=0, le=500, description="requests per second (real time)")
    method: Literal["GET", "POST", "PUT"] = "POST"
    url: str
    json_: dict[str, JsonScalar] | None = Field(default=None, alias="json")
    idempotency_header: str | None = Field(
        default=None,
        description="header carrying a fresh key per request; default: the system contract's "
        "requests.idempotency_header; null: none",
    )
    timeout: Duration = 2.0


class LoadRequest(Model):
    """One kind of request the simulated users send, picked in proportion to ``weight``."""

    weight: int = Field(default=1, ge=1)
    name: str | None = Field(default=None, description="how reports name it; default: the URL")
    method: Literal["GET", "POST", "PUT", "DELETE"] = "GET"
    url: str = Field(description="'{api}/orders': an endpoint name of the system, then a path")
    json_: dict[str, JsonScalar] | None = Field(default=None, alias="json")
    idempotency_header: str | None = Field(
        default=None,
        description="header carrying a fresh key per request; default: the system contract's "
        "requests.idempotency_header; null: none",
    )


class Load(Model):
    """Simulated users (Locust, in its own processes) from the inject phase to the end.

    They run until the observation ends; what they see is recorded per interval and judged by
    ``user_impact``.
    """

    users: int = Field(ge=1, le=10000)
    spawn_rate: float = Field(default=10.0, gt=0, description="users started per second")
    wait: Duration = Field(default=0.5, description="each user's pause between requests (real)")
    requests: list[LoadRequest] | None = Field(default=None, min_length=1)
    locustfile: str | None = Field(
        default=None, description="your own locustfile (relative to the scenario) instead"
    )
    workers: int = Field(
        default=0, ge=0, le=32, description="Locust's distributed mode: a master and N workers"
    )

    @model_validator(mode="after")
    def _one_source(self) -> Load:
        if (self.requests is None) == (self.locustfile is None):
            raise ValueError("load needs exactly one of: requests, locustfile")
        return self


class Drain(Checks):
    """After the workload stops, wait until the system has finished its work (an empty queue).

    One probe kind (``http``, ``sql``, ``redis``, ...), polled until it holds.
    """

    within: Duration = Field(default=60.0, description="how long draining may take (scaled)")

    @model_validator(mode="after")
    def _one_kind(self) -> Drain:
        self._exactly_one()
        return self


class ErrorRateGuard(Model):
    """Trips when the share of failed requests (the harness's workload and load) is too high."""

    above: Fraction = Field(gt=0, le=1, description="of the requests: 0.5 or 50%")
    window: Duration = Field(default=10.0, description="over the last ... (scaled)")
    min_requests: int = Field(default=5, ge=1, description="fewer requests never trip it")


class Guard(Checks):
    """A halt condition: when it trips, every fault is healed at once and the run is aborted.

    Either a probe (any kind: ``http``, ``sql``, ...) that trips when it fails ``after`` times
    in a row, or an ``error_rate`` ceiling over the harness's own requests.
    """

    name: str
    error_rate: ErrorRateGuard | None = None
    after: int = Field(default=2, ge=1, description="consecutive failed checks that trip it")

    @model_validator(mode="after")
    def _one_condition(self) -> Guard:
        if len(self.given()) + (self.error_rate is not None) != 1:
            kinds = ", ".join(BUILTIN_KINDS)
            raise ValueError(f"a guard needs exactly one of: a probe ({kinds}), error_rate")
        return self


class DrillSpec(Model):
    """How the scenario runs as a no-automation drill: the runbook that recovers instead."""

    runbook: str = Field(description="the runbook file (relative to this scenario)")
    mode: Literal["automated", "no-automation"] = Field(
        default="automated",
        description="'no-automation': every run of this scenario is a drill (else: --drill)",
    )


# --- the scenario -------------------------------------------------------------------------


class Scenario(Model):
    """One failure scenario (format version 1)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={"title": "chaos-policy-harness scenario (v1)"},
    )

    version: Literal[1] = 1
    name: str = Field(pattern=NAME_PATTERN, description="lower-case, digits and dashes")
    description: str = ""
    system: str | None = Field(
        default=None, description="the system file (relative to this file); default: ini option"
    )
    target: Literal["process", "compose"] = "process"
    time_budget: Duration = Field(
        default=600.0, description="the longest the scenario may take, before time scaling"
    )
    warmup: Duration = Field(default=5.0, description="steady traffic before the first fault")
    settle: Duration | None = Field(
        default=None,
        description="observation after the last heal; default: the longest 'within' bound",
    )
    sut_env: dict[str, str] = Field(default_factory=dict, description="environment for the SUT")
    steady_state: list[Probe] = Field(min_length=1)
    workload: Workload | None = None
    load: Load | None = Field(default=None, description="simulated users (Locust)")
    drain: Drain | None = Field(
        default=None, description="checked after the workload stops, before the verdicts"
    )
    faults: list[Fault] = Field(min_length=1)
    expectations: list[Expectation] = Field(min_length=1)
    drill: DrillSpec | None = Field(
        default=None, description="the runbook of a no-automation drill of this scenario"
    )
    guards: list[Guard] = Field(
        default_factory=list,
        description="halt conditions (blast radius): one trips, every fault is healed, aborted",
    )
    state: StateSpec | None = Field(
        default=None,
        description="counters and final-state reads of the store; each role given here "
        "replaces the system file's",
    )

    @field_validator("faults")
    @classmethod
    def _unique_ids(cls, faults: list[Fault]) -> list[Fault]:
        # a field validator, so the problem is located at 'faults:', not at the top of the file
        ids = _fault_ids(faults)
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"fault ids must be unique; repeated: {', '.join(dupes)}")
        return faults

    def fault_ids(self) -> list[str]:
        """The id of each fault, in order: its own ``id`` or ``f<n>-<type>``."""
        return _fault_ids(self.faults)

    def settle_time(self) -> float:
        """Seconds (unscaled) to keep observing after the last heal."""
        if self.settle is not None:
            return self.settle
        return max(getattr(e, "within", 0.0) for e in self.expectations)

    def inject_span(self) -> float:
        """Seconds (unscaled) from the first injection's phase start to the last heal."""
        return max(f.at + f.duration for f in self.faults)

    def planned_length(self) -> float:
        """Seconds (unscaled) of warm-up, faults and settling: what the budget must cover."""
        drain = self.drain.within if self.drain else 0.0
        return self.warmup + self.inject_span() + self.settle_time() + drain


def _fault_ids(faults: list[Fault]) -> list[str]:
    return [f.id or f"f{n}-{f.type}" for n, f in enumerate(faults, start=1)]


def load_scenario(path: Path) -> Scenario:
    """Load and validate a scenario file; raise ScenarioError naming file, line and field."""
    scenario: Scenario = load_model(path, Scenario, _budget_check)
    return scenario


def _budget_check(scenario: Any) -> list[tuple[tuple[str | int, ...], str]]:
    assert isinstance(scenario, Scenario)
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if scenario.planned_length() > scenario.time_budget:
        from harness.durations import render_duration

        problems.append(
            (
                ("time_budget",),
                f"the plan needs {render_duration(scenario.planned_length())} "
                f"(warm-up + faults + settle) but the budget is "
                f"{render_duration(scenario.time_budget)}",
            )
        )
    return problems


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the scenario format, for editors (yaml-language-server)."""
    schema = Scenario.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
