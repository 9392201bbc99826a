"""Hand-made run directories and bundles for the report tests (no run, no SUT)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness.policies import Status, Verdict, judge
from harness.report.bundle import environment, seal_bundle
from harness.scenario import load_scenario
from harness.timeline import FaultEntry, PhaseEntry, ProbeEntry, Timeline

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SCENARIO = """name: x
steady_state:
  - name: api
    http: {url: "http://127.0.0.1:1/health", status: 200}
faults:
  - {type: partition, edge: a -> b, at: 0s, duration: 20s}
expectations:
  - policy: steady_state
    within: 1m
"""
"""The scenario of every hand-made run. The default run's verdicts are judged from its timeline,
so ``harness report --verify`` (which judges every bundle again) finds it intact."""


def run_timeline(
    started: datetime = T0, *, recovered_at: float | None = 4.0, scale: float = 0.05
) -> Timeline:
    """Fault at 2.0, heal at 3.0; the probe fails from 2.5 and is ok again at ``recovered_at``."""
    timeline = Timeline(scale, monotonic=lambda: 0.0, started_at=started)
    for entry in (
        PhaseEntry(t=0.0, phase="setup"),
        ProbeEntry(t=1.0, probe="api", ok=True, phase="steady_state"),
        FaultEntry(t=2.0, action="inject", fault_id="f1", fault_type="partition", target="a->b"),
        ProbeEntry(t=2.5, probe="api", ok=False, phase="inject"),
        FaultEntry(t=3.0, action="heal", fault_id="f1", fault_type="partition", target="a->b"),
    ):
        timeline.append(entry)
    if recovered_at is not None:
        timeline.append(ProbeEntry(t=recovered_at, probe="api", ok=True, phase="observe"))
    return timeline


def verdict(policy: str, status: Status = Status.PASSED, summary: str = "") -> Verdict:
    return Verdict(policy=policy, status=status, summary=summary or f"{policy} {status}")


def write_run(
    reports: Path,
    run_id: str,
    *,
    timeline: Timeline | None = None,
    verdicts: list[Verdict] | None = None,
) -> Path:
    """A run directory as the runner leaves it: scenario, timeline, verdicts, logs, state."""
    run_dir = reports / "runs" / run_id
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "scenario.yaml").write_text(SCENARIO, encoding="utf-8")
    chosen_timeline = run_timeline() if timeline is None else timeline
    chosen_timeline.write(run_dir / "timeline.json")
    if verdicts is not None:
        chosen = verdicts
    elif timeline is None:  # the default run: its verdict is what its timeline gives (passed)
        chosen = judge(load_scenario(run_dir / "scenario.yaml").expectations, chosen_timeline)
    else:  # a timeline chosen for its KPIs: the verdict is not what the test looks at
        chosen = [verdict("steady_state")]
    text = "[" + ",\n".join(v.model_dump_json() for v in chosen) + "]"
    (run_dir / "verdicts.json").write_text(text, encoding="utf-8")
    (run_dir / "logs" / "api.log").write_text("api started\n", encoding="utf-8")
    (run_dir / "logs" / "toxiproxy.log").write_text(
        '{"level":"info","version":"2.12.0","message":"Starting Toxiproxy"}\n', encoding="utf-8"
    )
    (run_dir / "state.json").write_text('{"finished": true}', encoding="utf-8")
    return run_dir


def sealed_run(
    reports: Path,
    run_id: str,
    scenario: str = "payments-partition",
    *,
    timeline: Timeline | None = None,
    verdicts: list[Verdict] | None = None,
    mode: str = "automated",
) -> Path:
    """A run directory, sealed."""
    run_dir = write_run(reports, run_id, timeline=timeline, verdicts=verdicts)
    env = environment(
        run_dir,
        run_id=run_id,
        scenario=scenario,
        target="process",
        time_scale=0.05,
        options={"time_scale": 0.05, "sut_env": {}},
        mode=mode,
    )
    seal_bundle(run_dir, env)
    return run_dir


def later(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)
