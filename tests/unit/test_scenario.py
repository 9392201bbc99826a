"""The scenario format: durations, loading, located problems, preparing against a system, plans."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.durations import DURATION_PATTERN, parse_duration, render_duration
from harness.errors import Problem, ScenarioError
from harness.prepare import Prepared, plan, prepare, resolve_scenarios
from harness.scenario import LatencyFault, PartitionFault, Scenario, json_schema, load_scenario
from harness.system import load_system

REPO = Path(__file__).resolve().parents[2]

SYSTEM = """\
name: shop
services:
  payments:
    command: ["{python}", "-m", "payments", "--port", "{port}"]
    health: {http: /health}
  api:
    command: ["{python}", "-m", "api", "--port", "{port}"]
    env:
      PAYMENTS_URL: "http://{edge:api->payments}"
    health: {http: /health}
  worker:
    command: ["{python}", "-m", "worker"]
    env:
      PAYMENTS_ADDR: "{edge:worker -> payments}"
edges:
  - from: api
    to: payments
  - from: worker
    to: payments
endpoints:
  api: "http://{addr:api}"
  payments: "http://{addr:payments}"
automation:
  service: worker
  switch: {env: AUTOMATION, off: "0"}
"""

# line numbers matter: the tests below name them
SCENARIO = """\
name: checkout-partition
description: payments goes away for a minute
system: system.yaml
time_budget: 5m
warmup: 10s
sut_env:
  FEATURE_X: off
  RETRIES: "3"
steady_state:
  - name: api-healthy
    http:
      url: "{api}/health"
      status: 200
      json: {status: ok}
workload:
  rate: 10
  url: "{api}/orders"
  json: {amount: 42}
faults:
  - type: partition
    edge: worker -> payments
    at: 10s
    duration: 1m
expectations:
  - policy: steady_state
    within: 1m
  - policy: pauses
    within: 30s
"""

FAULTS = SCENARIO[SCENARIO.index("  - type: partition") : SCENARIO.index("expectations:")]

LATENCY_FAULT = """\
  - type: latency
    edge: worker -> payments
    at: 10s
    duration: 1m
    latency: 2s
"""


def variant(old: str, new: str, text: str = SCENARIO) -> str:
    """``text`` with the one occurrence of ``old`` replaced (fails if it is not exactly once)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """The 1-based number of the one line of ``text`` containing ``needle``."""
    found = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(found) == 1, f"{needle!r} is on lines {found}"
    return found[0]


@pytest.fixture
def system_path(tmp_path: Path) -> Path:
    path = tmp_path / "system.yaml"
    path.write_text(SYSTEM, encoding="utf-8")
    return path


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[Problem]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.problems, info.value.render()
    return list(info.value.problems)


def only_problem(path: Path) -> Problem:
    found = problems(path)
    assert len(found) == 1, [p.render() for p in found]
    return found[0]


# --- durations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1m30s", 90.0),
        ("250ms", 0.25),
        ("1.5s", 1.5),
        ("1h", 3600.0),
        ("1.5h", 5400.0),
        ("0s", 0.0),
        (" 45s ", 45.0),
    ],
)
def test_parse_duration_accepts_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("3 minutes", r"not a duration: '3 minutes'; write it like 30s"),
        (30, r"a duration needs a unit: write '30s' or '30m', not 30"),
        (1.5, r"needs a unit: write '1.5s'"),
        ("30", r"not a duration: '30'"),
        ("", r"not a duration: ''"),
        ("1x", r"not a duration: '1x'"),
        ("-5s", r"not a duration"),
        ("30S", r"not a duration"),
        (True, r"must be a string like '30s', got bool"),
        (None, r"must be a string like '30s', got NoneType"),
        ([30], r"got list"),
    ],
)
def test_parse_duration_refuses_anything_without_a_unit(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0s"),
        (30.0, "30s"),
        (300.0, "5m"),
        (90.0, "1m30s"),
        (0.25, "250ms"),
        (1.5, "1.5s"),
        (3600.0, "1h"),
        (5400.0, "1h30m"),
        (3661.0, "1h1m1s"),
        (0.05 * 70, "3.5s"),
        (119.9996, "2m"),
    ],
)
def test_render_duration(seconds: float, text: str) -> None:
    assert render_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0.25, 1.5, 30.0, 90.0, 300.0, 3725.5])
