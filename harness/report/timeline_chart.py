"""One run's timeline as a PNG (matplotlib, Agg): what the probes saw while the faults were on.

One row per steady-state probe (a green tick per sample that passed, a red cross per one that
failed), one for the workload's requests (the same), one per automation action (a marker per event),
one for a drill's runbook steps and one for escalations; fault windows are shaded and named, phase
changes are dotted lines. The x axis is seconds since the run started, in real (scaled) time.
matplotlib is imported only when a chart is drawn, and through its object API, so no global state or
display is used.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.report.allure_steps import automation_services, is_automation
from harness.timeline import (
    EscalationEntry,
    EventEntry,
    GuardEntry,
    LoadEntry,
    PhaseEntry,
    ProbeEntry,
    RequestEntry,
    StepEntry,
    Timeline,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

OK, BAD, AUTOMATION, ESCALATION = "#2e7d32", "#c62828", "#1565c0", "#ef6c00"
FAULT = "#9e9e9e"
MAX_ROWS = 24


@dataclass
class _Rows:
    """Row names (top to bottom) and the points of each kind to draw."""

    names: list[str] = field(default_factory=list)
    ok: list[tuple[float, int]] = field(default_factory=list)
    bad: list[tuple[float, int]] = field(default_factory=list)
    automation: list[tuple[float, int]] = field(default_factory=list)
    escalations: list[tuple[float, int]] = field(default_factory=list)

    def row(self, name: str) -> int:
        if name not in self.names:
            self.names.append(name)
        return self.names.index(name)


def timeline_png(timeline: Timeline, *, title: str = "") -> bytes:
    """The chart of one run's timeline, as PNG bytes."""
    from harness.extras import require

    require("matplotlib", "reports", "the timeline chart")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = _rows(timeline)
    end = max(timeline.end(), 1e-3)
    height = 1.8 + 0.32 * max(len(rows.names), 1)
    fig = Figure(figsize=(11.0, height), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    _faults(ax, timeline, end)
    _phases(ax, timeline, end)
    _scatter(ax, rows.ok, OK, "|", "ok")
    _scatter(ax, rows.bad, BAD, "x", "failed")
    _scatter(ax, rows.automation, AUTOMATION, "D", "automation event")
    _scatter(ax, rows.escalations, ESCALATION, "^", "escalation")
    ax.set_yticks(range(len(rows.names)), labels=rows.names, fontsize="small")
    ax.set_ylim(len(rows.names) - 0.5 if rows.names else 0.5, -1.2)
    ax.set_xlim(0.0, end * 1.02)
    ax.set_xlabel(f"seconds since the run started (real time; time scale {timeline.time_scale:g})")
    if not rows.names:
        ax.text(end / 2, 0, "no probe, request or event recorded", ha="center", va="center")
    ax.set_title(title or "run timeline", fontsize="medium", loc="left", pad=30)
    if ax.get_legend_handles_labels()[0]:  # an empty legend is a warning
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.subplots_adjust(left=0.2, right=0.84, top=1 - 0.95 / height, bottom=0.6 / height)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _rows(timeline: Timeline) -> _Rows:
    rows = _Rows()
    for probe in timeline.of(ProbeEntry):
        point = (probe.t, rows.row(f"probe {probe.probe}"))
        (rows.ok if probe.ok else rows.bad).append(point)
    for request in timeline.of(RequestEntry):
        point = (request.t, rows.row(f"requests ({request.origin})"))
        failed = request.error is not None or (request.status or 0) >= 500
        (rows.bad if failed else rows.ok).append(point)
    services = automation_services(timeline)
    for event in timeline.of(EventEntry):  # more distinct actions than rows: the first ones
        if is_automation(event, timeline, services) and (
            event.action in rows.names or len(rows.names) < MAX_ROWS
        ):
            rows.automation.append((event.t, rows.row(event.action)))
    for load in timeline.of(LoadEntry):  # one mark per interval of the simulated users
        (rows.bad if load.failures else rows.ok).append((load.t, rows.row("users (load)")))
    for step in timeline.of(StepEntry):  # a drill's runbook: when each step finished
        (rows.ok if step.ok else rows.bad).append((step.t, rows.row("runbook steps")))
    for escalation in timeline.of(EscalationEntry):
        rows.escalations.append((escalation.t, rows.row("escalations")))
    for guard in timeline.of(GuardEntry):
        rows.bad.append((guard.t, rows.row("guard tripped")))
    return rows


def _phases(ax: Axes, timeline: Timeline, end: float) -> None:
    """A dotted line where each phase starts, named on a top axis (close ones share a name)."""
    marks: list[tuple[float, str]] = []
    for phase in timeline.of(PhaseEntry):
        ax.axvline(phase.t, color="#616161", linestyle=":", linewidth=0.8)
        if marks and phase.t - marks[-1][0] < end * 0.03:
            marks[-1] = (marks[-1][0], f"{marks[-1][1]}/{phase.phase}")
        else:
            marks.append((phase.t, phase.phase))
    top = ax.secondary_xaxis("top")
    top.set_xticks([t for t, _ in marks], labels=[name for _, name in marks])
    top.tick_params(labelsize="x-small", labelrotation=30, length=2)


def _faults(ax: Axes, timeline: Timeline, end: float) -> None:
    for i, window in enumerate(timeline.fault_windows()):
        stop = window.end if window.end is not None else end
        if stop - window.start < end * 0.002:  # an instant fault: a line, not an invisible band
            ax.axvline(window.start, color=FAULT, linewidth=2.0, alpha=0.6)
        else:
            label = "fault active" if i == 0 else None
            ax.axvspan(window.start, stop, color=FAULT, alpha=0.18, linewidth=0, label=label)
        name = f"{window.inject.fault_type} {window.inject.target}"
        ax.text(window.start, -0.75 - 0.3 * (i % 2), name, fontsize="x-small", color="#424242")


def _scatter(
    ax: Axes, points: list[tuple[float, int]], color: str, marker: str, label: str
) -> None:
    if points:
        xs, ys = zip(*points, strict=True)
        ax.scatter(xs, ys, c=color, marker=marker, s=28, linewidths=1.2, label=label)
