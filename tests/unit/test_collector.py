"""The event collector: HTTP sinks on loopback and JSON lines from stdout, into one timeline."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from harness.clock import FakeClock
from harness.observe.collector import MAX_BODY, MAX_REJECTED_ENTRIES, Collector
from harness.timeline import EscalationEntry, EventEntry, RejectedPostEntry, Timeline


def judged(timeline: Timeline) -> list[object]:
    """What policies could see: everything but the refused posts (shown, never judged)."""
    return [e for e in timeline.entries if not isinstance(e, RejectedPostEntry)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def timeline(clock: FakeClock) -> Timeline:
    return Timeline(monotonic=clock.monotonic)


@pytest.fixture(scope="module")
def running() -> Iterator[Collector]:
    """One sink for the module: stopping one takes up to half a second (its poll interval)."""
    with Collector(Timeline()) as sink:
        yield sink


@pytest.fixture
def collector(running: Collector, timeline: Timeline) -> Collector:
    """The running sink, recording into this test's timeline with a fresh ``rejected`` count."""
    running.timeline = timeline
    running.rejected = 0
    return running


@pytest.fixture
def idle(timeline: Timeline) -> Iterator[Collector]:
    """A collector that is not serving: enough for ``ingest_line``, and quick to close."""
    sink = Collector(timeline)
    yield sink
    sink.close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as http:
        yield http


EVENT: dict[str, Any] = {
    "action": "workflow.pause",
    "service": "worker",
    "trigger": "payments unreachable",
    "expected_outcome": "no order fails",
    "actual_outcome": "paused",
    "duration_ms": 12,
    "correlation_id": "c-1",
    "ts": "2026-01-01T00:00:00Z",
    "attempt": 3,
    "dry_run": False,
    "note": None,
    "ratio": 0.5,
    "details": {"nested": "flattened", "deeper": {"still": 1}},
    "tags": ["dropped", "lists are"],
}


def raw_post(collector: Collector, head: bytes) -> bytes:
    """Send a request as raw bytes (no body); return everything the sink answers."""
    parts = urlsplit(collector.base_url)
    assert parts.hostname is not None
    assert parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(head)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def path_of(url: str) -> bytes:
    return urlsplit(url).path.encode()


def test_urls_are_on_loopback_and_carry_each_senders_own_token(collector: Collector) -> None:
    worker, controller = collector.urls("worker"), collector.urls("controller")

    assert collector.base_url.startswith("http://127.0.0.1:")
    token = worker.events.removeprefix(f"{collector.base_url}/t/").removesuffix("/events")
    assert len(token) >= 32
    assert worker.escalations == f"{collector.base_url}/t/{token}/escalations"
    assert controller.events != worker.events
    assert collector.urls("worker") == worker  # one token per sender for the whole run


def test_post_one_event(
    collector: Collector, client: httpx.Client, timeline: Timeline, clock: FakeClock
) -> None:
    clock.advance(7.5)

    response = client.post(collector.urls("worker").events, json=EVENT)

    assert response.status_code == 202
    assert response.json() == {"accepted": 1}
    (entry,) = timeline.events()
    assert entry == EventEntry(
        t=7.5,
        action="workflow.pause",
        service="worker",
        trigger="payments unreachable",
        expected_outcome="no order fails",
        actual_outcome="paused",
        duration_ms=12.0,
        correlation_id="c-1",
        sut_ts="2026-01-01T00:00:00Z",
        source="http",
        sender="worker",
        attributes={
            "attempt": 3,
            "dry_run": False,
            "note": None,
            "ratio": 0.5,
            "details.nested": "flattened",  # nested objects become dotted attributes
            "details.deeper.still": 1,
        },
    )
    assert collector.rejected == 0


def test_post_an_array_of_events(
    collector: Collector, client: httpx.Client, timeline: Timeline
) -> None:
    events = [{"action": "order.completed", "order": "o-1"}, {"action": "workflow.resume"}]

    response = client.post(collector.urls("worker").events, json=events)

    assert response.status_code == 202
    assert response.json() == {"accepted": 2}
    assert [(e.action, e.source, e.attributes) for e in timeline.events()] == [
        ("order.completed", "http", {"order": "o-1"}),
        ("workflow.resume", "http", {}),
    ]
    assert {(e.service, e.sender) for e in timeline.events()} == {("worker", "worker")}