def test_render_then_parse_round_trips(seconds: float) -> None:
    assert parse_duration(render_duration(seconds)) == pytest.approx(seconds)


# --- loading a valid scenario -------------------------------------------------------------


def test_valid_scenario_loads_into_typed_models(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, SCENARIO))

    assert scenario.name == "checkout-partition"
    assert scenario.system == "system.yaml"
    assert (scenario.time_budget, scenario.warmup) == (300.0, 10.0)
    (fault,) = scenario.faults
    assert isinstance(fault, PartitionFault)
    assert (fault.edge, fault.at, fault.duration) == ("worker->payments", 10.0, 60.0)
    assert scenario.fault_ids() == ["f1-partition"]
    assert [e.policy for e in scenario.expectations] == ["steady_state", "pauses"]
    check = scenario.steady_state[0].http
    assert check is not None
    assert check.expected_statuses() == (200,)
    assert check.json_ == {"status": "ok"}
    assert scenario.workload is not None
    assert (scenario.workload.method, scenario.workload.rate) == ("POST", 10.0)
    assert scenario.settle_time() == 60.0  # the longest 'within'
    assert scenario.planned_length() == 10.0 + 70.0 + 60.0


def test_yaml_1_2_keeps_off_and_yes_as_strings(tmp_path: Path) -> None:
    text = variant('  RETRIES: "3"\n', "  RETRIES: '3'\n  VERBOSE: yes\n  DEBUG: no\n")
    scenario = load_scenario(write(tmp_path, text))

    assert scenario.sut_env == {"FEATURE_X": "off", "RETRIES": "3", "VERBOSE": "yes", "DEBUG": "no"}


def test_scenario_is_frozen(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, SCENARIO))

    with pytest.raises(ValueError, match="frozen"):
        scenario.name = "other"  # type: ignore[misc]


def test_the_shipped_example_scenario_is_valid() -> None:
    scenario = load_scenario(REPO / "scenarios" / "payments-partition.yaml")

    assert scenario.name == "payments-partition"
    assert scenario.planned_length() <= scenario.time_budget


def test_latency_fault_fields(tmp_path: Path) -> None:
    text = variant(
        FAULTS,
        LATENCY_FAULT.replace("latency: 2s", "latency: 250ms\n    jitter: 50ms\n    toxicity: 0.5"),
    )
    scenario = load_scenario(write(tmp_path, text))

    (fault,) = scenario.faults
    assert isinstance(fault, LatencyFault)
    assert (fault.latency, fault.jitter, fault.toxicity, fault.stream) == (
        0.25,
        0.05,
        0.5,
        "downstream",
    )


# --- located problems ---------------------------------------------------------------------


def test_typo_in_a_field_name_suggests_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, variant("      status: 200\n", "      statuss: 200\n"))

    problem = only_problem(path)

    assert (problem.path, problem.line, problem.column) == (path, 13, 7)
    assert problem.field == "steady_state[0].http.statuss"
    assert problem.message == "unknown field; did you mean 'status'?"
    assert problem.render() == (
        f"{path}:13:7: steady_state[0].http.statuss: unknown field; did you mean 'status'?"
    )


def test_unknown_field_far_from_any_name_has_no_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, variant("warmup: 10s\n", "warmup: 10s\nzzqqx: 1\n"))

    problem = only_problem(path)

    assert (problem.line, problem.column, problem.field) == (6, 1, "zzqqx")
    assert problem.message == "unknown field"


def test_unknown_fault_type_points_at_the_type_key(tmp_path: Path) -> None:
    path = write(tmp_path, variant("  - type: partition\n", "  - type: partitoin\n"))

    problem = only_problem(path)

    assert (problem.line, problem.column, problem.field) == (20, 5, "faults[0].type")
    assert problem.message.startswith("unknown value 'partitoin'; expected one of")
    for kind in ("partition", "latency", "timeout", "reset_peer"):
        assert f"'{kind}'" in problem.message


def test_fault_without_type_says_what_type_decides(tmp_path: Path) -> None:
    path = write(tmp_path, variant("  - type: partition\n    edge:", "  - edge:"))

    problem = only_problem(path)

    assert (problem.line, problem.field) == (20, "faults[0]")
    assert "'type' is missing" in problem.message


