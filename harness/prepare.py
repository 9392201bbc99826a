"""From a path or a name to a validated scenario and the system it runs against.

Everything that can be checked without touching anything is checked here, before a run starts:
the scenario's format, the system file, that every edge the scenario breaks is one the system
declares, and that every endpoint a URL names exists. Each problem names file, line and field.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

from harness.drills import Runbook, load_runbook
from harness.errors import Problem, ScenarioError
from harness.expectations import NoRetryStormExpectation
from harness.faultspec import HTTP_FAULTS
from harness.scenario import DeployFault, DuplicateFault, ReplayFault, Scenario, load_scenario
from harness.system import SystemSpec, load_system
from harness.yamlsource import Loc, locate, read_yaml

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Prepared:
    """A scenario ready to run: validated, with its system resolved."""

    path: Path
    scenario: Scenario
    system_path: Path
    system: SystemSpec
    runbook: Runbook | None = None
    """The scenario's runbook (``drill.runbook``), for no-automation drills."""


def resolve_scenarios(spec: str, scenarios_dir: Path) -> list[Path]:
    """``all``, a scenario name (looked up in ``scenarios_dir``) or a path, to scenario files."""
    if spec == "all":
        found = sorted(p for s in SUFFIXES for p in scenarios_dir.glob(f"*{s}"))
        if not found:
            raise ScenarioError(what=f"no scenario files in {scenarios_dir}", where=spec)
        return found
    path = Path(spec)
    if path.suffix in SUFFIXES or path.exists():
        if not path.is_file():
            raise ScenarioError(what="no such scenario file", where=spec)
        return [path]
    for suffix in SUFFIXES:
        candidate = scenarios_dir / f"{spec}{suffix}"
        if candidate.is_file():
            return [candidate]
    known = sorted(p.stem for s in SUFFIXES for p in scenarios_dir.glob(f"*{s}"))
    raise ScenarioError(
        what=f"no scenario called {spec!r} in {scenarios_dir}",
        expected=f"a path, 'all', or one of: {', '.join(known) or '(none)'}",
        hint="pass a path to a .yaml file, or set the harness_scenarios_dir ini option",
    )


def prepare(path: Path, default_system: Path | None) -> Prepared:
    """Load the scenario and its system, and cross-check them."""
    scenario = load_scenario(path)
    if scenario.system:
        system_path = path.parent / scenario.system
    elif default_system is not None:
        system_path = default_system
    else:
        raise ScenarioError(
            what="the scenario names no system to run against",
            where=str(path),
            hint="add 'system: path/to/system.yaml' to the scenario, or pass --system",
        )
    try:
        system_path = system_path.resolve()
        missing = None if system_path.is_file() else f"no such file: {system_path}"
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long for the file system
        missing = f"not a usable path: {exc}"
    if missing:
        data = read_yaml(path)
        raise ScenarioError(
            what="system file not found",
            where=str(path),
            problems=(locate(path, data, ("system",), missing),),
        )
    system = load_system(system_path)
    problems = cross_check(path, scenario, system)
    if problems:
        raise ScenarioError(what="the scenario does not fit its system", problems=problems)
    runbook = _runbook(path, scenario, system) if scenario.drill else None
    return Prepared(
        path=path, scenario=scenario, system_path=system_path, system=system, runbook=runbook
    )


