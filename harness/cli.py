"""The ``harness`` command: validate, schema, plan, run, cleanup and report.

A thin front end over the same runner as the pytest plugin. ``harness run`` exits with a code CI
can act on: 0 every promise kept; 1 a promise broken (whatever else happened); 2 a usage or
configuration error (options, an invalid scenario or system file: nothing was run); 3 the
harness could not tell (a broken verdict, or infrastructure such as a system that did not
start); 4 a guard aborted a run; 130 interrupted (SIGINT or SIGTERM, at any moment; every fault
healed). ``validate`` and ``report`` exit 1 when a file or a bundle has problems.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

from harness.errors import ConfigError, HarnessError, ScenarioError

if TYPE_CHECKING:
    from harness.prepare import Prepared
    from harness.report.kpi import RunKpis
    from harness.runner import Runner, RunResult

_console = Console(highlight=False)
_err = Console(stderr=True, highlight=False)

PASSED, FAILED, USAGE, BROKEN, ABORTED, INTERRUPTED = 0, 1, 2, 3, 4, 130
OUTCOMES = {
    PASSED: "passed",
    FAILED: "failed",
    USAGE: "usage",
    BROKEN: "broken",
    ABORTED: "aborted",
    INTERRUPTED: "interrupted",
}
_PRECEDENCE = (INTERRUPTED, FAILED, ABORTED, BROKEN, USAGE)
"""Of several runs' codes, the first of these that occurs is the exit code."""
_STYLE = {
    "passed": "green",
    "failed": "bold red",
    "broken": "yellow",
    "aborted": "magenta",
    "interrupted": "magenta",
}


class _Harness(click.Group):
    """click's group, except that an interrupt exits 130 (click's own Abort exits 1)."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command; SIGTERM interrupts like Ctrl-C, and either one exits 130."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            with _sigterm_interrupts():
                code = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.Abort as exc:
            if not isinstance(exc.__context__, KeyboardInterrupt):
                click.echo("Aborted!", err=True)
                sys.exit(1)
            _interrupted("interrupted")
        except KeyboardInterrupt:
            _interrupted("interrupted")
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt (the runner's own handler takes over during a run)."""
    from harness.signals import Terminated, _on_main_thread

    if not _on_main_thread():
        yield
        return

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise Terminated(f"received signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(message: str) -> NoReturn:
    """Exit 130; further signals are ignored so that nothing turns it into another code."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    click.echo(message, err=True)
    sys.exit(INTERRUPTED)


def worst(codes: Sequence[int]) -> int:
    """The exit code of several runs: 130, else 1 if any promise broke, else 4, 3, 2, else 0."""
    return next((code for code in _PRECEDENCE if code in codes), PASSED)


@click.group(cls=_Harness)
@click.version_option(package_name="chaos-policy-harness")
def main() -> None:
    """Prove that an operations automation keeps its promises when things break."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--system",
    type=click.Path(path_type=Path),
    default=None,
    help="system file for scenarios that name none",
)
def validate(files: tuple[Path, ...], system: Path | None) -> None:
    """Check scenario files; print every problem as FILE:LINE:COLUMN: field: message."""
    from harness.prepare import prepare
    from harness.scenario import load_scenario

    bad = 0
    for path in files:
        try:
            scenario = load_scenario(path)
            checked = bool(scenario.system or system)
            if checked:
                prepare(path, system)
        except ScenarioError as exc:
            bad += 1
            click.echo(exc.render(), err=False)
            continue
        note = "" if checked else "; format only: no system to check its edges against (--system)"
        click.echo(f"{path}: ok ({scenario.name}{note})")
    sys.exit(1 if bad else 0)


@main.command()
@click.option("--system", "of_system", is_flag=True, help="the system file's schema instead")
def schema(of_system: bool) -> None:
    """Print the JSON Schema of the scenario format (for editor completion)."""
    if of_system:
        from harness.system import json_schema as system_schema

        click.echo(json.dumps(system_schema(), indent=2))
        return
    from harness.scenario import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


