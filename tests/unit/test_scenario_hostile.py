"""Hostile and broken scenario files that once crashed or hung the loader, each pinned here.

Found by the property tests in test_fuzz_scenarios.py; every one is now a located problem.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.durations import parse_duration
from harness.errors import Problem, ScenarioError
from harness.prepare import prepare


def write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "scenario.yaml"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def problems(path: Path) -> list[Problem]:
    with pytest.raises(ScenarioError) as info:
        prepare(path, None)
    return list(info.value.problems)


# --- bytes and characters ------------------------------------------------------------------


def test_a_byte_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, b"name: x\ndescription: caf\xe9\n")

    assert problems(path) == [
        Problem(path, 2, 17, "", "not UTF-8: byte 0xe9; save the file as UTF-8")
    ]


def test_a_character_yaml_refuses_is_located_on_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\ndescription: a\x00b\n")

    (problem,) = problems(path)

    assert (problem.line, problem.column) == (2, 15)
    assert problem.render().endswith(
        "YAML syntax: character #x0000: special characters are not allowed"
    )


# --- nesting -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "line", "column"),
    [
        ("[" * 20_000 + "]" * 20_000, 2, 73),  # took a minute, then RecursionError
        ("{a: " * 20_000 + "1" + "}" * 20_000, 2, 265),
        ("\n" + "- " * 20_000 + "x", 3, 129),  # block sequences, one per '- '
    ],
    ids=["flow-lists", "flow-mappings", "compact-block"],
)
def test_deep_nesting_is_refused_at_once(
    tmp_path: Path, faults: str, line: int, column: int
) -> None:
    path = write(tmp_path, f"name: deep\nfaults: {faults}\n")
    start = time.monotonic()

    (problem,) = problems(path)

    assert time.monotonic() - start < 2
    assert problem.message == "YAML syntax: nested more than 64 levels deep"
    assert (problem.line, problem.column) == (line, column)


def test_nesting_a_scenario_needs_is_far_below_the_bound(tmp_path: Path) -> None:
    nested = "{a: " * 60 + "1" + "}" * 60
    path = write(tmp_path, f"name: deep\nsut_env: {nested}\n")

    assert "nested more than" not in " ".join(p.message for p in problems(path))


# --- values YAML cannot build --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("9" * 5000, "Exceeds the limit (4300 digits) for integer string conversion"),
        ("!!int abc", "invalid literal for int()"),
        ("!!int 0x", "string index out of range"),
        ("!!timestamp 2020-99-99", "month must be in 1..12"),
    ],
)
def test_a_value_yaml_cannot_build_is_located(tmp_path: Path, value: str, says: str) -> None:
    path = write(tmp_path, f"name: x\nworkload:\n  rate: {value}\n")

    (problem,) = problems(path)

    assert (problem.line, problem.column) == (3, 9)
    assert problem.message.startswith("YAML syntax: cannot read this value: " + says)
    assert "sys.set_int_max_str_digits" not in problem.message  # Python's hint, not the user's


# --- merge keys ----------------------------------------------------------------------------


def test_a_field_merged_in_with_a_merge_key_is_placed_at_its_mapping(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "x-defaults: &defaults {at: 0s, duraton: 1s}\n"
        "name: merged\n"
        "faults:\n"
        "  - type: partition\n"
        "    edge: worker -> payments\n"
        "    <<: *defaults\n",
    )

    found = {(p.field, p.message): (p.line, p.column) for p in problems(path)}

    assert found[("faults[0].duraton", "unknown field; did you mean 'duration'?")] == (4, 5)
    assert found[("x-defaults", "unknown field; did you mean 'faults'?")] == (1, 1)


# --- every problem on one printable line ---------------------------------------------------


def test_a_duplicate_key_whose_first_value_spans_lines_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "description: >\n  two\n  lines\nname: x\ndescription: again\n")

    (problem,) = problems(path)

    assert problem.line == 5
    assert "\n" not in problem.render()
    assert 'found duplicate key "description" with value "again"' in problem.message


@pytest.mark.parametrize(("key", "field"), [("", '""'), ("\r", '"\\r"'), ("a\x1bb", '"a\\u001bb"')])
def test_a_field_name_that_prints_as_nothing_is_quoted(
    tmp_path: Path, key: str, field: str
) -> None:
    escaped = key.replace("\r", "\\r").replace("\x1b", "\\e")
    path = write(tmp_path, f'name: x\n"{escaped}": 1\n')

    found = [p for p in problems(path) if p.line == 2]

    assert [(p.field, p.message) for p in found] == [(field, "unknown field")]
    assert found[0].render().isprintable()


def test_a_long_value_is_quoted_in_part_and_the_message_keeps_its_end(tmp_path: Path) -> None:
    edge = "x" * 100_000
    path = write(tmp_path, f"name: x\nfaults: [{{type: partition, edge: {edge}, at: 0s}}]\n")

    (problem,) = [p for p in problems(path) if p.field == "faults[0].edge"]

    assert len(problem.message) < 400
    assert problem.message.startswith("not a dependency edge: 'xxx")
    assert problem.message.endswith("write it as 'client -> dependency'")


# --- aliases -------------------------------------------------------------------------------

LAUGHS = "".join(
    f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'lol'] * 9)}]\n" for i in range(10)
)  # nine lines, a billion values once expanded


@pytest.mark.parametrize(
    "use",
    [
        "faults: [{type: *l9, at: 0s, duration: 1s}]",  # a discriminator: pydantic printed it
        "expectations: [{policy: *l9}]",
        "name: *l9",
        "steady_state: *l9",
    ],
)
def test_a_billion_laughs_is_refused_in_a_moment(tmp_path: Path, use: str) -> None:
    path = write(tmp_path, f"x-laughs:\n{LAUGHS}{use}\n")
    start = time.monotonic()

    (problem,) = problems(path)

    assert time.monotonic() - start < 2
    assert (problem.line, problem.column, problem.field) == (1, 1, "x-laughs")
    assert problem.message == "more than 10000 values once its aliases are expanded"


def test_a_chain_of_aliases_deeper_than_the_bound_is_refused(tmp_path: Path) -> None:
    chain = "".join(f"  c{i}: &c{i} [*c{i - 1}]\n" for i in range(1, 200))
    path = write(tmp_path, f"name: x\nx-chain:\n  c0: &c0 [1]\n{chain}faults: [{{type: *c199}}]\n")

    (problem,) = problems(path)

    assert (problem.field, problem.message) == (
        "x-chain",
        "nested more than 64 levels deep through aliases",
    )


def test_an_escaped_lone_surrogate_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, 'name: x\n"a\\ud800": 1\n')

    (problem,) = problems(path)

    assert (problem.line, problem.column) == (2, 1)
    assert problem.message == r"not Unicode text: 'a\ud800' holds a lone surrogate"


# --- numbers too big to mean anything ------------------------------------------------------


def test_a_duration_longer_than_a_year_is_refused() -> None:
    assert parse_duration("8760h") == 365 * 86400.0
    with pytest.raises(ValueError, match="longer than a year"):
        parse_duration("8760h1s")
    with pytest.raises(ValueError, match="longer than a year"):
        parse_duration("9" * 400 + "s")  # float('999...') is inf: NaN once subtracted


def test_a_warmup_of_400_digits_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = write(tmp_path, f"name: x\nwarmup: {'9' * 400}s\n")

    found = {p.field: p for p in problems(path)}

    assert found["warmup"].line == 2
    assert found["warmup"].message.endswith("is longer than a year, the longest duration allowed")


# --- the system a scenario names -----------------------------------------------------------

BASE = """\
name: x
system: {system}
steady_state: [{{name: up, http: {{url: "http://127.0.0.1:1/"}}}}]
faults: [{{type: restart, service: api, at: 0s}}]
expectations: [{{policy: steady_state}}]
"""


@pytest.mark.parametrize(
    ("system", "says"),
    [('"a\\0b.yaml"', "embedded null byte"), ("a" * 5000, "File name too long")],
    ids=["nul", "too-long"],
)
def test_a_system_path_no_file_system_takes_is_located(
    tmp_path: Path, system: str, says: str
) -> None:
    path = write(tmp_path, BASE.format(system=system))

    (problem,) = problems(path)

    assert (problem.line, problem.field) == (2, "system")
    assert problem.message.startswith("not a usable path: ")
    assert says in problem.message
