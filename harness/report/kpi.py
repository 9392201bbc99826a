"""Recovery KPIs of one run, as pure functions of its timeline: time to detect and to restore.

Offsets are seconds of the run as measured (the timeline's own clock); divide by the run's time
scale for the scenario's time (``scenario_seconds``), which is what runs at different scales
share.

- **first fault**: the earliest ``fault inject`` entry. A run without one has neither KPI.
- **MTTD** (time to detect): from the first fault's injection to the first *automation action*
  or escalation at or after it. An automation action is an event that is neither a business
  record nor a passive report: every event except ``automation.start``, ``observation``, the
  deploy hook's own ``deploy`` and the business records ``order.*`` and ``payment.*``
  (``NOT_ACTIONS``). None when nothing acted and no one was called.
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

from collections.abc import Sequence

from harness.timeline import EscalationEntry, EventEntry, FaultEntry, ProbeEntry, Timeline

NOT_ACTIONS: tuple[str, ...] = ("automation.start", "observation", "deploy", "order.", "payment.")
"""Events that are no automation action: exact names, or prefixes where they end with a dot."""


def is_action(event: EventEntry, not_actions: Sequence[str] = NOT_ACTIONS) -> bool:
    """Whether ``event`` reports something the automation did (see ``NOT_ACTIONS``)."""
    for name in not_actions:
        if event.action == name or (name.endswith(".") and event.action.startswith(name)):
            return False
    return True


def first_injection(timeline: Timeline) -> FaultEntry | None:
    """The earliest fault injection of the run, or None."""
    injections = [e for e in timeline.of(FaultEntry) if e.action == "inject"]
    return injections[0] if injections else None


def detection(
    timeline: Timeline, not_actions: Sequence[str] = NOT_ACTIONS
) -> EventEntry | EscalationEntry | None:
    """The first automation action or escalation at or after the first injection, or None."""
    first = first_injection(timeline)
    if first is None:
        return None
    for entry in timeline.entries:
        if entry.t < first.t:
            continue
        if isinstance(entry, EscalationEntry):
            return entry
        if isinstance(entry, EventEntry) and is_action(entry, not_actions):
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


def mttd(timeline: Timeline, not_actions: Sequence[str] = NOT_ACTIONS) -> float | None:
    """Seconds (as measured) from the first injection to its detection; None if undetected."""
    first, found = first_injection(timeline), detection(timeline, not_actions)
    if first is None or found is None:
        return None
    return found.t - first.t


def mttr(timeline: Timeline) -> float | None:
    """Seconds (as measured) from the first injection to restoration; None if not restored."""
    first, restored = first_injection(timeline), restoration(timeline)
    if first is None or restored is None:
        return None
    return restored - first.t


def scenario_seconds(measured: float | None, time_scale: float) -> float | None:
    """A measured duration in the scenario's time (measured / time scale), None stays None."""
    return None if measured is None else measured / time_scale
