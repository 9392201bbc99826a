"""The event collector: automation events and escalations, by HTTP or as JSON lines on stdout.

The system under test reports each automation action as a JSON object (see the contract in
docs/architecture.md). It may POST them to its events URL (one object or an array) or print them
as JSON lines on stdout; both land on the timeline the same way. Escalations are POSTed to its
escalation URL as a generic JSON body or in Alertmanager's webhook format. Each sender's URLs
carry its own secret token (``senders.py``): a POST without a valid one is refused with 401 and
recorded as a ``RejectedPostEntry``, never as an event. Bodies that are too large or malformed,
chunked, cut short or too slow to arrive are refused with a 4xx and counted, and the sink keeps
serving.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from harness.contract import EventFields
from harness.observe.senders import CLAIMED, Route, Senders, SinkUrls, mask_path
from harness.timeline import (
    EscalationEntry,
    EventEntry,
    JsonScalar,
    RejectedPostEntry,
    Timeline,
)

log = logging.getLogger(__name__)
MAX_BODY = 1 << 20
STALL_TIMEOUT = 5.0  # seconds a client may stall mid-request
BODY_TIMEOUT = 10.0  # seconds a client may take to send a whole body, however it trickles
LINGER = 2.0  # seconds to drop what a refused client still sends, so that it reads the answer
_EVENT_FIELDS = {"trigger", "expected_outcome", "actual_outcome"}
_KNOWN = _EVENT_FIELDS | {"duration_ms", "correlation_id"}
FLATTEN_DEPTH = 4
"""Nested objects in an event become dotted attributes (``job.id``) down to this depth."""
DEFAULT_FIELDS = EventFields()
MAX_REJECTED_ENTRIES = 100
"""Refused posts recorded one by one (of each kind: forged, refused bodies); past this, counted."""
EXCERPT_BYTES = 200
"""How much of a refused body its timeline entry quotes."""


class RejectedPayload(ValueError):
    """A payload that is not an event or escalation; the sink answers 400 and carries on."""


def parse_event(
    obj: Any,
    *,
    t: float,
    source: Literal["http", "stdout"],
    service: str = "",
    fields: EventFields = DEFAULT_FIELDS,
) -> EventEntry:
    """Turn one event object into a timeline entry; raise RejectedPayload if it is not one.

    ``fields`` names the keys of the system's events (the contract's ``event_fields``): its
    action, service and timestamp may be called otherwise (``event``, ``logger``, ...). Every
    other key is an attribute; nested objects are flattened to dotted names (``job.id``).
    """
    if not isinstance(obj, dict):
        raise RejectedPayload(f"an event must be a JSON object, got {type(obj).__name__}")
    action = obj.get(fields.action)
    if not isinstance(action, str) or not action:
        raise RejectedPayload(f"an event needs a non-empty string {fields.action!r}")
    text = {k: _text(obj.get(k)) for k in _EVENT_FIELDS}
    duration = obj.get("duration_ms")
    own = {fields.action, fields.service, fields.ts, *_KNOWN}
    return EventEntry(
        t=t,
        action=action,
        service=_text(obj.get(fields.service)) or service,
        trigger=text["trigger"],
        expected_outcome=text["expected_outcome"],
        actual_outcome=text["actual_outcome"],
        duration_ms=float(duration) if isinstance(duration, int | float) else None,
        correlation_id=_text(obj.get("correlation_id")),
        sut_ts=_text(obj.get(fields.ts)),
        source=source,
        attributes=dict(_flatten({k: v for k, v in obj.items() if k not in own})),
    )


def _flatten(obj: dict[str, Any], prefix: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """Scalar values of ``obj``, nested objects as ``outer.inner`` (lists are left out)."""
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and depth < FLATTEN_DEPTH:
            yield from _flatten(value, f"{name}.", depth + 1)
        elif _scalar(value):
            yield name, value


def parse_escalations(obj: Any, *, t: float) -> list[EscalationEntry]:
    """Escalations from a generic body or an Alertmanager webhook (one per alert)."""
    if not isinstance(obj, dict):
        raise RejectedPayload("an escalation must be a JSON object")
    if isinstance(obj.get("alerts"), list):  # Alertmanager webhook format
        odd = [i for i, alert in enumerate(obj["alerts"]) if not isinstance(alert, dict)]
        if odd:  # not an alert at all: counting it as an escalation would feed the policies noise
            raise RejectedPayload(f"alerts[{odd[0]}] is not an object")
        out = []
        for alert in obj["alerts"]:
            labels = _mapping(alert, "labels")
            notes = _mapping(alert, "annotations")
            out.append(
                EscalationEntry(
                    t=t,
                    summary=_text(notes.get("summary")) or _text(labels.get("alertname")) or "",
                    severity=_text(labels.get("severity")),
                    runbook_url=_text(notes.get("runbook_url")),
                    service=_text(labels.get("service")) or "",
                    source_format="alertmanager",
                )
            )
        return out
    summary = _text(obj.get("summary"))
    if not summary:
        raise RejectedPayload("an escalation needs a 'summary'")
    return [
        EscalationEntry(
            t=t,
            summary=summary,
            severity=_text(obj.get("severity")),
            runbook_url=_text(obj.get("runbook_url") or obj.get("runbook")),
            service=_text(obj.get("service")) or "",
        )
    ]


def _mapping(obj: Any, key: str) -> dict[str, Any]:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


class _SinkServer(ThreadingHTTPServer):
    """A threading HTTP server whose listen backlog holds a burst of simultaneous POSTs.

    socketserver's default backlog is 5: a sixth connection arriving at once has its SYN dropped
    and retried by the client's kernel a second later, and since events are stamped on arrival,
    an automation event would land a second or more late on the timeline (at time scale 0.05,
    a 30 s bound is 1.5 s). The kernel caps the value at ``net.core.somaxconn``.
    """

    request_queue_size = socket.SOMAXCONN


class Collector:
    """HTTP sinks for events and escalations on loopback, feeding one timeline."""

    def __init__(
        self,
        timeline: Timeline,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        senders: Iterable[str] = (),
    ) -> None:
        self.timeline = timeline
        self.rejected = 0
        """Requests refused for any reason (4xx), tokenless ones included."""
        self.unauthorised = 0
        """Requests refused for want of a valid token (401)."""
        self.senders = Senders(senders)
        self._lock = threading.Lock()
        self._server = _SinkServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a stalled client must not hold up the cleanup
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="harness-collector", daemon=True
        )

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the sinks."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def urls(self, sender: str) -> SinkUrls:
        """Where ``sender`` POSTs events and escalations (HARNESS_EVENTS_URL, ..._ESCALATION_URL).

        A sender not named when the collector was made gets its token now.
        """
        self.senders.add(sender)
        return self.senders.urls(self.base_url, sender)

    def __enter__(self) -> Collector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving; idempotent."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def ingest_line(self, service: str, line: str) -> bool:
        """Record a stdout line if it is a JSON event; return False for anything else (a log)."""
        text = line.strip()
        if not text.startswith("{"):
            return False
        try:
            entry = parse_event(
                json.loads(text),
                t=self.timeline.now(),
                source="stdout",
                service=service,
                fields=self.timeline.contract.event_fields,
            )
        except (ValueError, RecursionError):  # RejectedPayload is a ValueError
            return False
        self.timeline.append(self._sent_by(entry, service))
        return True

    def _sent_by(self, entry: EventEntry, sender: str) -> EventEntry:
        """``entry`` as ``sender``'s: a claim to be another sender is kept, but not believed."""
        service = self.senders.attribute(entry.service, sender)
        attributes = entry.attributes
        if entry.service and service != entry.service:
            attributes = {**attributes, CLAIMED: entry.service}
        return entry.model_copy(
            update={"service": service, "sender": sender, "attributes": attributes}
        )

    def refuse_unauthorised(self, path: str, peer: str) -> None:
        """Count a post without a valid token and record it (the first ``MAX_REJECTED_ENTRIES``)."""
        with self._lock:
            self.unauthorised += 1
            if self.unauthorised > MAX_REJECTED_ENTRIES:
                return
        reason = "no sink token" if not path.startswith("/t/") else "unknown sink token"
        self.timeline.append(
            RejectedPostEntry(t=self.timeline.now(), path=mask_path(path), reason=reason, peer=peer)
        )

    def refuse_body(
        self, sink: str, sender: str, status: int, reason: str, peer: str, body: bytes = b""
    ) -> None:
        """Count a body a declared sender posted and the sink refused; record the first ones."""
        with self._lock:
            self.rejected += 1
            if self.rejected > MAX_REJECTED_ENTRIES:
                return
        excerpt = body[:EXCERPT_BYTES].decode("utf-8", errors="replace")
        self.timeline.append(
            RejectedPostEntry(
                t=self.timeline.now(),
                path=sink,
                reason=reason,
                peer=peer,
                status=int(status),
                sender=sender,
                excerpt=excerpt,
            )
        )

    def ingest_body(self, path: str, body: bytes, sender: str = "") -> int:
        """Record a body ``sender`` POSTed to ``path`` (``/events``); return its entry count.

        Raise RejectedPayload for a body that is no event or escalation.
        """
        try:
            obj = json.loads(body)
        except ValueError as exc:
            raise RejectedPayload(f"not JSON: {exc}") from None
        except RecursionError:  # '[' * 100_000: it killed the request and printed a traceback
            raise RejectedPayload("JSON nested too deeply to read") from None
        t = self.timeline.now()
        if path == "/events":
            items = obj if isinstance(obj, list) else [obj]
            fields = self.timeline.contract.event_fields
            entries: list[EventEntry | EscalationEntry] = [
                self._sent_by(parse_event(item, t=t, source="http", fields=fields), sender)
                for item in items
            ]
        elif path == "/escalations":
            entries = [e.model_copy(update={"sender": sender}) for e in parse_escalations(obj, t=t)]
        else:
            raise LookupError(path)
        for entry in entries:
            self.timeline.append(entry)
        return len(entries)


