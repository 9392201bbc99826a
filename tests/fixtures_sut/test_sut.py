"""The reference SUT (fixtures/sut/ordersut) as real processes, without the harness.

A real redis-server on a free port and the four services wired directly to one another at
HARNESS_TIME_SCALE=0.05. A payments outage is a stopped payments process (connections refused),
restarted on the same port to heal it. Events are read from each service's stdout (only JSON
lines may appear there), or from a tiny HTTP sink for the controller's automation events.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest
import redis

pytestmark = pytest.mark.integration

SUT_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "sut"
SCALE = 0.05
START_TIMEOUT = 15.0  # real seconds for a service to answer its health check
WAIT = 10.0  # real seconds any single expectation may take on a loaded machine
CONTRACT = {
    "action",
    "service",
    "trigger",
    "expected_outcome",
    "actual_outcome",
    "duration_ms",
    "correlation_id",
    "ts",
}
T = TypeVar("T")
Event = dict[str, Any]


# --- small helpers ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5.0) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"null")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = WAIT) -> T:
    """Poll ``probe`` until it returns something truthy, and return that; fail after ``timeout``.

    A probe's OSError or RedisError counts as "not yet" (a service may be restarting).
    """
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, redis.RedisError):
            result = probe()
            if result:
                return result
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)


def holds_for(seconds: float, check: Callable[[], bool]) -> bool:
    """Whether ``check`` stays true, polled, for ``seconds`` (a bounded observation window)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not check():
            return False
        time.sleep(0.02)
    return check()


# --- processes --------------------------------------------------------------------------------


class Service:
    """One started process; a reader thread collects its stdout lines as events."""

    def __init__(self, name: str, port: int, argv: list[str], env: dict[str, str], log: Path):
        self.name, self.port, self.log = name, port, log
        with log.open("ab") as err:
            self.proc = subprocess.Popen(
                argv,
                cwd=SUT_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        self._lines: list[str] = []
        self._lock = threading.Lock()
        assert self.proc.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                with self._lock:
                    self._lines.append(raw.decode())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def events(self, action: str | None = None) -> list[Event]:
        """Every stdout line parsed as an event (a non-JSON line fails the test)."""
        with self._lock:
            lines = list(self._lines)
        events = [json.loads(line) for line in lines]
        return [e for e in events if action is None or e["action"] == action]

    def wait_event(self, action: str, timeout: float = WAIT) -> Event:
        return wait_for(
            f"{self.name} event {action}", lambda: next(iter(self.events(action)), None), timeout
        )

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 5.0) -> float:
        """Send ``sig`` and wait for the exit; return the seconds it took."""
        began = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"{self.name} ignored {sig.name} for {timeout:g}s")
        self._reader.join(timeout=5.0)
        return time.monotonic() - began

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")