def _runbook(path: Path, scenario: Scenario, system: SystemSpec) -> Runbook:
    """The scenario's runbook, checked against the system like the scenario is."""
    assert scenario.drill is not None
    runbook_path = (path.parent / scenario.drill.runbook).resolve()
    if not runbook_path.is_file():
        message = f"no such file: {runbook_path}"
        problem = locate(path, read_yaml(path), ("drill", "runbook"), message)
        raise ScenarioError(what="runbook file not found", where=str(path), problems=(problem,))
    runbook = load_runbook(runbook_path)
    found: list[tuple[Loc, str]] = []
    urls: list[tuple[Loc, str]] = []
    services = sorted(system.services)
    for i, step in enumerate(runbook.steps):
        if step.http is not None:
            urls.append((("steps", i, "http", "url"), step.http.url))
        if step.wait is not None and step.wait.http is not None:
            urls.append((("steps", i, "wait", "http", "url"), step.wait.http.url))
        named: list[tuple[Loc, str | None]] = [(("steps", i, "restart"), step.restart)]
        if step.deploy is not None:
            named.append((("steps", i, "deploy", "service"), step.deploy.service))
            if "deploy" not in system.hooks:
                message = "the system declares no deploy hook (hooks.deploy)"
                found.append((("steps", i, "deploy"), message))
        for loc, service in named:
            if service and service not in system.services:
                found.append((loc, f"the system has no service {service!r}: {services}"))
    found += _url_problems(urls, system)
    if found:
        data = read_yaml(runbook_path)
        raise ScenarioError(
            what="the runbook does not fit the system",
            problems=tuple(locate(runbook_path, data, loc, msg) for loc, msg in found),
        )
    return runbook


def cross_check(path: Path, scenario: Scenario, system: SystemSpec) -> tuple[Problem, ...]:
    """Problems where the scenario names an edge, service, hook or endpoint the system lacks."""
    found = _fault_problems(scenario, system) + _expectation_problems(scenario, system)
    urls: list[tuple[Loc, str]] = [
        (("steady_state", i, "http", "url"), p.http.url)
        for i, p in enumerate(scenario.steady_state)
    ]
    if scenario.workload:
        urls.append((("workload", "url"), scenario.workload.url))
    if scenario.drain:
        urls.append((("drain", "http", "url"), scenario.drain.http.url))
    if scenario.load and scenario.load.requests:
        for i, request in enumerate(scenario.load.requests):
            urls.append((("load", "requests", i, "url"), request.url))
    for i, guard in enumerate(scenario.guards):
        if guard.http is not None:
            urls.append((("guards", i, "http", "url"), guard.http.url))
    for i, fault in enumerate(scenario.faults):
        if isinstance(fault, DuplicateFault):
            urls.append((("faults", i, "request", "url"), fault.request.url))
    found += _url_problems(urls, system)
    if not found:
        return ()
    data = read_yaml(path)
    return tuple(locate(path, data, loc, msg) for loc, msg in found)


def _url_problems(urls: list[tuple[Loc, str]], system: SystemSpec) -> list[tuple[Loc, str]]:
    """Each URL that is no template, names an endpoint the system lacks, or reaches elsewhere.

    The harness touches only what the target declares: every URL starts with an endpoint name.
    """
    found: list[tuple[Loc, str]] = []
    for loc, url in urls:
        if not url.startswith("{"):
            found.append(
                (
                    loc,
                    f"{url!r} is not one of the system's endpoints: the harness only reaches what "
                    "the target declares; start the URL with an endpoint name, e.g. {api}/health",
                )
            )
            continue
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(url)]
        except ValueError as exc:  # a lone '{' or '}': the URL could never be expanded
            found.append((loc, f"not a URL template: {exc}; write a literal brace as {{{{ or }}}}"))
            continue
        for name in names:
            if name is not None and name not in system.endpoints:
                found.append(
                    (
                        loc,
                        f"unknown endpoint {{{name}}}; the system has: {sorted(system.endpoints)}",
                    )
                )
    return found