def _run_options(func: click.decorators.FC) -> click.decorators.FC:
    options = [
        click.option(
            "--time-scale",
            type=click.FloatRange(min=0, min_open=True),
            default=1.0,
            show_default=True,
            help="multiply every duration the harness waits for or checks",
        ),
        click.option(
            "--sut-env",
            multiple=True,
            metavar="KEY=VALUE",
            help="environment for the system under test (repeatable)",
        ),
        click.option(
            "--system",
            type=click.Path(path_type=Path),
            default=None,
            help="system file for scenarios that name none",
        ),
        click.option(
            "--scenarios-dir",
            type=click.Path(path_type=Path),
            default=Path("scenarios"),
            show_default=True,
            help="where scenario names (and 'all') are looked up",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@main.command()
@click.argument("scenarios", nargs=-1, required=True)
@_run_options
def plan(
    scenarios: tuple[str, ...],
    time_scale: float,
    sut_env: tuple[str, ...],
    system: Path | None,
    scenarios_dir: Path,
) -> None:
    """Validate scenarios and print what a run would inject when; touch nothing."""
    from harness.prepare import plan as make_plan
    from harness.prepare import prepare

    for path in _resolve(scenarios, scenarios_dir, _Report(False, time_scale)):
        try:
            lines = make_plan(prepare(path, system), time_scale)
        except HarnessError as exc:
            click.echo(exc.render(), err=True)
            sys.exit(1)
        click.echo("\n".join(lines) + "\n")


@main.command()
@click.argument("scenarios", nargs=-1, required=True)
@_run_options
@click.option("--keep-env", is_flag=True, help="heal every fault but leave the system running")
@click.option(
    "--target",
    type=click.Choice(["process", "compose"]),
    default=None,
    help="where the system under test runs (default: the scenario's, 'process')",
)
@click.option(
    "--drill",
    type=click.Choice(["no-automation"]),
    default=None,
    help="run as a drill: the automation switched off, the scenario's runbook recovers",
)
@click.option(
    "--operator",
    type=click.Choice(["scripted", "interactive"]),
    default="scripted",
    show_default=True,
    help="who follows a drill's runbook: scripted (unattended) or you, at this terminal",
)
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="run each scenario N times; MTTR is then given as median and p95",
)
@click.option(
    "--toxiproxy",
    "toxiproxy_url",
    default=None,
    metavar="URL",
    help="use this Toxiproxy server instead of starting a private one",
)
@click.option(
    "--toxiproxy-bin",
    default=None,
    metavar="PATH",
    help="the toxiproxy-server binary to start (default: the [toxiproxy] extra's, then PATH)",
)
@click.option(
    "--toxiproxy-image",
    default=None,
    metavar="IMAGE",
    help="run the private Toxiproxy from this Docker image (host network) instead of a binary, "
    "e.g. ghcr.io/shopify/toxiproxy:2.12.0",
)
@click.option(
    "--reports-dir",
    type=click.Path(path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="where run results (runs/<run id>/), the history and the council page go",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="print one JSON document on stdout (verdicts, run dirs, KPIs, exit code); "
    "the tables go to stderr",
)
def run(
    scenarios: tuple[str, ...],
    time_scale: float,
    sut_env: tuple[str, ...],
    system: Path | None,
    scenarios_dir: Path,
    keep_env: bool,
    target: str | None,
    drill: str | None,
    operator: str,
    trials: int,
    toxiproxy_url: str | None,
    toxiproxy_bin: str | None,
    toxiproxy_image: str | None,
    reports_dir: Path,
    as_json: bool,
) -> None:
    """Run scenarios and print their verdicts and where the results are (exit codes: above)."""
    from harness.runner import Runner, RunOptions

    env = _parse_env(sut_env)
    runner = Runner(
        RunOptions(
            time_scale=time_scale,
            sut_env=env,
            keep_env=keep_env,
            target=target,
            toxiproxy_url=toxiproxy_url,
            toxiproxy_bin=toxiproxy_bin,
            toxiproxy_image=toxiproxy_image,
            reports_dir=reports_dir,
            drill="no-automation" if drill else None,
            operator="interactive" if operator == "interactive" else "scripted",
            operator_io=(_ask, _say) if operator == "interactive" else None,
        )
    )
    report = _Report(as_json, time_scale)
    paths = _resolve(scenarios, scenarios_dir, report)
    prepared = [report.prepare(path, system) for path in paths]
    if report.code() == PASSED:  # nothing runs while a scenario or system file is invalid
        for item in [p for p in prepared if p is not None for _ in range(trials)]:
            report.run(runner, item)
    if trials > 1 or any(r.kpis and r.kpis.mode != "automated" for r in report.results):
        from harness.report.kpi import summarise

        for line in summarise((r.scenario, r.kpis) for r in report.results if r.kpis):
            report.out.print(line, markup=False, highlight=False)
    report.finish()


@dataclass
class _Outcome:
    """What one scenario file came to: a result with verdicts, or an error before one."""

    path: Path
    code: int
    result: RunResult | None = None
    error: str = ""

    def document(self) -> dict[str, Any]:
        """The JSON form of ``harness run --json``'s ``runs`` entries."""
        result = self.result
        return {
            "scenario": result.scenario if result else self.path.stem,
            "file": str(self.path),
            "outcome": OUTCOMES[self.code],
            "exit_code": self.code,
            "run_id": result.run_id if result else None,
            "run_dir": str(result.run_dir) if result else None,
            "verdicts": [v.model_dump(mode="json", exclude={"evidence"}) for v in result.verdicts]
            if result
            else [],
            "kpis": result.kpis.model_dump(mode="json") if result and result.kpis else None,
            "error": self.error or None,
        }


class _Report:
    """Collects the outcome of every scenario of ``harness run``; prints tables or JSON."""

    def __init__(self, as_json: bool, time_scale: float) -> None:
        self.as_json, self.time_scale = as_json, time_scale
        self.out = _err if as_json else _console  # with --json, stdout holds the JSON only
        self.outcomes: list[_Outcome] = []

    @property
    def results(self) -> list[RunResult]:
        """The runs that finished and were judged."""
        return [o.result for o in self.outcomes if o.result is not None]

    def code(self) -> int:
        """The exit code so far."""
        return worst([o.code for o in self.outcomes])

    def error(self, path: Path, code: int, message: str) -> None:
        """A scenario that did not get a verdict: say so on stderr, and keep it."""
        label = "invalid" if code == USAGE else OUTCOMES[code]
        _err.print(f"[yellow]{label}[/]: {path}", highlight=False)
        click.echo(message, err=True)
        self.outcomes.append(_Outcome(path, code, error=message))

    def prepare(self, path: Path, system: Path | None) -> Prepared | None:
        """The validated scenario, or None after recording why it is invalid (exit 2)."""
        from harness.prepare import prepare

        try:
            return prepare(path, system)
        except HarnessError as exc:
            self.error(path, USAGE, exc.render())
            return None

    def run(self, runner: Runner, prepared: Prepared) -> None:
        """Run one scenario and record its verdicts; an interrupt ends the command (130)."""
        try:
            result = runner.run(prepared)
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM (Terminated), the runner's Interrupted
            self.outcomes.append(_Outcome(prepared.path, INTERRUPTED, error="interrupted"))
            self.finish(f"interrupted: {prepared.path}; every fault was healed")
        except (ScenarioError, ConfigError) as exc:
            self.error(prepared.path, USAGE, exc.render())
            return
        except HarnessError as exc:
            self.error(prepared.path, BROKEN, exc.render())
            return
        except Exception as exc:  # a harness bug is never a policy failure
            self.error(prepared.path, BROKEN, f"the harness failed: {type(exc).__name__}: {exc}")
            return
        self.outcomes.append(_Outcome(prepared.path, _code_of(result), result))
        self._table(result)

    def _table(self, result: RunResult) -> None:
        table = Table(
            title=f"{result.run_id} (time scale {self.time_scale:g})", title_justify="left"
        )
        table.add_column("policy")
        table.add_column("verdict")
        table.add_column("finding", overflow="fold")
        for v in result.verdicts:
            table.add_row(v.policy, f"[{_STYLE[v.status]}]{v.status}[/]", v.summary)
        self.out.print(table)
        if result.kpis is not None:
            self.out.print(_kpi_line(result.kpis), markup=False, highlight=False)
        self.out.print(f"results: {result.run_dir}\n", markup=False)

    def finish(self, message: str = "") -> NoReturn:
        """Print the JSON document (with --json) and exit with the worst code."""
        code = self.code()
        if code == INTERRUPTED:
            for sig in (signal.SIGINT, signal.SIGTERM):  # nothing may change 130 any more
                signal.signal(sig, signal.SIG_IGN)
        if message:
            click.echo(message, err=True)
        if self.as_json:
            document = {
                "exit_code": code,
                "outcome": OUTCOMES[code],
                "runs": [o.document() for o in self.outcomes],
            }
            click.echo(json.dumps(document, indent=2))
        sys.exit(code)


def _code_of(result: RunResult) -> int:
    from harness.policies import Status

    codes = {
        Status.FAILED: FAILED,
        Status.BROKEN: BROKEN,
        Status.ABORTED: ABORTED,
        Status.INTERRUPTED: INTERRUPTED,
    }
    return worst([codes[v.status] for v in result.verdicts if v.status in codes])


def _kpi_line(kpis: RunKpis) -> str:
    def secs(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}s"

    rate = kpis.automation_success_rate
    return (
        f"{kpis.mode}: MTTR {secs(kpis.mttr)}, MTTD {secs(kpis.mttd)} (scenario time); "
        f"{kpis.automation_actions} automation actions"
        + (f", {rate:.0%} as expected" if rate is not None else "")
        + f"; {kpis.escalations_sent} escalations ({kpis.escalations_noise} noise), "
        f"{kpis.hidden_incidents} hidden incidents"
    )


def _ask() -> str:
    return sys.stdin.readline()


def _say(text: str) -> None:
    click.echo(text, nl=False)


def _resolve(specs: tuple[str, ...], scenarios_dir: Path, report: _Report) -> list[Path]:
    from harness.prepare import check_unique_names, resolve_scenarios

    try:
        paths = [p for spec in specs for p in resolve_scenarios(spec, scenarios_dir)]
        check_unique_names(paths, scenarios_dir)
    except HarnessError as exc:
        report.error(Path(specs[0]) if len(specs) == 1 else scenarios_dir, USAGE, exc.render())
        report.finish()
    return paths


def _parse_env(items: tuple[str, ...]) -> dict[str, str]:
    for item in items:
        if "=" not in item:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--sut-env")
    return dict(item.split("=", 1) for item in items)


@main.command()
@click.option(
    "--reports-dir",
    type=click.Path(path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="the reports directory whose runs/ are looked at",
)
def cleanup(reports_dir: Path) -> None:
    """Remove what killed or kept runs left behind: processes, proxies, compose projects."""
    from harness.cleanup import reap, unfinished_runs

    runs = unfinished_runs(reports_dir)
    if not runs:
        click.echo("nothing to clean up")
    failed = False
    for path, record in runs:
        done = reap(path, record)
        if done.running is not None:
            click.echo(f"{done.run_id}: still running (harness pid {done.running}); left alone")
            continue
        removed = f", removed {', '.join(done.containers)}" if done.containers else ""
        click.echo(
            f"{done.run_id}: removed {len(done.proxies)} proxies, "
            f"stopped {len(done.processes)} processes {' '.join(done.processes)}".rstrip()
            + removed
        )
        if done.gone_proxies:
            click.echo(
                f"  its private Toxiproxy is gone, so are its proxies "
                f"({', '.join(done.gone_proxies)}): treated as removed"
            )
        for problem in done.problems:
            failed = True
            click.echo(f"  {problem}", err=True)
    sys.exit(1 if failed else 0)


@main.command()
@click.option(
    "--reports-dir",
    "--reports",
    "reports_dir",
    type=click.Path(path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="the reports directory: runs/ is read, history.sqlite and council/ are written",
)
@click.option(
    "--last",
    type=click.IntRange(min=1, max=1000),
    default=10,
    show_default=True,
    help="how many of each scenario's latest runs the page shows",
)
@click.option(
    "--verify",
    is_flag=True,
    help="only check every sealed bundle: list each file missing, changed or added; exit 1 if any",
)
@click.option("--reindex", is_flag=True, help="read every bundle again, also those already indexed")
def report(reports_dir: Path, last: int, verify: bool, reindex: bool) -> None:
    """Index the sealed runs into the history and write the council page (council/index.html)."""
    if verify:
        sys.exit(_verify(reports_dir))
    from harness.report.council import write_council
    from harness.report.history import index_bundles

    try:
        indexed = index_bundles(reports_dir, again=reindex)
        page = write_council(reports_dir, last=last)
    except HarnessError as exc:
        click.echo(exc.render(), err=True)
        sys.exit(1)
    note = f"; {len(indexed.unsealed)} run directories not sealed (running, kept or broken runs)"
    click.echo(
        f"history: {len(indexed.indexed)} runs indexed, {len(indexed.unchanged)} already there"
        + (note if indexed.unsealed else "")
    )
    for problem in indexed.problems:
        click.echo(problem.render(), err=True)
    click.echo(f"council page: {page}")
    sys.exit(1 if indexed.problems else 0)


def _verify(reports_dir: Path) -> int:
    from harness.report import verify_reports

    found = verify_reports(reports_dir)
    for problem in found.problems:
        click.echo(problem.render())
    damaged = min(len({p.bundle for p in found.problems}), found.checked)
    unsealed = f"; {len(found.unsealed)} run directories not sealed" if found.unsealed else ""
    click.echo(
        f"{found.checked} bundles checked: {found.checked - damaged} intact, "
        f"{damaged} with problems{unsealed}"
    )
    return 1 if found.problems else 0
