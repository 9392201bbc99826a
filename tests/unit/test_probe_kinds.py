"""Probe kinds without servers: the YAML spelling, scope checks, commands, SQLite, HTTP, plugins.

The servers (PostgreSQL, Redis, Prometheus) are in tests/integration/test_probe_servers.py.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pluggy
import pytest

from harness import hookspecs
from harness.errors import ScenarioError
from harness.hookspecs import hookimpl
from harness.prepare import prepare
from harness.probes import registry
from harness.probes.base import ProbeContext, ProbeKind, Reading, Secrets, expand
from harness.probes.sampling import sample
from harness.probespec import CheckSpec, Probe
from harness.scenario import Guard, Scenario
from harness.timeline import Timeline

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


def probe(**fields: object) -> Probe:
    return Probe.model_validate({"name": "p", **fields})


def run(p: Probe, context: ProbeContext | None = None) -> tuple[bool, str]:
    entry = sample(p, context or ProbeContext({}), t_of=Timeline(), phase="test")
    return entry.ok, entry.detail


# --- the YAML spelling ---------------------------------------------------------------------


SCENARIO = """\
name: kinds
system: {system}
steady_state:
  - name: api-healthy
    http: {{url: "{{api}}/health", json: {{status: ok}}}}
  - name: queue-empty
    redis: {{url: "{{redis}}/0", command: [LLEN, orders], expect: {{equals: 0}}}}
  - name: nothing-stuck
    sql:
      dsn: "{{orders_db}}/orders?user=app&password={{env:ORDERS_DB_PASSWORD}}"
      query: "SELECT count(*) FROM orders WHERE status = 'stuck'"
      expect: {{equals: 0}}
  - name: errors-low
    prometheus:
      url: "{{prometheus}}"
      query: "sum(rate(errors_total[1m]))"
      expect: {{range: [0, 1]}}
  - name: tool-says-ok
    command: {{argv: [{python}, -c, "print(1)"], expect: {{equals: "1"}}}}
drain:
  sql: {{dsn: "sqlite:///orders.db", query: "SELECT count(*) FROM queue", expect: {{equals: 0}}}}
  within: 30s
guards:
  - name: backlog
    redis: {{url: "{{redis}}/0", command: [LLEN, orders], expect: {{range: [0, 1000]}}}}
    after: 2
faults:
  - {{type: partition, edge: worker -> payments, at: 0s, duration: 1s}}
expectations:
  - {{policy: pauses, within: 30s}}
"""

ENDPOINTS = """
  orders_db: "postgresql://127.0.0.1:5432"
  prometheus: "http://127.0.0.1:9090"