def test_prose_duration_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, variant("    at: 10s\n", "    at: 3 minutes\n"))

    problem = only_problem(path)

    assert (problem.line, problem.column, problem.field) == (22, 5, "faults[0].at")
    assert problem.message.startswith("not a duration: '3 minutes'")


def test_bare_number_duration_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, variant("    duration: 1m\n", "    duration: 60\n"))

    problem = only_problem(path)

    assert (problem.line, problem.column, problem.field) == (23, 5, "faults[0].duration")
    assert problem.message == "a duration needs a unit: write '60s' or '60m', not 60"


def test_bare_number_top_level_duration(tmp_path: Path) -> None:
    path = write(tmp_path, variant("warmup: 10s\n", "warmup: 10\n"))

    problem = only_problem(path)

    assert (problem.line, problem.column, problem.field) == (5, 1, "warmup")


def test_missing_required_field_points_at_its_parent(tmp_path: Path) -> None:
    path = write(tmp_path, variant("    duration: 1m\n", ""))

    problem = only_problem(path)

    assert (problem.line, problem.column, problem.field) == (20, 5, "faults[0].duration")
    assert problem.message == "required field is missing"


def test_missing_top_level_field(tmp_path: Path) -> None:
    path = write(tmp_path, variant("name: checkout-partition\n", "", SCENARIO))

    problem = only_problem(path)

    assert (problem.line, problem.field, problem.message) == (
        1,
        "name",
        "required field is missing",
    )


def test_toxicity_zero_is_refused(tmp_path: Path) -> None:
    text = variant(FAULTS, LATENCY_FAULT + "    toxicity: 0\n")
    path = write(tmp_path, text)

    problem = only_problem(path)

    assert (problem.line, problem.column) == (line_of(text, "toxicity: 0"), 5)
    assert problem.field == "faults[0].toxicity"
    assert "greater than 0" in problem.message


def test_problems_in_a_latency_fault_do_not_point_at_its_latency_field(tmp_path: Path) -> None:
    # pydantic puts the tag 'latency' in the error's loc; the fault also has a 'latency:' key
    text = variant(
        FAULTS,
        LATENCY_FAULT.replace("at: 10s", "at: 3 minutes").replace("latency: 2s", "latency: 2"),
    )
    path = write(tmp_path, text)

    found = problems(path)

    assert [(p.line, p.column, p.field) for p in found] == [
        (line_of(text, "at: 3 minutes"), 5, "faults[0].at"),
        (line_of(text, "latency: 2"), 5, "faults[0].latency"),
    ]


def test_union_members_are_not_shown_as_fields(tmp_path: Path) -> None:
    path = write(tmp_path, variant("      status: 200\n", "      status: abc\n"))

    found = problems(path)

    assert {(p.line, p.column, p.field) for p in found} == {(13, 7, "steady_state[0].http.status")}


def test_out_of_range_workload_rate(tmp_path: Path) -> None:
    path = write(tmp_path, variant("  rate: 10\n", "  rate: 0\n"))

    problem = only_problem(path)

    assert (problem.line, problem.column, problem.field) == (16, 3, "workload.rate")


def test_bad_edge_syntax(tmp_path: Path) -> None:
    path = write(tmp_path, variant("edge: worker -> payments", "edge: worker to payments"))

    problem = only_problem(path)

    assert (problem.line, problem.field) == (21, "faults[0].edge")
    assert "'client -> dependency'" in problem.message


def test_duplicate_yaml_keys_name_the_second_key(tmp_path: Path) -> None:
    path = write(tmp_path, variant("warmup: 10s\n", "warmup: 10s\nwarmup: 5s\n"))

    problem = only_problem(path)

    assert (problem.line, problem.column, problem.field) == (6, 1, "")
    assert 'duplicate key "warmup"' in problem.message
    assert problem.message.startswith("YAML syntax:")


def test_malformed_yaml_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, variant("  FEATURE_X: off\n", "  FEATURE_X: [off\n"))

    problem = only_problem(path)

    assert problem.line == 8  # where the parser notices the flow sequence is not closed
    assert problem.message.startswith("YAML syntax:")
    assert "expected ',' or ']'" in problem.message


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("", "an empty file"),
        ("# nothing but a comment\n", "an empty file"),
        ("- name: a\n- name: b\n", "a list"),
        ("just words\n", "a single value"),
    ],
)
def test_the_top_must_be_a_mapping(tmp_path: Path, text: str, found: str) -> None:
    path = write(tmp_path, text)

    problem = only_problem(path)

    assert (problem.line, problem.column) == (1, 1)
    assert problem.message == f"expected a mapping of fields at the top, found {found}"


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read the file") as info:
        load_scenario(tmp_path / "nope.yaml")

    assert info.value.where == str(tmp_path / "nope.yaml")
    assert info.value.hint


