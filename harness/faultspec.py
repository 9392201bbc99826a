"""The faults a scenario can inject: network (Toxiproxy, HTTP), process, request and change faults.

Every fault has ``at`` (from the start of the inject phase) and ``duration`` (until it is
healed); instant faults (``duplicate``, ``replay``, ``restart``, ``deploy``) default to 0s. The
``type`` field selects the model; drivers for each type register through the harness's hooks.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from harness.durations import Duration
from harness.spec import Edge, Model, RequestSpec


class _Fault(Model):
    id: str | None = Field(default=None, description="name in reports; defaults to f<n>-<type>")
    at: Duration = Field(description="when to inject, from the start of the inject phase")
    duration: Duration = Field(description="how long the fault stays before it is healed")


class _InstantFault(_Fault):
    duration: Duration = Field(default=0.0, description="instant: nothing to heal")


# --- network, through Toxiproxy ------------------------------------------------------------


class _EdgeFault(_Fault):
    edge: Edge


class _ToxicFault(_EdgeFault):
    stream: Literal["upstream", "downstream"] = Field(
        default="downstream",
        description="one direction only: downstream (dependency -> client) or upstream",
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


class FlapFault(_EdgeFault):
    """The edge goes down for ``down`` and up for ``up``, repeatedly, for ``duration``."""

    type: Literal["flap"]
    down: Duration
    up: Duration


class LatencyFault(_ToxicFault):
    """Every chunk of data on the edge is delayed by ``latency`` (+/- ``jitter``)."""

    type: Literal["latency"]
    latency: Duration
    jitter: Duration = 0.0


class SlowFault(_ToxicFault):
    """The edge's bandwidth is limited to ``rate_kb`` kilobytes per second."""

    type: Literal["slow"]
    rate_kb: int = Field(ge=1, description="KB/s")


class TimeoutFault(_ToxicFault):
    """Data stops flowing; the connection closes after ``timeout`` (0s: held until healed)."""

    type: Literal["timeout"]
    timeout: Duration = 0.0


class ResetPeerFault(_ToxicFault):
    """Connections are reset (TCP RST) after ``timeout``."""

    type: Literal["reset_peer"]
    timeout: Duration = 0.0


class SlicerFault(_ToxicFault):
    """Data is cut into small packets of ``average_size`` bytes, ``delay`` apart."""

    type: Literal["slicer"]
    average_size: int = Field(ge=1)
    size_variation: int = Field(default=0, ge=0)
    delay: Duration = 0.0


class LimitDataFault(_ToxicFault):
    """The connection is closed once ``bytes`` have passed."""

    type: Literal["limit_data"]
    bytes: int = Field(ge=0)


# --- HTTP, on an edge declared ``protocol: http`` (mitmproxy) ----------------------------------


class _HttpFault(_EdgeFault):
    method: str | None = Field(default=None, description="only requests with this method")
    path: str | None = Field(
        default=None, description="only requests whose path starts with this, e.g. /charge"
    )
    rate: float = Field(
        default=1.0, gt=0.0, le=1.0, description="the share of the matching requests affected"
    )
    count: int | None = Field(
        default=None, ge=1, description="only the first N matching requests (instead of a rate)"
    )

    @model_validator(mode="after")
    def _rate_or_count(self) -> _HttpFault:
        if self.count is not None and self.rate < 1.0:
            raise ValueError("give either rate (a share) or count (the first N), not both")
        if self.path is not None and not self.path.startswith("/"):
            raise ValueError(f"path must start with '/', e.g. /charge; got {self.path!r}")
        return self


class HttpErrorFault(_HttpFault):
    """The edge's proxy answers ``status`` in place of the dependency (which never sees them)."""

    type: Literal["http_error"]
    status: int = Field(default=503, ge=400, le=599)
    retry_after: Duration | None = Field(
        default=None, description="a Retry-After header: whole seconds, scaled, rounded up"
    )
    body: str = Field(default="", max_length=10_000)


class HttpDelayFault(_HttpFault):
    """The dependency's answer is held ``delay`` (scaled) before its headers reach the client."""

    type: Literal["http_delay"]
    delay: Duration


class HttpAbortFault(_HttpFault):
    """The client's connection is closed without an answer; the dependency never sees them."""

    type: Literal["http_abort"]


HTTP_FAULTS = frozenset({"http_error", "http_delay", "http_abort"})
"""The fault types that need an HTTP-aware edge."""


# --- processes -----------------------------------------------------------------------------


class CrashFault(_Fault):
    """The service is killed with SIGKILL; healing starts it again (its supervisor's job)."""

    type: Literal["crash"]
    service: str


class PauseFault(_Fault):
    """The service is frozen (SIGSTOP, docker pause) for ``duration``, then resumed."""

    type: Literal["pause"]
    service: str


class RestartFault(_InstantFault):
    """The service is stopped gracefully and started again."""

    type: Literal["restart"]
    service: str


# --- requests ------------------------------------------------------------------------------


class DuplicateFault(_InstantFault):
    """The same request, with one idempotency key, is sent ``count`` times."""

    type: Literal["duplicate"]
    request: RequestSpec
    count: int = Field(default=5, ge=2, le=1000)
    concurrent: bool = Field(default=False, description="all at once instead of one by one")


class ReplayFault(_InstantFault):
    """A request the workload already sent is sent again, with its idempotency key."""

    type: Literal["replay"]
    index: int = Field(default=0, ge=0, description="which workload request (0: the first)")
    count: int = Field(default=1, ge=1, le=1000)


# --- change --------------------------------------------------------------------------------


class DeployFault(_InstantFault):
    """A version of a service is deployed through the deploy hook the system declares."""

    type: Literal["deploy"]
    service: str
    version: str

    @model_validator(mode="after")
    def _no_placeholder(self) -> DeployFault:
        if "{" in self.version or "}" in self.version:
            raise ValueError("version must be a plain name, e.g. v2")
        return self


Fault = Annotated[
    PartitionFault
    | FlapFault
    | LatencyFault
    | SlowFault
    | TimeoutFault
    | ResetPeerFault
    | SlicerFault
    | LimitDataFault
    | HttpErrorFault
    | HttpDelayFault
    | HttpAbortFault
    | CrashFault
    | PauseFault
    | RestartFault
    | DuplicateFault
    | ReplayFault
    | DeployFault,
    Field(discriminator="type"),
]
