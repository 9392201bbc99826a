"""The pytest plugin: ``pytest --scenario NAME|PATH|all`` runs scenarios as test items.

Each scenario is one item named after it. Its *setup* runs the scenario and judges it, so
anything the harness could not tell (invalid YAML, no Toxiproxy, an unhealthy system, an
inconclusive verdict) is a pytest **error**; its *call* reports broken promises as a **failure**,
rendered as policy, bound and the timeline entries that show it, without a Python traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.policies import Verdict
    from harness.runner import RunOptions, RunResult

_SELECTED = pytest.StashKey[set[Path]]()
_RESULTS = pytest.StashKey[list[tuple[str, "RunResult"]]]()
_PLANS = pytest.StashKey[list[tuple[str, list[str]]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``--scenario`` family of options and the harness's ini options."""
    group = parser.getgroup("chaos-policy-harness", "failure scenarios against a system under test")
    group.addoption(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME|PATH|all",
        help="run a scenario (repeatable): a path, a name from the scenarios dir, or 'all'",
    )
    group.addoption(
        "--time-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply every duration the harness waits for or checks (default 1.0)",
    )
    group.addoption(
        "--target",
        choices=["process", "compose"],
        default=None,
        help="where the system under test runs (default: the scenario's, 'process')",
    )
    group.addoption(
        "--sut-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment for the system under test (repeatable)",
    )
    group.addoption(
        "--drill",
        choices=["no-automation"],
        default=None,
        help="run as a drill: the automation switched off, the scenario's runbook recovers",
    )
    group.addoption(
        "--operator",
        choices=["scripted", "interactive"],
        default="scripted",
        help="who follows a drill's runbook: scripted (unattended) or a person (needs -s)",
    )
    group.addoption(
        "--trials",
        type=int,
        default=1,
        metavar="N",
        help="run each scenario N times; the summary gives MTTR median and p95",
    )
    group.addoption(
        "--dry-run",
        action="store_true",
        help="validate and print the plan; inject nothing, start nothing",
    )
    group.addoption(
        "--keep-env",
        action="store_true",
        help="heal every fault but leave the system running (debugging)",
    )
    group.addoption(
        "--toxiproxy",
        default=None,
        metavar="URL",
        help="use this Toxiproxy server instead of starting a private one",
    )
    group.addoption(
        "--toxiproxy-bin",
        default=None,
        metavar="PATH",
        help="the toxiproxy-server binary to start (default: the [toxiproxy] extra's, then PATH)",
    )
    group.addoption(
        "--toxiproxy-image",
        default=None,
        metavar="IMAGE",
        help="run the private Toxiproxy from this Docker image (host network) instead of a binary,"
        " e.g. ghcr.io/shopify/toxiproxy:2.12.0",
    )
    group.addoption(
        "--system",
        default=None,
        metavar="PATH",
        help="system file for scenarios that name none (default: ini harness_system)",
    )
    group.addoption(
        "--scenarios-dir",
        default=None,
        metavar="DIR",
        help="where scenario names (and 'all') are looked up (default: ini harness_scenarios_dir)",
    )
    group.addoption(
        "--reports-dir",
        default=None,
        metavar="DIR",
        help="where run results, the history and the council page go "
        "(default: ini harness_reports_dir)",
    )
    group.addoption(
        "--harness-reports",
        default=None,
        metavar="DIR",
        help="deprecated spelling of --reports-dir",
    )
    parser.addini("harness_system", "default system file for scenarios", default="")
    parser.addini(
        "harness_scenarios_dir", "where scenario names are looked up", default="scenarios"
    )
    parser.addini("harness_reports_dir", "where run results are written", default="reports")


def pytest_configure(config: pytest.Config) -> None:
    """Resolve ``--scenario`` (and scenario files given as paths) to the files to collect.

    ``pytest scenarios/x.yaml`` collects that scenario like ``--scenario scenarios/x.yaml``;
    with only ``--scenario`` given, only those scenarios run (not the test paths).
    """
    specs: list[str] = config.getoption("scenario")
    positional = _scenario_args(config)
    if not specs and not positional:
        return
    from harness.errors import HarnessError
    from harness.prepare import check_unique_names, resolve_scenarios

    _check_options(config)
    scenarios_dir = _scenarios_dir(config)
    try:
        paths = [p.resolve() for spec in specs for p in resolve_scenarios(spec, scenarios_dir)]
        paths += positional
        check_unique_names(paths, scenarios_dir)
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_SELECTED] = set(paths)
    config.stash[_RESULTS] = []
    config.stash[_PLANS] = []
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = [str(p) for p in dict.fromkeys(paths)]
    if config.getoption("allure_report_dir", None):  # allure-pytest's --alluredir: opt-in
        from harness.allure_plugin import register

        register(config, list(dict.fromkeys(paths)))


