"""The scenario format, version 1: frozen pydantic models and their loading from YAML.

A scenario says what steady state looks like, which faults to inject when, what workload to run,
and which promises (expectations) the automation must keep. Durations are written as the policy
states them (``within: 30s``); the run's time scale shrinks them, never the scenario.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from harness.durations import Duration
from harness.yamlsource import load_model

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
_EDGE = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*->\s*([A-Za-z0-9_.-]+)\s*$")
JsonScalar = str | int | float | bool | None


def _normalise_edge(value: str) -> str:
    match = _EDGE.match(value)
    if not match:
        raise ValueError(f"not a dependency edge: {value!r}; write it as 'client -> dependency'")
    return f"{match.group(1)}->{match.group(2)}"


Edge = Annotated[
    str,
    AfterValidator(_normalise_edge),
    Field(description="a dependency edge the target declares, 'client -> dependency'"),
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- steady state -------------------------------------------------------------------------


class HttpCheck(_Model):
    """An HTTP request and what a healthy answer looks like."""

    url: str = Field(description="URL; '{api}' and other endpoint names of the target expand")
    method: Literal["GET", "POST", "PUT", "DELETE", "HEAD"] = "GET"
    status: int | list[int] = Field(default=200, description="expected status code(s)")
    json_: dict[str, JsonScalar] | None = Field(
        default=None,
        alias="json",
        description="expected JSON fields; dotted keys reach into objects ('workflow.paused')",
    )
    timeout: Duration = Field(default=2.0, description="per request; not scaled")

    def expected_statuses(self) -> tuple[int, ...]:
        """Every status code that counts as healthy."""
        return (self.status,) if isinstance(self.status, int) else tuple(self.status)


class Probe(_Model):
    """A steady-state probe: a named check that holds when the system is healthy."""

    name: str
    http: HttpCheck


# --- faults -------------------------------------------------------------------------------


class _Fault(_Model):
    id: str | None = Field(default=None, description="name in reports; defaults to f<n>-<type>")
    at: Duration = Field(description="when to inject, from the start of the inject phase")
    duration: Duration = Field(description="how long the fault stays before it is healed")


class _EdgeFault(_Fault):
    edge: Edge


class _ToxicFault(_EdgeFault):
    stream: Literal["upstream", "downstream"] = Field(
        default="downstream",
        description="downstream: dependency -> client; upstream: client -> dependency",
    )
    toxicity: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description="share of connections affected; 0 is refused (remove the fault instead)",
    )


class PartitionFault(_EdgeFault):
    """The dependency is unreachable: its proxy is disabled, connections are refused."""

    type: Literal["partition"]


class LatencyFault(_ToxicFault):
    """Every chunk of data on the edge is delayed by ``latency`` (+/- ``jitter``)."""

    type: Literal["latency"]
    latency: Duration
    jitter: Duration = 0.0


class TimeoutFault(_ToxicFault):
    """Data stops flowing; the connection closes after ``timeout`` (0s: held until healed)."""

    type: Literal["timeout"]
    timeout: Duration = 0.0


class ResetPeerFault(_ToxicFault):
    """Connections are reset (TCP RST) after ``timeout``."""

    type: Literal["reset_peer"]
    timeout: Duration = 0.0


Fault = Annotated[
    PartitionFault | LatencyFault | TimeoutFault | ResetPeerFault,
    Field(discriminator="type"),
]


# --- workload -----------------------------------------------------------------------------


class Workload(_Model):
    """Steady traffic the harness sends while the scenario runs (real time, not scaled)."""

    rate: float = Field(gt=0, le=500, description="requests per second (real time)")
    method: Literal["GET", "POST", "PUT"] = "POST"
    url: str
    json_: dict[str, JsonScalar] | None = Field(default=None, alias="json")
    idempotency_header: str | None = Field(
        default="Idempotency-Key", description="header carrying a fresh key per request"
    )
    timeout: Duration = 2.0


# --- expectations -------------------------------------------------------------------------


class SteadyStateExpectation(_Model):
    """Probes hold before the faults, and hold again ``within`` after the last fault is healed."""

    policy: Literal["steady_state"]
    within: Duration = 60.0


class PausesExpectation(_Model):
    """The workflow reports paused ``within`` of a fault starting, and no work fails meanwhile."""

    policy: Literal["pauses"]
    within: Duration = 30.0
    pause_action: str = "workflow.pause"
    failure_actions: list[str] = Field(default_factory=lambda: ["order.failed"])


class ResumesExpectation(_Model):
    """Work continues ``within`` of the fault ending: the workflow resumes and work completes."""

    policy: Literal["resumes"]
    within: Duration = 30.0
    resume_action: str = "workflow.resume"
    progress_actions: list[str] = Field(default_factory=lambda: ["order.completed"])


Expectation = Annotated[
    SteadyStateExpectation | PausesExpectation | ResumesExpectation,
    Field(discriminator="policy"),
]


# --- the scenario -------------------------------------------------------------------------


class Scenario(_Model):
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
    faults: list[Fault] = Field(min_length=1)
    expectations: list[Expectation] = Field(min_length=1)

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
        return self.warmup + self.inject_span() + self.settle_time()


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
