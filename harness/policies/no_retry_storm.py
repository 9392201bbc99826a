"""The ``no_retry_storm`` policy: during every fault, a client's calls to a dependency stay bounded.

Judged from what the proxy of an HTTP-aware edge counted (``HttpEntry``), never from the
system's own events, so a system that reports no breaker and no retry is judged all the same:

- the warmup's rate: the matching calls from the start of the inject phase to the first fault's
  injection, per second;
- each fault window (inject to heal, or to the end of the run): at most ``max_calls`` calls, and
  a rate at most ``max_rate`` times the warmup's. A storm is *failed*, with the counts quoted.

*Broken* (cannot tell): no counts of the edge at all (it is not HTTP-aware, or no request crossed
it), no fault, ``max_rate`` with no call in the warmup, or no count from a fault's start on (the
proxy stopped counting, or the client went silent for good).
"""

from __future__ import annotations

from harness.expectations import NoRetryStormExpectation
from harness.policies.base import Status, Verdict, policy
from harness.policies.common import combine, elapsed, fault_text, verdict
from harness.policies.http_counts import Calls, calls, http_entries
from harness.timeline import FaultWindow, PhaseEntry, Timeline

NAME = "no_retry_storm"


def _what(exp: NoRetryStormExpectation) -> str:
    """``calls to worker->payments (POST /charge...)``: what is counted, as findings say it."""
    only = " ".join(p for p in (exp.method, f"{exp.path}..." if exp.path else None) if p)
    return f"calls to {exp.edge}" + (f" ({only})" if only else "")


def _warmup(exp: NoRetryStormExpectation, timeline: Timeline, first: float) -> tuple[Calls, float]:
    """The calls before the first fault, and the length of that span (from the inject phase)."""
    phases = [e.t for e in timeline.of(PhaseEntry) if e.phase == "inject"]
    entries = http_entries(timeline, exp.edge)
    start = phases[0] if phases else entries[0].t - entries[0].window
    got = calls(timeline, exp.edge, start, first, method=exp.method, path=exp.path)
    return got, first - start


def _judge_window(
    exp: NoRetryStormExpectation, timeline: Timeline, window: FaultWindow, warm_rate: float | None
) -> Verdict:
    """One fault: the calls in its window against ``max_calls`` and ``max_rate``."""
    end = timeline.end() if window.end is None else window.end
    name = fault_text(window.inject)
    if not any(e.t > window.start for e in http_entries(timeline, exp.edge)):
        text = f"the proxy of {exp.edge} counted nothing from {name} on: it stopped counting, "
        text += "or no request crossed the edge again; cannot tell"
        return verdict(NAME, None, timeline, Status.BROKEN, text, window.inject)
    got = calls(timeline, exp.edge, window.start, end, method=exp.method, path=exp.path)
    span = max(end - window.start, 1e-6)
    rate = got.total / span
    problems = []
    if exp.max_calls is not None and got.total > exp.max_calls:
        problems.append(f"above max_calls {exp.max_calls}")
    ratio = None if not warm_rate else rate / warm_rate
    ratio_text = "" if ratio is None else f", {ratio:.1f}x the warmup's {warm_rate:.1f}/s"
    if exp.max_rate is not None and ratio is not None and ratio > exp.max_rate:
        problems.append(f"above {exp.max_rate:g}x the warmup's rate")
    head = f"{got.total} {_what(exp)} during {name} ({elapsed(span)}: {rate:.1f}/s{ratio_text})"
    tail = f"; by status {got.status_text()}"
    if got.by_fault:
        tail += "; answered or held by " + ", ".join(f"{f} ({n})" for f, n in got.by_fault.items())
    bounds = _bounds(exp)
    proof = [window.inject, window.heal, *got.busiest()]
    if problems:
        text = f"retry storm: {head}, " + " and ".join(problems) + tail
        return verdict(NAME, None, timeline, Status.FAILED, text, *proof)
    return verdict(NAME, None, timeline, Status.PASSED, f"{head}, within {bounds}{tail}", *proof)


def _bounds(exp: NoRetryStormExpectation) -> str:
    parts = [] if exp.max_calls is None else [f"{exp.max_calls} calls"]
    if exp.max_rate is not None:
        parts.append(f"{exp.max_rate:g}x the warmup's rate")
    return " and ".join(parts)


@policy(NAME)
def check(exp: NoRetryStormExpectation, timeline: Timeline) -> Verdict:
    """Judge every fault window's calls on the edge against the bounds, from the HTTP counts."""
    if not http_entries(timeline, exp.edge):
        text = f"no HTTP counts for {exp.edge}: the edge is not HTTP-aware (declare 'protocol: "
        text += "http' on it in the system file) or no request crossed it; cannot tell"
        return verdict(NAME, None, timeline, Status.BROKEN, text)
    windows = timeline.fault_windows()
    if not windows:
        text = "no fault was injected: there is no storm to look for"
        return verdict(NAME, None, timeline, Status.BROKEN, text)
    warm, span = _warmup(exp, timeline, windows[0].start)
    warm_rate = warm.total / span if span > 0 and warm.total else None
    if exp.max_rate is not None and warm_rate is None:
        text = f"no {_what(exp)} before {fault_text(windows[0].inject)}: no warmup rate to "
        text += "compare with; cannot tell (give max_calls, or a warmup with traffic)"
        return verdict(NAME, None, timeline, Status.BROKEN, text, windows[0].inject)
    verdicts = [_judge_window(exp, timeline, w, warm_rate) for w in windows]
    return combine(NAME, None, timeline, verdicts)
