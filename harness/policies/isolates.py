"""The ``isolates`` policy: a slow or failing dependency is isolated, with no retry storm.

For each window of a network fault (a Toxiproxy type, or any fault on an ``a->b`` edge):

- the first ``open_action`` comes in ``[inject, inject + within]`` (scaled), or a breaker opened
  earlier is still open at the inject;
- while the breaker is open (from an ``open_action`` to the next ``close_action``, the heal or the
  end; half-open trial calls count), at most ``max_calls_while_open`` ``call_action`` events;
- retries back off: per work item (the contract's ``work.id``), the delays (the contract's
  ``attributes.retry_delay_ms``) of successive ``retry_action`` events never shrink, and of three
  or more the last is larger than the first. A new series starts when the attempt number
  (``attributes.attempt``) starts again (the work was requeued and taken again).

Event names default to the contract's ``automation.breaker_open``/``breaker_close``/``retry`` and
``dependency.call``.

Calls are counted from the dependency's own call log (``call_action`` events) when it reports
one, else from the requests the edge's HTTP-aware proxy counted (``protocol: http``): a system
that reports neither breaker nor retry events is judged from those counts, and a storm is then
*failed* with the counts quoted. A window with no call by either is inconclusive: the fault
never reached traffic.
"""

from __future__ import annotations

from typing import NamedTuple

from harness.clock import format_offset
from harness.expectations import IsolatesExpectation
from harness.policies.base import Status, Verdict, bound_text, policy
from harness.policies.common import (
    attr_number,
    combine,
    count,
    cut_short,
    elapsed,
    fault_text,
    last_automation_event,
    last_text,
    pause_in_force,
    verdict,
    work_id,
)
from harness.policies.http_counts import calls as http_calls
from harness.policies.http_counts import http_entries
from harness.policies.vocabulary import names_text, need
from harness.timeline import Entry, EventEntry, FaultWindow, Timeline

NETWORK_FAULTS = frozenset(
    {"partition", "flap", "latency", "slow", "timeout", "reset_peer", "slicer", "limit_data"}
)


def _is_network(window: FaultWindow) -> bool:
    """A fault of the network: a Toxiproxy type, or any fault on an ``a->b`` edge."""
    return window.inject.fault_type in NETWORK_FAULTS or "->" in window.inject.target


Episodes = list[tuple[EventEntry, float]]  # each opening of the breaker, and when it ended


class _CallLog:
    """The calls to the dependency: its own call log when it has one, else the edge's counts."""

    def __init__(self, exp: IsolatesExpectation, timeline: Timeline, edge: str) -> None:
        self.timeline, self.edge = timeline, edge
        self.method, self.path = exp.method, exp.path
        self.calls = exp.call_action
        self.events = timeline.events(exp.call_action) if exp.call_action else ()
        self.counted = not self.events and bool(http_entries(timeline, edge))
        what = " ".join(p for p in (exp.method, exp.path) if p)
        counted = f"{what} requests on {edge}" if what else f"requests on {edge}"
        self.label = names_text(exp.call_action) if not self.counted else counted

    def between(self, t0: float, t1: float, beyond: int = 0) -> tuple[int, list[Entry]]:
        """How many calls in ``[t0, t1]``, and the entries that show them.

        From a call log: the first call past ``beyond`` and the last; from HTTP counts: the
        edge's busiest intervals.
        """
        if self.counted:
            found = http_calls(self.timeline, self.edge, t0, t1, method=self.method, path=self.path)
            return found.total, list(found.busiest())
        hits: list[Entry] = list(self.timeline.events(self.calls, start=t0, end=t1))
        return len(hits), [*hits[beyond : beyond + 1], *hits[-1:]] if hits else []


class _Finding(NamedTuple):
    """One broken part of the promise, and the entries that show it."""

    text: str
    proof: list[Entry | None]


