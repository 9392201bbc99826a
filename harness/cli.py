"""The ``harness`` command: validate, schema, plan, run, cleanup and report.

A thin front end over the same runner as the pytest plugin. Exit codes: 0 all passed (or valid),
1 a policy failed (``validate``: a file is invalid), 2 usage (click's convention), 3 the harness
could not tell (broken, or an invalid file given to ``run``), 130 interrupted (faults healed).
``report`` exits 1 when a bundle is damaged or cannot be read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from harness.errors import HarnessError, ScenarioError

if TYPE_CHECKING:
    from harness.report.kpi import RunKpis

_console = Console(highlight=False)
_err = Console(stderr=True, highlight=False)

PASSED, FAILED, USAGE, BROKEN, ABORTED, INTERRUPTED = 0, 1, 2, 3, 4, 130
_STYLE = {"passed": "green", "failed": "bold red", "broken": "yellow", "aborted": "magenta"}


@click.group()
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

    for path in _resolve(scenarios, scenarios_dir):
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
    "--reports-dir", type=click.Path(path_type=Path), default=Path("reports"), show_default=True
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
    reports_dir: Path,
) -> None:
    """Run scenarios and print their verdicts and where the results are."""
    from harness.policies import Status
    from harness.prepare import prepare
    from harness.runner import Runner, RunOptions

    env = _parse_env(sut_env)
    runner = Runner(
        RunOptions(
            time_scale=time_scale,
            sut_env=env,
            keep_env=keep_env,
            target=target,
            toxiproxy_url=toxiproxy_url,
            reports_dir=reports_dir,
            drill="no-automation" if drill else None,
            operator="interactive" if operator == "interactive" else "scripted",
            operator_io=(_ask, _say) if operator == "interactive" else None,
        )
    )
    worst = 0
    results = []
    for path in [p for p in _resolve(scenarios, scenarios_dir) for _ in range(trials)]:
        try:
            result = runner.run(prepare(path, system))
        except HarnessError as exc:
            _err.print(f"[yellow]broken[/]: {path}", highlight=False)
            click.echo(exc.render(), err=True)
            worst = max(worst, BROKEN)
            continue
        except KeyboardInterrupt:
            click.echo(f"interrupted: {path}; every fault was healed", err=True)
            sys.exit(INTERRUPTED)
        except Exception as exc:  # a harness bug is never a policy failure
            _err.print(f"[yellow]broken[/]: {path}", highlight=False)
            click.echo(f"the harness failed: {type(exc).__name__}: {exc}", err=True)
            worst = max(worst, BROKEN)
            continue
        table = Table(title=f"{result.run_id} (time scale {time_scale:g})", title_justify="left")
        table.add_column("policy")
        table.add_column("verdict")
        table.add_column("finding", overflow="fold")
        for v in result.verdicts:
            table.add_row(v.policy, f"[{_STYLE[v.status]}]{v.status}[/]", v.summary)
            if v.status == Status.FAILED:
                worst = max(worst, FAILED)
            elif v.status == Status.BROKEN:
                worst = max(worst, BROKEN)
            elif v.status == Status.ABORTED:
                worst = max(worst, ABORTED)
        _console.print(table)
        if result.kpis is not None:
            _console.print(_kpi_line(result.kpis), markup=False, highlight=False)
        _console.print(f"results: {result.run_dir}\n", markup=False)
        results.append(result)
    if trials > 1 or any(r.kpis and r.kpis.mode != "automated" for r in results):
        from harness.report.kpi import summarise

        for line in summarise((r.scenario, r.kpis) for r in results if r.kpis is not None):
            _console.print(line, markup=False, highlight=False)
    sys.exit(worst)


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


def _resolve(specs: tuple[str, ...], scenarios_dir: Path) -> list[Path]:
    from harness.prepare import resolve_scenarios

    try:
        return [p for spec in specs for p in resolve_scenarios(spec, scenarios_dir)]
    except HarnessError as exc:
        click.echo(exc.render(), err=True)
        sys.exit(USAGE)


def _parse_env(items: tuple[str, ...]) -> dict[str, str]:
    for item in items:
        if "=" not in item:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--sut-env")
    return dict(item.split("=", 1) for item in items)


@main.command()
@click.option(
    "--reports-dir", type=click.Path(path_type=Path), default=Path("reports"), show_default=True
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
