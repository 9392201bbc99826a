"""Tolerances: each condition holds on a good value and fails on a bad one; bad ones are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import JsonValue, ValidationError

from harness.errors import ScenarioError
from harness.jsonpaths import JsonPathError, compile_path, find
from harness.probes.tolerance import Tolerance, check, describe, same
from harness.scenario import load_scenario

ORDERS: JsonValue = {
    "queue": [],
    "orders": [{"id": "a", "status": "done"}, {"id": "b", "status": "done"}],
    "stats": {"paused": False, "completed": 12, "version": "v2.1"},
}


def tol(**fields: object) -> Tolerance:
    return Tolerance.model_validate(fields)


@pytest.mark.parametrize(
    ("fields", "good", "bad"),
    [
        ({"equals": 0}, 0, 1),
        ({"equals": 0}, 0.0, "0"),  # 0 == 0.0, but text is no number
        ({"equals": 1}, 1, True),  # true is no number
        ({"equals": None}, None, 0),  # null is a value one can expect
        ({"equals": "ok"}, "ok", "OK"),
        ({"one_of": ["up", "degraded"]}, "degraded", "down"),
        ({"range": [0, 10]}, 10, 10.5),
        ({"range": [0, 10]}, "7", "seven"),  # Redis answers numbers as text
        ({"range": [0.5, 1]}, 0.5, None),
        ({"regex": "^v2\\."}, "v2.1", "v3.0"),
        ({"regex": "^4"}, 42, [4]),  # a number is searched as its JSON text; a list is not text
        ({"empty": True}, [], ["x"]),
        ({"empty": True}, "", "x"),
        ({"empty": False}, {"a": 1}, {}),
        ({"length": 2}, [1, 2], [1]),
        ({"length": [1, 3]}, "abc", "abcd"),
        ({"empty": True}, [], None),  # null is no list: not empty, not anything
    ],
)
def test_each_condition_holds_on_a_good_value_and_fails_on_a_bad_one(
    fields: dict[str, object], good: JsonValue, bad: JsonValue
) -> None:
    tolerance = tol(**fields)
    assert check(tolerance, good) == []
    problems = check(tolerance, bad)
    assert len(problems) == 1, problems


def test_every_condition_given_must_hold() -> None:
    tolerance = tol(range=[0, 100], one_of=[5, 50])
    assert check(tolerance, 50) == []
    assert check(tolerance, 7) == ["expected one of [5, 50], got 7"]
    assert check(tolerance, 500) == [
        "expected one of [5, 50], got 500",
        "expected a number in [0, 100], got 500",
    ]


def test_a_json_path_applies_the_conditions_to_every_match() -> None:
    assert check(tol(jsonpath="$.orders[*].status", equals="done"), ORDERS) == []
    orders: JsonValue = {"orders": [{"status": "done"}, {"status": "failed"}]}
    problems = check(tol(jsonpath="$.orders[*].status", equals="done"), orders)
    assert problems == ['$.orders[*].status match #2: expected "done", got "failed"']
    assert check(tol(jsonpath="$.queue", empty=True), ORDERS) == []
    assert check(tol(jsonpath="$.stats.completed", range=[10, 20]), ORDERS) == []
    assert check(tol(jsonpath="$.stats.paused", equals=True), ORDERS) == [
        "$.stats.paused: expected true, got false"
    ]


def test_a_json_path_that_matches_nothing_fails_unless_count_allows_it() -> None:
    problems = check(tol(jsonpath="$.stats.missing", equals=0), ORDERS)
    assert len(problems) == 1
    assert problems[0].startswith("$.stats.missing matches nothing in {")
    assert check(tol(jsonpath="$.stats.missing", count=0), ORDERS) == []
    assert check(tol(jsonpath="$.orders[*]", count=2), ORDERS) == []
    assert check(tol(jsonpath="$.orders[*]", count=[3, 5]), ORDERS) == [
        "$.orders[*] matches 2 values, expected [3, 5]"
    ]


def test_extended_paths_filter_and_count() -> None:
    done = "$.orders[?(@.status == 'done')]"
    assert check(tol(jsonpath=done, count=2), ORDERS) == []
    assert find("$.orders[*].id", ORDERS) == ["a", "b"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"range": [5, 1]}, "[5, 1]: the low end is above the high end"),
        ({"length": [3, 1]}, "[3, 1]: the low end is above the high end"),
        ({"regex": "(unclosed"}, "not a regular expression: '(unclosed'"),
        ({"jsonpath": "$.orders[?(@.x ==]", "count": 1}, "not a JSON path: '$.orders[?(@.x ==]'"),
        ({"jsonpath": "$.a"}, "a tolerance needs a condition"),
        ({}, "a tolerance needs a condition"),
        ({"count": 1}, "'count' counts the matches of a 'jsonpath'"),
    ],
)
def test_a_bad_tolerance_is_refused_with_what_is_wrong(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=None) as info:
        tol(**fields)
    assert message in str(info.value)


SCENARIO = """\
name: probes
system: ../fixtures/sut/system.yaml
steady_state:
  - name: api-healthy
    http:
      url: "{api}/stats"
      expect:
        jsonpath: "$.orders[?(@.x ==]"
        count: 1
  - name: queue
    command:
      argv: [echo, "3"]
      expect: {range: [5, 1]}
faults:
  - {type: partition, edge: worker -> payments, at: 0s, duration: 1s}
expectations:
  - {policy: pauses, within: 30s}
"""


def test_bad_paths_and_ranges_in_a_file_are_located(tmp_path: Path) -> None:
    path = tmp_path / "probes.yaml"
    path.write_text(SCENARIO)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    rendered = [p.render() for p in info.value.problems]
    assert rendered == [
        f"{path}:8:9: steady_state[0].http.expect.jsonpath: not a JSON path: "
        "'$.orders[?(@.x ==]': Parse error at 1:17 near token ] (])",
        f"{path}:13:16: steady_state[1].command.expect.range: "
        "[5, 1]: the low end is above the high end; write [lo, hi]",
    ]


def test_paths_compile_once_and_say_where_they_break() -> None:
    assert compile_path("$.a") is compile_path("$.a")
    with pytest.raises(JsonPathError, match="cannot be empty"):
        compile_path(" ")


def test_json_equality_keeps_booleans_apart_from_numbers() -> None:
    assert same(1, 1.0)
    assert not same(True, 1)
    assert not same(0, False)
    assert same(False, False)


def test_a_tolerance_describes_itself() -> None:
    assert describe(tol(jsonpath="$.queue", empty=True)) == "$.queue: empty true"
    assert describe(tol(range=[0, 5])) == "range [0.0, 5.0]"