def test_event_without_action_is_rejected_and_the_sink_keeps_serving(
    collector: Collector, client: httpx.Client, timeline: Timeline
) -> None:
    refused = client.post(collector.urls("worker").events, json={"service": "worker"})

    assert refused.status_code == 400
    assert "action" in refused.json()["error"]
    assert collector.rejected == 1
    assert judged(timeline) == []

    accepted = client.post(collector.urls("worker").events, json={"action": "workflow.pause"})
    assert accepted.status_code == 202
    assert [e.action for e in timeline.events()] == ["workflow.pause"]
    assert collector.rejected == 1


def test_one_bad_event_in_an_array_rejects_the_whole_body(
    collector: Collector, client: httpx.Client, timeline: Timeline
) -> None:
    response = client.post(
        collector.urls("worker").events, json=[{"action": "ok"}, {"action": ""}, 3]
    )

    assert response.status_code == 400
    assert judged(timeline) == []
    assert collector.rejected == 1


@pytest.mark.parametrize("body", [b"not json", b'{"action": ', b"\xff\xfe", b""])
def test_non_json_is_rejected(
    collector: Collector, client: httpx.Client, timeline: Timeline, body: bytes
) -> None:
    response = client.post(
        collector.urls("worker").events, content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["error"].startswith("not JSON")
    assert collector.rejected == 1
    assert judged(timeline) == []


def test_a_json_scalar_is_not_an_event(collector: Collector, client: httpx.Client) -> None:
    response = client.post(collector.urls("worker").events, json="workflow.pause")

    assert response.status_code == 400
    assert response.json() == {"error": "an event must be a JSON object, got str"}


def test_oversized_body_is_refused_without_reading_it(
    collector: Collector, client: httpx.Client, timeline: Timeline
) -> None:
    answer = raw_post(
        collector,
        b"POST "
        + path_of(collector.urls("worker").events)
        + b" HTTP/1.1\r\nHost: sink\r\n"
        + b"Content-Type: application/json\r\n"
        + f"Content-Length: {MAX_BODY + 1}\r\n\r\n".encode(),
    )

    assert answer.startswith(b"HTTP/1.0 413 ") or answer.startswith(b"HTTP/1.1 413 ")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"error": "body too large"}
    assert collector.rejected == 1
    assert judged(timeline) == []
    assert client.post(collector.urls("worker").events, json={"action": "a"}).status_code == 202


def test_body_of_exactly_max_size_is_read(collector: Collector, client: httpx.Client) -> None:
    body = json.dumps({"action": "big", "pad": ""}).encode()
    body = body[:-2] + b" " * (MAX_BODY - len(body)) + body[-2:]
    assert len(body) == MAX_BODY

    response = client.post(collector.urls("worker").events, content=body)

    assert response.status_code == 202


@pytest.mark.parametrize("length", [b"-1", b"lots"])
def test_a_bad_content_length_is_refused(
    collector: Collector, client: httpx.Client, length: bytes
) -> None:
    answer = raw_post(
        collector,
        b"POST "
        + path_of(collector.urls("worker").events)
        + b" HTTP/1.1\r\nHost: sink\r\n"
        + b"Content-Length: "
        + length
        + b"\r\n\r\n",
    )

    assert answer.split(b"\r\n", 1)[0].split(b" ")[1] == b"400"
    assert collector.rejected == 1
    assert client.post(collector.urls("worker").events, json={"action": "a"}).status_code == 202


def test_unknown_path_is_404(
    collector: Collector, client: httpx.Client, timeline: Timeline
) -> None:
    events = collector.urls("worker").events
    response = client.post(events.removesuffix("/events") + "/event", json={"action": "a"})

    assert response.status_code == 404
    assert judged(timeline) == []


def test_query_string_is_ignored(
    collector: Collector, client: httpx.Client, timeline: Timeline
) -> None:
    response = client.post(f"{collector.urls('worker').events}?from=worker", json={"action": "a"})

    assert response.status_code == 202
    assert len(timeline) == 1


