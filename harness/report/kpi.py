"""Recovery KPIs of one run, as pure functions of its timeline: time to detect and to restore.

Offsets are seconds of the run as measured (the timeline's own clock); divide by the run's time
scale for the scenario's time (``scenario_seconds``), which is what runs at different scales
share.

- **first fault**: the earliest ``fault inject`` entry. A run without one has neither KPI.
- **MTTD** (time to detect): from the first fault's injection to the first *automation action*
  or escalation at or after it; in a drill, to the moment the operator acted on the runbook's
  first wait (the alert). What is an automation action is the system's contract's to say
  (``Contract.is_action``: its ``classes.actions``, by default the events of every automation
  role but ``start``, never a business record). None when nothing acted and no one was called.
- **MTTR** (time to restore): from the first fault's injection to the moment steady state is
  restored: the earliest moment, at or after the *last* fault's injection, from which every
  sample of every steady-state probe is ok to the end of the timeline. Steady-state samples are
  the ``probe`` entries of every phase but ``drain`` (the drain check tells when work is done, it
  is no steady-state probe; the ``steady_state`` policy leaves it out alike). For each probe,
  take the first sample of its final unbroken run of passing samples (over the whole run); the
  moment of restoration is the latest of these and the last injection. None (never restored, or
  cannot tell) when a probe's last sample failed, or a probe has no sample at or after the last
  injection, or no probe was sampled at all.

MTTR is as telling as the scenario's probes: if they stay green through the faults (a health
check that a partition behind the service does not touch), steady state as the scenario defines
it was never lost, and MTTR is the time from the first to the last injection (0 for one fault).
``steady_state_lost`` tells the two apart: whether any steady-state sample failed at or after
the first injection.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from harness.timeline import (
    EscalationEntry,
    EventEntry,
    FaultEntry,
    ProbeEntry,
    StepEntry,
    Timeline,
)


def is_action(event: EventEntry, timeline: Timeline) -> bool:
    """Whether ``event`` reports something the automation did, per the timeline's contract."""
    return timeline.contract.is_action(event.action)


def first_injection(timeline: Timeline) -> FaultEntry | None:
    """The earliest fault injection of the run, or None."""
    injections = [e for e in timeline.of(FaultEntry) if e.action == "inject"]
    return injections[0] if injections else None


def detection(timeline: Timeline) -> EventEntry | EscalationEntry | None:
    """The first automation action or escalation at or after the first injection, or None."""
    first = first_injection(timeline)
    if first is None:
        return None
    for entry in timeline.entries:
        if entry.t < first.t:
            continue
        if isinstance(entry, EscalationEntry):
            return entry
        if isinstance(entry, EventEntry) and is_action(entry, timeline):
            return entry
    return None


def restoration(timeline: Timeline) -> float | None:
    """The offset from which every steady-state probe is ok to the end (see the module doc)."""
    injections = [e.t for e in timeline.of(FaultEntry) if e.action == "inject"]
    if not injections:
        return None
    last = max(injections)
    by_probe: dict[str, list[ProbeEntry]] = {}
    for sample in timeline.of(ProbeEntry):
        if sample.phase != "drain":
            by_probe.setdefault(sample.probe, []).append(sample)
    if not by_probe:
        return None
    restored = last
    for samples in by_probe.values():
        since = _ok_since(samples)
        if since is None or samples[-1].t < last:
            return None
        restored = max(restored, since)
    return restored


def _ok_since(samples: Sequence[ProbeEntry]) -> float | None:
    """Offset of the first sample of the final run of passing samples; None if the last failed."""
    since: float | None = None
    for sample in samples:
        since = (sample.t if since is None else since) if sample.ok else None
    return since


def steady_state_lost(timeline: Timeline) -> bool | None:
    """Whether a steady-state probe failed at or after the first injection; None: no fault."""
    first = first_injection(timeline)
    if first is None:
        return None
    return any(not s.ok and s.t >= first.t and s.phase != "drain" for s in timeline.of(ProbeEntry))


def mttd(timeline: Timeline) -> float | None:
    """Seconds (as measured) from the first injection to its detection; None if undetected.

    In a drill (the timeline holds runbook steps) detection is the operator acting on the
    runbook's first wait, the alert; else the first automation action or escalation.
    """
    first = first_injection(timeline)
    if first is None:
        return None
    steps = timeline.of(StepEntry)
    if steps:
        alert = next((s for s in steps if s.action == "wait" and s.ok), None)
        return None if alert is None or alert.acted is None else alert.acted - first.t
    found = detection(timeline)
    return None if found is None else found.t - first.t


def mttr(timeline: Timeline) -> float | None:
    """Seconds (as measured) from the first injection to restoration; None if not restored."""
    first, restored = first_injection(timeline), restoration(timeline)
    if first is None or restored is None:
        return None
    return restored - first.t


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0 < q < 100), interpolated as numpy's default; None for no values."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def scenario_seconds(measured: float | None, time_scale: float) -> float | None:
    """A measured duration in the scenario's time (measured / time scale), None stays None."""
    return None if measured is None else measured / time_scale


