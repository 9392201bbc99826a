"""Final-state reads: records from every shape an answer takes, and every way one is unreadable."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest
from pydantic import JsonValue, ValidationError

from harness.probes.base import ProbeContext
from harness.probes.state import ShapeError, StateRead, read_state, records_from, summary
from harness.probespec import StateReader
from harness.secrets import mask_url_passwords
from harness.timeline import StateEntry, Timeline

PY = sys.executable


def reader(**fields: object) -> StateReader:
    return StateReader.model_validate({"command": {"argv": ["unused"]}, **fields})


@pytest.mark.parametrize(
    ("fields", "value", "records"),
    [
        ({}, ["a", "b", "a"], {"a": 2, "b": 1}),  # a list of ids: each occurrence counts
        ({}, [["a"], ["b"]], {"a": 1, "b": 1}),  # rows (id)
        ({}, [["a", 1], ["b", 2], ["a", 1]], {"a": 2, "b": 2}),  # rows (id, count), summed
        ({}, {"a": 1, "b": "2"}, {"a": 1, "b": 2}),  # an object id -> count (Redis: text)
        ({}, [], {}),  # nothing stored is a state too
        ({"ids": "$.orders"}, {"orders": [1, 2]}, {"1": 1, "2": 1}),
        ({"ids": "$.orders[*].id"}, {"orders": [{"id": "x"}, {"id": "x"}]}, {"x": 2}),
        ({"ids": "$.orders"}, {"orders": []}, {}),
        (
            {"records": "$.orders", "count": "charges"},
            {"orders": [{"id": "a", "charges": 2}, {"id": "b", "charges": 0}]},
            {"a": 2, "b": 0},
        ),
        (
            {"records": "$.orders", "id": "key.value"},
            {"orders": [{"key": {"value": 7}}]},
            {"7": 1},
        ),
        ({"counts": "$.charges"}, {"charges": {"a": 1, "b": 3}}, {"a": 1, "b": 3}),
    ],
)
def test_records_come_from_every_shape_of_answer(
    fields: dict[str, object], value: JsonValue, records: dict[str, int]
) -> None:
    assert records_from(value, reader(**fields)) == records


def test_a_value_that_is_no_collection_is_kept_raw() -> None:
    assert records_from(42, reader()) is None


@pytest.mark.parametrize(
    ("fields", "value", "message"),
    [
        ({"ids": "$.orders"}, {"items": []}, "$.orders matches nothing in"),
        ({}, [{"id": "a"}], "row #1: expected (id) or (id, count)"),
        ({}, [["a", 1, 2]], "row #1: expected (id) or (id, count)"),
        ({}, [["a", -1]], "row #1: count -1 is not a whole number >= 0"),
        ({}, [[True]], "row #1: true is not an id"),
        ({}, {"a": "many"}, 'count "many" is not a whole number'),
        ({"records": "$.orders"}, {"orders": [{"key": 1}]}, "id matches 0 values"),
        ({"counts": "$.charges"}, {"charges": [1]}, "expected an object of id -> count"),
    ],
)
def test_an_answer_without_records_where_the_reader_says_is_an_error(
    fields: dict[str, object], value: JsonValue, message: str
) -> None:
    with pytest.raises(ShapeError) as info:
        records_from(value, reader(**fields))
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ids": "$.a", "counts": "$.b"}, "give at most one of: ids, records, counts"),
        ({"count": "charges"}, "'id' and 'count' read each of the 'records'"),
        ({"ids": "$.a["}, "not a JSON path"),
        (
            {"command": {"argv": ["x"], "expect": {"equals": 1}}},
            "a final-state read has no 'expect'",
        ),
    ],
)
def test_a_bad_reader_is_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        reader(**fields)
    assert message in str(info.value)


def test_a_command_whose_stdout_is_json_is_read_as_records(tmp_path: Path) -> None:
    out = json.dumps({"orders": [{"id": "a", "n": 1}, {"id": "b", "n": 2}]})
    spec = {"argv": [PY, "-c", f"print({out!r})"], "json": True}
    read = read_state(
        StateReader.model_validate({"command": spec, "records": "$.orders", "count": "n"}),
        ProbeContext({}, base_dir=tmp_path),
    )
    assert read == StateRead(
        records={"a": 1, "b": 2}, detail="2 ids (3 held); held more than once: b x2"
    )
    assert read.ok


def test_a_sqlite_query_is_read_as_rows(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "s.db") as conn:
        conn.execute("CREATE TABLE charges (order_id TEXT, n INT)")
        conn.executemany("INSERT INTO charges VALUES (?, ?)", [("a", 1), ("b", 2)])
    context = ProbeContext({}, base_dir=tmp_path)
    sql = {"dsn": "sqlite:///s.db", "query": "SELECT order_id, n FROM charges ORDER BY 1"}
    read = read_state(StateReader.model_validate({"sql": sql}), context)
    assert read.records == {"a": 1, "b": 2}
    assert read.detail == "2 ids (3 held); held more than once: b x2"
    ids = {"dsn": "sqlite:///s.db", "query": "SELECT order_id FROM charges"}
    assert read_state(StateReader.model_validate({"sql": ids}), context).records == {"a": 1, "b": 1}


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (
            {"sql": {"dsn": "sqlite:///s.db", "query": "SELECT nope FROM t"}},
            "final state (sql sqlite:///s.db: SELECT nope FROM t): sqlite:///s.db: the query "
            "failed: OperationalError: no such table: t",
        ),
        (
            {"command": {"argv": [PY, "-c", "import sys; sys.exit(2)"]}},
            "exit code 2, expected 0",
        ),
        (
            {"command": {"argv": [PY, "-c", "print('{\"a\": []}')"], "json": True}, "ids": "$.b"},
            '$.b matches nothing in {"a": []}',
        ),
    ],
)
def test_a_state_that_cannot_be_read_is_an_error_never_records(
    tmp_path: Path, kind: dict[str, object], message: str
) -> None:
    sqlite3.connect(tmp_path / "s.db").close()
    read = read_state(StateReader.model_validate(kind), ProbeContext({}, base_dir=tmp_path))
    assert not read.ok
    assert read.records is None
    assert read.error is not None
    assert message in read.error
    entry = read.entry(3.0, "orders")
    assert (entry.ok, entry.records, entry.detail) == (False, None, read.error)


def test_state_entries_are_kept_on_stored_timelines_and_old_timelines_still_load() -> None:
    timeline = Timeline(0.05)
    timeline.append(StateRead(records={"a": 1}, detail="1 ids (1 held)").entry(1.5, "orders"))
    timeline.append(StateRead(value={"x": [1]}).entry(1.6, "raw"))
    again = Timeline.from_json(timeline.to_json())
    entries = again.of(StateEntry)
    assert [(e.name, e.ok, e.records, e.value) for e in entries] == [
        ("orders", True, {"a": 1}, None),
        ("raw", True, None, {"x": [1]}),
    ]
    old = {"time_scale": 1.0, "started_at": "2026-01-01T00:00:00+00:00", "entries": [
        {"kind": "phase", "t": 0.0, "phase": "setup"},
        {"kind": "probe", "t": 0.1, "probe": "api", "ok": True},
    ]}  # fmt: skip
    assert len(Timeline.from_json(json.dumps(old))) == 2


def test_a_summary_names_what_is_held_more_than_once() -> None:
    assert summary({"a": 1}) == "1 ids (1 held)"
    assert summary({"a": 2, "b": 0}) == "2 ids (2 held); held more than once: a x2"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("redis://:pw@127.0.0.1:6379/0", "redis://:<redacted>@127.0.0.1:6379/0"),
        ("postgresql://app:s3cr%40t@h:5/db", "postgresql://app:<redacted>@h:5/db"),
        ("postgresql://h/db?user=a&password=xyz&sslmode=off", "postgresql://h/db?user=a&password=<redacted>&sslmode=off"),
        ("host=h password=abc user=u", "host=h password=<redacted> user=u"),
        ("password=abc", "password=<redacted>"),
        ("postgresql://app@h/db and http://h/a@b", "postgresql://app@h/db and http://h/a@b"),
    ],
)  # fmt: skip
def test_passwords_in_urls_and_dsns_are_masked(text: str, masked: str) -> None:
    assert mask_url_passwords(text) == masked