"""


def system_file(tmp_path: Path) -> Path:
    text = (ROOT / "fixtures/sut/system.yaml").read_text()
    text = text.replace("endpoints:           #", "endpoints:" + ENDPOINTS.rstrip() + "\n  #", 1)
    path = tmp_path / "system.yaml"
    path.write_text(text.replace("cwd fixtures/sut", "cwd here"))
    return path


def scenario_file(tmp_path: Path, text: str = SCENARIO) -> Path:
    path = tmp_path / "kinds.yaml"
    path.write_text(text.format(system=system_file(tmp_path), python=PY))
    return path


def test_every_place_that_checks_takes_every_kind(tmp_path: Path) -> None:
    prepared = prepare(scenario_file(tmp_path), None)
    scenario: Scenario = prepared.scenario
    kinds = [p.check()[0] for p in scenario.steady_state]
    assert kinds == ["http", "redis", "sql", "prometheus", "command"]
    assert scenario.drain is not None
    assert scenario.drain.check()[0] == "sql"
    assert scenario.guards[0].check()[0] == "redis"
    redis = scenario.steady_state[1].redis
    assert redis is not None
    assert redis.command == ["LLEN", "orders"]
    assert redis.expect is not None
    assert redis.expect.equals == 0


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        (
            'url: "{{redis}}/0", command: [LLEN, orders], expect: {{equals: 0}}',
            'url: "redis://127.0.0.1:6379/0", command: [LLEN, orders]',
            "steady_state[1].redis.url",
            "is not one of the system's endpoints",
        ),
        (
            'dsn: "{{orders_db}}/orders?user',
            'dsn: "{{env:ORDERS_DSN}}/orders?user',
            "steady_state[2].sql.dsn",
            "is not one of the system's endpoints",
        ),
        (
            'url: "{{prometheus}}"',
            'url: "{{metrics}}"',
            "steady_state[3].prometheus.url",
            "unknown endpoint {metrics}",
        ),
    ],
)
def test_addresses_of_every_kind_must_be_the_systems_endpoints(
    tmp_path: Path, old: str, new: str, where: str, message: str
) -> None:
    assert old in SCENARIO
    with pytest.raises(ScenarioError) as info:
        prepare(scenario_file(tmp_path, SCENARIO.replace(old, new, 1)), None)
    (problem,) = info.value.problems
    assert problem.field == where
    assert message in problem.message


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("{name: p}", "give exactly one of: http, command, sql, redis, prometheus"),
        (
            '{name: p, http: {url: "{api}/x"}, command: {argv: [ls]}}',
            "give exactly one of: http, command, sql, redis, prometheus",
        ),
        ("{name: p, kafka: {topic: x}}", "unknown field"),
        ("{name: p, sqll: {dsn: x, query: y}}", "unknown field; did you mean 'sql'?"),
        ("{name: p, redis: {url: x, command: []}}", "List should have at least 1 item"),
    ],
)
def test_a_probe_names_exactly_one_known_kind(tmp_path: Path, item: str, message: str) -> None:
    text = SCENARIO.replace(
        '  - name: api-healthy\n    http: {{url: "{{api}}/health", json: {{status: ok}}}}\n',
        "  - " + item.replace("{", "{{").replace("}", "}}") + "\n",
    )
    with pytest.raises(ScenarioError) as info:
        prepare(scenario_file(tmp_path, text), None)
    assert any(message in p.message for p in info.value.problems), info.value.render()
    assert all(p.line == 4 for p in info.value.problems), info.value.render()


def test_a_guard_takes_a_probe_of_any_kind_or_an_error_rate() -> None:
    guard = Guard.model_validate({"name": "g", "command": {"argv": ["true"]}})
    assert guard.as_probe("g").check()[0] == "command"
    with pytest.raises(ValueError, match="a guard needs exactly one of"):
        Guard.model_validate(
            {"name": "g", "command": {"argv": ["true"]}, "error_rate": {"above": 0.5}}
        )


# --- placeholders and secrets --------------------------------------------------------------


def test_placeholders_expand_endpoints_and_secrets_from_the_environment() -> None:
    context = ProbeContext({"db": "postgresql://h:5"}, environ={"PW": "s3cret"})
    secrets = Secrets()
    text = expand("{db}/orders?password={env:PW}&x={{1}}", context, secrets)
    assert text == "postgresql://h:5/orders?password=s3cret&x={1}"
    assert (
        secrets.mask(f"failed: {text}")
        == "failed: postgresql://h:5/orders?password=<redacted>&x={1}"
    )
    assert secrets.mask("user app, pw s3cret") == "user app, pw <redacted>"
    with pytest.raises(ValueError, match="the environment variable NOPE is not set"):
        expand("{env:NOPE}", context, Secrets())
    with pytest.raises(ValueError, match=r"unknown endpoint \{api\}"):
        expand("{api}/x", context, Secrets())
    assert expand("{api} {.a}", context, Secrets(), strict=False) == "{api} {.a}"


def test_a_secret_never_reaches_the_sample(tmp_path: Path) -> None:
    context = ProbeContext({}, base_dir=tmp_path, environ={"TOKEN": "tok-1234", "PATH": ""})
    command = [PY, "-c", "import sys; print('token', sys.argv[1], file=sys.stderr); sys.exit(3)"]
    ok, detail = run(probe(command={"argv": [*command, "{env:TOKEN}"]}), context)
    assert not ok
    assert "exit code 3, expected 0" in detail
    assert "tok-1234" not in detail
    assert "token <redacted>" in detail


# --- commands -------------------------------------------------------------------------------


def test_a_command_is_judged_by_its_exit_code_and_its_stdout(tmp_path: Path) -> None:
    context = ProbeContext({}, base_dir=tmp_path)
    (tmp_path / "state.json").write_text(json.dumps({"queue": [], "done": 3}))
    cat = [PY, "-c", "print(open('state.json').read())"]
    assert run(
        probe(
            command={"argv": cat, "json": True, "expect": {"jsonpath": "$.queue", "empty": True}}
        ),
        context,
    ) == (True, 'value {"queue": [], "done": 3}')
    ok, detail = run(
        probe(
            command={"argv": cat, "json": True, "expect": {"jsonpath": "$.done", "range": [5, 9]}}
        ),
        context,
    )
    assert (ok, detail) == (False, "$.done: expected a number in [5, 9], got 3")
    ok, detail = run(
        probe(command={"argv": [PY, "-c", "print('up')"], "expect": {"regex": "^up$"}}), context
    )
    assert ok, detail
    ok, detail = run(
        probe(command={"argv": [PY, "-c", "import sys; sys.exit(1)"], "exit": [0, 2]}), context
    )
    assert (ok, detail) == (False, f"{PY} -c import sys; sys.exit(1): exit code 1, expected [0, 2]")


@pytest.mark.parametrize(
    ("argv", "fields", "message"),
    [
        (["no-such-program-xyz"], {}, "cannot run it: FileNotFoundError"),
        ([PY, "-c", "print('not json')"], {"json": True}, "stdout is not JSON"),
        ([PY, "-c", "import time; time.sleep(5)"], {"timeout": "200ms"}, "no exit within 0.2s"),
    ],
)
def test_a_command_that_cannot_give_a_value_says_why(
    tmp_path: Path, argv: list[str], fields: dict[str, object], message: str
) -> None:
    ok, detail = run(probe(command={"argv": argv, **fields}), ProbeContext({}, base_dir=tmp_path))
    assert not ok
    assert message in detail


# --- SQLite ---------------------------------------------------------------------------------


@pytest.fixture
def orders_db(tmp_path: Path) -> Path:
    path = tmp_path / "orders.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id TEXT, status TEXT, charges INT)")
        conn.executemany(
            "INSERT INTO orders VALUES (?, ?, ?)",
            [("a", "done", 1), ("b", "done", 2), ("c", "stuck", 0)],
        )
    return path


def test_a_sqlite_query_reads_a_value_or_rows(orders_db: Path) -> None:
    context = ProbeContext({}, base_dir=orders_db.parent)
    stuck = "SELECT count(*) FROM orders WHERE status = 'stuck'"
    assert run(
        probe(sql={"dsn": "sqlite:///orders.db", "query": stuck, "expect": {"equals": 1}}), context
    ) == (True, "value 1")
    ok, detail = run(
        probe(sql={"dsn": "sqlite:///orders.db", "query": stuck, "expect": {"equals": 0}}), context
    )
    assert (ok, detail) == (False, "expected 0, got 1")
    rows = {
        "dsn": f"sqlite:///{orders_db}",
        "query": "SELECT id, status FROM orders",
        "returns": "rows",
    }
    ok, detail = run(
        probe(sql={**rows, "expect": {"jsonpath": "$[*].status", "one_of": ["done"]}}), context
    )
    assert (ok, detail) == (False, '$[*].status match #3: expected one of ["done"], got "stuck"')


def test_a_failing_sqlite_query_is_quoted(orders_db: Path) -> None:
    context = ProbeContext({}, base_dir=orders_db.parent)
    ok, detail = run(
        probe(sql={"dsn": "sqlite:///orders.db", "query": "SELECT nope FROM orders"}), context
    )
    assert not ok
    assert detail == "sqlite:///orders.db: the query failed: OperationalError: no such column: nope"
    ok, detail = run(probe(sql={"dsn": "sqlite:///missing.db", "query": "SELECT 1"}), context)
    assert not ok
    assert "no SQLite database at" in detail
    ok, detail = run(
        probe(sql={"dsn": "sqlite:///orders.db", "query": "DELETE FROM orders"}), context
    )
    assert not ok
    assert "readonly" in detail
    ok, detail = run(probe(sql={"dsn": "mysql://h/db", "query": "SELECT 1"}), context)
    assert not ok
    assert "unsupported database URL scheme mysql:" in detail


# --- HTTP, against a real local server -----------------------------------------------------


class _Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"orders": [{"id": "a"}, {"id": "b"}], "queue": []}).encode()
        self.send_response(503 if self.path == "/down" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_http_probe_applies_its_tolerance_to_the_body(api: str) -> None:
    context = ProbeContext({"api": api})
    assert run(
        probe(http={"url": "{api}/orders", "expect": {"jsonpath": "$.queue", "empty": True}}),
        context,
    )[0]
    ok, detail = run(
        probe(http={"url": "{api}/orders", "expect": {"jsonpath": "$.orders", "length": 3}}),
        context,
    )
    assert (ok, detail) == (False, "$.orders: expected length 3, got 2")
    ok, detail = run(probe(http={"url": "{api}/down"}), context)
    assert (ok, detail) == (False, "HTTP 503, expected 200")


# --- a third party's kind -------------------------------------------------------------------


class LagCheck(CheckSpec):
    group: str


class LagKind:
    spec = LagCheck

    def read(self, spec: CheckSpec, context: ProbeContext) -> Reading:
        assert isinstance(spec, LagCheck)
        return Reading(value=len(spec.group))


class LagPlugin:
    @hookimpl
    def harness_probe_kinds(self) -> Mapping[str, ProbeKind]:
        return {"lag": LagKind()}


@pytest.fixture
def lag_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    builtin = hookspecs.plugin_manager

    def with_plugin() -> pluggy.PluginManager:
        pm = builtin()
        pm.register(LagPlugin())
        return pm

    monkeypatch.setattr(hookspecs, "plugin_manager", with_plugin)
    registry.forget()
    yield
    registry.forget()


@pytest.mark.usefixtures("lag_plugin")
def test_a_plugin_adds_a_probe_kind_spelled_like_the_built_ins() -> None:
    p = probe(lag={"group": "orders", "expect": {"range": [0, 5]}})
    assert p.check()[0] == "lag"
    assert run(p) == (False, "expected a number in [0, 5], got 6")
    assert run(probe(lag={"group": "ok", "expect": {"range": [0, 5]}})) == (True, "value 2")
    with pytest.raises(ValueError, match=r"lag\.group: Field required"):
        probe(lag={"expect": {"equals": 1}})
    assert registry.probe_kinds()["http"].spec.__name__ == "HttpCheck"
