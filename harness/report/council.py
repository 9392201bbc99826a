"""The council page: one static, self-contained HTML page for the weekly review of the runs.

``reports/council/index.html`` is made from the run history alone: what needs attention (the
latest run of each scenario that broke or could not judge a promise), the policy matrix (a row
per scenario, a column per policy, a mark per run for its last N runs), MTTR and MTTD per
scenario (automated against manual drills; median and p95), the MTTR trend (an embedded PNG)
and a link to every run's evidence bundle. Times are in the scenario's time (as measured,
divided by the run's time scale), so runs at different scales compare.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from markupsafe import Markup, escape

from harness.report.chart import Point, data_uri, trend_png
from harness.report.history import History, HistoryRun, history_path
from harness.report.kpi import percentile

AUTOMATED = "automated"
SUMMARY_CHARS = 280
"""A verdict's summary is cut to this on the page (the bundle holds all of it)."""


@dataclass(frozen=True)
class Mark:
    """One run's outcome of one policy: a coloured mark linking to the run's bundle."""

    outcome: str  # passed | failed | broken | aborted | interrupted | absent (not checked)
    run: HistoryRun
    title: str


@dataclass(frozen=True)
class MatrixRow:
    """A scenario: its marks per policy (oldest run first) and its latest run's worst outcome."""

    scenario: str
    marks: dict[str, list[Mark]]
    latest: str


@dataclass(frozen=True)
class Stats:
    """Median and p95 of one KPI over runs (scenario seconds), and how many runs had none."""

    runs: int
    median: float | None
    p95: float | None
    missing: int


@dataclass(frozen=True)
class KpiRow:
    """MTTR of a scenario, automated and manual (drills), and its automated MTTD."""

    scenario: str
    automated: Stats
    manual: Stats
    mttd: Stats
    lost: int  # automated runs in which a steady-state probe failed after the first fault
    faulted: int  # automated runs with a fault

    @property
    def blind(self) -> bool:
        """The probes never failed in any run: MTTR says nothing about this scenario's fault."""
        return self.faulted > 0 and self.lost == 0


@dataclass(frozen=True)
class Attention:
    """A scenario whose latest run broke a promise or could not tell."""

    run: HistoryRun
    findings: list[tuple[str, str, str]]  # (policy, outcome, summary)

    @property
    def worst(self) -> str:
        """``failed``, else ``broken``, else ``stopped`` (aborted or interrupted: not judged)."""
        outcomes = {o for _, o, _ in self.findings}
        return next((o for o in ("failed", "broken") if o in outcomes), "stopped")


@dataclass(frozen=True)
class Council:
    """Everything the page shows."""

    generated_at: str
    last: int
    runs: list[HistoryRun]  # newest first
    scenarios: int
    policies: list[str]
    matrix: list[MatrixRow]
    kpis: list[KpiRow]
    attention: list[Attention]
    chart: str | None  # a data: URI
    missing: frozenset[str]  # run ids whose bundle directory is gone


def stats(values: Sequence[float | None]) -> Stats:
    """Median and p95 over the values that exist; ``missing`` counts the None ones."""
    present = [v for v in values if v is not None]
    median = statistics.median(present) if present else None
    return Stats(len(values), median, percentile(present, 95), len(values) - len(present))


def build_council(
    runs: Sequence[HistoryRun],
    *,
    last: int,
    generated_at: datetime,
    missing: frozenset[str] = frozenset(),
) -> Council:
    """The page's content from the runs (each scenario's ``last`` latest), without I/O."""
    by_scenario: dict[str, list[HistoryRun]] = {}
    for run in sorted(runs, key=lambda r: (r.started_at, r.run_id)):
        by_scenario.setdefault(run.scenario, []).append(run)
    chosen = {name: rs[-last:] for name, rs in sorted(by_scenario.items())}
    policies = _policies(chosen)
    kept = [r for rs in chosen.values() for r in rs]
    return Council(
        generated_at=_when(generated_at.astimezone(UTC).isoformat()),
        last=last,
        runs=sorted(kept, key=lambda r: (r.started_at, r.run_id), reverse=True),
        scenarios=len(chosen),
        policies=policies,
        matrix=[_row(name, rs, policies) for name, rs in chosen.items()],
        kpis=[_kpis(name, rs) for name, rs in chosen.items()],
        attention=[a for rs in chosen.values() if (a := _attention(rs[-1])) is not None],
        chart=_chart(kept),
        missing=missing,
    )


