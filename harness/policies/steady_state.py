"""The ``steady_state`` policy: the probes hold before the faults, and hold again soon after.

The samples of the ``steady_state`` phase are the baseline: if one failed, the experiment is
invalid (broken), not the system at fault. After the last heal, every probe must reach its final
run of passing samples (ok from then to the end of the timeline) within ``within`` (scaled).
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.clock import format_offset
from harness.policies.base import Status, Verdict, bound_text, policy
from harness.policies.common import elapsed, verdict
from harness.scenario import SteadyStateExpectation
from harness.timeline import Entry, FaultEntry, ProbeEntry, Timeline


def _why(sample: ProbeEntry) -> str:
    """What was wrong with a failed sample: its detail, else its HTTP status."""
    return sample.detail or (f"HTTP {sample.status}" if sample.status is not None else "failed")


def _ok_since(samples: Sequence[ProbeEntry]) -> ProbeEntry | None:
    """The first sample of the final run of passing samples; None if the last one failed."""
    since: ProbeEntry | None = None
    for sample in samples:
        since = (since or sample) if sample.ok else None
    return since


def _baseline_problem(samples: Sequence[ProbeEntry]) -> tuple[str, tuple[Entry, ...]] | None:
    """Why the samples taken before the faults are no baseline (with proof), or None."""
    base = [s for s in samples if s.phase == "steady_state"]
    failed = next((s for s in base if not s.ok), None)
    if failed is not None:
        text = f"the system was not in steady state before the faults: probe {failed.probe} failed"
        text += f" at {format_offset(failed.t)} ({_why(failed)})"
        return f"{text}; the experiment is invalid, not a policy failure", (failed,)
    unsampled = sorted({s.probe for s in samples} - {s.probe for s in base})
    if not base or unsampled:
        which = f"probe {', '.join(unsampled)}" if unsampled else "no probe"
        return f"{which} sampled in steady state before the faults: cannot tell", ()
    return None


def _last_heal(timeline: Timeline) -> FaultEntry | str:
    """The last heal of the run, or why there is none to measure from."""
    windows = timeline.fault_windows()
    unhealed = next((w.inject for w in windows if w.heal is None), None)
    if unhealed is not None:
        return f"{unhealed.fault_type} {unhealed.target} ({unhealed.fault_id}) was never healed"
    heals = [w.heal for w in windows if w.heal is not None]
    return max(heals, key=lambda h: h.t) if heals else "no fault was injected"


def _late(samples: Sequence[ProbeEntry], heal: FaultEntry) -> tuple[str, list[ProbeEntry]]:
    """How one probe failed to recover, and a few of its failing samples (after the heal if any)."""
    since = _ok_since(samples)
    failed = [s for s in samples if not s.ok and (since is None or s.t < since.t)]
    shown = [s for s in failed if s.t >= heal.t] or failed[-1:]
    shown = shown[:1] + shown[1:][-2:]
    if not failed:  # only the probe's first sample came too late
        return f"probe {samples[0].probe} first sampled at {format_offset(samples[0].t)}", []
    last = failed[-1]
    why = f"at {format_offset(last.t)} ({_why(last)})"
    if since is None:
        return f"probe {last.probe} still failed at its last sample {why}", shown
    return f"probe {last.probe} last failed {why}, ok from {format_offset(since.t)}", [
        *shown,
        since,
    ]


@policy("steady_state")
def check(exp: SteadyStateExpectation, timeline: Timeline) -> Verdict:
    """Judge whether the probes held before the faults and again in time after the last heal."""
    # the drain check is not a steady-state probe: it tells when the work is done
    samples = tuple(e for e in timeline.of(ProbeEntry) if e.phase != "drain")
    problem = _baseline_problem(samples)
    if problem is not None:
        text, proof = problem
        return verdict("steady_state", exp.within, timeline, Status.BROKEN, text, *proof)
    heal = _last_heal(timeline)
    if isinstance(heal, str):
        text = f"{heal}: cannot tell whether steady state returns"
        return verdict("steady_state", exp.within, timeline, Status.BROKEN, text)
    by_probe: dict[str, list[ProbeEntry]] = {}
    for sample in samples:
        by_probe.setdefault(sample.probe, []).append(sample)
    return _judge_recovery(exp, timeline, heal, by_probe)


def _judge_recovery(
    exp: SteadyStateExpectation,
    timeline: Timeline,
    heal: FaultEntry,
    by_probe: dict[str, list[ProbeEntry]],
) -> Verdict:
    """Judge, from the last heal, whether every probe was ok again in time and stayed ok."""
    bound, after = bound_text(exp.within, timeline), f"the last heal at {format_offset(heal.t)}"
    deadline = heal.t + timeline.scaled(exp.within)
    unseen = [p for p, ss in by_probe.items() if ss[-1].t < heal.t]
    since = {p: _ok_since(ss) for p, ss in by_probe.items()}
    late = [p for p, s in since.items() if s is None or s.t > deadline]
    if unseen:
        text = f"no sample of probe {', '.join(unseen)} after {after}: cannot tell"
        return verdict("steady_state", exp.within, timeline, Status.BROKEN, text, heal)
    if late and timeline.end() < deadline:
        text = f"the timeline ends at {format_offset(timeline.end())}, before {bound} after {after}"
        text += ": cannot tell"
        return verdict("steady_state", exp.within, timeline, Status.BROKEN, text, heal)
    if not late:
        restored = max([heal.t, *(s.t for s in since.values() if s is not None)])
        when = f"from {format_offset(restored)}, {elapsed(restored - heal.t)} after"
        text = f"every probe ({', '.join(by_probe)}) ok {when if restored > heal.t else 'through'}"
        text += f" {after} and to the end (bound {bound})"
        proof = [s for s in since.values() if s is not None and s.t >= heal.t]
        return verdict("steady_state", exp.within, timeline, Status.PASSED, text, heal, *proof)
    findings = [_late(by_probe[p], heal) for p in late]
    text = f"steady state not restored within {bound} after {after}: "
    text += "; ".join(t for t, _ in findings)
    proof = [s for _, shown in findings for s in shown]
    return verdict("steady_state", exp.within, timeline, Status.FAILED, text, heal, *proof)