def test_get_answers_health(collector: Collector, client: httpx.Client) -> None:
    response = client.get(collector.base_url)

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_generic_escalation(
    collector: Collector, client: httpx.Client, timeline: Timeline, clock: FakeClock
) -> None:
    clock.advance(3.0)
    body = {
        "summary": "payments down, workflow paused",
        "severity": "page",
        "runbook": "https://runbooks/payments",
        "service": "worker",
    }

    response = client.post(collector.urls("worker").escalations, json=body)

    assert response.status_code == 202
    assert timeline.of(EscalationEntry) == (
        EscalationEntry(
            t=3.0,
            summary="payments down, workflow paused",
            severity="page",
            runbook_url="https://runbooks/payments",
            service="worker",
            source_format="generic",
            sender="worker",
        ),
    )


def test_generic_escalation_needs_a_summary(
    collector: Collector, client: httpx.Client, timeline: Timeline
) -> None:
    response = client.post(collector.urls("worker").escalations, json={"severity": "page"})

    assert response.status_code == 400
    assert response.json() == {"error": "an escalation needs a 'summary'"}
    assert collector.rejected == 1
    assert judged(timeline) == []


def test_alertmanager_webhook(
    collector: Collector, client: httpx.Client, timeline: Timeline
) -> None:
    body = {
        "version": "4",
        "status": "firing",
        "receiver": "harness",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "PaymentsDown", "severity": "critical", "service": "api"},
                "annotations": {
                    "summary": "payments unreachable from worker",
                    "runbook_url": "https://runbooks/payments-down",
                },
            },
            {"status": "firing", "labels": {"alertname": "QueueBacklog"}, "annotations": {}},
            {"status": "firing", "labels": None, "annotations": "not a mapping"},
        ],
    }

    response = client.post(collector.urls("worker").escalations, json=body)

    assert response.status_code == 202
    assert response.json() == {"accepted": 3}
    first, second, third = timeline.of(EscalationEntry)
    assert first == EscalationEntry(
        t=0.0,
        summary="payments unreachable from worker",
        severity="critical",
        runbook_url="https://runbooks/payments-down",
        service="api",  # what the alert is about, as its labels say; not who sent it
        source_format="alertmanager",
        sender="worker",
    )
    assert (second.summary, second.severity, second.runbook_url, second.service) == (
        "QueueBacklog",
        None,
        None,
        "",
    )
    assert (third.summary, third.source_format) == ("", "alertmanager")


def test_escalation_must_be_an_object(collector: Collector, client: httpx.Client) -> None:
    response = client.post(collector.urls("worker").escalations, json=[{"summary": "x"}])

    assert response.status_code == 400
    assert collector.rejected == 1


def test_ingest_line_records_a_json_event_from_stdout(
    idle: Collector, timeline: Timeline, clock: FakeClock
) -> None:
    clock.advance(2.0)

    recorded = idle.ingest_line(
        "worker", '  {"action": "workflow.pause", "trigger": "p99 > 1s", "order": 5}\n'
    )

    assert recorded is True
    assert timeline.events() == (
        EventEntry(
            t=2.0,
            action="workflow.pause",
            service="worker",
            trigger="p99 > 1s",
            source="stdout",
            sender="worker",
            attributes={"order": 5},
        ),
    )


def test_ingest_line_keeps_the_service_the_event_names(idle: Collector, timeline: Timeline) -> None:
    assert idle.ingest_line("worker", '{"action": "a", "service": "scheduler"}')

    assert timeline.events()[0].service == "scheduler"


@pytest.mark.parametrize(
    "line",
    [
        "INFO worker started on port 8080",
        "",
        '{"action": "workflow.pause"',
        "{not json}",
        '{"service": "worker"}',
        '{"action": 3}',
        '[{"action": "a"}]',
    ],
)
def test_ingest_line_ignores_logs_and_malformed_lines(
    idle: Collector, timeline: Timeline, line: str
) -> None:
    assert idle.ingest_line("worker", line) is False
    assert judged(timeline) == []
    assert idle.rejected == 0  # a log line is not a rejected payload


