"""What judging costs as a timeline grows: the catalog's policies and KPIs, 10^3..10^6 entries.

Synthetic timelines in the reference system's vocabulary, mixed as a long game day is: requests
of the workload (some retried with the same idempotency key), the system's business events and
its automation's actions, steady-state probes, store counters, simulated-user intervals, one
fault window a minute (partitions, latency, crashes, deploys, duplicates) with its phase
entries, a few escalations and the final state. About 500 entries a second of timeline, as an
hour at 100 requests a second is about 1.8 M entries: the number of fault windows grows with the
timeline, as it does in a real game day.

For each size: the time to judge every expectation of every scenario in ``scenarios/`` and the
run's KPIs on that timeline (index build included), then the growth exponent (the slope of a
least-squares fit of log(time) on log(size)). With ``--write``, also the time and peak memory
(tracemalloc, beyond what the timeline already holds) of writing the timeline file.

    .venv/bin/python benchmarks/judging.py            # 10^3, 10^4, 10^5, 10^6
    .venv/bin/python benchmarks/judging.py --smoke    # 10^3 only: the CI smoke test
    BENCH_SMOKE=1 .venv/bin/python benchmarks/judging.py   # the same, as `make bench` passes it

Results: ``benchmarks/results/judging.json`` (``judging-smoke.json`` for the smoke size;
``BENCH_RESULTS_DIR`` elsewhere), with the machine's description. Never a timed assertion.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import random
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import growth_exponent, machine  # noqa: E402

from harness.policies import judge  # noqa: E402
from harness.report.kpi import run_kpis  # noqa: E402
from harness.scenario import Scenario, load_scenario  # noqa: E402
from harness.system import load_system  # noqa: E402
from harness.timeline import (  # noqa: E402
    CounterEntry,
    Entry,
    EscalationEntry,
    EventEntry,
    FaultEntry,
    LoadEntry,
    PhaseEntry,
    ProbeEntry,
    RequestEntry,
    StateEntry,
    Timeline,
)

SIZES = (1_000, 10_000, 100_000, 1_000_000)
RATE = 500.0  # entries per second of timeline
FAULTS = ("partition", "latency", "crash", "deploy", "duplicate")
RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR", Path(__file__).parent / "results"))


def _faults(t: float, n: int, rng: random.Random) -> list[Entry]:
    """One fault window (inject, heal 20 s later) with the automation's reaction and phases."""
    kind = FAULTS[n % len(FAULTS)]
    target = "worker" if kind in ("crash", "deploy") else "worker->payments"
    fid = f"f{n}-{kind}"
    out: list[Entry] = [
        PhaseEntry.model_construct(t=t, phase="inject"),
        FaultEntry.model_construct(
            t=t, action="inject", fault_id=fid, fault_type=kind, target=target, detail={}
        ),
        FaultEntry.model_construct(
            t=t + 20, action="heal", fault_id=fid, fault_type=kind, target=target, detail={}
        ),
        PhaseEntry.model_construct(t=t + 20, phase="observe"),
    ]
    for dt, action in ((1.5, "breaker.open"), (2.0, "workflow.pause"), (21.0, "workflow.resume")):
        out.append(_event(t + dt + rng.random(), action, "worker", None))
    out.append(_event(t + 22, "checkpoint.resume", "worker", None))
    if n % 3 == 0:
        out.append(EscalationEntry.model_construct(t=t + 10, summary="payments down", service=""))
    return out


def _event(t: float, action: str, service: str, order: str | None) -> EventEntry:
    return EventEntry.model_construct(
        t=t, action=action, service=service, correlation_id=order, attributes={}
    )


def _traffic(t: float, i: int, rng: random.Random) -> list[Entry]:
    """One request of the workload (one in 50 retried with its key) and what it caused."""
    order, key = f"o{i}", f"k{i}"
    ok = rng.random() > 0.05
    out: list[Entry] = [
        RequestEntry.model_construct(
            t=t,
            method="POST",
            url="/orders",
            status=201 if ok else 503,
            latency_ms=3.0,
            idempotency_key=key,
            origin="workload",
            outcome="ok" if ok else "unknown",
            work_id=order if ok else None,
            error=None,
        ),
    ]
    if i % 50 == 0:
        out.append(RequestEntry.model_construct(
            t=t + 0.01, method="POST", url="/orders", status=200, latency_ms=2.0,
            idempotency_key=key, origin="workload", outcome="ok", work_id=order, error=None,
        ))  # fmt: skip
    if ok:
        out.append(_event(t + 0.02, "order.accepted", "api", order))
        out.append(_event(t + 0.05, "payment.charged", "payments", order))
        out.append(_event(t + 0.06, "order.completed", "worker", order))
    return out


