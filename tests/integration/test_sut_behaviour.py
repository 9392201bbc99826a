"""The reference SUT keeps each promise of docs/catalog.md, and each defect breaks its promise.

Real processes (redis-server and the ordersut services) at HARNESS_TIME_SCALE=0.05, no Toxiproxy:
'slow' is PAYMENTS_LATENCY_MS, 'unreachable' a closed port, 'degraded' a port that accepts and
never answers. Independent variants run side by side (one Redis database each) to keep the module
under a minute. Events are read from each process's stdout (no HARNESS_EVENTS_URL is set).
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

pytestmark = pytest.mark.integration
SUT = Path(__file__).resolve().parents[2] / "fixtures" / "sut"
SCALE = "0.05"
QUEUE, PROCESSING, COMPLETED = "queue:orders", "processing:orders", "order.completed"
Event = dict[str, Any]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(what: str, check: Callable[[], Any], timeout: float, step: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Proc:
    """A started process; a thread collects its stdout JSON events with their receipt time."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.url = ""  # http://127.0.0.1:PORT of a service
        self._err = (logs / f"{name}.err").open("w")
        self.popen = subprocess.Popen(
            argv, cwd=SUT, env=env, stdout=subprocess.PIPE, stderr=self._err, text=True
        )
        self._lock = threading.Lock()
        self._events: list[tuple[float, Event]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            if line.startswith("{"):
                with self._lock:
                    self._events.append((time.monotonic(), json.loads(line)))

    def events(self, action: str) -> list[tuple[float, Event]]:
        with self._lock:
            return [(t, e) for t, e in self._events if e["action"] == action]

    def count(self, *actions: str) -> int:
        with self._lock:
            return sum(1 for _, e in self._events if e["action"] in actions)

    def wait_count(self, n: int, *actions: str, timeout: float, step: float = 0.02) -> None:
        wait_until(
            f"{n} x {actions} from {self.name}", lambda: self.count(*actions) >= n, timeout, step
        )

    def first(self, action: str, timeout: float) -> tuple[float, Event]:
        found = wait_until(f"{action} from {self.name}", lambda: self.events(action), timeout)
        first: tuple[float, Event] = found[0]
        return first

    def stop(self, sig: int = signal.SIGTERM) -> float:
        """Signal the process and wait (bounded); the seconds it took to exit."""
        began = time.monotonic()
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        self._reader.join(timeout=5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self._err.close()
        return time.monotonic() - began


class Sut:
    """Starts services against one redis-server; stops every process at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[Proc] = []
        self.clients: list[redis.Redis] = []
        self.redis_port = free_port()
        argv = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1"]
        self.start("redis", [*argv, "--save", "", "--appendonly", "no"], {})
        wait_until("redis", functools.partial(_pings, self.redis(0)), 10)

    def redis_url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/{db}"

    def redis(self, db: int) -> redis.Redis:
        client = redis.Redis.from_url(self.redis_url(db), decode_responses=True)
        self.clients.append(client)
        return client

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "DEFECT"))}
        base.pop("AUTOMATION", None)
        full = {**base, "PYTHONPATH": str(SUT), "HARNESS_TIME_SCALE": SCALE, **env}
        proc = Proc(f"{name}-{len(self.procs)}", argv, full, self.logs)
        self.procs.append(proc)
        return proc

    def service(
        self, module: str, db: int, env: dict[str, str] | None = None, port: int | None = None
    ) -> Proc:
        """Start ``python -m ordersut.<module>`` on Redis database ``db``; wait for its health."""
        port = port or free_port()
        full = {"PORT": str(port), "HARNESS_SERVICE": module, "REDIS_URL": self.redis_url(db)}
        proc = self.start(module, [sys.executable, "-m", f"ordersut.{module}"], full | (env or {}))
        proc.url = f"http://127.0.0.1:{port}"
        wait_until(f"{module} health", lambda: _healthy(proc.url), 15)
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop(signal.SIGKILL if proc.popen.poll() is None else signal.SIGTERM)
        for client in self.clients:
            client.close()
        self.clients.clear()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def sut(tmp_path: Path) -> Iterator[Sut]:
    system = Sut(tmp_path)
    try:
        yield system
    finally:
        system.close()


class Load:
    """POST /orders at ``rate`` per second, each with a new key, until stopped."""

    def __init__(self, url: str, rate: float) -> None:
        self.answers: list[tuple[int, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, 1 / rate), daemon=True)
        self._thread.start()

    def _run(self, url: str, period: float) -> None:
        with httpx.Client(timeout=2) as client:
            for n in range(100_000):
                began = time.monotonic()
                headers = {"Idempotency-Key": f"load-{id(self)}-{n}"}
                try:
                    answer = client.post(url + "/orders", json={"amount": 5}, headers=headers)
                    self.answers.append((answer.status_code, answer.json()))
                except httpx.HTTPError as exc:
                    self.answers.append((0, str(exc)))
                if self._stop.wait(max(0.0, period - (time.monotonic() - began))):
                    return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def accepted(self) -> set[str]:
        return {body["id"] for status, body in self.answers if status == 201}


def queue_orders(client: redis.Redis, count: int) -> list[str]:
    """Orders as the api stores them, straight into Redis."""
    ids = [f"o{n}" for n in range(count)]
    for oid in ids:
        client.hset(f"order:{oid}", mapping={"id": oid, "status": "accepted", "amount": "5.0"})
        client.sadd("status:accepted", oid)
        client.lpush("queue:orders", oid)
    return ids


def drained(client: redis.Redis) -> bool:
    return not client.llen(QUEUE) and not client.llen(PROCESSING)


def completions_reported(client: redis.Redis, *workers: Proc) -> bool:
    ids = {e["correlation_id"] for w in workers for _, e in w.events(COMPLETED)}
    return len(ids) >= int(client.scard("status:completed"))


def calls_between(payments: Proc, start: float, end: float) -> int:
    return sum(1 for t, _ in payments.events("payment.call") if start <= t <= end)


def test_breaker_isolates_slow_payments_and_retry_storm_does_not(sut: Sut) -> None:
    stacks = {}
    for db, defect in ((0, ""), (1, "retry-storm")):
        port = free_port()
        pay = sut.service("payments", db, {"PAYMENTS_LATENCY_MS": "1000"}, port)
        url = f"http://127.0.0.1:{port}"
        worker = sut.service("worker", db, {"PAYMENTS_URL": url, "DEFECT": defect})
        stacks[defect or "breaker"] = (db, port, pay, worker)
    for db, *_ in stacks.values():
        queue_orders(sut.redis(db), 5)
    db, port, pay, worker = stacks["breaker"]
    t_first, _ = pay.first("payment.call", 5)
    t_open, opened = worker.first("breaker.open", 5)
    assert t_open - t_first < 1.5, f"breaker opened {t_open - t_first:.2f}s after the first call"
    assert opened["failures"] == 3
    assert "payments unreachable" in opened["trigger"]
    time.sleep(max(0.0, t_open + 5 - time.monotonic()))
    while_open = calls_between(pay, t_open, t_open + 5)
    assert 1 <= while_open <= 6, f"{while_open} calls in the 5 s after the breaker opened"
    assert worker.events("breaker.half_open")
    assert not worker.events("order.failed")
    delays = [e["delay_ms"] for _, e in worker.events("retry.scheduled")]
    assert delays[:2] == [50.0, 100.0], delays  # base 1 s, x2, scaled by 0.05
    _, _, storm_pay, storm = stacks["retry-storm"]
    t_storm, _ = storm_pay.first("payment.call", 1)
    storm_calls = calls_between(storm_pay, t_storm, t_storm + 5)
    assert storm_calls >= 20, f"retry-storm made only {storm_calls} calls in 5 s"
    assert not storm.events("breaker.open")
    assert {e["delay_ms"] for _, e in storm.events("retry.scheduled")} == {0}
    assert storm.stop() < 2.0, "the storming worker must still stop promptly on SIGTERM"
    # payments heals: the trial call succeeds, the breaker closes, every order completes
    pay.stop()
    sut.service("payments", db, port=port)
    worker.first("breaker.close", 5)
    wait_until("all 5 orders completed", lambda: len(worker.events("order.completed")) == 5, 10)
    per_order: dict[str, list[float]] = {}
    for _, e in worker.events("retry.scheduled"):
        per_order.setdefault(e["correlation_id"], []).append(e["delay_ms"])
    assert all(d == sorted(d) for d in per_order.values()), per_order


def test_sigkill_mid_charge_resumes_from_checkpoint_but_ack_before_work_loses(sut: Sut) -> None:
    stacks, apis = {}, {}
    for db, defect in ((0, ""), (1, "ack-before-work")):
        port = free_port()
        pay = sut.service("payments", db, {"PAYMENTS_LATENCY_MS": "100"}, port)
        name = defect or "checkpoint"
        apis[name] = sut.service("api", db)
        env = {"PAYMENTS_URL": f"http://127.0.0.1:{port}", "DEFECT": defect}
        stacks[name] = (db, pay, sut.service("worker", db, env), env)
    loads = {name: Load(api.url, 15) for name, api in apis.items()}  # the worker manages ~9/s
    time.sleep(1.0)
    in_flight = {}
    for name, (_, pay, worker, _) in stacks.items():
        seen = len(pay.events("payment.call"))
        pay.wait_count(seen + 1, "payment.call", timeout=2, step=0.002)
        worker.stop(signal.SIGKILL)  # mid-charge: payments waits 100 ms before answering
        in_flight[name] = pay.events("payment.call")[-1][1]["correlation_id"]
    time.sleep(0.3)
    for load in loads.values():
        load.stop()
    for name, (db, pay, old, env) in stacks.items():
        new = sut.service("worker", db, env)
        _, resumed = new.first("checkpoint.resume", 5)
        client = sut.redis(db)
        wait_until("drained", functools.partial(drained, client), 15)
        # Redis records a completion just before its event is printed: let the events catch up
        reported = functools.partial(completions_reported, client, old, new)
        wait_until("every completion reported", reported, 5)
        done = Counter(e["correlation_id"] for w in (old, new) for _, e in w.events(COMPLETED))
        charged = Counter(e["idempotency_key"] for _, e in pay.events("payment.charged"))
        assert max(charged.values()) == 1, "an order was charged twice"
        accepted, lost = loads[name].accepted(), in_flight[name]
        assert len(accepted) >= 10  # 15/s for about 1.4 s
        if name == "checkpoint":
            assert resumed["count"] == 1
            assert resumed["orders"] == lost
            assert {o: done[o] for o in accepted} == dict.fromkeys(accepted, 1)
        else:
            assert resumed["count"] == 0
            assert done[lost] == 0, "ack-before-work should have lost the order in flight"
            assert client.hget(f"order:{lost}", "status") == "accepted"


def test_concurrent_duplicates_make_one_order_unless_no_idempotency(sut: Sut) -> None:
    apis = {
        "kept": sut.service("api", 0),
        "broken": sut.service("api", 1, {"DEFECT": "no-idempotency"}),
    }
    for name, api in apis.items():
        barrier = threading.Barrier(10)
        answers: list[httpx.Response] = []

        def post(
            url: str = api.url,
            barrier: threading.Barrier = barrier,
            answers: list[httpx.Response] = answers,
        ) -> None:
            with httpx.Client(timeout=5) as client:
                barrier.wait(timeout=5)
                headers = {"Idempotency-Key": "same"}
                answers.append(client.post(url + "/orders", json={"amount": 3}, headers=headers))

        threads = [threading.Thread(target=post) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        ids = {a.json()["id"] for a in answers}
        api.wait_count(10, "order.accepted", "order.duplicate", timeout=3)
        if name == "kept":
            assert len(ids) == 1
            assert sorted(a.status_code for a in answers) == [200] * 9 + [201]
            ((_, accepted),) = api.events("order.accepted")
            assert accepted["idempotency_key"] == "same"
            assert accepted["version"] == "v1"
            assert sut.redis(0).llen(QUEUE) == 1
        else:
            assert len(ids) == 10
            assert len(api.events("order.accepted")) == 10


def deploy(sut: Sut, db: int, version: str, redis_url: str | None = None) -> Proc:
    argv = [sys.executable, "-m", "ordersut.deploy", "api", version]
    proc = sut.start("deploy", argv, {"REDIS_URL": redis_url or sut.redis_url(db)})
    proc.popen.wait(timeout=10)
    return proc


def test_deploy_hook_records_the_previous_version(sut: Sut) -> None:
    first = deploy(sut, 0, "v2")
    ((_, event),) = first.events("deploy")
    assert first.popen.returncode == 0
    assert (event["target_service"], event["version"], event["previous"]) == ("api", "v2", "v1")
    assert deploy(sut, 0, "v2").popen.returncode == 0  # redeploying keeps the stable version
    assert sut.redis(0).mget("deploy:api", "deploy:api:previous") == ["v2", "v1"]
    failed = deploy(sut, 0, "v3", redis_url=f"redis://127.0.0.1:{free_port()}/0")
    assert failed.popen.returncode == 1
    assert not failed.events("deploy")
    failed.stop()
    assert "redis unreachable" in (sut.logs / f"{failed.name}.err").read_text()


def test_bad_deploy_is_rolled_back_fast_slowly_with_the_defect_never_when_off(sut: Sut) -> None:
    health_of = sut.service("payments", 0).url  # the controllers' payments probe: healthy
    modes = {"normal": {}, "slow": {"DEFECT": "slow-rollback"}, "off": {"AUTOMATION": "off"}}
    stacks = {}
    for db, (mode, env) in enumerate(modes.items()):
        api = sut.service("api", db)
        controller = sut.service("controller", db, {"PAYMENTS_URL": health_of, **env})
        stacks[mode] = (db, api, controller, Load(api.url, 20))
    time.sleep(0.5)
    deployed = time.monotonic()
    for db, *_ in stacks.values():
        deploy(sut, db, "v2")
    _, api, controller, load = stacks["normal"]
    t_rollback, rollback = controller.first("rollback", 5)
    assert t_rollback - deployed < 2.5, f"rolled back {t_rollback - deployed:.2f}s after deploy"
    assert (rollback["from_version"], rollback["to_version"]) == ("v2", "v1")
    assert rollback["target_service"] == "api"
    assert rollback["error_rate"] > 0.2
    assert rollback["trigger"].startswith("error rate ")
    assert "over the last 10s on api@v2" in rollback["trigger"]
    assert httpx.get(api.url + "/health").status_code == 200
    time.sleep(1.0)
    after = load.answers[-15:]
    assert all(status == 201 for status, _ in after), after
    assert sut.redis(0).get("deploy:api") == "v1"
    for mode in ("slow", "off"):
        db, api, controller, load = stacks[mode]
        assert not controller.events("rollback"), mode
        assert sut.redis(db).get("deploy:api") == "v2", mode
        assert any(s == 500 for s, _ in load.answers), mode
        assert _healthy(api.url), mode
    ((_, seen),) = stacks["off"][2].events("observation")
    assert seen["version"] == "v2"
    assert seen["target_service"] == "api"
    for *_, load in stacks.values():
        load.stop()
    for proc in [p for p in sut.procs if p.name.startswith(("api", "controller", "payments"))]:
        assert proc.stop() < 2.0, f"{proc.name} took too long to stop on SIGTERM"
        assert proc.popen.returncode == 0, proc.name


class Sink:
    """An escalation webhook: records (receipt time, path, body) of every POST."""

    def __init__(self) -> None:
        received: list[tuple[float, str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((time.monotonic(), self.path, json.loads(body)))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{path}"

    def bodies(self, path: str) -> list[Any]:
        return [body for _, p, body in self.received if p == f"/{path}"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def sink() -> Iterator[Sink]:
    webhook = Sink()
    try:
        yield webhook
    finally:
        webhook.close()


def test_escalation_once_after_a_long_pause_never_when_recovered_or_slow(
    sut: Sut, sink: Sink
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # payments unreachable: connection refused
    later = free_port()  # payments comes back here
    with socket.socket() as silent:  # payments slow: accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(256)
        cases = {
            "normal": (closed, {}),
            "noisy": (closed, {"DEFECT": "noisy-escalation"}),
            "never": (closed, {"DEFECT": "no-escalation"}),
            "off": (closed, {"AUTOMATION": "off"}),
            "recovers": (f"http://127.0.0.1:{later}", {}),
            "degraded": (f"http://127.0.0.1:{silent.getsockname()[1]}", {}),
        }
        controllers = {}
        for db, (name, (payments, env)) in enumerate(cases.items()):
            env = {"PAYMENTS_URL": payments, "HARNESS_ESCALATION_URL": sink.url(name), **env}
            controllers[name] = sut.service("controller", db, env)
        recovering = controllers["recovers"]
        recovering.first("workflow.pause", 3)
        time.sleep(0.5)
        sut.service("payments", 0, port=later)
        recovering.first("workflow.resume", 3)
        normal = controllers["normal"]
        t_pause, pause = normal.first("workflow.pause", 3)
        t_escalate, escalate = normal.first("escalate", 12)
        assert 7.0 <= t_escalate - t_pause <= 8.5, f"escalated {t_escalate - t_pause:.2f}s after"
        time.sleep(1.6)  # long enough for the noisy defect to page again
        degraded = httpx.get(controllers["degraded"].url + "/health").json()
    assert len(normal.events("escalate")) == 1
    ((body),) = sink.bodies("normal")
    assert body["incident_id"] == pause["correlation_id"] == escalate["correlation_id"]
    assert body["severity"] == escalate["severity"] == "critical"
    assert body["runbook_url"] == "https://runbooks.example.internal/orders/payments-outage"
    assert "2.5 min" in body["summary"]
    assert body["service"] == "controller"
    noisy = controllers["noisy"]
    t_noisy_pause, _ = noisy.first("workflow.pause", 1)
    pages = [t for t, _ in noisy.events("escalate")]
    assert pages[0] - t_noisy_pause < 0.5
    assert len(pages) >= 5
    assert len(sink.bodies("noisy")) == len(pages)
    for name in ("never", "recovers", "degraded", "off"):
        assert not controllers[name].events("escalate"), name
        assert not sink.bodies(name), name
    assert controllers["never"].events("workflow.pause")
    assert not controllers["degraded"].events("workflow.pause")
    assert degraded["payments"] == "degraded"
    assert not controllers["off"].events("workflow.pause")
    assert controllers["off"].events("observation")[0][1]["state"] == "down"


def test_storm_silent_storms_like_retry_storm_but_reports_nothing(sut: Sut) -> None:
    port = free_port()
    pay = sut.service("payments", 2, {"PAYMENTS_LATENCY_MS": "1000"}, port)
    worker = sut.service(
        "worker", 2, {"PAYMENTS_URL": f"http://127.0.0.1:{port}", "DEFECT": "storm-silent"}
    )
    queue_orders(sut.redis(2), 3)
    t_first, _ = pay.first("payment.call", 5)
    time.sleep(max(0.0, t_first + 5 - time.monotonic()))
    calls = calls_between(pay, t_first, t_first + 5)
    assert calls >= 20, f"storm-silent made only {calls} calls in 5 s"
    tells = ("retry.scheduled", "breaker.open", "breaker.half_open", "order.requeued")
    assert worker.count(*tells, "order.failed") == 0  # nothing the worker says shows the storm
    assert worker.stop() < 2.0, "the storming worker must still stop promptly on SIGTERM"
