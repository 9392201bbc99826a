"""From a path or a name to a validated scenario and the system it runs against.

Everything that can be checked without touching anything is checked here, before a run starts:
the scenario's format, the system file, that every edge the scenario breaks is one the system
declares, and that every endpoint a URL names exists. Each problem names file, line and field.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from harness.contract import Contract
from harness.drills import Runbook, load_runbook
from harness.errors import ConfigError, Problem, ScenarioError
from harness.expectations import NoRetryStormExpectation
from harness.faultspec import HTTP_FAULTS
from harness.probespec import Checks
from harness.scenario import DeployFault, DuplicateFault, ReplayFault, Scenario, load_scenario
from harness.statespec import StateSpec
from harness.system import SystemSpec, load_system
from harness.yamlsource import Loc, locate, read_yaml

SUFFIXES = (".yaml", ".yml")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Prepared:
    """A scenario ready to run: validated, with its system resolved."""

    path: Path
    scenario: Scenario
    system_path: Path
    system: SystemSpec
    runbook: Runbook | None = None
    """The scenario's runbook (``drill.runbook``), for no-automation drills."""

    @property
    def state(self) -> StateSpec:
        """The store's counters and final-state reads: the scenario's roles over the system's."""
        if self.scenario.state is None:
            return self.system.state
        return self.scenario.state.over(self.system.state)


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
        hint="pass a path to a .yaml file, or point --scenarios-dir (ini: harness_scenarios_dir) "
        "at the folder of your scenarios",
    )


def check_unique_names(paths: list[Path], scenarios_dir: Path) -> None:
    """Refuse two scenario files with one ``name:``, selected together or in the scenarios dir.

    A run's history, bundles and Allure results are keyed by the scenario's name: a copy that
    kept its original's name would be filed under the other's history without a word. Files
    that do not load are left to report their own problems.
    """
    dir_key = _resolved(scenarios_dir)
    selected = list(dict.fromkeys(_resolved(p) for p in paths))
    neighbours = sorted(p for s in SUFFIXES for p in scenarios_dir.glob(f"*{s}"))
    names: dict[Path, str | None] = {}
    problems: list[Problem] = []
    for path in selected:
        others = list(selected)
        if path.parent == dir_key:
            others += [_resolved(p) for p in neighbours]
        name = _name_of(path, names)
        for other in dict.fromkeys(others):
            if other != path and name is not None and _name_of(other, names) == name:
                problems += [_name_problem(path, name, other), _name_problem(other, name, path)]
        if problems:
            break
    if problems:
        raise ScenarioError(
            what="two scenario files have the same name",
            problems=tuple(problems),
            hint="give the copy a name of its own (its history, bundles and reports are filed "
            "under it)",
        )


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, ValueError):
        return path


def _name_of(path: Path, cache: dict[Path, str | None]) -> str | None:
    if path not in cache:
        try:
            data = read_yaml(path)
            name = data.get("name") if isinstance(data, dict) else None
            cache[path] = name if isinstance(name, str) else None
        except ScenarioError:
            cache[path] = None
    return cache[path]


def _name_problem(path: Path, name: str, other: Path) -> Problem:
    return locate(path, read_yaml(path), ("name",), f"{name!r} is also the name of {other}")


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
    _system_problems(system_path, system)
    problems = cross_check(path, scenario, system)
    if problems:
        raise ScenarioError(what="the scenario does not fit its system", problems=problems)
    runbook = _runbook(path, scenario, system) if scenario.drill else None
    scenario = with_contract(scenario, system.contract)
    return Prepared(
        path=path, scenario=scenario, system_path=system_path, system=system, runbook=runbook
    )


def with_contract(scenario: Scenario, contract: Contract) -> Scenario:
    """The scenario with every request that names no idempotency header given the contract's.

    A request that sets ``idempotency_header`` (to a name, or to null: none) keeps it.
    """
    header = contract.requests.idempotency_header

    def fill(spec: M) -> M:
        if "idempotency_header" in spec.model_fields_set:
            return spec
        return spec.model_copy(update={"idempotency_header": header})

    update: dict[str, object] = {}
    if scenario.workload is not None:
        update["workload"] = fill(scenario.workload)
    if scenario.load is not None and scenario.load.requests:
        requests = [fill(r) for r in scenario.load.requests]
        update["load"] = scenario.load.model_copy(update={"requests": requests})
    faults = [
        f.model_copy(update={"request": fill(f.request)}) if isinstance(f, DuplicateFault) else f
        for f in scenario.faults
    ]
    update["faults"] = faults
    return scenario.model_copy(update=update)


def _runbook(path: Path, scenario: Scenario, system: SystemSpec) -> Runbook:
    """The scenario's runbook, checked against the system like the scenario is."""
    assert scenario.drill is not None
    try:
        runbook_path = (path.parent / scenario.drill.runbook).resolve()
        message = "" if runbook_path.is_file() else f"no such file: {runbook_path}"
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long for the file system
        runbook_path, message = path, f"not a usable path: {exc}"
    if message:
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
    urls: list[tuple[Loc, str]] = []
    for i, probe in enumerate(scenario.steady_state):
        urls += check_addresses(("steady_state", i), probe)
    if scenario.workload:
        urls.append((("workload", "url"), scenario.workload.url))
    if scenario.drain:
        urls += check_addresses(("drain",), scenario.drain)
    if scenario.load and scenario.load.requests:
        for i, request in enumerate(scenario.load.requests):
            urls.append((("load", "requests", i, "url"), request.url))
    for i, guard in enumerate(scenario.guards):
        urls += check_addresses(("guards", i), guard)
    for i, fault in enumerate(scenario.faults):
        if isinstance(fault, DuplicateFault):
            urls.append((("faults", i, "request", "url"), fault.request.url))
    if scenario.state is not None:
        urls += state_addresses(scenario.state)
    found += _url_problems(urls, system)
    if not found:
        return ()
    data = read_yaml(path)
    return tuple(locate(path, data, loc, msg) for loc, msg in found)