def _samples(t: float, i: int) -> list[Entry]:
    """Probes, counters and a simulated-user interval, once a second of timeline."""
    return [
        ProbeEntry.model_construct(t=t, probe="api-healthy", ok=True, phase="", detail=""),
        ProbeEntry.model_construct(t=t, probe="orders-flowing", ok=i % 60 > 5, phase="", detail=""),
        CounterEntry.model_construct(t=t, name="completed", value=float(i * 90), detail=""),
        CounterEntry.model_construct(t=t, name="failed", value=0.0, detail=""),
        LoadEntry.model_construct(t=t, window=1.0, requests=100, failures=1, status_5xx=1),
    ]


def synthetic(size: int, seed: int = 13) -> list[Entry]:
    """About ``size`` entries in time order (see the module doc for the mix)."""
    rng = random.Random(seed)
    entries: list[Entry] = [PhaseEntry.model_construct(t=0.0, phase="steady_state")]
    seconds, i = 0, 0
    while len(entries) < size:
        if seconds % 60 == 1:
            entries += _faults(float(seconds), seconds // 60, rng)
        entries += _samples(float(seconds), seconds)
        for _ in range(int(RATE / 5)):  # ~5 entries per request: requests, events
            entries += _traffic(seconds + rng.random(), i, rng)
            i += 1
        seconds += 1
    del entries[size:]
    records = {f"o{n}": 1 for n in range(0, i, 7)}
    entries.append(StateEntry.model_construct(t=seconds + 1.0, name="stored", ok=True,
                                              records=records, value=None, detail=""))  # fmt: skip
    return entries


def catalog() -> tuple[list[Scenario], Timeline]:
    """Every scenario of the catalog, and an empty timeline with the reference system's contract."""
    scenarios = [load_scenario(p) for p in sorted((ROOT / "scenarios").glob("*.yaml"))]
    contract = load_system(ROOT / "fixtures" / "sut" / "system.yaml").contract
    return scenarios, Timeline(1.0, contract=contract)


def judge_all(scenarios: list[Scenario], timeline: Timeline) -> tuple[int, str]:
    """Judge every scenario's expectations and the KPIs on ``timeline``.

    Returns how many verdicts, and a digest of every verdict and the KPIs: equal digests before
    and after a change of the judging code mean the same verdicts.
    """
    digest = hashlib.sha256()
    verdicts = 0
    for scenario in scenarios:
        for verdict in judge(scenario.expectations, timeline):
            # defaults left out: a new field with a default (on an entry) is not a new verdict
            digest.update(verdict.model_dump_json(exclude_defaults=True).encode())
            verdicts += 1
    digest.update(run_kpis(timeline).model_dump_json().encode())
    return verdicts, digest.hexdigest()[:16]


def write_cost(timeline: Timeline) -> dict[str, float]:
    """Seconds and peak memory (MiB beyond what exists already) of writing the timeline file."""
    with tempfile.TemporaryDirectory(prefix="bench-judging-") as folder:
        gc.collect()
        tracemalloc.start()
        began = time.perf_counter()
        path = Path(folder) / "timeline.json"
        timeline.write(path)
        seconds = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size = path.stat().st_size
    return {"seconds": round(seconds, 3), "peak_mib": round(peak / 2**20, 1),
            "file_mib": round(size / 2**20, 1)}  # fmt: skip


def measure(
    size: int, scenarios: list[Scenario], empty: Timeline, write: bool
) -> dict[str, object]:
    """Build a timeline of ``size`` entries, judge it, optionally write it."""
    entries = synthetic(size)
    began = time.perf_counter()
    timeline = Timeline(1.0, contract=empty.contract, entries=entries)
    verdicts, digest = judge_all(scenarios, timeline)
    seconds = time.perf_counter() - began
    row: dict[str, object] = {
        "entries": len(timeline),
        "fault_windows": len(timeline.fault_windows()),
        "verdicts": verdicts,
        "verdict_digest": digest,
        "judging_seconds": round(seconds, 4),
    }
    if write:
        row["write"] = write_cost(timeline)
    print(json.dumps(row), flush=True)
    return row


def main() -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="the smallest size only (CI)")
    parser.add_argument("--sizes", type=int, nargs="*", help="entries per timeline")
    parser.add_argument("--write", action="store_true", help="also measure writing the file")
    args = parser.parse_args()
    smoke = args.smoke or os.environ.get("BENCH_SMOKE") == "1"
    sizes = [SIZES[0]] if smoke else (args.sizes or list(SIZES))
    scenarios, empty = catalog()
    rows = [measure(size, scenarios, empty, args.write or not smoke) for size in sizes]
    points = [(float(r["entries"]), float(r["judging_seconds"])) for r in rows]  # type: ignore[arg-type]
    exponent = growth_exponent(points)
    result = {
        "benchmark": "judging",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "smoke": smoke,
        "scenarios": len(scenarios),
        "sizes": rows,
        "growth_exponent": None if exponent is None else round(exponent, 3),
        "machine": machine(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("judging-smoke.json" if smoke else "judging.json")
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"growth exponent: {result['growth_exponent']}")
    print(f"results: {out}")
    return out


if __name__ == "__main__":
    main()
