"""One probe, read once and judged by its tolerance: a ``ProbeEntry`` for the timeline."""

from __future__ import annotations

from harness.probes.base import ProbeContext, Reading, error_text
from harness.probes.registry import probe_kinds
from harness.probes.tolerance import check, show
from harness.probespec import CheckSpec, Probe
from harness.secrets import mask_url_passwords
from harness.timeline import ProbeEntry, Timeline


def read(kind: str, spec: CheckSpec, context: ProbeContext) -> Reading:
    """Read ``spec`` with the kind registered under ``kind`` (never raises for a bad answer)."""
    kinds = probe_kinds()
    if kind not in kinds:
        return Reading(error=f"no probe kind {kind!r} is registered; known: {sorted(kinds)}")
    try:
        return kinds[kind].read(spec, context)
    except Exception as exc:  # a kind's own defect: the sample fails, the run goes on
        return Reading(error=mask_url_passwords(f"the {kind} probe crashed: {error_text(exc)}"))


def judge(spec: CheckSpec, reading: Reading) -> list[str]:
    """Why the reading is not healthy: its error, its problems, then the tolerance's."""
    if reading.error is not None:
        return [reading.error]
    problems = list(reading.problems)
    if spec.expect is not None:
        problems += check(spec.expect, reading.value)
    return problems


def sample(probe: Probe, context: ProbeContext, *, t_of: Timeline, phase: str) -> ProbeEntry:
    """Run one probe once and return its sample (never raises for a bad answer)."""
    kind, spec = probe.check()
    reading = read(kind, spec, context)
    problems = judge(spec, reading)
    detail = "; ".join(problems)
    if not problems and kind != "http" and reading.value is not None:
        detail = f"value {show(reading.value)}"  # what the probe saw, when it is short to say
    return ProbeEntry(
        t=t_of.now(),
        probe=probe.name,
        ok=not problems,
        phase=phase,
        status=reading.status,
        latency_ms=reading.latency_ms,
        detail=detail,
    )