def _fault_problems(scenario: Scenario, system: SystemSpec) -> list[tuple[Loc, str]]:
    found: list[tuple[Loc, str]] = []
    edges, services = system.edge_names(), sorted(system.services)
    for i, fault in enumerate(scenario.faults):
        edge = getattr(fault, "edge", None)
        if edge is not None and edge not in edges:
            found.append(
                (("faults", i, "edge"), f"the system has no edge {edge!r}; it has: {edges}")
            )
        service = getattr(fault, "service", None)
        if service is not None and service not in services:
            found.append(
                (("faults", i, "service"), f"the system has no service {service!r}: {services}")
            )
        if isinstance(fault, DeployFault) and "deploy" not in system.hooks:
            found.append(
                (("faults", i, "type"), "the system declares no deploy hook (hooks.deploy)")
            )
        if isinstance(fault, ReplayFault) and scenario.workload is None:
            found.append((("faults", i, "type"), "replay needs a workload to replay from"))
        if fault.type in HTTP_FAULTS and edge in edges and not _is_http(system, edge):
            found.append((("faults", i, "edge"), _not_http(fault.type, str(edge), system)))
    return found


def _expectation_problems(scenario: Scenario, system: SystemSpec) -> list[tuple[Loc, str]]:
    """Expectations that name an edge the system lacks, or need an HTTP-aware one."""
    found: list[tuple[Loc, str]] = []
    edges = system.edge_names()
    for i, expectation in enumerate(scenario.expectations):
        edge = getattr(expectation, "edge", None)
        if edge is None:
            continue
        if edge not in edges:
            found.append(
                (("expectations", i, "edge"), f"the system has no edge {edge!r}; it has: {edges}")
            )
        elif isinstance(expectation, NoRetryStormExpectation) and not _is_http(system, edge):
            found.append((("expectations", i, "edge"), _not_http(expectation.policy, edge, system)))
    return found


def _is_http(system: SystemSpec, edge: str) -> bool:
    return edge in {e.name for e in system.http_edges()}


def _not_http(what: str, edge: str, system: SystemSpec) -> str:
    http = [e.name for e in system.http_edges()]
    return (
        f"{what} needs an HTTP-aware edge, and {edge} is not one: declare 'protocol: http' on "
        f"it in the system file (HTTP-aware edges: {http or 'none'})"
    )


def _http_text(system: SystemSpec) -> str:
    http = [e.name for e in system.http_edges()]
    return f" ({', '.join(http)} HTTP-aware: mitmproxy behind it)" if http else ""


def plan(prepared: Prepared, time_scale: float) -> list[str]:
    """The timeline a run would follow, as lines a person reads; nothing is touched."""
    from harness.clock import format_offset
    from harness.durations import render_duration

    s = prepared.scenario

    def scaled(seconds: float) -> float:
        return seconds * time_scale

    lines = [
        f"scenario {s.name} on {prepared.system.name} ({prepared.system_path})",
        f"time scale {time_scale:g}: every duration below is scaled; bounds as stated",
        f"setup   start {len(prepared.system.services)} services, "
        f"{len(prepared.system.edges)} edges through Toxiproxy{_http_text(prepared.system)}; "
        "wait for health and steady state "
        f"({', '.join(p.name for p in s.steady_state)}); then, from 00:00.0:",
    ]
    if s.workload:
        lines.append(
            f"00:00.0 workload {s.workload.method} {s.workload.url} at {s.workload.rate:g}/s"
        )
    start = scaled(s.warmup)
    for fault_id, fault in zip(s.fault_ids(), s.faults, strict=True):
        at, until = start + scaled(fault.at), start + scaled(fault.at + fault.duration)
        where = getattr(fault, "edge", None) or getattr(fault, "service", "")
        lines.append(
            f"{format_offset(at)} inject {fault_id} ({fault.type} {where}) "
            f"for {render_duration(scaled(fault.duration))}"
        )
        lines.append(f"{format_offset(until)} heal {fault_id}")
    end = start + scaled(s.inject_span() + s.settle_time())
    lines.append(f"{format_offset(end)} verify steady state; stop the system")
    for e in s.expectations:
        within = getattr(e, "within", None)
        bound = (
            f" within {render_duration(within)} (scaled {render_duration(scaled(within))})"
            if within is not None
            else ""
        )
        lines.append(f"expect {e.policy}{bound}")
    return lines