class Sut:
    """Redis and the four services of one test, all killed at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp = tmp_path
        self._started: list[Service] = []
        self.ports = {
            name: free_port() for name in ("redis", "payments", "api", "worker", "controller")
        }
        self.env: dict[str, str] = {}  # for every Python service, e.g. DEFECT
        self.services: dict[str, Service] = {}

    def start_redis(self) -> Service:
        port = self.ports["redis"]
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no"]
        service = self._spawn("redis", argv, dict(os.environ))

        def ping() -> bool:
            with redis.Redis(port=port, socket_timeout=1.0) as client:
                return bool(client.ping())

        wait_for("redis to answer PING", ping, START_TIMEOUT)
        return service

    def start(self, name: str, **env: str) -> Service:
        """Start ``python -m ordersut.<name>`` wired to the others; wait for its /health."""
        full = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "DEFECT"))}
        full |= {
            "PYTHONPATH": str(SUT_DIR),
            "PYTHONUNBUFFERED": "1",
            "HARNESS_TIME_SCALE": str(SCALE),
            "HARNESS_SERVICE": name,
            "PORT": str(self.ports[name]),
            "REDIS_URL": f"redis://127.0.0.1:{self.ports['redis']}/0",
            "PAYMENTS_URL": f"http://127.0.0.1:{self.ports['payments']}",
        }
        full |= self.env | env
        service = self._spawn(name, [sys.executable, "-m", f"ordersut.{name}"], full)

        def healthy() -> bool:
            if service.proc.poll() is not None:
                pytest.fail(f"{name} exited with {service.proc.returncode}:\n{service.stderr()}")
            return http("GET", f"{service.url}/health")[0] == 200

        wait_for(f"{name} to be healthy", healthy, START_TIMEOUT)
        return service

    def start_all(self, **controller_env: str) -> None:
        self.start_redis()
        for name in ("payments", "api", "worker"):
            self.start(name)
        self.start("controller", **controller_env)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Service:
        log = self._tmp / f"{name}.{len(self._started)}.log"
        service = Service(name, self.ports[name], argv, env, log)
        self._started.append(service)
        self.services[name] = service
        return service

    def __getitem__(self, name: str) -> Service:
        return self.services[name]

    def redis(self) -> redis.Redis:
        return redis.Redis(port=self.ports["redis"], socket_timeout=2.0, decode_responses=True)

    def order(self, key: str | None = None, amount: float = 42) -> tuple[int, Any]:
        headers = {"Idempotency-Key": key or uuid.uuid4().hex}
        return http("POST", f"{self['api'].url}/orders", {"amount": amount}, headers)

    def status_of(self, order_id: str) -> str:
        code, order = http("GET", f"{self['api'].url}/orders/{order_id}")
        assert code == 200, order
        return str(order["status"])

    def stats(self) -> dict[str, Any]:
        code, stats = http("GET", f"{self['api'].url}/stats")
        assert code == 200, stats
        return dict(stats)

    def calls(self) -> dict[str, Any]:
        return dict(http("GET", f"{self['payments'].url}/calls")[1])

    def close(self) -> None:
        for service in reversed(self._started):
            if service.proc.poll() is None:
                service.proc.kill()
            service.proc.wait()
            service._reader.join(timeout=5.0)

    def check_stdout(self) -> None:
        """Stdout of every Python service carried only contract-conforming JSON events."""
        for service in self._started:
            if service.name != "redis":
                for event in service.events():
                    assert event.keys() >= CONTRACT, event
                    assert event["service"] == service.name, event


@pytest.fixture
def sut(tmp_path: Path) -> Iterator[Sut]:
    system = Sut(tmp_path)
    try:
        yield system
        system.check_stdout()
    finally:
        system.close()


def outage(sut: Sut) -> float:
    """Stop payments (connections are refused from now on); return when it stopped."""
    sut["payments"].stop()
    return time.monotonic()


# --- the happy path and idempotency -----------------------------------------------------------


def test_orders_flow_to_completed(sut: Sut) -> None:
    sut.start_all()
    created = [sut.order(amount=10 + i) for i in range(3)]
    assert [code for code, _ in created] == [201, 201, 201]
    ids = [body["id"] for _, body in created]
    assert all(body["status"] == "accepted" for _, body in created)
    wait_for("3 orders completed", lambda: all(sut.status_of(i) == "completed" for i in ids))

    assert sut.stats() == {
        "accepted": 0,
        "completed": 3,
        "failed": 0,
        "queue": 0,
        "processing": 0,
        "paused": False,
    }
    assert sut.calls()["charges"] == 3
    health = http("GET", f"{sut['worker'].url}/health")[1]
    assert (health["status"], health["completed"]) == ("ok", 3)
    accepted = sut["api"].events("order.accepted")
    assert sorted(e["correlation_id"] for e in accepted) == sorted(ids)
    worker = sut["worker"]
    wait_for("3 order.completed", lambda: len(worker.events("order.completed")) == 3)
    completed = worker.events("order.completed")
    assert sorted(e["correlation_id"] for e in completed) == sorted(ids)
    assert all(e["attempts"] == 1 and e["charge_id"].startswith("ch_") for e in completed)
    start = sut["controller"].events("automation.start")
    assert [e["expected_outcome"] for e in start] == ["watching payments"]


def test_a_repeated_idempotency_key_gives_one_order_and_one_charge(sut: Sut) -> None:
    sut.start_all()
    first_code, first = sut.order("key-1")
    again_code, again = sut.order("key-1")
    assert (first_code, again_code) == (201, 200)
    assert again["id"] == first["id"]
    wait_for("the order completed", lambda: sut.status_of(first["id"]) == "completed")
    replay_code, replay = sut.order("key-1")
    assert (replay_code, replay["id"], replay["status"]) == (200, first["id"], "completed")

    calls = sut.calls()
    assert (calls["calls"], calls["charges"], calls["by_key"]) == (1, 1, {first["id"]: 1})
    stats = sut.stats()
    assert stats["accepted"] + stats["completed"] + stats["failed"] == 1
    assert len(sut["api"].events("order.accepted")) == 1


def test_requests_without_an_idempotency_key_are_refused(sut: Sut) -> None:
    sut.start_all()
    api, payments = sut["api"].url, sut["payments"].url
    code, body = http("POST", f"{api}/orders", {"amount": 5})
    assert (code, "Idempotency-Key" in body["error"]) == (400, True)
    assert http("POST", f"{api}/orders", {"amount": -1}, {"Idempotency-Key": "k"})[0] == 400
    assert http("POST", f"{payments}/charge", {"order_id": "x", "amount": 5})[0] == 400
    assert sut.stats()["queue"] == 0
    assert sut.calls()["charges"] == 0  # the refused call is logged, nothing is charged


def test_payments_charges_once_per_key_and_records_every_call(sut: Sut) -> None:
    url = f"{sut.start('payments').url}/charge"
    body, key = {"order_id": "o1", "amount": 42}, {"Idempotency-Key": "o1"}
    (code1, first), (code2, second) = http("POST", url, body, key), http("POST", url, body, key)
    assert (code1, first["replayed"], code2, second["replayed"]) == (201, False, 200, True)
    assert second["charge_id"] == first["charge_id"]
    assert sut.calls() == {"calls": 2, "charges": 1, "by_key": {"o1": 2}, "charged": {"o1": 1}}


# --- the automation ---------------------------------------------------------------------------


def test_an_outage_pauses_the_workflow_and_recovery_resumes_it(sut: Sut) -> None:
    sut.start_all()
    warm = sut.order()[1]["id"]
    wait_for("a first order completed", lambda: sut.status_of(warm) == "completed")

    down_at = outage(sut)
    ids = [sut.order()[1]["id"] for _ in range(2)]
    pause = sut["controller"].wait_event("workflow.pause")
    paused_after = time.monotonic() - down_at
    assert paused_after < 1.5, f"paused {paused_after:.2f}s after the outage began"
    assert pause["trigger"].startswith("payments unreachable: 3 consecutive health checks")
    assert (pause["expected_outcome"], pause["actual_outcome"]) == ("workflow paused",) * 2
    assert pause["correlation_id"].startswith("inc-")
    assert pause["duration_ms"] > 0

    # well past the worker's retry budget (12 s scaled = 0.6 s): nothing fails, nothing is stuck
    def safe() -> bool:
        return not sut["worker"].events("order.failed")

    assert holds_for(1.5, safe), sut["worker"].events("order.failed")
    stats = sut.stats()
    assert (stats["paused"], stats["failed"], stats["processing"]) == (True, 0, 0)
    assert all(sut.status_of(i) == "accepted" for i in ids)
    assert http("GET", f"{sut['controller'].url}/health")[1]["paused"] is True

    sut.start("payments")  # heal: the same port answers again
    resume = sut["controller"].wait_event("workflow.resume")
    assert resume["correlation_id"] == pause["correlation_id"]
    assert resume["actual_outcome"] == resume["expected_outcome"] == "workflow resumed"
    assert resume["paused_ms"] > 0
    wait_for("the held orders completed", lambda: all(sut.status_of(i) == "completed" for i in ids))
    assert sut.calls()["by_key"] == {i: 1 for i in ids}  # the new payments: one charge each
    assert sut.stats()["paused"] is False
    assert not sut["worker"].events("order.failed")


def test_with_the_no_pause_defect_the_outage_is_seen_but_never_paused(sut: Sut) -> None:
    sut.env["DEFECT"] = "no-pause"
    sut.start_all()
    outage(sut)
    order_id = sut.order()[1]["id"]
    seen = sut["controller"].wait_event("observation")
    assert (seen["state"], seen["expected_outcome"]) == ("down", "no action (defect no-pause)")
    assert seen["trigger"].startswith("payments unreachable")

    def never_paused() -> bool:
        return sut.stats()["paused"] is False

    assert holds_for(1.5, never_paused)  # 30 s scaled: far beyond the 3 probes it takes
    assert not sut["controller"].events("workflow.pause")
    assert not [
        e for e in sut["worker"].events("order.requeued") if e["trigger"] == "workflow paused"
    ]
    assert sut.status_of(order_id) != "completed"


def test_while_paused_the_worker_takes_no_work(sut: Sut) -> None:
    sut.start_all(AUTOMATION="off")  # the test sets the pause itself, at a known moment
    with sut.redis() as client:
        client.set("workflow:paused", "test")
        # the worker looks at the flag before each BLMOVE (blocking 0.05 s): let one pass
        assert holds_for(0.2, lambda: sut.stats()["paused"] is True)
        order_id = sut.order()[1]["id"]
        assert holds_for(1.0, lambda: sut.stats()["queue"] == 1)  # 20 s scaled
        assert sut.status_of(order_id) == "accepted"
        client.delete("workflow:paused")
    wait_for("the order completed", lambda: sut.status_of(order_id) == "completed")
    assert not sut["controller"].events("workflow.resume")  # AUTOMATION=off never acts


def test_automation_off_observes_an_outage_and_never_acts(sut: Sut) -> None:
    sut.start_all(AUTOMATION="off")
    outage(sut)
    seen = sut["controller"].wait_event("observation")
    assert (seen["state"], seen["expected_outcome"]) == ("down", "no action (automation off)")
    sut.start("payments")
    wait_for("observation up", lambda: len(sut["controller"].events("observation")) == 2)
    assert [e["state"] for e in sut["controller"].events("observation")] == ["down", "up"]
    actions = {e["action"] for e in sut["controller"].events()}
    assert not actions & {"workflow.pause", "workflow.resume"}
    assert sut.stats()["paused"] is False


def test_the_worker_resumes_orders_left_in_its_checkpoint(sut: Sut) -> None:
    sut.start_all()
    sut["worker"].stop(signal.SIGKILL)
    order_id = sut.order()[1]["id"]
    with sut.redis() as client:  # as if the worker had crashed after taking the order
        assert client.lmove("queue:orders", "processing:orders", "RIGHT", "LEFT") == order_id
    sut.start("worker")
    resume = sut["worker"].wait_event("checkpoint.resume")
    assert (resume["count"], resume["orders"]) == (1, order_id)
    wait_for("the order completed", lambda: sut.status_of(order_id) == "completed")
    assert sut.calls()["by_key"] == {order_id: 1}


# --- failures of the system's own parts -------------------------------------------------------


def test_without_redis_the_api_refuses_orders_and_nothing_crashes(sut: Sut) -> None:
    sut.start_all()
    sut["redis"].stop(signal.SIGKILL)
    code, body = sut.order("during")
    assert code == 503
    assert "redis unreachable" in body["error"]
    assert http("GET", f"{sut['api'].url}/health")[0] == 503
    sut.start_redis()  # empty again: --save ""
    wait_for("the api healthy again", lambda: http("GET", f"{sut['api'].url}/health")[0] == 200)
    code, body = sut.order("after")
    assert code == 201
    wait_for("the order completed", lambda: sut.status_of(body["id"]) == "completed")
    assert all(sut[name].proc.poll() is None for name in ("api", "worker", "controller"))


# --- process life -----------------------------------------------------------------------------


def test_sigterm_stops_every_service_quickly(sut: Sut) -> None:
    sut.start_all()
    for name in ("controller", "worker", "api", "payments"):
        took = sut[name].stop()
        assert sut[name].proc.returncode == 0, sut[name].stderr()
        assert took < 1.0, f"{name} took {took:.2f}s to stop"


def test_sigterm_while_charges_fail_leaves_the_order_queued(sut: Sut) -> None:
    sut.start_all(AUTOMATION="off")
    outage(sut)
    order_id = sut.order()[1]["id"]
    wait_for(
        "the worker to try the order",
        lambda: sut["worker"].events("order.requeued") or sut.stats()["processing"] == 1,
    )
    took = sut["worker"].stop()
    assert sut["worker"].proc.returncode == 0
    assert took < 1.0
    stats = sut.stats()
    assert (stats["queue"], stats["processing"], stats["failed"]) == (1, 0, 0)
    assert sut.status_of(order_id) == "accepted"


def test_an_unknown_defect_stops_a_service_at_start_up(sut: Sut) -> None:
    sut.start_redis()
    sut.env["DEFECT"] = "no-such-defect"
    with pytest.raises(pytest.fail.Exception, match="exited with 2"):
        sut.start("controller")
    assert "DEFECT: unknown no-such-defect" in sut["controller"].stderr()


# --- where automation events go ---------------------------------------------------------------


@pytest.fixture
def sink() -> Iterator[tuple[str, list[Any]]]:
    """A tiny event sink: every JSON body POSTed to it, in order."""
    received: list[Any] = []

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/events", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5.0)


def test_automation_events_are_posted_to_the_sink(sut: Sut, sink: tuple[str, list[Any]]) -> None:
    url, received = sink
    sut.start_redis()
    sut.start("payments")
    controller = sut.start("controller", HARNESS_EVENTS_URL=url)
    start = wait_for("automation.start at the sink", lambda: received and received[0])
    assert start["action"] == "automation.start"
    assert start["service"] == "controller"
    assert start.keys() >= CONTRACT
    outage(sut)
    wait_for(
        "workflow.pause at the sink", lambda: any(e["action"] == "workflow.pause" for e in received)
    )
    assert controller.events() == []  # nothing fell back to stdout


def test_automation_events_fall_back_to_stdout_when_the_sink_is_down(sut: Sut) -> None:
    sut.start_redis()
    sut.start("payments")
    dead = f"http://127.0.0.1:{free_port()}/events"
    controller = sut.start("controller", HARNESS_EVENTS_URL=dead)
    assert controller.wait_event("automation.start")["action"] == "automation.start"