def _check_options(config: pytest.Config) -> None:
    if config.getoption("time_scale") <= 0:
        raise pytest.UsageError("--time-scale must be positive, e.g. 0.05")
    if config.getoption("trials") < 1:
        raise pytest.UsageError("--trials must be 1 or more")
    if config.getoption("operator") == "interactive" and config.getoption("capture") != "no":
        raise pytest.UsageError("--operator interactive asks at the terminal: add -s")
    for item in config.getoption("sut_env"):
        if "=" not in item:
            raise pytest.UsageError(f"--sut-env takes KEY=VALUE, got {item!r}")


def _scenario_args(config: pytest.Config) -> list[Path]:
    """The YAML files named as pytest's own arguments (``pytest scenarios/x.yaml[::x]``)."""
    from harness.prepare import SUFFIXES

    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return []
    found = []
    for arg in config.args:
        path = config.invocation_params.dir / arg.split("::", 1)[0]
        if path.suffix in SUFFIXES and path.is_file():
            found.append(path.resolve())
    return found


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say so when a deprecated option spelling is used (a note, never an error)."""
    if config.getoption("harness_reports"):
        return ["chaos-policy-harness: --harness-reports is deprecated, use --reports-dir"]
    return []


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect the YAML files that ``--scenario`` or pytest's arguments selected."""
    selected = parent.config.stash.get(_SELECTED, set())
    if file_path.resolve() in selected:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """A scenario YAML file; it yields one item, named after the scenario."""

    def collect(self) -> list[ScenarioItem]:
        """One item per file and trial; a file that does not load still yields one, to report it."""
        trials = int(self.config.getoption("trials"))
        names = (
            [self.path.stem]
            if trials == 1
            else [f"{self.path.stem}[trial-{i}]" for i in range(1, trials + 1)]
        )
        items = [ScenarioItem.from_parent(self, name=name) for name in names]
        if self.config.pluginmanager.hasplugin("timeout"):
            # pytest-timeout's ini default must not cut a scenario short: give it its own plan
            for item in items:
                item.add_marker(pytest.mark.timeout(_allowance(self.path, self.config)))
        return items


class PolicyViolation(Exception):
    """One or more policies failed: the system broke a promise."""

    def __init__(self, verdicts: list[Verdict]) -> None:
        super().__init__("\n".join(v.render() for v in verdicts))


class Inconclusive(Exception):
    """The run finished, but some policy could not tell (a broken verdict)."""

    def __init__(self, verdicts: list[Verdict]) -> None:
        super().__init__("\n".join(v.render() for v in verdicts))


class GuardTripped(Exception):
    """A guard stopped the run: every fault was healed; nothing was judged."""

    def __init__(self, verdicts: list[Verdict]) -> None:
        super().__init__("\n".join(v.render() for v in verdicts))


