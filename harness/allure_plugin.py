"""Allure for scenario items: labels, phase steps with their real times, evidence, outcomes.

Active only with allure-pytest's own ``--alluredir`` (``harness.plugin`` registers it then; this
module is not imported otherwise). A scenario runs in its item's setup, before allure-pytest could
time a step, so the runtime step API (which stamps the time it is called) is not used. Instead
this plugin completes allure-pytest's result just before it is written: an allure-commons
``report_result`` hook, run before the file writer's, adds labels, parameters, ids, links, the
phase steps (with the times of the run's own timeline), the attachments and the outcome, from the
finished run's timeline and verdicts. At session end the controller, never an xdist worker,
writes ``environment.properties`` and ``categories.json``.
"""

from __future__ import annotations

import json
import logging
import platform
import re
import subprocess
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import allure_commons
import pytest
from allure_commons.model2 import Attachment as AllureAttachment
from allure_commons.model2 import Label, Link, Parameter, StatusDetails, TestResult, TestStepResult
from allure_pytest.utils import allure_full_name  # type: ignore[import-untyped]

import harness
from harness.errors import HarnessError
from harness.extras import MissingExtra
from harness.plugin import ScenarioItem
from harness.report import allure as meta
from harness.report.allure_steps import Step, phase_steps
from harness.report.attachments import Attachment, Scrubber, masked_env, run_attachments
from harness.report.timeline_chart import timeline_png
from harness.scenario import Scenario, load_scenario

log = logging.getLogger(__name__)


def register(config: pytest.Config, scenarios: list[Path]) -> None:
    """Register the plugin with pytest and with allure-commons, for this session only."""
    plugin = AllureScenarios(config, scenarios)
    config.pluginmanager.register(plugin, "chaos-policy-harness-allure")
    allure_commons.plugin_manager.register(plugin)
    config.add_cleanup(lambda: allure_commons.plugin_manager.unregister(plugin))


@dataclass
class _Seen:
    """What pytest reported of one scenario item: when it ran, and what each phase raised."""

    item: ScenarioItem
    start: float
    stop: float = 0.0
    errors: dict[str, BaseException] = field(default_factory=dict)


class AllureScenarios:
    """Completes allure-pytest's result of each scenario item from its run."""

    def __init__(self, config: pytest.Config, scenarios: list[Path]) -> None:
        self.config = config
        self.scenarios = scenarios
        self.results_dir = Path(str(config.getoption("allure_report_dir"))).absolute()
        self.problems: list[str] = []
        self._seen: dict[str, _Seen] = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> None:
        """Note when the item ran and what it raised (the run's own outcome is on the item)."""
        if not isinstance(item, ScenarioItem):
            return
        # keyed as allure-pytest names its result; trials of a scenario share the name, but run
        # one after the other, and each starts anew at its setup
        key = allure_full_name(item)
        if call.when == "setup" or key not in self._seen:
            self._seen[key] = _Seen(item, start=call.start)
        seen = self._seen[key]
        seen.stop = call.stop
        if call.excinfo is not None:
            seen.errors[call.when] = call.excinfo.value

    @allure_commons.hookimpl(tryfirst=True)
    def report_result(self, result: TestResult) -> None:
        """Complete a scenario item's result before allure-pytest's file writer writes it."""
        seen = self._seen.pop(result.fullName, None)
        if seen is None:
            return
        try:
            self._complete(result, seen)
        except Exception as exc:  # an incomplete report must not hide the outcome: say so
            text = f"the Allure result of {seen.item.nodeid} is incomplete: {exc!r}"
            log.warning(text, exc_info=True)
            self.problems.append(text)
            details = result.statusDetails or StatusDetails()
            details.message = f"{details.message or ''}\n(harness: {text})".lstrip()
            result.statusDetails = details

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """The controller writes the launch's environment and categories, once."""
        if hasattr(self.config, "workerinput"):  # an xdist worker: the controller writes them
            return
        self.results_dir.mkdir(parents=True, exist_ok=True)
        properties = meta.environment_properties(environment(self.config, self.scenarios))
        (self.results_dir / "environment.properties").write_text(properties, encoding="utf-8")
        categories = json.dumps(list(meta.CATEGORIES), indent=1)
        (self.results_dir / "categories.json").write_text(categories + "\n", encoding="utf-8")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Where the Allure results are, and any result the plugin could not complete."""
        terminalreporter.write_line(f"allure results: {self.results_dir}")
        for problem in self.problems:
            terminalreporter.write_line(f"allure: {problem}", red=True)

    def _complete(self, result: TestResult, seen: _Seen) -> None:
        item, run = seen.item, seen.item.result
        scenario = _load(item.path)
        context = _context(self.config, scenario, run.run_id if run else None, item.name)
        scrub = Scrubber(context.sut_env)
        _describe(result, item, scenario, context, scrub)
        result.start, result.stop = round(seen.start * 1000), round(seen.stop * 1000)
        if run is not None:
            result.steps += [_step(s) for s in phase_steps(run.timeline, run.verdicts)]
            files = run_attachments(run.timeline, run.run_dir, scrub)
            try:
                chart = timeline_png(run.timeline, title=f"{result.name}: {run.run_id}")
                files.append(Attachment("timeline.png", chart, "image/png", "png"))
            except MissingExtra as exc:
                log.warning("no timeline chart in the Allure result: %s", exc.what)
            result.attachments += [_attach(a) for a in files]
        own = _outcome(seen, scrub)
        if own is not None:
            teardown = seen.errors.get("teardown")
            if teardown is None or own.status != "passed":  # else allure-pytest's error stands
                note = f"\nteardown: {teardown!r}" if teardown is not None else ""
                message = own.message + note
                result.status = own.status
                result.statusDetails = StatusDetails(message=message) if message else None


def _describe(
    result: TestResult,
    item: ScenarioItem,
    scenario: Scenario | None,
    context: meta.RunContext,
    scrub: Scrubber,
) -> None:
    """Labels, parameters, ids, links and description: what the scenario is and how it ran."""
    name = scenario.name if scenario else item.name
    params = meta.parameters(context)
    result.labels += [Label(name=x.name, value=x.value) for x in meta.labels(scenario, context)]
    result.parameters += [
        Parameter(name=p.name, value=scrub(p.value), excluded=p.excluded or None) for p in params
    ]
    result.testCaseId = meta.test_case_id(name)
    result.historyId = meta.history_id(name, params)
    shown = item.nodeid.split("::", 1)[0]
    timeline = item.result.timeline if item.result else None
    result.links += [
        Link(type=x.type, url=x.url, name=x.name) for x in meta.links(item.path, shown, timeline)
    ]
    if scenario is not None and scenario.description and not result.description:
        result.description = scenario.description


def _outcome(seen: _Seen, scrub: Scrubber) -> meta.Outcome | None:
    """The run's own outcome: from its verdicts, or from the harness error that stopped it."""
    run = seen.item.result
    if run is not None:
        return meta.outcome(run.verdicts, run.run_dir, scrub)
    error = seen.errors.get("setup")
    if isinstance(error, HarnessError):
        return meta.error_outcome(error, scrub)
    return None  # skipped (a dry run), or a crash: allure-pytest's status and traceback stand


