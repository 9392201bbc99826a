"""The system under test as a target declares it: services, dependency edges, endpoints.

A system file (``system.yaml``) lists the services to start (in order), how to tell each is
healthy, the dependency edges a scenario may break (each realised as a Toxiproxy proxy), and the
endpoint names scenarios use in URLs. Strings may hold placeholders that the target expands:
``{port}`` (the service's own port), ``{python}``, ``{dir}`` (the system file's folder),
``{addr:NAME}`` (a service's address) and ``{edge:A->B}`` (the proxy address of an edge).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from harness.contract import Contract
from harness.durations import Duration
from harness.statespec import StateSpec
from harness.yamlsource import Loc, load_model

PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::([^{}]+))?\}")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class HealthCheck(_Model):
    """How to tell a service is up: an HTTP path answering 2xx, or an open TCP port."""

    http: str | None = Field(default=None, description="path answering 2xx, e.g. /health")
    tcp: bool = False
    timeout: Duration = Field(default=20.0, description="how long start-up may take; not scaled")


class Service(_Model):
    """One process of the system under test."""

    command: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    health: HealthCheck | None = None


class Hook(_Model):
    """A command the harness runs on behalf of a fault, e.g. ``deploy``.

    Besides the usual placeholders, ``{service}`` and ``{version}`` expand to the fault's values.
    """

    command: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    timeout: Duration = Field(default=30.0, description="real time; the hook fails after it")


class EdgeSpec(_Model):
    """A dependency edge: ``from_`` reaches ``to`` through a Toxiproxy proxy.

    ``protocol: http`` makes the edge HTTP-aware: an HTTP reverse proxy (mitmproxy) sits behind
    its Toxiproxy proxy, counts its requests per method, path and status on the timeline, and
    injects the HTTP faults (``http_error``, ``http_delay``, ``http_abort``).
    """

    from_: str = Field(alias="from")
    to: str
    protocol: Literal["tcp", "http"] = Field(
        default="tcp",
        description="http: count the edge's requests and allow HTTP faults on it (mitmproxy)",
    )

    @property
    def name(self) -> str:
        """The edge as scenarios write it, ``client->dependency``."""
        return f"{self.from_}->{self.to}"


class AutomationSwitch(_Model):
    """The environment variable that turns the automation off for drills."""

    env: str
    off: str


class Automation(_Model):
    """Which service is the automation, and how to switch it off."""

    service: str
    switch: AutomationSwitch | None = None


class ComposeSpec(_Model):
    """How the compose target runs the system: its compose file and the containers' ports.

    Service commands and images come from the compose file; the system file's ``env`` of each
    service is given to its container, with ``{port}`` the container port below, ``{addr:X}``
    ``X:<port>`` on the compose network and ``{edge:A->B}`` the edge's proxy in the Toxiproxy
    service. Endpoints and hooks are used from the harness's side, through published ports.
    """

    file: str = Field(description="the compose file, relative to the system file")
    toxiproxy: str = Field(
        default="toxiproxy", description="the compose service that runs Toxiproxy (API on 8474)"
    )
    ports: dict[str, int] = Field(
        default_factory=dict, description="the port each service listens on in its container"
    )


class SystemSpec(_Model):
    """A system under test, as the process target runs it (the compose target: ``compose``)."""

    name: str
    description: str = ""
    services: dict[str, Service] = Field(min_length=1)
    edges: list[EdgeSpec] = Field(default_factory=list)
    endpoints: dict[str, str] = Field(default_factory=dict)
    automation: Automation | None = None
    hooks: dict[str, Hook] = Field(
        default_factory=dict, description="commands for change faults: 'deploy'"
    )
    compose: ComposeSpec | None = Field(
        default=None, description="how the compose target runs it; absent: process target only"
    )
    contract: Contract = Field(
        default_factory=Contract,
        description="the system's vocabulary: what its events and requests mean (docs/contract.md)",
    )
    honours_time_scale: bool = Field(
        default=True,
        description="whether the system scales its own timers by HARNESS_TIME_SCALE; if not, "
        "fault magnitudes (latencies, timeouts, delays) are never scaled, only the harness's "
        "own waits and bounds",
    )
    min_time_scale: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="the smallest --time-scale the system's own timers honour; a run below it "
        "is refused (its timers have a floor, so scaled bounds would be judged wrongly)",
    )
    state: StateSpec = Field(
        default_factory=StateSpec,
        description="what the harness reads of the system's store itself: counters during "
        "the run, records after it (docs/contract.md)",
    )

    # field validators, so a problem is located at 'edges:' or 'automation:', not at line 1
    @field_validator("edges")
    @classmethod
    def _edges_exist(cls, edges: list[EdgeSpec], info: ValidationInfo) -> list[EdgeSpec]:
        services = info.data.get("services", {})  # absent if the services were invalid
        for edge in edges if services else ():
            for end in (edge.from_, edge.to):
                if end not in services:
                    raise ValueError(f"edge {edge.name} names an unknown service {end!r}")
        return edges

    @field_validator("automation")
    @classmethod
    def _automation_exists(cls, auto: Automation | None, info: ValidationInfo) -> Automation | None:
        services = info.data.get("services", {})
        if auto and services and auto.service not in services:
            raise ValueError(f"automation service {auto.service!r} is not a service")
        return auto

    @field_validator("compose")
    @classmethod
    def _compose_ports(
        cls, compose: ComposeSpec | None, info: ValidationInfo
    ) -> ComposeSpec | None:
        services = info.data.get("services", {})
        if compose and services:
            unknown = sorted(set(compose.ports) - set(services))
            if unknown:
                raise ValueError(f"ports of unknown services {unknown}; known: {sorted(services)}")
            missing = sorted(set(services) - set(compose.ports))
            if missing:
                raise ValueError(f"no container port for {missing}: add them under compose.ports")
            if compose.toxiproxy in services:
                raise ValueError(f"toxiproxy service {compose.toxiproxy!r} is also a SUT service")
        return compose

    def edge_names(self) -> list[str]:
        """Every declared edge, ``client->dependency``."""
        return [e.name for e in self.edges]

    def http_edges(self) -> list[EdgeSpec]:
        """The edges declared ``protocol: http``."""
        return [e for e in self.edges if e.protocol == "http"]


def load_system(path: Path) -> SystemSpec:
    """Load a system file; raise ScenarioError naming file, line and field."""
    spec: SystemSpec = load_model(path, SystemSpec, _placeholder_check)
    return spec


_KNOWN = {"port", "python", "dir", "addr", "edge"}
_HOOK_ONLY = {"service", "version"}


def _placeholder_check(spec: Any) -> list[tuple[Loc, str]]:
    assert isinstance(spec, SystemSpec)
    problems: list[tuple[Loc, str]] = []
    edges, services = set(spec.edge_names()), set(spec.services)

    def check(loc: Loc, text: str, extra: frozenset[str] = frozenset()) -> None:
        for match in PLACEHOLDER.finditer(text):
            name, arg = match.group(1), (match.group(2) or "").replace(" ", "")
            if name not in _KNOWN | extra:
                problems.append((loc, f"unknown placeholder {match.group(0)}"))
            elif name == "edge" and arg not in edges:
                problems.append((loc, f"{match.group(0)}: no such edge; declared: {sorted(edges)}"))
            elif name == "addr" and arg not in services:
                problems.append((loc, f"{match.group(0)}: no such service"))

    for svc_name, svc in spec.services.items():
        for i, arg in enumerate(svc.command):
            check(("services", svc_name, "command", i), arg)
        for key, value in svc.env.items():
            check(("services", svc_name, "env", key), value)
    for key, value in spec.endpoints.items():
        check(("endpoints", key), value)
    for hook_name, hook in spec.hooks.items():
        for i, arg in enumerate(hook.command):
            check(("hooks", hook_name, "command", i), arg, frozenset(_HOOK_ONLY))
        for key, value in hook.env.items():
            check(("hooks", hook_name, "env", key), value, frozenset(_HOOK_ONLY))
    return problems


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the system file format, for editors (yaml-language-server)."""
    schema = SystemSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