def _episodes(exp: IsolatesExpectation, timeline: Timeline, start: float, end: float) -> Episodes:
    """Each time the breaker was open in ``[start, end]``: the opening event, and its end."""
    held = pause_in_force(timeline, start, exp.open_action, exp.close_action)
    episodes: list[tuple[EventEntry, float | None]] = [(held, None)] if held else []
    for event in timeline.events((*exp.open_action, *exp.close_action), start=start, end=end):
        is_open = bool(episodes) and episodes[-1][1] is None
        if event.action in exp.open_action and not is_open:
            episodes.append((event, None))
        elif event.action in exp.close_action and is_open:
            episodes[-1] = (episodes[-1][0], event.t)
    return [(opened, end if closed is None else closed) for opened, closed in episodes]


def _series(timeline: Timeline, retries: list[EventEntry]) -> list[list[EventEntry]]:
    """The retries of each work item that carry a delay, split where attempts start again."""
    delay, attempts = _delay(timeline), timeline.contract.attributes.attempt
    series: dict[str, list[list[EventEntry]]] = {}
    for event in retries:
        item = work_id(event, timeline)
        if item is None or attr_number(event, delay) is None:
            continue
        runs = series.setdefault(item, [])
        attempt = attr_number(event, attempts)
        previous = attr_number(runs[-1][-1], attempts) if runs else None
        if not runs or (attempt is not None and previous is not None and attempt <= previous):
            runs.append([])  # the first retry, or attempts start again: requeued, taken again
        runs[-1].append(event)
    return [run for runs in series.values() for run in runs]


def _too_many_calls(
    exp: IsolatesExpectation, episodes: Episodes, log: _CallLog, start: float
) -> _Finding | None:
    """The first time the breaker let more calls through than the ceiling, if any."""
    for opened, closed in episodes:
        n, shown = log.between(max(opened.t, start), closed, exp.max_calls_while_open)
        if n > exp.max_calls_while_open:
            text = f"{n} {log.label} while the breaker was open "
            text += f"({opened.action} at {format_offset(opened.t)}; "
            text += f"ceiling {exp.max_calls_while_open})"
            return _Finding(text, [opened, *shown])
    return None


def _delay(timeline: Timeline) -> str:
    return timeline.contract.attributes.retry_delay_ms


def _no_backoff(
    exp: IsolatesExpectation, timeline: Timeline, retries: list[EventEntry]
) -> _Finding | None:
    """The work items whose retry delays shrank, or never grew over three or more retries."""
    bad: list[tuple[list[EventEntry], list[Entry | None]]] = []
    delay = _delay(timeline)
    for run in _series(timeline, retries):
        delays = [attr_number(e, delay) or 0.0 for e in run]
        shrank = next((i for i in range(1, len(run)) if delays[i] < delays[i - 1]), None)
        if shrank is not None:
            bad.append((run, [run[shrank - 1], run[shrank]]))
        elif len(run) >= 3 and delays[-1] <= delays[0]:
            bad.append((run, [run[0], run[-1]]))
    if not bad:
        return None
    run, proof = bad[0]
    shown = [f"{attr_number(e, delay) or 0:g}" for e in run]
    shown = shown if len(run) <= 6 else [*shown[:4], "...", shown[-1]]
    text = f"retries did not back off for {count(len(bad), timeline.contract.work.noun)}: "
    text += f"{work_id(run[0], timeline)} {run[0].action} delays {', '.join(shown)} ms"
    text += f" over {len(run)} retries" if len(run) > 6 else ""
    return _Finding(text, proof)


def _unopened(
    exp: IsolatesExpectation,
    timeline: Timeline,
    window: FaultWindow,
    calls: tuple[int, list[Entry]],
    log: _CallLog,
    late: EventEntry | None,
) -> _Finding:
    """The finding when no breaker opened in time: a ``late`` one or none, and how many calls."""
    name, bound = fault_text(window.inject), bound_text(exp.within, timeline)
    deadline = window.start + timeline.scaled(exp.within)
    last = last_automation_event(timeline, deadline, exp.open_action, exp.retry_action)
    text = (
        f"{late.action} came {elapsed(late.t - window.start)} after {name}, later than {bound}"
        if late
        else f"no {names_text(exp.open_action)} within {bound} after {name}"
    )
    n, shown = calls
    text += f"; {n} {log.label} during the fault "
    text += f"(ceiling {exp.max_calls_while_open} while open); {last_text(last)}"
    return _Finding(text, [late, *shown, last])


