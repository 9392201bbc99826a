"""The ``harness`` command line: validate, schema, plan, and run's usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main

SYSTEM = """\
name: shop
services:
  payments:
    command: ["{python}", "-m", "payments", "--port", "{port}"]
  worker:
    command: ["{python}", "-m", "worker"]
    env:
      PAYMENTS_ADDR: "{edge:worker->payments}"
edges:
  - from: worker
    to: payments
endpoints:
  payments: "http://{addr:payments}"
"""

SCENARIO = """\
name: cli-partition
system: system.yaml
warmup: 10s
steady_state:
  - name: payments-healthy
    http:
      url: "{payments}/health"
      status: 200
faults:
  - type: partition
    edge: worker -> payments
    at: 10s
    duration: 1m
expectations:
  - policy: pauses
    within: 30s
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    (tmp_path / "system.yaml").write_text(SYSTEM, encoding="utf-8")
    path = tmp_path / "cli-partition.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


@pytest.fixture
def typo(tmp_path: Path) -> Path:
    path = tmp_path / "typo.yaml"
    path.write_text(SCENARIO.replace("      status: 200", "      statuss: 200"), encoding="utf-8")
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_validate_a_valid_file(scenario: Path) -> None:
    code, out, _ = invoke("validate", str(scenario))

    assert code == 0
    assert out == f"{scenario}: ok (cli-partition)\n"


def test_validate_an_invalid_file_prints_located_problems(typo: Path) -> None:
    code, out, _ = invoke("validate", str(typo))

    assert code == 1
    assert out.splitlines() == [
        f"{typo}:8:7: steady_state[0].http.statuss: unknown field; did you mean 'status'?"
    ]


def test_validate_prints_every_problem_as_file_line_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    text = SCENARIO.replace("warmup: 10s", "warmup: 10").replace("type: partition", "type: cut")
    path.write_text(text, encoding="utf-8")

    code, out, _ = invoke("validate", str(path))

    assert code == 1
    assert out.splitlines() == [
        f"{path}:3:1: warmup: a duration needs a unit: write '10s' or '10m', not 10",
        f"{path}:10:5: faults[0].type: unknown value 'cut'; "
        "expected one of 'partition', 'flap', 'latency', 'slow', 'timeout', 'reset_peer', "
        "'slicer', 'limit_data', 'http_error', 'http_delay', 'http_abort', 'crash', 'pause', "
        "'restart', 'duplicate', 'replay', 'deploy'",
    ]


def test_validate_several_files_reports_each(scenario: Path, typo: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")

    code, out, _ = invoke("validate", str(scenario), str(typo), str(empty))

    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"{scenario}: ok (cli-partition)"
    assert lines[1].startswith(f"{typo}:8:7: ")
    assert lines[2] == f"{empty}:1:1: expected a mapping of fields at the top, found an empty file"
    assert len(lines) == 3


def test_validate_cross_checks_against_the_system(scenario: Path) -> None:
    text = scenario.read_text(encoding="utf-8").replace("worker -> payments", "api -> payments")
    scenario.write_text(text, encoding="utf-8")

    code, out, _ = invoke("validate", str(scenario))

    assert code == 1
    assert out.startswith(
        f"{scenario}:11:5: faults[0].edge: the system has no edge 'api->payments'"
    )


def test_validate_uses_the_system_option_for_scenarios_naming_none(
    scenario: Path, tmp_path: Path
) -> None:
    text = scenario.read_text(encoding="utf-8").replace("system: system.yaml\n", "")
    text = text.replace("{payments}", "{ledger}")
    scenario.write_text(text, encoding="utf-8")

    assert invoke("validate", str(scenario))[0] == 0  # nothing to cross-check against
    code, out, _ = invoke("validate", str(scenario), "--system", str(tmp_path / "system.yaml"))
    assert code == 1
    assert "steady_state[0].http.url: unknown endpoint {ledger}" in out


def test_validate_a_missing_file(tmp_path: Path) -> None:
    code, out, _ = invoke("validate", str(tmp_path / "gone.yaml"))

    assert code == 1
    assert out.startswith(f"{tmp_path / 'gone.yaml'}: cannot read the file")


def test_schema_prints_the_json_schema() -> None:
    code, out, _ = invoke("schema")

    assert code == 0
    schema = json.loads(out)
    assert schema["title"] == "chaos-policy-harness scenario (v1)"
    assert "faults" in schema["properties"]


def test_plan_prints_the_scaled_timeline(scenario: Path) -> None:
    code, out, _ = invoke("plan", str(scenario), "--time-scale", "0.05")

    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"scenario cli-partition on shop ({scenario.parent.resolve()}/system.yaml)"
    assert "00:01.0 inject f1-partition (partition worker->payments) for 3s" in lines
    assert "00:04.0 heal f1-partition" in lines
    assert "expect pauses within 30s (scaled 1.5s)" in lines


def test_plan_of_an_invalid_scenario_fails_with_its_problems(typo: Path, tmp_path: Path) -> None:
    (tmp_path / "system.yaml").write_text(SYSTEM, encoding="utf-8")

    code, out, err = invoke("plan", str(typo))

    assert code == 1
    assert out == ""
    assert f"{typo}:8:7: steady_state[0].http.statuss" in err


def test_plan_finds_a_scenario_by_name(scenario: Path) -> None:
    code, out, _ = invoke("plan", "cli-partition", "--scenarios-dir", str(scenario.parent))

    assert code == 0
    assert out.startswith("scenario cli-partition on shop")


@pytest.mark.parametrize("scale", ["0", "-1"])
def test_a_time_scale_that_is_not_positive_is_a_usage_error(scenario: Path, scale: str) -> None:
    code, out, err = invoke("plan", str(scenario), "--time-scale", scale)

    assert code not in (0, 1)
    assert "Invalid value for '--time-scale'" in err
    assert out == ""


def test_run_an_unknown_scenario_is_a_usage_error(scenario: Path) -> None:
    code, out, err = invoke("run", "no-such-scenario", "--scenarios-dir", str(scenario.parent))

    assert code == 2
    assert out == ""
    assert f"no scenario called 'no-such-scenario' in {scenario.parent}" in err
    assert "cli-partition" in err  # the names it knows


def test_installed_console_script_validates(scenario: Path, typo: Path) -> None:
    harness = Path(sys.executable).parent / "harness"
    assert harness.is_file(), "the package is not installed with its console script"

    ok = subprocess.run(
        [str(harness), "validate", str(scenario)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    bad = subprocess.run(
        [str(harness), "validate", str(typo)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (ok.returncode, ok.stdout) == (0, f"{scenario}: ok (cli-partition)\n"), ok.stderr
    assert bad.returncode == 1, bad.stderr
    assert bad.stdout.startswith(f"{typo}:8:7: steady_state[0].http.statuss: unknown field")


def test_plan_of_a_scenario_naming_no_system(scenario: Path) -> None:
    text = scenario.read_text(encoding="utf-8").replace("system: system.yaml\n", "")
    scenario.write_text(text, encoding="utf-8")

    code, _, err = invoke("plan", str(scenario))

    assert code == 1
    assert f"{scenario}: the scenario names no system to run against" in err
    assert "hint: add 'system: path/to/system.yaml'" in err


def test_version() -> None:
    code, out, _ = invoke("--version")

    assert code == 0
    assert "0.1.0" in out