def _step(step: Step) -> TestStepResult:
    return TestStepResult(
        name=step.name,
        status=step.status,
        start=step.start,
        stop=step.stop,
        statusDetails=StatusDetails(message=step.message) if step.message else None,
        parameters=[Parameter(name=k, value=v) for k, v in step.parameters],
        steps=[_step(s) for s in step.steps],
    )


def _attach(attachment: Attachment) -> AllureAttachment:
    """Write the file through allure-commons (its file writer) and return its reference."""
    file_name = f"{uuid.uuid4()}-attachment.{attachment.extension}"
    allure_commons.plugin_manager.hook.report_attached_data(
        body=attachment.body, file_name=file_name
    )
    return AllureAttachment(name=attachment.name, source=file_name, type=attachment.mime)


def _load(path: Path) -> Scenario | None:
    try:
        return load_scenario(path)
    except HarnessError:  # the item reports the problem itself
        return None


def _context(
    config: pytest.Config, scenario: Scenario | None, run_id: str | None, name: str = ""
) -> meta.RunContext:
    """How the item ran: the options, as the runner applies them over the scenario's own."""
    options = dict(item.split("=", 1) for item in config.getoption("sut_env"))
    env = {**(scenario.sut_env if scenario else {}), **options}
    target = config.getoption("target") or (scenario.target if scenario else "process")
    drill = scenario.drill if scenario else None
    mode = config.getoption("drill") or (drill.mode if drill else "automated")
    trial = re.search(r"\[trial-(\d+)\]$", name)
    return meta.RunContext(
        target,
        float(config.getoption("time_scale")),
        env,
        run_id,
        mode=str(mode),
        trial=int(trial.group(1)) if trial else None,
    )


def environment(config: pytest.Config, scenarios: list[Path]) -> dict[str, str]:
    """What the launch ran on: versions, target, time scale, the SUT's environment."""
    targets = sorted({_context(config, _load(p), None).target for p in scenarios} or {"process"})
    found = {
        "harness.version": harness.__version__,
        "python.version": platform.python_version(),
        "pytest.version": pytest.__version__,
        "allure-pytest.version": metadata.version("allure-pytest"),
        "platform": platform.platform(terse=True),
        "target": ", ".join(targets),
        "time.scale": f"{float(config.getoption('time_scale')):g}",
    }
    if "process" in targets:
        found["toxiproxy.version"] = toxiproxy_version(config)
    if "compose" in targets:
        found["compose.version"] = compose_version()
    if config.getoption("drill"):
        found["drill"] = str(config.getoption("drill"))
    sut_env = masked_env(dict(item.split("=", 1) for item in config.getoption("sut_env")))
    if sut_env:
        found["sut.env"] = " ".join(f"{k}={v}" for k, v in sorted(sut_env.items()))
    return found


def toxiproxy_version(config: pytest.Config) -> str:
    """The version of the Toxiproxy the runs use: the server's /version, or the binary's."""
    from harness.faults.toxiproxy import ToxiproxyClient
    from harness.faults.toxiproxy_server import find_toxiproxy_binary

    url = config.getoption("toxiproxy")
    try:
        if url:
            with ToxiproxyClient(url, timeout=3.0) as client:
                return f"{client.version()} (server at {url})"
        binary = find_toxiproxy_binary(config.getoption("toxiproxy_bin"))
        out = _run([str(binary), "-version"])
        return f"{out.split()[-1]} ({binary})"
    except (HarnessError, OSError, subprocess.SubprocessError, IndexError) as exc:
        return f"unknown ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"


def compose_version() -> str:
    """The version of the compose the target picks (``$HARNESS_COMPOSE``, else v2, else v1)."""
    from harness.targets.compose import compose_command

    try:
        command = compose_command()
        name = "docker compose" if command[-1] == "compose" else "docker-compose"
        return f"{_run([*command, 'version', '--short'])} ({name})"
    except (HarnessError, OSError, subprocess.SubprocessError):
        return "unknown (neither docker compose nor docker-compose answers)"


def _run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=True)
    return done.stdout.strip()