def test_plan_longer_than_the_budget(tmp_path: Path) -> None:
    path = write(tmp_path, variant("time_budget: 5m\n", "time_budget: 2m\n"))

    problem = only_problem(path)

    assert (problem.line, problem.column, problem.field) == (4, 1, "time_budget")
    assert problem.message == (
        "the plan needs 2m20s (warm-up + faults + settle) but the budget is 2m"
    )


def test_duplicate_fault_ids_are_located_at_the_faults(tmp_path: Path) -> None:
    first = FAULTS.replace("  - type: partition\n", "  - type: partition\n    id: cut\n")
    path = write(tmp_path, variant(FAULTS, first + first.replace("at: 10s", "at: 1m10s")))

    problem = only_problem(path)

    assert (problem.line, problem.column, problem.field) == (19, 1, "faults")
    assert problem.message == "fault ids must be unique; repeated: cut"


def test_default_fault_ids_are_numbered() -> None:
    fault = {"type": "partition", "edge": "a -> b", "at": "0s", "duration": "1s"}
    scenario = Scenario.model_validate(
        {
            "name": "x",
            "steady_state": [{"name": "p", "http": {"url": "{api}/"}}],
            "faults": [fault, {**fault, "type": "latency", "latency": "1s"}],
            "expectations": [{"policy": "steady_state"}],
        }
    )

    assert scenario.fault_ids() == ["f1-partition", "f2-latency"]


def test_every_problem_is_reported_sorted_by_line(tmp_path: Path) -> None:
    text = SCENARIO
    text = variant("    duration: 1m\n", "    duration: 30\n", text)
    text = variant("      status: 200\n", "      statuss: 200\n", text)
    text = variant("warmup: 10s\n", "warmup: 3 minutes\n", text)
    text = variant("  - policy: pauses\n", "  - policy: pause\n", text)
    path = write(tmp_path, text)

    with pytest.raises(ScenarioError) as info:
        load_scenario(path)

    found = info.value.problems
    assert [(p.line, p.field) for p in found] == [
        (5, "warmup"),
        (13, "steady_state[0].http.statuss"),
        (23, "faults[0].duration"),
        (27, "expectations[1].policy"),
    ]
    assert info.value.render().splitlines() == [p.render() for p in found]
    assert str(info.value) == info.value.render()


# --- prepare: the scenario against its system ---------------------------------------------


def test_prepare_resolves_the_system_next_to_the_scenario(
    tmp_path: Path, system_path: Path
) -> None:
    prepared = prepare(write(tmp_path, SCENARIO), None)

    assert prepared.system_path == system_path.resolve()
    assert prepared.system.name == "shop"
    assert prepared.system.edge_names() == ["api->payments", "worker->payments"]
    assert prepared.system.automation is not None
    assert prepared.system.automation.switch is not None
    assert prepared.system.automation.switch.off == "0"  # 'off' is a key, not False


def test_prepare_uses_the_default_system_when_the_scenario_names_none(
    tmp_path: Path, system_path: Path
) -> None:
    path = write(tmp_path, variant("system: system.yaml\n", ""), "sub.yaml")

    prepared = prepare(path, system_path)

    assert prepared.system_path == system_path.resolve()


def test_prepare_without_any_system(tmp_path: Path) -> None:
    path = write(tmp_path, variant("system: system.yaml\n", ""))

    with pytest.raises(ScenarioError, match="names no system") as info:
        prepare(path, None)

    assert "--system" in info.value.hint


def test_edge_the_system_lacks(tmp_path: Path, system_path: Path) -> None:
    path = write(tmp_path, variant("edge: worker -> payments", "edge: worker -> ledger"))

    with pytest.raises(ScenarioError) as info:
        prepare(path, None)

    (problem,) = info.value.problems
    assert (problem.path, problem.line, problem.column) == (path, 21, 5)
    assert problem.field == "faults[0].edge"
    assert problem.message == (
        "the system has no edge 'worker->ledger'; it has: ['api->payments', 'worker->payments']"
    )


