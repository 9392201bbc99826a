"""Bad input and a broken environment are pytest errors with one clear message, never failures."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest
from e2e_support import ROOT, SCALE, run_pytest

pytestmark = pytest.mark.integration

SYSTEM = ROOT / "fixtures" / "sut" / "system.yaml"
CRASH = "import sys; print('boom: no config', file=sys.stderr); sys.exit(3)"


def write_scenario(
    tmp_path: Path, *, edge: str = "worker -> payments", system: Path = SYSTEM
) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        name: bad
        system: {system}
        warmup: 1s
        steady_state:
          - name: api
            http: {{url: "{{api}}/health"}}
        faults:
          - type: partition
            edge: {edge}
            at: 1s
            duration: 5s
        expectations:
          - policy: pauses
        """)
    )
    return path


def assert_error(result_stdout: str, *needles: str) -> None:
    assert "1 error" in result_stdout, result_stdout
    assert "failed" not in result_stdout.splitlines()[-1], result_stdout
    for needle in needles:
        assert needle in result_stdout, result_stdout


def test_unknown_edge_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, edge="worker -> ledger")

    result = run_pytest("--scenario", str(scenario), reports=tmp_path / "reports")

    assert_error(
        result.stdout, f"{scenario}:9:5: faults[0].edge: the system has no edge 'worker->ledger'"
    )


def test_missing_toxiproxy_binary_says_how_to_install(tmp_path: Path) -> None:
    result = run_pytest(
        "--scenario",
        "payments-partition",
        "--time-scale",
        SCALE,
        "--toxiproxy-bin",
        str(tmp_path / "nope"),
        reports=tmp_path,
    )

    assert_error(result.stdout, "Toxiproxy server not found", "make toxiproxy")


def test_unreachable_toxiproxy_says_so(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_pytest(
        "--scenario",
        "payments-partition",
        "--time-scale",
        SCALE,
        "--toxiproxy",
        f"http://127.0.0.1:{port}",
        reports=tmp_path,
    )

    assert_error(result.stdout, "Toxiproxy is not reachable", f"127.0.0.1:{port}")


def test_sut_that_never_becomes_healthy_is_an_error(tmp_path: Path) -> None:
    system = tmp_path / "system.yaml"
    system.write_text(
        textwrap.dedent("""\
        name: sleepy
        services:
          api:
            command: ["{python}", "-c", "import time; time.sleep(30)"]
            health: {http: /health, timeout: 1s}
          payments:
            command: ["{python}", "-c", "import time; time.sleep(30)"]
        edges:
          - {from: api, to: payments}
        endpoints:
          api: "http://{addr:api}"
        """).replace("  - {from: worker, to: payments}\n", "")
    )
    text = write_scenario(tmp_path, edge="api -> payments", system=system).read_text()
    scenario = tmp_path / "sleepy.yaml"
    scenario.write_text(text.replace("name: bad", "name: sleepy"))

    result = run_pytest(
        "--scenario", str(scenario), "--time-scale", SCALE, reports=tmp_path / "reports"
    )

    assert_error(result.stdout, "service 'api' did not become healthy within 1s")


def test_sut_that_exits_at_start_is_an_error_with_its_log(tmp_path: Path) -> None:
    system = tmp_path / "system.yaml"
    system.write_text(
        textwrap.dedent("""\
        name: crashing
        services:
          api:
            command: ["{python}", "-c", "{crash}"]
            health: {http: /health}
          payments:
            command: ["{python}", "-c", "import time; time.sleep(30)"]
        edges:
          - {from: api, to: payments}
        endpoints:
          api: "http://{addr:api}"
        """).replace("{crash}", CRASH)
    )
    scenario = write_scenario(tmp_path, edge="api -> payments", system=system)

    result = run_pytest(
        "--scenario", str(scenario), "--time-scale", SCALE, reports=tmp_path / "reports"
    )

    assert_error(
        result.stdout, "service 'api' exited with code 3 during start-up", "boom: no config"
    )


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (("duration: 5s", "duration: 3 minutes"),
         "faults[0].duration: not a duration: '3 minutes'; write it like 30s"),
        (("type: partition", "type: partitionn"),
         "faults[0].type: unknown value 'partitionn'; expected one of 'partition'"),
        (("  - name: api", "  - name: [api"), "YAML syntax"),
        (("warmup: 1s", "warmpu: 1s"), "warmpu: unknown field; did you mean 'warmup'?"),
    ],
    ids=["prose-duration", "unknown-fault-type", "malformed-yaml", "typo"],
)  # fmt: skip
def test_invalid_scenario_is_an_error_naming_file_and_line(
    tmp_path: Path, edit: tuple[str, str], needle: str
) -> None:
    scenario = write_scenario(tmp_path)
    scenario.write_text(scenario.read_text().replace(*edit))

    result = run_pytest("--scenario", str(scenario), reports=tmp_path / "reports")

    assert_error(result.stdout, f"{scenario}:", needle)
    assert "Traceback" not in result.stdout