# --- the KPIs of one run, as the bundle keeps them (kpis.json) ------------------------------

RECOVERY_BOUND = 3
RECOVERY_WINDOW = 3600.0
"""More than RECOVERY_BOUND recoveries of one service within RECOVERY_WINDOW seconds (scenario
time) is an incident in itself; unescalated, each recovery beyond the bound is a hidden one."""


class RunKpis(BaseModel):
    """The operations KPIs of one run. Seconds are scenario time (measured / time scale)."""

    model_config = ConfigDict(frozen=True)

    mode: str
    mttr: float | None = Field(description="first fault to steady state restored")
    mttd: float | None = Field(
        description="first fault to the first automation action or escalation; in a drill, to "
        "the moment the operator acted on the runbook's first wait (the alert)"
    )
    steady_state_lost: bool | None
    automation_actions: int
    automation_success_rate: float | None = Field(
        description="of the actions reporting both, those whose actual outcome equals the "
        "expected one"
    )
    hidden_incidents: int = Field(description="automatic recoveries beyond the bound, unescalated")
    escalations_sent: int
    escalations_noise: int = Field(
        description="escalations after the first of a run, or while every steady-state probe "
        "was passing"
    )
    runbook_steps: list[tuple[str, float]] = Field(
        default_factory=list, description="each drill step and how long it took"
    )


def run_kpis(timeline: Timeline, mode: str = "automated") -> RunKpis:
    """The KPIs of a finished run."""
    scale = timeline.time_scale
    actions = [e for e in timeline.of(EventEntry) if is_action(e, timeline)]
    judged = [e for e in actions if e.expected_outcome and e.actual_outcome]
    success = (
        sum(e.actual_outcome == e.expected_outcome for e in judged) / len(judged)
        if judged
        else None
    )
    steps = timeline.of(StepEntry)
    return RunKpis(
        mode=mode,
        mttr=scenario_seconds(mttr(timeline), scale),
        mttd=scenario_seconds(mttd(timeline), scale),
        steady_state_lost=steady_state_lost(timeline),
        automation_actions=len(actions),
        automation_success_rate=success,
        hidden_incidents=hidden_incidents(timeline),
        escalations_sent=len(timeline.of(EscalationEntry)),
        escalations_noise=noisy_escalations(timeline),
        runbook_steps=[(s.step, (s.t - s.started) / scale) for s in steps],
    )


def hidden_incidents(timeline: Timeline) -> int:
    """Recoveries of a service beyond the bound, when no escalation followed the first of them.

    A recovery is an event of the contract's ``automation.recovery``, of the service it names
    (``attributes.target_service``), else of the one that emitted it. Beyond the bound: more
    than RECOVERY_BOUND within the (scaled) RECOVERY_WINDOW.
    """
    window = timeline.scaled(RECOVERY_WINDOW)
    escalations = [e.t for e in timeline.of(EscalationEntry)]
    hidden = 0
    by_service: dict[str, list[float]] = {}
    target = timeline.contract.attributes.target_service
    for event in timeline.events(timeline.contract.automation.recovery):
        service = event.attributes.get(target) or event.service
        by_service.setdefault(str(service), []).append(event.t)
    for times in by_service.values():
        beyond = [
            t
            for i, t in enumerate(times)
            if i >= RECOVERY_BOUND and t - times[i - RECOVERY_BOUND] <= window
        ]
        if beyond and not any(t >= beyond[0] for t in escalations):
            hidden += len(beyond)
    return hidden


def noisy_escalations(timeline: Timeline) -> int:
    """Escalations after the first, plus the first if every probe was passing when it came.

    A first escalation sent while the last sample of every steady-state probe was ok reported
    nothing a human could see was wrong.
    """
    escalations = timeline.of(EscalationEntry)
    if not escalations:
        return 0
    first = escalations[0]
    last: dict[str, bool] = {}
    for sample in timeline.of(ProbeEntry):
        if sample.t > first.t:
            break
        if sample.phase != "drain":
            last[sample.probe] = sample.ok
    quiet = bool(last) and all(last.values())
    return len(escalations) - 1 + int(quiet)


def summarise(runs: Iterable[tuple[str, RunKpis]]) -> list[str]:
    """MTTR and MTTD per scenario and mode (automated, no-automation): median and p95."""
    groups: dict[tuple[str, str], list[RunKpis]] = {}
    for scenario, kpis in runs:
        groups.setdefault((scenario, kpis.mode), []).append(kpis)
    lines = []
    for (scenario, mode), group in sorted(groups.items()):
        mttrs = [k.mttr for k in group if k.mttr is not None]
        mttds = [k.mttd for k in group if k.mttd is not None]
        lines.append(
            f"{scenario} ({mode}, {len(group)} run{'s' * (len(group) > 1)}): "
            f"MTTR {_spread(mttrs)}, MTTD {_spread(mttds)}; "
            f"{len(mttrs)} of {len(group)} restored (scenario time)"
        )
    return lines


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}s"
    return f"median {percentile(values, 50):.1f}s, p95 {percentile(values, 95):.1f}s"