def test_unknown_endpoint_in_a_probe_url(tmp_path: Path, system_path: Path) -> None:
    path = write(tmp_path, variant('"{api}/health"', '"{apii}/health"'))

    with pytest.raises(ScenarioError) as info:
        prepare(path, None)

    (problem,) = info.value.problems
    assert (problem.line, problem.column, problem.field) == (12, 7, "steady_state[0].http.url")
    assert problem.message == "unknown endpoint {apii}; the system has: ['api', 'payments']"


def test_unknown_endpoint_in_the_workload_and_a_missing_edge_are_both_reported(
    tmp_path: Path, system_path: Path
) -> None:
    text = variant('"{api}/orders"', '"{shop}/orders"')
    text = variant("edge: worker -> payments", "edge: api -> worker", text)
    path = write(tmp_path, text)

    with pytest.raises(ScenarioError) as info:
        prepare(path, None)

    assert {(p.line, p.field) for p in info.value.problems} == {
        (17, "workload.url"),
        (21, "faults[0].edge"),
    }


def test_a_lone_brace_in_a_url_is_a_problem_not_a_crash(tmp_path: Path, system_path: Path) -> None:
    path = write(tmp_path, variant('"{api}/health"', '"{api}/health}"'))

    with pytest.raises(ScenarioError) as info:
        prepare(path, None)

    (problem,) = info.value.problems
    assert (problem.line, problem.field) == (12, "steady_state[0].http.url")
    assert problem.message.startswith("not a URL template")


def test_missing_system_file_is_located_at_the_system_key(tmp_path: Path) -> None:
    path = write(tmp_path, SCENARIO)

    with pytest.raises(ScenarioError) as info:
        prepare(path, None)

    (problem,) = info.value.problems
    assert (problem.line, problem.column, problem.field) == (3, 1, "system")
    assert problem.message == f"no such file: {(tmp_path / 'system.yaml').resolve()}"


def test_system_file_with_an_unknown_placeholder(tmp_path: Path) -> None:
    system = variant('["{python}", "-m", "worker"]', '["{pyhton}", "-m", "worker"]', SYSTEM)
    system_path = write(tmp_path, system, "system.yaml")

    with pytest.raises(ScenarioError) as info:
        prepare(write(tmp_path, SCENARIO), None)

    (problem,) = info.value.problems
    assert problem.path == system_path.resolve()
    assert (problem.line, problem.field) == (12, "services.worker.command[0]")
    assert problem.message == "unknown placeholder {pyhton}"


def test_system_file_placeholders_naming_unknown_edges_and_services(tmp_path: Path) -> None:
    system = variant("{edge:api->payments}", "{edge:api->ledger}", SYSTEM)
    system = variant('"http://{addr:payments}"', '"http://{addr:ledger}"', system)
    path = write(tmp_path, system, "system.yaml")

    with pytest.raises(ScenarioError) as info:
        load_system(path)

    assert [(p.line, p.field, p.message) for p in info.value.problems] == [
        (
            9,
            "services.api.env.PAYMENTS_URL",
            "{edge:api->ledger}: no such edge; declared: ['api->payments', 'worker->payments']",
        ),
        (22, "endpoints.payments", "{addr:ledger}: no such service"),
    ]


def test_system_edge_naming_an_unknown_service(tmp_path: Path) -> None:
    system = variant("  - from: api\n    to: payments\n", "  - from: api\n    to: ledger\n", SYSTEM)
    path = write(tmp_path, system, "system.yaml")

    with pytest.raises(ScenarioError) as info:
        load_system(path)

    (problem,) = info.value.problems
    assert (problem.line, problem.field) == (line_of(system, "edges:"), "edges")
    assert problem.message == "edge api->ledger names an unknown service 'ledger'"


def test_system_automation_naming_an_unknown_service(tmp_path: Path) -> None:
    path = write(tmp_path, variant("  service: worker\n", "  service: robot\n", SYSTEM))

    with pytest.raises(ScenarioError) as info:
        load_system(path)

    (problem,) = info.value.problems
    assert (problem.line, problem.field) == (23, "automation")
    assert "'robot' is not a service" in problem.message


# --- resolve_scenarios --------------------------------------------------------------------


