"""What really held: lifted faults, overruns and undeclared deaths make verdicts broken."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.errors import ToxiproxyError
from harness.faults.base import Injected
from harness.observe.held import UNCHECKED_AFTER, FaultWatch, overrun
from harness.policies import Status, Verdict
from harness.policies.base import confounded
from harness.timeline import PhaseEntry, Timeline, UnplannedEntry


def handle(check: object = None) -> Injected:
    return Injected(target="worker->payments", undo=lambda: None, check=check)  # type: ignore[arg-type]


def unplanned(timeline: Timeline) -> list[tuple[str, str]]:
    return [(e.cause, e.subject) for e in timeline.of(UnplannedEntry)]


@pytest.mark.parametrize(
    ("planned", "held", "late"),
    [
        (3.0, 3.5, False), (3.0, 3.7, True), (1.0, 1.4, False), (1.0, 1.6, True),
        (3.0, 5.4, True), (10.0, 11.9, False), (10.0, 12.1, True), (0.0, 0.4, False),
        (3.0, 1.0, False),
    ],
)  # fmt: skip
def test_overrun_tolerates_half_a_second_or_a_fifth(
    planned: float, held: float, late: bool
) -> None:
    assert (overrun(planned, held) is not None) is late


def lifted(watch: FaultWatch) -> None:
    watch.track("f1-partition", handle(lambda: "proxy p was enabled again by someone else"))


def died(watch: FaultWatch) -> None:
    watch._exited = lambda: {"redis": "exited (killed by SIGKILL), pid 7"}


@pytest.mark.parametrize(
    ("departure", "found", "said"),
    [
        (lifted, ("fault_lifted", "f1-partition"), "enabled again by someone else"),
        (died, ("process_died", "redis"), "outside any fault"),
    ],
)
def test_a_departure_from_the_plan_is_recorded_once(
    departure: Callable[[FaultWatch], None], found: tuple[str, str], said: str
) -> None:
    timeline = Timeline()
    watch = FaultWatch(timeline, exited=dict)
    departure(watch)
    watch.check_now()
    watch.check_now()
    assert unplanned(timeline) == [found]
    assert said in timeline.of(UnplannedEntry)[0].detail


def test_a_fault_that_holds_or_was_healed_is_not_reported() -> None:
    timeline = Timeline()
    watch = FaultWatch(timeline, exited=dict)
    watch.track("f1", handle(lambda: None))
    healed = handle(lambda: "gone")
    healed.heal()
    watch.track("f2", healed)
    watch.track("f3", handle())  # a driver that cannot say (flap): never reported
    watch.check_now()
    assert unplanned(timeline) == []


def test_a_fault_that_cannot_be_checked_is_reported_after_some_tries() -> None:
    timeline = Timeline()
    watch = FaultWatch(timeline, exited=dict)

    def unreachable() -> str | None:
        raise ToxiproxyError(what="Toxiproxy is not reachable")

    watch.track("f1", handle(unreachable))
    for _ in range(UNCHECKED_AFTER - 1):
        watch.check_now()
    assert unplanned(timeline) == []  # one slow answer is not blindness
    watch.check_now()
    assert unplanned(timeline) == [("fault_unchecked", "f1")]


def test_the_watch_thread_checks_by_itself_and_stops() -> None:
    timeline = Timeline()
    watch = FaultWatch(timeline, exited=lambda: {"redis": "gone"}, interval=0.01)
    watch.start()
    try:
        for _ in range(500):
            if timeline.of(UnplannedEntry):
                break
            watch._stop.wait(0.01)
    finally:
        watch.stop()
    assert unplanned(timeline) == [("process_died", "redis")]


def test_confounded_verdicts_are_broken_and_say_what_they_would_have_been() -> None:
    timeline = Timeline()
    verdicts = [
        Verdict(policy="pauses", status=Status.FAILED, summary="no workflow.pause"),
        Verdict(policy="resumes", status=Status.PASSED, summary="resumed after 2s"),
        Verdict(policy="isolates", status=Status.BROKEN, summary="no traffic"),
    ]
    assert confounded(verdicts, timeline) == verdicts  # the plan held: nothing changes
    lift = timeline.append(
        UnplannedEntry(t=1.0, cause="fault_lifted", subject="f1", detail="fault f1 lifted: x")
    )
    timeline.append(PhaseEntry(t=2.0, phase="heal"))
    judged = confounded(verdicts, timeline)
    assert [v.status for v in judged] == [Status.BROKEN] * 3
    assert judged[0].summary.startswith("cannot tell: the plan did not hold: fault f1 lifted")
    assert "it would have failed: no workflow.pause" in judged[0].summary
    assert "it would have passed" in judged[1].summary
    assert judged[0].evidence[0] == lift
    assert judged[2].summary.startswith("cannot tell: the plan did not hold: fault f1 lifted")
    assert judged[2].summary.endswith("; and: no traffic")  # already broken: its reason stands
    interrupted = Verdict(policy="run", status=Status.INTERRUPTED, summary="by SIGINT")
    assert confounded([interrupted], timeline) == [interrupted]