def _judge_window(exp: IsolatesExpectation, timeline: Timeline, window: FaultWindow) -> Verdict:
    """Judge one network fault: a timely breaker, few calls while open, retries backing off."""
    start, end = window.start, timeline.end() if window.end is None else window.end
    name, bound = fault_text(window.inject), bound_text(exp.within, timeline)
    deadline = start + timeline.scaled(exp.within)
    log = _CallLog(exp, timeline, window.inject.target)
    calls = log.between(start, end)
    retries = list(timeline.events(exp.retry_action, start=start, end=end))
    if not calls[0]:
        text = f"no {log.label} during {name}: the fault never reached traffic; cannot tell"
        return verdict("isolates", exp.within, timeline, Status.BROKEN, text, window.inject)
    episodes = _episodes(exp, timeline, start, end)
    found = (_too_many_calls(exp, episodes, log, start), _no_backoff(exp, timeline, retries))
    problems = [p for p in found if p is not None]
    first = episodes[0][0] if episodes else None  # in force at the inject, or later
    opened = first if first is not None and first.t <= deadline else None
    if opened is None and not problems and timeline.end() < deadline:
        text = f"{cut_short(timeline, bound, name)}: cannot tell"
        return verdict("isolates", exp.within, timeline, Status.BROKEN, text, window.inject)
    if opened is None:
        problems.insert(0, _unopened(exp, timeline, window, calls, log, first))
        head = ""
    else:
        when = "in force at" if opened.t < start else f"{elapsed(opened.t - start)} after"
        head = f"{names_text(exp.open_action)} {when} {name} (bound {bound})"
    proof = [window.inject, opened, *(e for p in problems for e in p.proof)]
    if problems:
        text = (f"{head}, but " if head else "") + "; ".join(p.text for p in problems)
        return verdict("isolates", exp.within, timeline, Status.FAILED, text, *proof)
    most = max(log.between(max(o.t, start), c)[0] for o, c in episodes)
    text = f"{head}; at most {most} {log.label} while open "
    text += f"(ceiling {exp.max_calls_while_open}); "
    items = count(len({work_id(e, timeline) for e in retries}), timeline.contract.work.noun)
    text += f"retries of {items} backed off" if retries else "no retries"
    return verdict("isolates", exp.within, timeline, Status.PASSED, text, *proof)


@policy("isolates")
def check(exp: IsolatesExpectation, timeline: Timeline) -> Verdict:
    """Judge whether every network fault was isolated by a breaker, with retries backing off."""
    need(exp, "open_action")
    windows = [w for w in timeline.fault_windows() if _is_network(w)]
    if not windows:
        text = "no network fault was injected: nothing to isolate"
        return verdict("isolates", exp.within, timeline, Status.BROKEN, text)
    if not exp.call_action and not any(http_entries(timeline, w.inject.target) for w in windows):
        need(exp, "call_action")  # neither a call log nor an HTTP-aware edge: cannot count
    actions = (*exp.open_action, *exp.close_action, *exp.retry_action)
    actions += timeline.contract.automation.start
    counted = any(_CallLog(exp, timeline, w.inject.target).counted for w in windows)
    if not counted and not any(e.action in actions for e in timeline.events()):
        text = f"the automation never reported ({', '.join(actions)}): cannot tell"
        return verdict("isolates", exp.within, timeline, Status.BROKEN, text, windows[0].inject)
    verdicts = [_judge_window(exp, timeline, w) for w in windows]
    return combine("isolates", exp.within, timeline, verdicts)