@pytest.fixture
def scenarios_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for name in ("b-second.yaml", "a-first.yml", "c-third.yaml"):
        (folder / name).write_text(SCENARIO, encoding="utf-8")
    (folder / "notes.txt").write_text("not a scenario", encoding="utf-8")
    return folder


def test_resolve_a_path(tmp_path: Path, scenarios_dir: Path) -> None:
    path = write(tmp_path, SCENARIO, "elsewhere.yaml")

    assert resolve_scenarios(str(path), scenarios_dir) == [path]


def test_resolve_a_name(scenarios_dir: Path) -> None:
    assert resolve_scenarios("b-second", scenarios_dir) == [scenarios_dir / "b-second.yaml"]
    assert resolve_scenarios("a-first", scenarios_dir) == [scenarios_dir / "a-first.yml"]


def test_resolve_all_is_sorted(scenarios_dir: Path) -> None:
    assert resolve_scenarios("all", scenarios_dir) == [
        scenarios_dir / "a-first.yml",
        scenarios_dir / "b-second.yaml",
        scenarios_dir / "c-third.yaml",
    ]


def test_resolve_all_in_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no scenario files"):
        resolve_scenarios("all", tmp_path)


def test_resolve_an_unknown_name_lists_the_known_ones(scenarios_dir: Path) -> None:
    with pytest.raises(ScenarioError, match="no scenario called 'nope'") as info:
        resolve_scenarios("nope", scenarios_dir)

    assert info.value.expected == "a path, 'all', or one of: a-first, b-second, c-third"


def test_resolve_a_missing_yaml_path(tmp_path: Path, scenarios_dir: Path) -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        resolve_scenarios(str(tmp_path / "gone.yaml"), scenarios_dir)


# --- plan ---------------------------------------------------------------------------------


@pytest.fixture
def prepared(tmp_path: Path, system_path: Path) -> Prepared:
    return prepare(write(tmp_path, SCENARIO), None)


def test_plan_shows_scaled_times_and_bounds(prepared: Prepared) -> None:
    lines = plan(prepared, 0.05)

    assert lines[0] == f"scenario checkout-partition on shop ({prepared.system_path})"
    assert lines[1] == "time scale 0.05: every duration below is scaled; bounds as stated"
    # warm-up 10s and 'at: 10s' are 0.5s each at this scale; the fault lasts 1m -> 3s
    assert "00:01.0 inject f1-partition (partition worker->payments) for 3s" in lines
    assert "00:04.0 heal f1-partition" in lines
    # 0.5 + (70s of faults + 60s settle) * 0.05
    assert "00:07.0 verify steady state; stop the system" in lines
    assert "00:00.0 workload POST {api}/orders at 10/s" in lines
    assert lines[-2:] == [
        "expect steady_state within 1m (scaled 3s)",
        "expect pauses within 30s (scaled 1.5s)",
    ]


def test_plan_at_full_time(prepared: Prepared) -> None:
    lines = plan(prepared, 1.0)

    assert "00:20.0 inject f1-partition (partition worker->payments) for 1m" in lines
    assert "01:20.0 heal f1-partition" in lines
    assert "02:20.0 verify steady state; stop the system" in lines
    assert "expect pauses within 30s (scaled 30s)" in lines


# --- JSON Schema --------------------------------------------------------------------------


def test_json_schema_names_the_fault_types_and_the_duration_pattern() -> None:
    schema = json_schema()
    text = json.dumps(schema)

    assert schema["title"] == "chaos-policy-harness scenario (v1)"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert {"name", "steady_state", "faults", "expectations"} <= set(schema["required"])
    mapping = schema["properties"]["faults"]["items"]["discriminator"]["mapping"]
    assert set(mapping) == {
        "partition", "flap", "latency", "slow", "timeout", "reset_peer", "slicer", "limit_data",
        "http_error", "http_delay", "http_abort",
        "crash", "pause", "restart", "duplicate", "replay", "deploy",
    }  # fmt: skip
    assert schema["properties"]["warmup"]["pattern"] == DURATION_PATTERN
    assert text.count(json.dumps(DURATION_PATTERN)) >= 5  # every Duration field
    assert re.fullmatch(DURATION_PATTERN, "1m30s")
    assert not re.fullmatch(DURATION_PATTERN, "3 minutes")