def state_addresses(state: StateSpec) -> list[tuple[Loc, str]]:
    """Where each counter and final-state read of ``state`` reads, located under ``state``."""
    found: list[tuple[Loc, str]] = []
    for where, checks in state.reads():
        found += check_addresses(("state", *where.split(".")), checks)
    return found


def _system_problems(path: Path, system: SystemSpec) -> None:
    """The system file's own reads must reach only its own endpoints, like a scenario's."""
    found = _url_problems(state_addresses(system.state), system)
    if found:
        data = read_yaml(path)
        raise ScenarioError(
            what="the system file reads beyond its endpoints",
            problems=tuple(locate(path, data, loc, msg) for loc, msg in found),
        )


def check_addresses(prefix: Loc, checks: Checks) -> list[tuple[Loc, str]]:
    """Where each probe kind of ``checks`` reads (URLs, DSNs), located for the scope check."""
    found: list[tuple[Loc, str]] = []
    for kind, spec in checks.given():
        address = spec.address()
        if address is not None:
            field = type(spec).model_fields[address[0]].alias or address[0]
            found.append(((*prefix, kind, field), address[1]))
    return found


def _url_problems(urls: list[tuple[Loc, str]], system: SystemSpec) -> list[tuple[Loc, str]]:
    """Each URL that is no template, names an endpoint the system lacks, or reaches elsewhere.

    The harness touches only what the target declares: every URL starts with an endpoint name.
    """
    found: list[tuple[Loc, str]] = []
    for loc, url in urls:
        if not url.startswith("{") or url.startswith("{env:"):
            found.append(
                (
                    loc,
                    f"{url!r} is not one of the system's endpoints: the harness only reaches what "
                    "the target declares; start the URL with an endpoint name, e.g. {api}/health",
                )
            )
            continue
        try:
            names = [(name, spec) for _, name, spec, _ in string.Formatter().parse(url)]
        except ValueError as exc:  # a lone '{' or '}': the URL could never be expanded
            found.append((loc, f"not a URL template: {exc}; write a literal brace as {{{{ or }}}}"))
            continue
        for name, spec in names:
            if name == "env" and spec:
                continue  # {env:NAME}: a secret from the environment, expanded at run time
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

    honoured = prepared.system.honours_time_scale
    lines = [
        f"scenario {s.name} on {prepared.system.name} ({prepared.system_path})",
        f"time scale {time_scale:g}: every duration below is scaled; bounds as stated"
        + (
            ""
            if honoured or time_scale == 1.0
            else "; the system does not honour HARNESS_TIME_SCALE, so fault magnitudes "
            "(latencies, timeouts, delays) are applied unscaled"
        ),
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
    lines += [f"warning: {w}" for w in scale_warnings(prepared, time_scale)]
    return lines


MAGNITUDES = ("latency", "jitter", "timeout", "delay")
"""Fault fields that are magnitudes of the fault, not times of the harness's schedule."""


def scale_warnings(prepared: Prepared, time_scale: float) -> list[str]:
    """Bounds that, scaled, are shorter than a fault's magnitude as it will be applied.

    A latency of 5 s with the system's timers unscaled (or scaled alike) against a bound of
    30 s at time scale 0.05 (1.5 s): no automation can keep that promise in time.
    """
    from harness.durations import render_duration

    scale = time_scale if prepared.system.honours_time_scale else 1.0
    scenario = prepared.scenario

    def magnitude(fault: object) -> float:
        return sum(float(getattr(fault, f, 0.0) or 0.0) for f in MAGNITUDES) * scale

    faults = zip(scenario.fault_ids(), scenario.faults, strict=True)
    applied = [(fault_id, fault.type, magnitude(fault)) for fault_id, fault in faults]
    found = []
    for e in scenario.expectations:
        within = getattr(e, "within", None)
        for fault_id, kind, seconds in applied:
            if within is not None and 0 < within * time_scale < seconds:
                found.append(
                    f"{e.policy}: its bound {render_duration(within)} scales to "
                    f"{render_duration(within * time_scale)}, shorter than the {kind} of "
                    f"{fault_id} as applied ({render_duration(seconds)})"
                )
    return found


def check_time_scale(prepared: Prepared, time_scale: float) -> None:
    """Refuse a time scale below the floor the system file declares (``min_time_scale``)."""
    floor = prepared.system.min_time_scale
    if floor is not None and time_scale < floor:
        path = prepared.system_path
        at = locate(path, read_yaml(path), ("min_time_scale",), "")
        raise ConfigError(
            what=f"time scale {time_scale:g} is below the floor {floor:g} of system "
            f"{prepared.system.name!r}: its own timers cannot run that fast, so scaled bounds "
            "would be judged wrongly",
            where=f"{path}:{at.line}:{at.column}: min_time_scale",
            expected=f"--time-scale >= {floor:g}",
            actual=f"--time-scale {time_scale:g}",
            hint=f"run with --time-scale {floor:g} or more",
        )
