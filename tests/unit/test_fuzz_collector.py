"""Whatever a system under test sends the event and escalation sinks, they answer and keep serving.

Every body, on a real sink on loopback, is answered 2xx (recorded: as many entries as accepted,
of the sink's type, and the timeline still writes and reads back as JSON) or 4xx (rejected,
counted, nothing recorded); never 5xx, never a dropped connection. Whether a body is accepted is
checked against the contract in docs/architecture.md, written out again here as an oracle.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fuzzing import examples, hard_limit
from hypothesis import event, example, given
from hypothesis import strategies as st

from harness.clock import FakeClock
from harness.observe.collector import Collector
from harness.timeline import EscalationEntry, EventEntry, Timeline

EVENT_FIELDS = ["action", "service", "trigger", "expected_outcome", "actual_outcome"]
EVENT_FIELDS += ["duration_ms", "correlation_id", "ts"]


@pytest.fixture(scope="module")
def sink() -> Iterator[Collector]:
    with Collector(Timeline()) as running:
        yield running


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as http:
        yield http


def fresh(sink: Collector) -> Timeline:
    """A new timeline and count for one example (the sink itself runs for the whole module)."""
    sink.timeline = Timeline(monotonic=FakeClock().monotonic)
    sink.rejected = 0
    return sink.timeline


# --- what to send --------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=30),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=15,
)
events = st.dictionaries(
    st.sampled_from(EVENT_FIELDS) | st.text(max_size=10),
    values,
    max_size=8,
).flatmap(
    lambda obj: st.one_of(
        st.just(obj),
        st.text(min_size=1, max_size=20).map(lambda a: {**obj, "action": a}),
    )
)
alerts = st.one_of(
    values,
    st.fixed_dictionaries(
        {},
        optional={
            "status": values,
            "labels": st.dictionaries(
                st.sampled_from(["alertname", "severity", "service"]) | st.text(max_size=8),
                values,
                max_size=4,
            )
            | values,
            "annotations": st.dictionaries(
                st.sampled_from(["summary", "runbook_url"]) | st.text(max_size=8),
                values,
                max_size=3,
            )
            | values,
        },
    ),
)
escalations = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={"summary": values, "severity": values, "runbook_url": values, "runbook": values,
                  "service": values},
    ),
    st.fixed_dictionaries(
        {"alerts": st.lists(alerts, max_size=4) | values},
        optional={"version": values, "status": values, "receiver": values},
    ),
)  # fmt: skip


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _nested(depth: int) -> bytes:
    return b'{"action": "deep", "trigger": ' + b"[" * depth + b"]" * depth + b"}"


bodies = st.one_of(
    st.lists(events, max_size=4).map(_json),
    events.map(_json),
    escalations.map(_json),
    values.map(_json),
    st.binary(max_size=200),
    events.map(_json).flatmap(lambda b: st.integers(0, len(b)).map(lambda n: b[:n])),
    st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 5000).map(_nested),
    st.integers(1, 900_000).map(lambda n: _json({"action": "x" * n})),
    st.integers(20, 6000).map(lambda n: b'{"action": "big", "n": ' + b"9" * n + b"}"),
    st.sampled_from([
        b'{"action": NaN}', b'{"action": "a", "duration_ms": Infinity}', b'{"action": "\\ud800"}',
        b'{"action": "\xff\xfe"}', '{"action": "utf16"}'.encode("utf-16"), b'{"action": "a",}',
        b'{"action": "a", "action": ""}', b'{"action": "a"} {"action": "b"}', b"\x00" * 10,
        b'{"summary": "\\udfff"}', b'{"alerts": "none"}', b'{"alerts": [1, null, "x"]}',
    ]),
)  # fmt: skip


# --- the oracle ----------------------------------------------------------------------------


def accepted(path: str, body: bytes | str, *, on_a_thread: bool) -> set[int | None]:
    """What the contract allows for ``body``: how many entries it holds, or None (refused).

    How deep JSON may nest depends on the parser's stack: the sink parses on a thread of its own,
    so with ``on_a_thread`` this does too, a few frames shallower. Near the recursion limit
    either answer is right.
    """
    try:
        obj = _parse(body) if on_a_thread else json.loads(body)
    except RecursionError:
        return {None} if on_a_thread else {None, 1}
    except ValueError:
        return {None}
    outcome = _holds(path, obj)
    return {outcome, None} if _depth(obj) > sys.getrecursionlimit() - 100 else {outcome}


def _holds(path: str, obj: Any) -> int | None:
    if path == "/events":
        items = obj if isinstance(obj, list) else [obj]
        ok = all(
            isinstance(i, dict) and isinstance(i.get("action"), str) and i["action"] for i in items
        )
        return len(items) if ok else None
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("alerts"), list):
        return len(obj["alerts"]) if all(isinstance(a, dict) for a in obj["alerts"]) else None
    summary = obj.get("summary")
    return 1 if summary is not None and str(summary) else None


def _parse(body: bytes | str) -> Any:
    """``json.loads`` on a fresh thread (its errors raised here)."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(json.loads(body))
        except (ValueError, RecursionError) as exc:
            result.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if isinstance(result[0], ValueError | RecursionError):
        raise result[0]
    return result[0]


