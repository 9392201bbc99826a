"""Without a declared floor, a bound shorter than the warmup's work took is warned about."""

from __future__ import annotations

from types import SimpleNamespace

from harness.contract import Contract, WorkEvents
from harness.scale_floor import measured_scale_warnings, warmup_work_seconds
from harness.timeline import EventEntry, FaultEntry, PhaseEntry, Timeline

JOBS = Contract(work=WorkEvents(noun="job", accepted="job.queued", completed="job.done"))


def event(t: float, action: str, job: str) -> EventEntry:
    return EventEntry(t=t, action=action, service="runner", source="http", correlation_id=job)


def run(took: float, *, scale: float = 0.02, jobs: int = 5, contract: Contract = JOBS) -> Timeline:
    entries: list[object] = [PhaseEntry(t=0.0, phase="inject")]
    for i in range(jobs):
        entries += [
            event(0.1 * i, "job.queued", f"j{i}"),
            event(0.1 * i + took, "job.done", f"j{i}"),
        ]
    fault = FaultEntry(t=2.0, action="inject", fault_id="f1", fault_type="latency", target="a->b")
    late = event(2.5, "job.queued", "late"), event(9.0, "job.done", "late")  # under the fault
    return Timeline(scale, entries=[*entries, fault, *late], contract=contract)  # type: ignore[list-item]


def expect(policy: str, within: float) -> SimpleNamespace:
    return SimpleNamespace(policy=policy, within=within)


def test_the_warmup_work_is_measured_before_the_first_fault_only() -> None:
    assert warmup_work_seconds(run(0.7)) == (0.7, 5)  # the job under the fault (6.5 s) is not
    assert warmup_work_seconds(run(0.7, jobs=2)) is None  # too few to tell
    assert warmup_work_seconds(run(0.7, contract=Contract())) is None  # no work roles declared


def test_a_bound_scaled_below_the_measured_work_is_warned_about() -> None:
    found = measured_scale_warnings(
        [expect("isolates", 30.0), expect("rolls_back", 300.0), expect("no_data_lost", None)],  # type: ignore[arg-type]
        run(0.7),
        declared=False,
    )
    assert len(found) == 1
    assert found[0].startswith("isolates: its bound 30s scales to 600ms, shorter than the 0.70s")
    assert "to complete a job (median of 5)" in found[0]
    assert "declare min_time_scale" in found[0]


def test_no_warning_with_a_declared_floor_at_full_scale_or_for_quick_work() -> None:
    bounds = [expect("isolates", 30.0)]
    assert measured_scale_warnings(bounds, run(0.7), declared=True) == []
    assert measured_scale_warnings(bounds, run(0.7, scale=1.0), declared=False) == []
    assert measured_scale_warnings(bounds, run(0.05), declared=False) == []
