"""Probe kinds against real servers: PostgreSQL (psycopg 3), Redis (redis-py), Prometheus.

One server of each per session (tests/integration/servers.py). Each kind is shown to hold on
a healthy answer, to fail on an unhealthy one, and to say, located and with every password
masked, why it could not read: a failing query, a refused command, a bad PromQL expression,
a server that is not there. Final-state reads give records from each store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import (
    APP_PASSWORD,
    PG_PASSWORD,
    REDIS_PASSWORD,
    Postgres,
    free_port,
    postgres,
    prometheus,
    redis_server,
)

from harness.probes.base import ProbeContext
from harness.probes.sampling import sample
from harness.probes.state import StateRead, read_state
from harness.probespec import Probe, StateReader
from harness.timeline import Timeline

pytestmark = pytest.mark.integration

ENV = {"APP_PW": APP_PASSWORD, "REDIS_PW": REDIS_PASSWORD, "PATH": "/usr/bin:/bin"}
SECRETS = (APP_PASSWORD, PG_PASSWORD, REDIS_PASSWORD)


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with postgres() as server:
        yield server


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with prometheus(tmp_path_factory.mktemp("prometheus")) as url:
        yield url


def context(**endpoints: str) -> ProbeContext:
    return ProbeContext(endpoints, environ=ENV)


def run(fields: dict[str, object], ctx: ProbeContext) -> tuple[bool, str]:
    entry = sample(Probe.model_validate({"name": "p", **fields}), ctx, t_of=Timeline(), phase="t")
    assert not any(secret in entry.detail for secret in SECRETS), entry.detail
    return entry.ok, entry.detail


def state(fields: dict[str, object], ctx: ProbeContext) -> StateRead:
    read = read_state(StateReader.model_validate(fields), ctx)
    assert not any(secret in str(read) for secret in SECRETS), read
    return read


APP = "{db}/orders?user=app&password={env:APP_PW}"


# --- PostgreSQL -----------------------------------------------------------------------------


def test_a_sql_probe_reads_postgresql(pg: Postgres) -> None:
    ctx = context(db=pg.endpoint)
    stuck = "SELECT count(*) FROM orders WHERE status = 'stuck'"
    assert run({"sql": {"dsn": APP, "query": stuck, "expect": {"equals": 1}}}, ctx) == (
        True,
        "value 1",
    )
    assert run({"sql": {"dsn": APP, "query": stuck, "expect": {"equals": 0}}}, ctx) == (
        False, "expected 0, got 1",
    )  # fmt: skip
    amounts = {"dsn": APP, "query": "SELECT id, amount FROM orders ORDER BY id", "returns": "rows"}
    ok, detail = run(
        {"sql": {**amounts, "expect": {"jsonpath": "$[*].amount", "range": [5, 50]}}}, ctx
    )
    assert ok, detail
    ok, detail = run(
        {"sql": {**amounts, "expect": {"jsonpath": "$[0].amount", "equals": 42.5}}}, ctx
    )
    assert ok, detail  # numeric comes back as a JSON number


def test_a_failing_query_quotes_postgresql_and_never_the_password(pg: Postgres) -> None:
    ctx = context(db=pg.endpoint)
    ok, detail = run({"sql": {"dsn": APP, "query": "SELECT * FROM nope"}}, ctx)
    assert not ok
    assert detail.startswith(
        f'{APP}: the query failed: UndefinedTable: relation "nope" does not exist'
    )
    ok, detail = run({"sql": {"dsn": APP, "query": "DELETE FROM orders"}}, ctx)
    assert not ok
    assert "ReadOnlySqlTransaction: cannot execute DELETE in a read-only transaction" in detail
    wrong = "{db}/orders?user=app&password=wrong-one"
    ok, detail = run({"sql": {"dsn": wrong, "query": "SELECT 1"}}, ctx)
    assert not ok
    assert 'password authentication failed for user "app"' in detail
    assert "wrong-one" not in detail
    assert "password=<redacted>" in detail


def test_an_unreachable_postgresql_says_what_was_tried(pg: Postgres) -> None:
    closed = f"postgresql://app:{APP_PASSWORD}@127.0.0.1:{free_port()}"
    ok, detail = run(
        {"sql": {"dsn": "{db}/orders", "query": "SELECT 1", "timeout": "2s"}}, context(db=closed)
    )
    assert not ok
    assert "cannot query PostgreSQL: OperationalError" in detail
    assert "is the server up, and are the host, port, database, user and password" in detail


def test_final_state_from_postgresql(pg: Postgres) -> None:
    ctx = context(db=pg.endpoint)
    charged = state({"sql": {"dsn": APP, "query": "SELECT order_id FROM charges"}}, ctx)
    assert charged.records == {"o1": 1, "o2": 2}
    stored = state(
        {"sql": {"dsn": APP, "query": "SELECT id, 1 FROM orders WHERE status = 'done'"}}, ctx
    )
    assert stored.records == {"o1": 1, "o2": 1}
    broken = state({"sql": {"dsn": APP, "query": "SELECT id, status FROM orders"}}, ctx)
    assert broken.error is not None
    assert 'row #1: count "done" is not a whole number >= 0' in broken.error


# --- Redis ----------------------------------------------------------------------------------


REDIS = "{redis}/0?password={env:REDIS_PW}"


def test_a_redis_probe_reads_a_reply(redis_url: str) -> None:
    ctx = context(redis=redis_url)
    assert run(
        {"redis": {"url": REDIS, "command": ["LLEN", "queue:orders"], "expect": {"equals": 1}}}, ctx
    )[0]
    ok, detail = run(
        {"redis": {"url": REDIS, "command": ["LLEN", "queue:orders"], "expect": {"equals": 0}}}, ctx
    )
    assert (ok, detail) == (False, "expected 0, got 1")
    ok, detail = run(
        {
            "redis": {
                "url": REDIS,
                "command": ["HGET", "charges", "o2"],
                "expect": {"range": [1, 1]},
            }
        },
        ctx,
    )
    assert (ok, detail) == (False, 'expected a number in [1, 1], got "2"')


def test_redis_that_refuses_or_is_not_there_is_quoted_and_masked(redis_url: str) -> None:
    ctx = context(redis=redis_url)
    ok, detail = run({"redis": {"url": REDIS, "command": ["LLEN", "charges"]}}, ctx)
    assert not ok
    assert "Redis refused LLEN charges: ResponseError: WRONGTYPE" in detail
    ok, detail = run({"redis": {"url": "{redis}/0?password=wrong-one", "command": ["PING"]}}, ctx)
    assert not ok
    assert "wrong-one" not in detail
    ok, detail = run(
        {"redis": {"url": REDIS, "command": ["PING"]}},
        context(redis=f"redis://127.0.0.1:{free_port()}"),
    )
    assert not ok
    assert "cannot reach Redis at redis://127.0.0.1:" in detail
    assert "password=<redacted>" in detail


def test_final_state_from_redis(redis_url: str) -> None:
    ctx = context(redis=redis_url)
    assert state({"redis": {"url": REDIS, "command": ["SMEMBERS", "stored"]}}, ctx).records == {
        "o1": 1,
        "o2": 1,
    }
    assert state({"redis": {"url": REDIS, "command": ["HGETALL", "charges"]}}, ctx).records == {
        "o1": 1,
        "o2": 2,
    }
    queued = state({"redis": {"url": REDIS, "command": ["LRANGE", "queue:orders", 0, -1]}}, ctx)
    assert queued.records == {"o4": 1}
    missing = state({"redis": {"url": REDIS, "command": ["GET", "nothing"]}}, ctx)
    assert (missing.records, missing.value, missing.ok) == (None, None, True)


# --- Prometheus -----------------------------------------------------------------------------


def test_a_prometheus_probe_reads_an_instant_query(prom: str) -> None:
    ctx = context(prom=prom)
    total = {"url": "{prom}", "query": "sum(probe_test_depth)"}
    assert run({"prometheus": {**total, "expect": {"range": [0, 5]}}}, ctx) == (True, "value 3.0")
    assert run({"prometheus": {**total, "expect": {"equals": 0}}}, ctx) == (
        False,
        "expected 0, got 3.0",
    )
    per_queue = {"url": "{prom}", "query": "probe_test_depth > 0", "returns": "samples"}
    ok, detail = run(
        {
            "prometheus": {
                **per_queue,
                "expect": {"jsonpath": "$[*].metric.queue", "equals": "orders"},
            }
        },
        ctx,
    )
    assert ok, detail
    assert run(
        {
            "prometheus": {
                "url": "{prom}",
                "query": "probe_test_depth > 10",
                "returns": "samples",
                "expect": {"empty": True},
            }
        },
        ctx,
    )[0]


def test_prometheus_errors_are_quoted(prom: str) -> None:
    ctx = context(prom=prom)
    ok, detail = run({"prometheus": {"url": "{prom}", "query": "sum(probe_test_depth"}}, ctx)
    assert not ok
    assert "HTTP 400, bad_data:" in detail
    assert "parse error" in detail
    ok, detail = run({"prometheus": {"url": "{prom}", "query": "probe_test_depth"}}, ctx)
    assert not ok
    assert "2 series answer; aggregate them (sum(...)), or write returns: samples" in detail
    ok, detail = run(
        {"prometheus": {"url": "{prom}", "query": "up"}},
        context(prom=f"http://127.0.0.1:{free_port()}"),
    )
    assert not ok
    assert "cannot query Prometheus at http://127.0.0.1:" in detail
    assert "is it up" in detail


def test_final_state_from_prometheus(prom: str) -> None:
    read = state(
        {
            "prometheus": {"url": "{prom}", "query": "probe_test_depth"},
            "records": "$",
            "id": "metric.queue",
            "count": "value",
        },
        context(prom=prom),
    )
    assert read.records == {"orders": 3, "refunds": 0}


def test_the_servers_were_all_started_in_this_session(
    pg: Postgres, redis_url: str, prom: str, tmp_path: Path
) -> None:
    assert pg.port
    assert redis_url
    assert prom
