"""HTTP-aware edges with a real mitmdump behind a real Toxiproxy, in front of a tiny HTTP server.

client -> Toxiproxy -> mitmdump (the harness's addon) -> server: the proxy counts every request
on the timeline and injects the HTTP faults; a TCP fault on the same edge still acts as a TCP
fault; the mitmdump process is tracked in state.json and reaped by cleanup.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psutil
import pytest

from harness.cleanup import reap
from harness.faults.http_edges import HttpEdges
from harness.faults.http_rules import HttpRule
from harness.faults.toxiproxy import ToxiproxyClient
from harness.policies.http_counts import calls
from harness.state import StateFile, read_record
from harness.timeline import Timeline

pytestmark = pytest.mark.integration

EDGE = "client->server"


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        body = b'{"ok": true}'
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    _Answer.hits = 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


class Edge:
    """One HTTP-aware edge of a run: its Toxiproxy proxy, its mitmdump, its timeline."""

    def __init__(self, toxiproxy: ToxiproxyClient, upstream: int, folder: Path) -> None:
        self.folder, self.upstream = folder / "http", upstream
        self.timeline = Timeline(0.05)
        self.state = StateFile(folder / "state.json", "http-edge-test")
        self.http = HttpEdges([EDGE], self.timeline, folder / "http", track=self.state.add_process)
        self.http.start_edge(EDGE, ("127.0.0.1", upstream))
        host, port = self.http.address(EDGE)
        self.proxy = f"http-edge-{secrets.token_hex(3)}"
        self.state.add_proxy(self.proxy)
        self.toxiproxy = toxiproxy
        made = toxiproxy.create_proxy(self.proxy, "127.0.0.1:0", f"{host}:{port}")
        self.url = "http://{}:{}".format(*made.address)

    def get(self, path: str = "/charge", timeout: float = 5.0) -> httpx.Response:
        return httpx.get(self.url + path, timeout=timeout)

    def close(self) -> None:
        self.http.close()
        self.toxiproxy.delete_proxy(self.proxy, missing_ok=True)


@pytest.fixture
def edge(toxiproxy: ToxiproxyClient, server: ThreadingHTTPServer, tmp_path: Path) -> Iterator[Edge]:
    made = Edge(toxiproxy, server.server_address[1], tmp_path)
    yield made
    made.close()


def test_requests_are_counted_and_an_error_answers_in_place_of_the_dependency(
    edge: Edge,
) -> None:
    assert [edge.get("/health?probe=1").status_code for _ in range(3)] == [200] * 3
    rule = HttpRule(id="f1-http_error", type="error", status=429, count=2, path="/charge")
    edge.http.set_rule(EDGE, rule.model_copy(update={"headers": {"Retry-After": "2"}}))
    answers = [edge.get("/charge") for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "2"
    edge.http.clear_rule(EDGE, "f1-http_error")
    control = json.loads((edge.folder / "client.to.server.control.json").read_text())
    assert control == {"faults": [], "upstream": ["127.0.0.1", edge.upstream]}  # healed
    edge.http.close()  # mitmdump writes its last interval as it stops

    assert _Answer.hits == 4  # the two errors never reached the dependency
    counted = calls(edge.timeline, EDGE, 0.0, edge.timeline.now() + 1)
    assert counted.total == 6
    assert dict(counted.by_status) == {200: 4, 429: 2}
    assert dict(counted.by_fault) == {"f1-http_error": 2}
    paths = {c.path for e in counted.entries for c in e.counts}
    assert paths == {"/health", "/charge"}  # the query is not part of the path


def test_a_delay_holds_the_answer_and_an_abort_closes_without_one(edge: Edge) -> None:
    edge.http.set_rule(EDGE, HttpRule(id="f1-http_delay", type="delay", delay=0.4))
    began = time.monotonic()
    assert edge.get().status_code == 200
    assert time.monotonic() - began >= 0.4
    edge.http.clear_rule(EDGE, "f1-http_delay")
    edge.http.set_rule(EDGE, HttpRule(id="f2-http_abort", type="abort", method="GET"))
    with pytest.raises(httpx.RemoteProtocolError):
        edge.get()
    edge.http.clear_rule(EDGE, "f2-http_abort")
    assert edge.get().status_code == 200
    edge.http.close()
    counted = calls(edge.timeline, EDGE, 0.0, edge.timeline.now() + 1)
    assert dict(counted.by_status) == {200: 2, None: 1}
    assert _Answer.hits == 2


def test_a_tcp_fault_on_the_edge_stays_a_tcp_fault(edge: Edge) -> None:
    edge.toxiproxy.update_proxy(edge.proxy, enabled=False)  # a partition, on Toxiproxy
    with pytest.raises(httpx.ConnectError):
        edge.get(timeout=2.0)
    edge.toxiproxy.update_proxy(edge.proxy, enabled=True)
    assert edge.get().status_code == 200


def test_a_dependency_that_is_down_gives_no_answer_not_a_502(
    toxiproxy: ToxiproxyClient, tmp_path: Path
) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), _Answer) as closed:
        port = closed.server_address[1]  # bound, never served, closed below: refused
    down = Edge(toxiproxy, port, tmp_path)
    try:
        with pytest.raises(httpx.RemoteProtocolError):
            down.get()
    finally:
        down.close()
    assert dict(calls(down.timeline, EDGE, 0.0, down.timeline.now() + 1).by_status) == {None: 1}


def test_mitmdump_is_in_the_state_file_and_cleanup_reaps_it(
    toxiproxy: ToxiproxyClient, server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    left = Edge(toxiproxy, server.server_address[1], tmp_path)  # as a SIGKILLed run leaves it
    left.state.set_toxiproxy(toxiproxy.url)
    record = read_record(left.state.path)
    [tracked] = [p for p in record.processes if p.name == f"mitmdump {EDGE}"]
    assert psutil.pid_exists(tracked.pid)
    record.owner = None
    done = reap(left.state.path, record)
    assert done.problems == []
    assert left.proxy in done.proxies
    assert not _running(tracked.pid)
    left.close()  # nothing left to stop: idempotent


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