class ScenarioItem(pytest.Item):
    """One scenario run: setup records and judges, call reports the broken promises."""

    result: RunResult | None = None

    def setup(self) -> None:
        """Run the scenario (or print its plan); raise for anything the harness could not tell."""
        from harness.policies import Status
        from harness.prepare import plan, prepare
        from harness.runner import Runner

        options = _options(self.config)
        default_system = _default_system(self.config)
        prepared = prepare(self.path, default_system)
        if self.config.getoption("dry_run"):
            self.config.stash[_PLANS].append((self.nodeid, plan(prepared, options.time_scale)))
            pytest.skip("dry run: validated and planned, nothing injected")
        self.result = Runner(options).run(prepared)
        self.config.stash[_RESULTS].append((self.nodeid, self.result))
        self.user_properties.append(("run_dir", str(self.result.run_dir)))
        aborted = [v for v in self.result.verdicts if v.status == Status.ABORTED]
        if aborted:
            raise GuardTripped(aborted)
        broken = [v for v in self.result.verdicts if v.status == Status.BROKEN]
        if broken:  # a failed verdict beside them still shows: it is a finding
            raise Inconclusive(
                broken + [v for v in self.result.verdicts if v.status == Status.FAILED]
            )

    def runtest(self) -> None:
        """Fail with every failed verdict."""
        from harness.policies import Status

        assert self.result is not None
        failed = [v for v in self.result.verdicts if v.status == Status.FAILED]
        if failed:
            raise PolicyViolation(failed)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """Broken promises as findings, not tracebacks."""
        return _render(excinfo.value, self.result) or str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the scenario is, for pytest's report headers."""
        return self.path, 0, f"scenario: {self.name}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Render harness errors in setup as a clear message instead of a traceback."""
    report = yield
    if isinstance(item, ScenarioItem) and call.excinfo is not None and call.when == "setup":
        text = _render(call.excinfo.value, item.result)
        if text:
            report.longrepr = text
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say where each scenario's results are."""
    for nodeid, lines in config.stash.get(_PLANS, []):
        terminalreporter.section(f"plan of {nodeid} (dry run)")
        for line in lines:
            terminalreporter.write_line(line)
    results = config.stash.get(_RESULTS, [])
    if not results:
        return
    terminalreporter.section("chaos-policy-harness")
    for nodeid, result in results:
        states = ", ".join(f"{v.policy} {v.status}" for v in result.verdicts)
        terminalreporter.write_line(f"{nodeid}: {states}")
        terminalreporter.write_line(f"  results: {result.run_dir}")
    from harness.report.kpi import summarise

    for line in summarise((r.scenario, r.kpis) for _, r in results if r.kpis is not None):
        terminalreporter.write_line(line)


def _render(exc: BaseException, result: RunResult | None) -> str | None:
    from harness.errors import HarnessError

    where = f"\nresults: {result.run_dir}" if result else ""
    if isinstance(exc, PolicyViolation):
        return f"{exc}{where}"
    if isinstance(exc, Inconclusive):
        return f"inconclusive (the harness could not tell):\n{exc}{where}"
    if isinstance(exc, GuardTripped):
        return f"aborted (a guard tripped; every fault was healed):\n{exc}{where}"
    if isinstance(exc, HarnessError):
        return f"{type(exc).__name__}: {exc}{where}"
    return None


def _allowance(path: Path, config: pytest.Config) -> float:
    """Seconds a scenario may take: its scaled plan, plus start-up and teardown margins."""
    from harness.errors import HarnessError
    from harness.scenario import load_scenario

    try:
        planned = load_scenario(path).planned_length() * float(config.getoption("time_scale"))
    except HarnessError:
        planned = 0.0  # the item reports the problem itself, at once
    return planned * 1.5 + 300.0


def _scenarios_dir(config: pytest.Config) -> Path:
    value = config.getoption("scenarios_dir") or str(config.getini("harness_scenarios_dir"))
    return config.rootpath / value


def _default_system(config: pytest.Config) -> Path | None:
    value = config.getoption("system") or str(config.getini("harness_system"))
    return (config.rootpath / value) if value else None


def _options(config: pytest.Config) -> RunOptions:
    from harness.runner import RunOptions

    reports = (
        config.getoption("reports_dir")
        or config.getoption("harness_reports")
        or str(config.getini("harness_reports_dir"))
    )
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return RunOptions(
        time_scale=config.getoption("time_scale"),
        target=config.getoption("target"),
        sut_env=dict(item.split("=", 1) for item in config.getoption("sut_env")),
        keep_env=config.getoption("keep_env"),
        toxiproxy_url=config.getoption("toxiproxy"),
        toxiproxy_bin=config.getoption("toxiproxy_bin"),
        toxiproxy_image=config.getoption("toxiproxy_image"),
        reports_dir=config.rootpath / reports,
        run_label=worker,
        drill=config.getoption("drill"),
        operator=config.getoption("operator"),
        operator_io=_terminal() if config.getoption("operator") == "interactive" else None,
    )


def _terminal() -> tuple[Callable[[], str], Callable[[str], None]]:
    """Read a line from, and write a prompt to, the terminal (pytest runs with -s here)."""

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    return sys.stdin.readline, write
