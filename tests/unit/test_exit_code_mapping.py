"""`harness run`'s exit codes, each one provoked: 0 kept, 1 a promise broken (whatever else), 2 a
usage or configuration error, 3 could not tell, 4 aborted, 130 interrupted; and `--json`.

The runner is replaced by one that returns hand-made verdicts or raises, so each code is shown
without starting a system (tests/integration/test_exit_codes.py does it with real runs).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import harness.runner
from harness.cli import ABORTED, BROKEN, FAILED, INTERRUPTED, PASSED, USAGE, main, worst
from harness.errors import ConfigError, ScenarioError, TargetError
from harness.policies import Status, Verdict
from harness.prepare import Prepared
from harness.runner import RunResult
from harness.signals import Terminated
from harness.timeline import Timeline

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = str(ROOT / "scenarios" / "payments-partition.yaml")


def verdicts(*states: Status) -> list[Verdict]:
    return [Verdict(policy=f"p{i}", status=s, summary=str(s)) for i, s in enumerate(states)]


def fake_runner(monkeypatch: pytest.MonkeyPatch, outcome: object) -> None:
    """Runner.run returns verdicts with these states, or raises ``outcome`` (an exception)."""

    def run(self: harness.runner.Runner, prepared: Prepared) -> RunResult:
        if isinstance(outcome, BaseException):
            raise outcome
        assert isinstance(outcome, list)
        return RunResult("run-1", Path("/tmp/run-1"), Timeline(), outcome, None, "x")

    monkeypatch.setattr(harness.runner.Runner, "run", run)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["run", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("states", "code"),
    [
        ((Status.PASSED, Status.PASSED), PASSED),
        ((Status.PASSED, Status.FAILED), FAILED),
        ((Status.BROKEN, Status.FAILED), FAILED),  # a broken promise wins over "cannot tell"
        ((Status.ABORTED, Status.FAILED), FAILED),
        ((Status.PASSED, Status.BROKEN), BROKEN),
        ((Status.BROKEN, Status.ABORTED), ABORTED),
    ],
)
def test_verdicts_to_exit_code(
    monkeypatch: pytest.MonkeyPatch, states: tuple[Status, ...], code: int
) -> None:
    fake_runner(monkeypatch, verdicts(*states))
    assert invoke(SCENARIO)[0] == code


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (TargetError(what="service 'api' exited before it was healthy"), BROKEN),
        (RuntimeError("a harness bug"), BROKEN),
        (ConfigError(what="unknown compose version"), USAGE),
        (ScenarioError(what="locustfile not found"), USAGE),
        (KeyboardInterrupt(), INTERRUPTED),
        (Terminated("received signal SIGTERM"), INTERRUPTED),
    ],
    ids=["infrastructure", "bug", "config", "scenario", "sigint", "sigterm"],
)
def test_errors_to_exit_code(
    monkeypatch: pytest.MonkeyPatch, error: BaseException, code: int
) -> None:
    fake_runner(monkeypatch, error)
    assert invoke(SCENARIO)[0] == code


def test_an_interrupt_outside_the_runner_is_130_not_clicks_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(path: Path, system: Path | None) -> Prepared:
        raise KeyboardInterrupt

    monkeypatch.setattr("harness.prepare.prepare", interrupted)
    code, _, err = invoke(SCENARIO)
    assert code == INTERRUPTED, err
    assert "Aborted!" not in err


def test_invalid_scenario_runs_nothing_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ran: list[Prepared] = []
    monkeypatch.setattr(harness.runner.Runner, "run", lambda self, p: ran.append(p))
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nfaults: 3\n")
    assert invoke(SCENARIO, str(bad))[0] == USAGE
    assert ran == []  # not even the valid one


@pytest.mark.parametrize(
    "args",
    [
        ("no-such-scenario",),
        (SCENARIO, "--time-scale", "0"),
        (SCENARIO, "--sut-env", "NOEQUALS"),
        (SCENARIO, "--target", "kubernetes"),
    ],
    ids=["unknown-name", "time-scale", "sut-env", "target"],
)
def test_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    assert invoke(*args)[0] == USAGE


def test_json_document(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_runner(monkeypatch, verdicts(Status.PASSED, Status.FAILED))
    code, out, err = invoke(SCENARIO, "--json")
    document = json.loads(out)  # stdout is the JSON alone; the table went to stderr
    assert code == FAILED
    assert document["exit_code"] == FAILED
    assert document["outcome"] == "failed"
    (run,) = document["runs"]
    assert run["run_dir"] == "/tmp/run-1"
    assert [(v["policy"], v["status"]) for v in run["verdicts"]] == [
        ("p0", "passed"),
        ("p1", "failed"),
    ]
    assert "kpis" in run
    assert "p1" in err


@pytest.mark.parametrize(
    ("make", "outcome"),
    [
        (lambda: KeyboardInterrupt(), "interrupted"),
        (lambda: TargetError(what="no engine"), "broken"),
    ],
)
def test_json_document_for_runs_without_verdicts(
    monkeypatch: pytest.MonkeyPatch, make: Callable[[], BaseException], outcome: str
) -> None:
    fake_runner(monkeypatch, make())
    _, out, _ = invoke(SCENARIO, "--json")
    document = json.loads(out)
    assert document["outcome"] == outcome
    assert document["runs"][0]["error"]


def test_precedence() -> None:
    assert worst([]) == PASSED
    assert worst([USAGE, BROKEN, ABORTED, FAILED]) == FAILED
    assert worst([USAGE, BROKEN]) == BROKEN
    assert worst([FAILED, INTERRUPTED]) == INTERRUPTED
