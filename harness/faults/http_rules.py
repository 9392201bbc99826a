"""What the harness tells an HTTP-aware edge's proxy: the fault rules of its control file.

The proxy (mitmdump with ``mitm/edge_addon.py``) reads the rules from a JSON file the harness
rewrites atomically; these models are that file's format, and the protocol is what fault drivers
need of whatever keeps the file (``faults/http_edges.py``).
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field


class HttpRule(BaseModel):
    """One active HTTP fault of an edge, as the proxy applies it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="the fault's id, e.g. f1-http_error")
    type: Literal["error", "delay", "abort"]
    method: str | None = None
    path: str | None = Field(default=None, description="a path prefix")
    rate: float = Field(default=1.0, gt=0.0, le=1.0)
    count: int | None = Field(default=None, ge=1, description="the first N matching requests")
    status: int = 503
    headers: dict[str, str] = Field(default_factory=dict)
    body: str = ""
    delay: float = Field(default=0.0, ge=0.0, description="seconds, already scaled")


class ControlDoc(BaseModel):
    """The whole control file: the edge's active rules and where to forward requests."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    faults: tuple[HttpRule, ...] = ()
    upstream: tuple[str, int] | None = None


class HttpFaultControl(Protocol):
    """Sets and clears the HTTP faults of the run's HTTP-aware edges."""

    def is_http(self, edge: str) -> bool:
        """Whether ``edge`` has an HTTP proxy (declared ``protocol: http``)."""
        ...

    def set_rule(self, edge: str, rule: HttpRule) -> None:
        """Make ``rule`` active on ``edge`` from its next request on."""
        ...

    def clear_rule(self, edge: str, rule_id: str) -> None:
        """Remove the rule ``rule_id`` from ``edge``; nothing if it is not active."""
        ...
