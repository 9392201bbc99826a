"""The sinks' HTTP layer against clients that lie about, chunk, stall or trickle their bodies.

Each is answered with a 4xx and counted, the answer reaches a client that sends its whole body
before reading (as urllib and http.client do), and no client holds a request open for longer
than the bounds.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from harness.observe import collector as collector_module
from harness.observe.collector import MAX_BODY, Collector
from harness.timeline import RejectedPostEntry, Timeline


def refused(timeline: Timeline) -> list[int]:
    """The statuses of the refused posts on the timeline; fails if anything else is there."""
    assert all(isinstance(e, RejectedPostEntry) for e in timeline.entries), timeline.entries
    return [e.status for e in timeline.of(RejectedPostEntry)]


@pytest.fixture(scope="module")
def sink() -> Iterator[Collector]:
    with Collector(Timeline()) as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as http:
        yield http


def fresh(sink: Collector) -> Timeline:
    """A new timeline and count for one test (the sink itself runs for the whole module)."""
    sink.timeline = Timeline()
    sink.rejected = 0
    return sink.timeline


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> Iterator[Collector]:
    """A sink of its own with short timeouts, for the clients that stall or trickle."""
    monkeypatch.setattr(collector_module, "STALL_TIMEOUT", 1.0)
    monkeypatch.setattr(collector_module, "BODY_TIMEOUT", 2.0)
    monkeypatch.setattr(collector_module, "LINGER", 0.5)
    with Collector(Timeline()) as running:
        yield running


def connect(sink: Collector) -> socket.socket:
    parts = urlsplit(sink.base_url)
    assert parts.hostname is not None
    assert parts.port is not None
    return socket.create_connection((parts.hostname, parts.port), timeout=30)


def raw_exchange(sink: Collector, data: bytes, half_close: bool = False) -> bytes:
    """Send raw bytes; return the whole answer (b"" if the sink closed without one)."""
    with connect(sink) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    assert answer, "the sink closed the connection without an answer"
    return int(answer.split(b" ", 2)[1])


def events_path(sink: Collector) -> str:
    """The worker's tokened events path (``/t/<token>/events``)."""
    return urlsplit(sink.urls("worker").events).path


def head(length: int, sink: Collector) -> bytes:
    path = events_path(sink)
    return f"POST {path} HTTP/1.1\r\nHost: sink\r\nContent-Length: {length}\r\n\r\n".encode()


def post_whole(sink: Collector, body: bytes | Iterable[bytes]) -> int:
    """POST as plain clients do (http.client, urllib): send everything, then read the answer."""
    parts = urlsplit(sink.base_url)
    assert parts.hostname is not None
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        path = events_path(sink)
        conn.request("POST", path, body=body, encode_chunked=not isinstance(body, bytes))
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.parametrize("size", [MAX_BODY + 1, 8 * MAX_BODY, 32 * MAX_BODY])
def test_an_oversized_body_sent_whole_gets_its_413_not_a_reset(
    sink: Collector, client: httpx.Client, size: int
) -> None:
    timeline = fresh(sink)
    for _ in range(3):
        assert post_whole(sink, b"x" * size) == 413  # was: BrokenPipeError, the answer lost

    assert (sink.rejected, refused(timeline)) == (3, [413] * 3)
    assert client.post(sink.urls("worker").events, json={"action": "after"}).status_code == 202


def test_a_body_longer_than_its_content_length_is_cut_there(sink: Collector) -> None:
    timeline = fresh(sink)
    body = b'{"action": "a"}'

    answer = raw_exchange(sink, head(len(body), sink) + body + b"x" * 10_000)

    assert status_of(answer) == 202
    assert [e.action for e in timeline.events()] == ["a"]


def test_a_body_shorter_than_its_content_length_is_refused(sink: Collector) -> None:
    timeline = fresh(sink)

    answer = raw_exchange(sink, head(1000, sink) + b'{"action": "a"}', half_close=True)

    assert status_of(answer) == 400
    assert (sink.rejected, refused(timeline)) == (1, [400])


def test_a_chunked_body_is_refused_with_411(sink: Collector) -> None:
    timeline = fresh(sink)

    status = post_whole(sink, iter([b'{"action": "a", "pad": "'] + [b"x" * 4096] * 2000 + [b'"}']))

    assert status == 411  # was: 400 "not JSON", read as an empty body
    assert (sink.rejected, refused(timeline)) == (1, [411])


def test_a_stalled_body_is_answered_408_within_the_bound(quick: Collector) -> None:
    start = time.monotonic()

    answer = raw_exchange(quick, head(100, quick) + b'{"action": ')

    assert status_of(answer) == 408
    assert time.monotonic() - start < 1.0 + 0.5 + 2  # the stall bound, the linger, and slack
    assert (quick.rejected, refused(quick.timeline)) == (1, [408])


def test_a_trickling_body_is_cut_off_within_the_bound(quick: Collector) -> None:
    start = time.monotonic()
    answer = b""
    with connect(quick) as sock:
        sock.sendall(head(1000, quick))
        sock.settimeout(0.3)
        while not answer and time.monotonic() - start < 10:
            try:
                sock.sendall(b" ")  # every read gets a byte in time; the whole never comes
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break

    assert status_of(answer) == 408
    assert time.monotonic() - start < 2.0 + 2  # the body bound and slack
    assert (quick.rejected, refused(quick.timeline)) == (1, [408])


def test_the_sink_serves_others_while_a_client_stalls(
    sink: Collector, client: httpx.Client
) -> None:
    timeline = fresh(sink)
    with connect(sink) as stalled:
        stalled.sendall(head(100, sink) + b"{")

        response = client.post(sink.urls("worker").events, json={"action": "meanwhile"})

        assert response.status_code == 202
        assert [e.action for e in timeline.events()] == ["meanwhile"]


def test_a_client_gone_before_its_answer_leaves_no_traceback(
    sink: Collector, capfd: pytest.CaptureFixture[str]
) -> None:
    fresh(sink)
    with connect(sink) as sock:
        sock.sendall(head(100, sink) + b"{")  # and gone: the sink reads a cut body, then answers

    deadline = time.monotonic() + 5
    while sink.rejected == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # the answer's writes fail now, if they fail

    assert sink.rejected == 1
    assert "Traceback" not in capfd.readouterr().err