def _depth(obj: Any) -> int:
    deepest, stack = 0, [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return deepest


def check_recorded(timeline: Timeline, path: str, count: int) -> None:
    """``count`` entries of the sink's type, and the timeline still round-trips through JSON."""
    kind = EventEntry if path == "/events" else EscalationEntry
    assert len(timeline) == count
    assert all(type(e) is kind for e in timeline.entries), timeline.entries
    assert len(Timeline.from_json(timeline.to_json()).entries) == count


# --- properties ----------------------------------------------------------------------------


@examples(4.0)
@given(path=st.sampled_from(["/events", "/escalations"]), body=bodies)
@example(path="/events", body=b"[" * 100_000 + b"]" * 100_000)
@example(path="/events", body=_nested(990))
@example(path="/events", body=_nested(1990))  # the sink's thread may parse what this one cannot
@example(path="/escalations", body=b'{"alerts": [1, 2, 3]}')
@example(path="/events", body=b'{"action": "\\ud800"}')
def test_any_body_is_answered_2xx_or_4xx_and_recorded_as_the_contract_says(
    sink: Collector, client: httpx.Client, path: str, body: bytes
) -> None:
    timeline = fresh(sink)
    with hard_limit(30):
        response = client.post(
            sink.urls("worker").events.removesuffix("/events") + path, content=body
        )
    event(f"{path} {response.status_code}")

    allowed = accepted(path, body, on_a_thread=True)
    if response.status_code == 400:
        assert None in allowed, response.text
        assert sink.rejected == 1
        assert [e.kind for e in timeline.entries] == ["rejected_post"]  # shown, not judged
    else:
        assert response.status_code == 202, response.text
        count = response.json()["accepted"]
        assert count in allowed
        assert sink.rejected == 0
        check_recorded(timeline, path, count)


@examples(2.0)
@given(line=st.one_of(bodies.map(lambda b: b.decode("utf-8", "replace")), st.text(max_size=300)))
@example(line='{"action": "x", "t": ' + "[" * 100_000 + "]" * 100_000 + "}")
@example(line='{"action": "deep", "trigger": ' + "[" * 990 + "]" * 990 + "}")
def test_any_stdout_line_is_recorded_as_an_event_or_ignored(sink: Collector, line: str) -> None:
    timeline = fresh(sink)
    with hard_limit(30):
        recorded = sink.ingest_line("worker", line)
    event("recorded" if recorded else "ignored")

    text = line.strip()
    allowed = accepted("/events", text, on_a_thread=False) if text.startswith("{") else {None}
    assert (1 if recorded else None) in allowed
    check_recorded(timeline, "/events", 1 if recorded else 0)
    assert sink.rejected == 0  # a log line is not a rejected payload


def test_after_all_of_it_a_valid_event_is_still_recorded(
    sink: Collector, client: httpx.Client
) -> None:
    timeline = fresh(sink)

    response = client.post(sink.urls("worker").events, json={"action": "workflow.pause"})

    assert response.status_code == 202
    assert [e.action for e in timeline.events()] == ["workflow.pause"]