def _policies(chosen: dict[str, list[HistoryRun]]) -> list[str]:
    """Every policy checked, the ones most scenarios check first."""
    count: dict[str, int] = {}
    for rs in chosen.values():
        for policy in {v.policy for r in rs for v in r.verdicts}:
            count[policy] = count.get(policy, 0) + 1
    return sorted(count, key=lambda p: (-count[p], p))


def _row(scenario: str, runs: list[HistoryRun], policies: list[str]) -> MatrixRow:
    marks: dict[str, list[Mark]] = {p: [] for p in policies}
    for run in runs:
        outcome = {v.policy: v for v in run.verdicts}
        for policy in policies:
            verdict = outcome.get(policy)
            if verdict is None:
                marks[policy].append(Mark("absent", run, f"{_when(run.started_at)}: not checked"))
            else:
                title = f"{_when(run.started_at)} {run.mode}: {verdict.outcome}\n"
                marks[policy].append(Mark(verdict.outcome, run, title + verdict.summary))
    if all(m.outcome == "absent" for ms in marks.values() for m in ms):
        marks = {}
    return MatrixRow(scenario, marks, _worst(runs[-1]))


def _worst(run: HistoryRun) -> str:
    outcomes = {v.outcome for v in run.verdicts}
    order = ("failed", "broken", "aborted", "interrupted")
    return next((o for o in order if o in outcomes), "passed")


def _kpis(scenario: str, runs: list[HistoryRun]) -> KpiRow:
    automated = [r for r in runs if r.mode == AUTOMATED]
    manual = [r for r in runs if r.mode != AUTOMATED]  # manual and no-automation drills
    return KpiRow(
        scenario,
        automated=stats([r.scenario_mttr() for r in automated]),
        manual=stats([r.scenario_mttr() for r in manual]),
        mttd=stats([r.scenario_mttd() for r in automated]),
        lost=sum(1 for r in automated if r.lost),
        faulted=sum(1 for r in automated if r.lost is not None),
    )


def _attention(latest: HistoryRun) -> Attention | None:
    bad = [(v.policy, v.outcome, v.summary) for v in latest.verdicts if v.outcome != "passed"]
    return Attention(latest, bad) if bad else None


def _chart(runs: list[HistoryRun]) -> str | None:
    points = [
        Point(
            scenario=r.scenario,
            started=datetime.fromisoformat(r.started_at),
            mttr=r.scenario_mttr(),
            mttd=r.scenario_mttd(),
            manual=r.mode != AUTOMATED,
        )
        for r in runs
    ]
    return data_uri(trend_png(points)) if points else None


def _when(iso: str) -> str:
    """``2026-11-24 00:01 UTC`` from an ISO 8601 time."""
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def seconds(value: float | None) -> str:
    """A duration for the page: ``1.9 s``, ``42 s``, ``3 min 05 s``; a dash for none."""
    if value is None:
        return "\u2013"
    if value < 10:
        return f"{value:.1f} s"
    if value < 120:
        return f"{value:.0f} s"
    minutes, secs = divmod(round(value), 60)
    return f"{minutes} min {secs:02d} s"


def bundle_href(run: HistoryRun) -> str:
    """The link from ``council/index.html`` to a run's bundle directory."""
    if Path(run.bundle).is_absolute():
        return Path(run.bundle).as_uri() + "/"
    return f"../{run.bundle}/"


def breakable(name: str) -> Markup:
    """A policy name that may wrap after its underscores (``<wbr>``), escaped."""
    return Markup(str(escape(name)).replace("_", "_<wbr>"))


def shorten(text: str, limit: int = SUMMARY_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis if it was longer."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render(council: Council) -> str:
    """The page as HTML (Jinja2, autoescaped)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("harness.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        seconds=seconds, breakable=breakable, shorten=shorten, when=_when, href=bundle_href
    )
    return env.get_template("council.html.j2").render(c=council)


def council_path(reports_dir: Path) -> Path:
    """Where the council page of a reports directory is written."""
    return reports_dir / "council" / "index.html"


def write_council(reports_dir: Path, *, last: int = 10, now: datetime | None = None) -> Path:
    """Render the council page from the history of ``reports_dir``; return its path."""
    if last < 1:
        raise ValueError("last must be at least 1")
    with History(history_path(reports_dir)) as history:
        runs = history.runs(last=last)
    missing = frozenset(r.run_id for r in runs if not (reports_dir / r.bundle).is_dir())
    council = build_council(runs, last=last, generated_at=now or datetime.now(UTC), missing=missing)
    path = council_path(reports_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render(council), encoding="utf-8")
    tmp.replace(path)
    return path
