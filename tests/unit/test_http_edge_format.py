"""HTTP-aware edges in the formats: ``protocol: http``, the HTTP faults, their located refusals,
the rules the drivers hand the proxy, and a missing mitmproxy named with its fix."""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.errors import ConfigError, FaultError, ScenarioError
from harness.extras import MissingExtra
from harness.faults.http import HttpFaultDriver
from harness.faults.http_edges import HttpEdges
from harness.faults.http_rules import HttpRule
from harness.faultspec import HttpDelayFault, HttpErrorFault
from harness.prepare import prepare
from harness.timeline import Timeline

SYSTEM = """\
name: two-edges
services:
  a: {command: [a]}
  b: {command: [b]}
  c: {command: [c]}
edges:
  - {from: a, to: b, protocol: http}
  - {from: a, to: c}
endpoints: {a: "http://{addr:a}"}
"""
SCENARIO = """\
name: http-faults
system: system.yaml
steady_state:
  - {name: up, http: {url: "{a}/health"}}
faults:
  - type: http_error
    edge: a -> b
    status: 429
    at: 0s
    duration: 10s
  - type: http_abort
    edge: a -> c
    at: 0s
    duration: 10s
expectations:
  - policy: no_retry_storm
    edge: a -> b
    max_calls: 10
  - policy: no_retry_storm
    edge: a -> c
    max_rate: 2
"""


def write(tmp_path: Path, scenario: str = SCENARIO, system: str = SYSTEM) -> Path:
    (tmp_path / "system.yaml").write_text(system, encoding="utf-8")
    path = tmp_path / "scenario.yaml"
    path.write_text(scenario, encoding="utf-8")
    return path


def test_http_faults_and_storm_bounds_on_a_tcp_edge_are_located(tmp_path: Path) -> None:
    path = write(tmp_path)
    with pytest.raises(ScenarioError) as info:
        prepare(path, None)
    found = [(p.line, p.field, p.message) for p in info.value.problems]
    hint = "declare 'protocol: http' on it in the system file (HTTP-aware edges: ['a->b'])"
    assert found == [
        (12, "faults[1].edge", f"http_abort needs an HTTP-aware edge, and a->c is not one: {hint}"),
        (
            20,
            "expectations[1].edge",
            f"no_retry_storm needs an HTTP-aware edge, and a->c is not one: {hint}",
        ),
    ]


def test_the_same_faults_fit_once_the_edge_is_http_aware(tmp_path: Path) -> None:
    path = write(
        tmp_path, system=SYSTEM.replace("{from: a, to: c}", "{from: a, to: c, protocol: http}")
    )
    prepared = prepare(path, None)
    assert [e.protocol for e in prepared.system.edges] == ["http", "http"]
    assert [e.name for e in prepared.system.http_edges()] == ["a->b", "a->c"]


def test_an_unknown_protocol_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, system=SYSTEM.replace("protocol: http", "protocol: grpc"))
    with pytest.raises(ScenarioError) as info:
        prepare(path, None)
    (problem,) = info.value.problems
    assert (problem.line, problem.field) == (7, "edges[0].protocol")
    assert problem.message == "Input should be 'tcp' or 'http'"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("count: 3\n    rate: 0.5", "either rate (a share) or count (the first N), not both"),
        ("path: charge", "path must start with '/'"),
        ("status: 302", "greater than or equal to 400"),
        ("rate: 0", "greater than 0"),
    ],
)
def test_bad_http_faults_are_refused(tmp_path: Path, extra: str, message: str) -> None:
    path = write(tmp_path, SCENARIO.replace("status: 429", extra))
    with pytest.raises(ScenarioError) as info:
        prepare(path, None)
    assert any(message in p.message for p in info.value.problems), info.value.problems


class _Control:
    def __init__(self, http: bool = True) -> None:
        self.http, self.rules = http, {}  # type: ignore[var-annotated]

    def is_http(self, edge: str) -> bool:
        return self.http

    def set_rule(self, edge: str, rule: HttpRule) -> None:
        self.rules[rule.id] = rule

    def clear_rule(self, edge: str, rule_id: str) -> None:
        self.rules.pop(rule_id, None)


def driver(control: _Control | None) -> HttpFaultDriver:
    context: Any = SimpleNamespace(http=control, scaled=lambda s: s * 0.05)
    return HttpFaultDriver(context)


def test_an_error_rule_is_scaled_and_healed() -> None:
    control = _Control()
    fault = HttpErrorFault.model_validate(
        {"type": "http_error", "edge": "a->b", "at": "0s", "duration": "1m", "status": 429,
         "retry_after": "15s", "count": 5, "path": "/charge"}
    )  # fmt: skip
    handle = driver(control).inject(fault, "f1-http_error")
    rule = control.rules["f1-http_error"]
    assert (rule.type, rule.status, rule.count, rule.path) == ("error", 429, 5, "/charge")
    assert rule.headers == {"Retry-After": "1"}  # 15s x 0.05 = 0.75s, whole seconds up
    assert handle.detail == {"rule": "error", "rate": 1.0, "path": "/charge", "count": 5,
                             "status": 429}  # fmt: skip
    assert handle.heal()
    assert control.rules == {}


def test_a_delay_rule_is_scaled() -> None:
    control = _Control()
    fault = HttpDelayFault.model_validate(
        {"type": "http_delay", "edge": "a->b", "at": "0s", "duration": "1m", "delay": "10s"}
    )
    driver(control).inject(fault, "f2-http_delay")
    assert control.rules["f2-http_delay"].delay == pytest.approx(0.5)


def test_an_http_fault_without_an_http_edge_is_a_fault_error() -> None:
    fault = HttpDelayFault.model_validate(
        {"type": "http_delay", "edge": "a->b", "at": "0s", "duration": "1m", "delay": "1s"}
    )
    for control in (None, _Control(http=False)):
        with pytest.raises(FaultError, match="protocol: http"):
            driver(control).inject(fault, "f1")


def test_a_missing_mitmproxy_is_named_with_its_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("harness.faults.http_edges.sys.executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingExtra) as info:  # a configuration error: exit 2, like Locust's
        HttpEdges(["a->b"], Timeline(), tmp_path / "http")
    assert "chaos-policy-harness[http]" in info.value.hint
    assert isinstance(info.value, ConfigError)


def test_a_counts_line_becomes_an_entry_and_junk_is_skipped(tmp_path: Path) -> None:
    timeline = Timeline(1.0)
    edges = HttpEdges(["a->b"], timeline, tmp_path / "http")
    origin = edges._origin  # the run's start on the monotonic clock
    line = textwrap.dedent(f"""\
        {{"edge": "a->b", "start": {origin}, "end": {origin + 0.5}, "p50_ms": 1.5, "p99_ms": 9.0,
          "counts": [{{"method": "POST", "path": "/x", "status": 503, "fault": "f1", "count": 3}},
                     {{"method": "GET", "path": "/y", "status": null, "fault": null, "count": 1}}]}}
        """).replace("\n", " ")
    entry = edges.entry(line.encode())
    assert entry is not None
    assert (entry.edge, entry.requests, entry.window, entry.p99_ms) == ("a->b", 4, 0.5, 9.0)
    assert entry.t <= timeline.now()
    assert [c.status for c in entry.counts] == [503, None]
    assert edges.entry(b"not json") is None
    assert edges.entry(b'{"edge": "a->b"}') is None
    edges.close()
