"""Malformed scenario files, thousands of them: each one loads, or is refused with located problems.

The property, for every input: ``prepare`` (what ``pytest --scenario``, ``harness validate``,
``plan`` and ``run`` all call) either returns, and ``plan`` renders the result, or it raises
``ScenarioError`` whose every problem names the file, a line and column >= 1 and a field (or is
a file-level problem such as a YAML syntax error); never another exception, never a hang (a hard
per-example limit), never a message that echoes megabytes. ``HYPOTHESIS_PROFILE=deep`` runs
twenty times as many examples.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from fuzzing import examples, hard_limit
from hypothesis import event, example, given
from hypothesis import strategies as st
from yaml_strategies import (
    DATA,
    REPO,
    TEXTS,
    Raw,
    bomb_files,
    broken_text,
    deep_files,
    emit,
    get,
    json_values,
    leaf_paths,
    mutated_data,
    render_path,
    replaced,
)

from harness.errors import ScenarioError
from harness.prepare import Prepared, plan, prepare

HARD_LIMIT = 20.0  # seconds for one file; the slowest legitimate example takes well under 1 s
MAX_MESSAGE = 4000  # characters in one problem: an error that echoes megabytes is no error
LINE_BREAK = re.compile("\r\n|\r|\n|\x85|\u2028|\u2029")  # as YAML counts lines
FILE_LEVEL = ("YAML syntax", "expected a mapping", "not UTF-8", "nested more than")


@pytest.fixture(scope="module")
def scenario_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each example is written: beside a link to the real fixtures, so systems resolve."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "scenarios").mkdir()
    (root / "fixtures").symlink_to(REPO / "fixtures", target_is_directory=True)
    return root / "scenarios" / "fuzzed.yaml"


def load(path: Path, content: str | bytes) -> Prepared | ScenarioError:
    """Write ``content`` and prepare it; return the result or the (checked) ScenarioError."""
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    else:
        path.write_bytes(content)
    try:
        with hard_limit(HARD_LIMIT):
            prepared = prepare(path, None)
            plan(prepared, 0.05)  # what --dry-run and `harness plan` print
    except ScenarioError as exc:
        check_located(exc, path, content)
        event(f"refused: {_kind(exc)}")
        return exc
    event("loaded")
    return prepared


def _kind(exc: ScenarioError) -> str:
    """A coarse class of the first problem, for ``--hypothesis-show-statistics``."""
    if not exc.problems:
        return exc.what
    first = exc.problems[0]
    return first.message.split(":")[0][:40] if not first.field else "field: " + first.message[:30]


def check_located(exc: ScenarioError, path: Path, content: str | bytes) -> None:
    """Every problem names the file, a real line and column, and a field or a file-level kind."""
    text = content if isinstance(content, str) else content.decode("utf-8", "replace")
    lines = len(LINE_BREAK.split(text)) + 1  # a problem may sit just past the end
    rendered = exc.render()
    assert "Traceback" not in rendered
    if not exc.problems:  # a file-level error without a position: it must name the file
        assert str(path) in exc.where, rendered
        return
    for problem in exc.problems:
        assert problem.path in (path, REPO / "fixtures" / "sut" / "system.yaml"), problem
        assert 1 <= problem.line <= lines, problem
        assert problem.column >= 1, problem
        assert problem.message.strip(), problem
        assert len(problem.render()) <= MAX_MESSAGE, problem.render()[:MAX_MESSAGE]
        assert problem.field or problem.message.startswith(FILE_LEVEL), problem.render()
    for line in rendered.split("\n"):
        assert line.isprintable(), line
        assert re.match(rf"^{re.escape(str(path))}:\d+:\d+: |^  hint: ", line), line


# --- mutations of the real scenarios -------------------------------------------------------


@examples(1.5)
@given(data=mutated_data())
def test_mutated_scenarios_load_or_name_file_line_and_field(scenario_path: Path, data: Any) -> None:
    load(scenario_path, emit(data))


@examples(0.75)
@given(st.data())
def test_a_scalar_replaced_by_a_mapping_is_refused_at_that_field(
    scenario_path: Path, draw: st.DataObject
) -> None:
    # no scalar of a scenario may be a mapping: the problem is named at that very field
    data = DATA[draw.draw(st.sampled_from(sorted(DATA)))]
    path = draw.draw(st.sampled_from(leaf_paths(data)))
    outcome = load(scenario_path, emit(replaced(data, path, {"zz_unknown": 1})))

    assert isinstance(outcome, ScenarioError), f"{render_path(path)} accepted a mapping"
    fields = [p.field for p in outcome.problems]
    field = render_path(path)
    assert any(f == field or f.startswith((f"{field}.", f"{field}[")) for f in fields), (
        field,
        outcome.render(),
    )


@examples(1.5)
@given(st.data())
def test_broken_yaml_syntax_is_refused_at_a_line(scenario_path: Path, draw: st.DataObject) -> None:
    text = TEXTS[draw.draw(st.sampled_from(sorted(TEXTS)))]
    load(scenario_path, draw.draw(broken_text(text)))


@examples(0.5)
@given(st.data())
def test_bytes_that_are_not_utf8_are_refused_at_their_line(
    scenario_path: Path, draw: st.DataObject
) -> None:
    text = TEXTS[draw.draw(st.sampled_from(sorted(TEXTS)))]
    lines = text.split("\n")
    n = draw.draw(st.integers(0, len(lines) - 1))
    col = draw.draw(st.integers(0, len(lines[n])))
    bad = draw.draw(st.sampled_from([b"\xff", b"\xfe\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80"]))
    before = "\n".join([*lines[:n], lines[n][:col]]).encode()
    after = "\n".join([lines[n][col:], *lines[n + 1 :]]).encode()

    outcome = load(scenario_path, before + bad + after)

    assert isinstance(outcome, ScenarioError)
    assert [p.line for p in outcome.problems] == [n + 1], outcome.render()


@examples(0.75)
@given(st.data())
def test_huge_and_odd_numbers_are_refused_not_crashed_on(
    scenario_path: Path, draw: st.DataObject
) -> None:
    data = DATA[draw.draw(st.sampled_from(sorted(DATA)))]
    numbers = [p for p in leaf_paths(data) if isinstance(get(data, p), int | float | str)]
    path = draw.draw(st.sampled_from(numbers))
    value = draw.draw(
        st.one_of(
            st.integers(min_value=20, max_value=6000).map(lambda n: Raw("9" * n)),
            st.integers(min_value=20, max_value=6000).map(lambda n: Raw(f"{'9' * n}s")),
            st.integers(min_value=300, max_value=400).map(lambda n: Raw(f"1e{n}")),
            st.sampled_from(["-1", "-0", ".nan", ".inf", "-.inf", "1e-400", "0"]).map(Raw),
            st.sampled_from(["1e308s", f"{'9' * 400}s", f"{'9' * 310}.5h", "0.0000001ms"]),
        )
    )
    load(scenario_path, emit(replaced(data, path, value)))


# --- files that were never scenarios -------------------------------------------------------


@examples(1.0)
@given(content=st.one_of(st.text(max_size=2000), st.binary(max_size=2000)))
@example(content="")
@example(content="\n\n# only a comment\n")
@example(content="---\n...\n")
@example(content="~")
@example(content="[]")
@example(content="{}")
@example(content="\ufeff")
@example(content="\ufeffname: x\n")
@example(content="name: a\n---\nname: b\n")
@example(content=b"\x00\x00\x00\x00")
@example(content=b"\xff\xfen\x00a\x00m\x00e\x00")  # UTF-16 with a BOM
def test_random_text_and_bytes(scenario_path: Path, content: str | bytes) -> None:
    load(scenario_path, content)


@examples(1.0)
@given(value=json_values)
def test_random_documents(scenario_path: Path, value: Any) -> None:
    load(scenario_path, emit(value))


@examples(0.5)
@given(text=deep_files())
@example(text="name: deep\nfaults: " + "[" * 20000 + "]" * 20000 + "\n")
@example(text="name: deep\nfaults:\n" + "- " * 5000 + "x\n")
def test_deep_nesting_is_refused_quickly(scenario_path: Path, text: str) -> None:
    start = time.monotonic()
    load(scenario_path, text)
    assert time.monotonic() - start < HARD_LIMIT / 2


@examples(0.3)  # tracemalloc makes each example three times slower
@given(text=bomb_files())
@example(text="x_anchors:\n  a: &a [*a]\nname: loop\nfaults: *a\n")  # a recursive alias
@example(text="x_anchors:\n  a: &a {k: *a}\nname: loop\nfaults: [{type: *a}]\n")
def test_alias_bombs_are_bounded_in_time_and_memory(scenario_path: Path, text: str) -> None:
    tracemalloc.start()
    try:
        load(scenario_path, text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"loading took {peak >> 20} MiB at its peak"


# --- the command line ----------------------------------------------------------------------

NASTY: dict[str, str | bytes] = {
    "syntax.yaml": "name: x\nfaults: [\n",
    "tabs.yaml": "name: x\n\tfaults: []\n",
    "not-utf8.yaml": b"name: x\ndescription: \xff\n",
    "empty.yaml": "",
    "list.yaml": "- a\n- b\n",
    "deep.yaml": "name: x\nfaults: " + "[" * 5000 + "]" * 5000 + "\n",
    "bomb.yaml": "x:\n" + "".join(
        f"  b{i}: &b{i} [{', '.join([f'*b{i - 1}' if i else 'lol'] * 9)}]\n" for i in range(10)
    ) + "name: x\nfaults: [{type: *b9}]\n",
    "huge.yaml": "name: x\nworkload: {rate: " + "9" * 5000 + "}\n",
    "forever.yaml": "name: x\nwarmup: " + "9" * 400 + "s\n",
    "unknown.yaml": "name: x\nfautls: []\n",
    "duplicate.yaml": "name: x\nname: y\n",
}  # fmt: skip


def test_validate_prints_file_line_column_and_exits_1_without_a_traceback(tmp_path: Path) -> None:
    files = []
    for name, content in NASTY.items():
        file = tmp_path / name
        if isinstance(content, str):
            file.write_text(content, encoding="utf-8")
        else:
            file.write_bytes(content)
        files.append(str(file))

    result = subprocess.run(
        [sys.executable, "-c", "from harness.cli import main; main()", "validate", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    for path in files:
        assert re.search(rf"^{re.escape(path)}:\d+:\d+: ", result.stdout, re.M), (path, output)