def _handler_for(collector: Collector) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = STALL_TIMEOUT

        def do_POST(self) -> None:
            route = collector.senders.route(self.path)
            if route is None:  # before anything is read: the body of a forgery is not wanted
                host, port = self.client_address[:2]
                collector.refuse_unauthorised(self.path, f"{host}:{port}")
                self._refuse(HTTPStatus.UNAUTHORIZED, "no valid sink token: POST to your URL", None)
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if "Transfer-Encoding" in self.headers:  # chunked: no length to bound the read
                self._refuse(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length, not chunks", route)
                return
            if length < 0:  # never read "until EOF": the client waits for our answer
                self._refuse(HTTPStatus.BAD_REQUEST, "bad Content-Length", route)
                return
            if length > MAX_BODY:
                self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large", route)
                return
            try:
                body = self._read_body(length)
            except TimeoutError:
                self._refuse(HTTPStatus.REQUEST_TIMEOUT, "the body did not arrive in time", route)
                return
            if len(body) < length:  # the client stopped sending: a cut body is no body
                self._refuse(
                    HTTPStatus.BAD_REQUEST, f"body of {len(body)} of {length} bytes", route
                )
                return
            try:
                count = collector.ingest_body(route.sink, body, route.sender)
            except LookupError:
                self._answer(HTTPStatus.NOT_FOUND, {"error": "POST .../events or .../escalations"})
            except RejectedPayload as exc:
                host, port = self.client_address[:2]
                status = HTTPStatus.BAD_REQUEST
                collector.refuse_body(
                    route.sink, route.sender, status, str(exc), f"{host}:{port}", body
                )
                self._answer(status, {"error": str(exc)})
            else:
                self._answer(HTTPStatus.ACCEPTED, {"accepted": count})

        def _read_body(self, length: int) -> bytes:
            """Up to ``length`` bytes within ``BODY_TIMEOUT``, however slowly they trickle in."""
            deadline = time.monotonic() + BODY_TIMEOUT
            chunks: list[bytes] = []
            left = length
            try:
                while left > 0:
                    wait = min(deadline - time.monotonic(), STALL_TIMEOUT)
                    if wait <= 0:
                        raise TimeoutError
                    self.connection.settimeout(wait)
                    chunk = self.rfile.read1(min(left, 1 << 16))
                    if not chunk:
                        break
                    chunks.append(chunk)
                    left -= len(chunk)
            finally:
                self.connection.settimeout(STALL_TIMEOUT)
            return b"".join(chunks)

        def _refuse(self, status: HTTPStatus, error: str, route: Route | None) -> None:
            """Answer a body that will not be read, count it, and close gently.

            A declared sender's refused body also goes on the timeline. Closing a socket with
            unread data resets the connection, and a client still sending its body would lose
            the answer with it: what it sends for ``LINGER`` seconds more is read and dropped
            first.
            """
            if route is None:
                collector.rejected += 1
            else:
                host, port = self.client_address[:2]
                collector.refuse_body(route.sink, route.sender, status, error, f"{host}:{port}")
            self.close_connection = True
            try:
                self._answer(status, {"error": error})
                self.connection.shutdown(socket.SHUT_WR)
                deadline = time.monotonic() + LINGER
                while (left := deadline - time.monotonic()) > 0:
                    self.connection.settimeout(left)
                    if not self.connection.recv(1 << 16):
                        break
            except OSError:  # the client is gone, reset, or silent: nothing more to tell it
                pass

        def do_GET(self) -> None:
            self._answer(HTTPStatus.OK, {"status": "ok"})

        def _answer(self, status: HTTPStatus, body: dict[str, JsonScalar]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("collector: " + format, *args)

    return Handler