def test_close_is_idempotent(timeline: Timeline) -> None:
    sink = Collector(timeline)
    sink.close()  # never started
    with Collector(timeline) as running:
        url = running.urls("worker").events
    running.close()

    with httpx.Client(timeout=2.0) as http, pytest.raises(httpx.TransportError):
        http.post(url, json={"action": "a"})


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deeply_nested_json_is_refused_and_the_connection_answered(
    collector: Collector, client: httpx.Client, timeline: Timeline, depth: int
) -> None:
    body = b'{"action": "a", "trigger": ' + b"[" * depth + b"]" * depth + b"}"

    response = client.post(collector.urls("worker").events, content=body)

    assert response.status_code == 400
    assert response.json() == {"error": "JSON nested too deeply to read"}
    assert (collector.rejected, judged(timeline)) == (1, [])


def test_ingest_line_ignores_deeply_nested_json(idle: Collector, timeline: Timeline) -> None:
    line = '{"action": "a", "trigger": ' + "[" * 100_000 + "]" * 100_000 + "}"

    assert idle.ingest_line("worker", line) is False
    assert judged(timeline) == []


@pytest.mark.parametrize("alerts", [[1, 2, 3], [{"labels": {"alertname": "A"}}, "B"], [None]])
def test_an_alertmanager_alert_that_is_not_an_object_rejects_the_body(
    collector: Collector, client: httpx.Client, timeline: Timeline, alerts: list[Any]
) -> None:
    response = client.post(
        collector.urls("worker").escalations, json={"version": "4", "alerts": alerts}
    )

    assert response.status_code == 400
    assert response.json()["error"].endswith("is not an object")
    assert (collector.rejected, judged(timeline)) == (1, [])


def test_a_burst_of_connections_is_queued_not_dropped() -> None:
    # Nothing accepts yet (the serving thread is not started), so every connection waits in the
    # listen backlog. With socketserver's default of 5, the kernel drops the SYNs beyond it and
    # the client retries a second later: an automation event would land late on the timeline.
    collector = Collector(Timeline())
    address = urlsplit(collector.base_url)
    host, port = address.hostname or "", address.port or 0
    clients: list[socket.socket] = []
    try:
        for _ in range(64):
            # a dropped SYN would make this connect wait past its bound and raise
            clients.append(socket.create_connection((host, port), timeout=0.5))
    finally:
        for client in clients:
            client.close()
        collector.close()
    assert len(clients) == 64


def test_a_senders_refused_body_is_shown_on_the_timeline_with_what_it_sent(
    collector: Collector, client: httpx.Client, timeline: Timeline
) -> None:
    """ "The automation never said it" and "said it in a form refused" look alike otherwise."""
    response = client.post(collector.urls("worker").events, json={"event": "workflow.pause"})

    assert response.status_code == 400
    (entry,) = timeline.of(RejectedPostEntry)
    assert (entry.status, entry.sender, entry.path) == (400, "worker", "/events")
    assert "non-empty string 'action'" in entry.reason
    assert entry.excerpt == '{"event":"workflow.pause"}'
    assert entry.peer.startswith("127.0.0.1:")
    assert timeline.events() == ()


def test_a_senders_oversized_body_is_shown_without_its_body(
    collector: Collector, client: httpx.Client, timeline: Timeline
) -> None:
    too_large = b"x" * (MAX_BODY + 1)
    response = client.post(collector.urls("controller").escalations, content=too_large)

    assert response.status_code == 413
    (entry,) = timeline.of(RejectedPostEntry)
    assert (entry.status, entry.sender, entry.reason, entry.excerpt) == (
        413, "controller", "body too large", ""
    )  # fmt: skip


def test_refused_bodies_recorded_are_bounded(idle: Collector, timeline: Timeline) -> None:
    for _ in range(MAX_REJECTED_ENTRIES + 5):
        idle.refuse_body("/events", "worker", 400, "not JSON", "127.0.0.1:1", b"x")
    assert idle.rejected == MAX_REJECTED_ENTRIES + 5
    assert len(timeline.of(RejectedPostEntry)) == MAX_REJECTED_ENTRIES
