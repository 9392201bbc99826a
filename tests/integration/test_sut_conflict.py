"""The controller's conflict and restart watches as real processes (redis-server and ordersut
services at HARNESS_TIME_SCALE=0.05, no Toxiproxy), for what the catalog runs do not show:
the AUTOMATION=off variants, one page per incident, the incident's end, no conflict while
payments is down or nothing waits, and recoveries counted across a controller restart.

A worker whose Redis calls hang is a worker pointed at a port that accepts connections and
never answers: it serves /health (green) but completes nothing, while the controller reads the
real Redis, where orders wait. Variants run side by side, one Redis database each.
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_sut_behaviour import Proc, Sink, Sut, free_port, queue_orders, wait_until

pytestmark = pytest.mark.integration
STALL_AFTER = 1.5  # the controller's 30 s (scaled) of stuck work
FORBIDDEN = ("workflow.pause", "workflow.resume", "rollback", "restart")


@pytest.fixture
def sut(tmp_path: Path) -> Iterator[Sut]:
    system = Sut(tmp_path)
    try:
        yield system
    finally:
        system.close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    webhook = Sink()
    try:
        yield webhook
    finally:
        webhook.close()


def actions(proc: Proc, *names: str) -> list[str]:
    return [name for name in names if proc.events(name)]


def test_conflict_escalated_once_without_action_then_cleared_trusted_by_the_defect(
    sut: Sut, sink: Sink
) -> None:
    payments = sut.service("payments", 0).url
    closed = f"http://127.0.0.1:{free_port()}"  # payments unreachable: connection refused
    with socket.socket() as silent:  # Redis as the stuck worker sees it: never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(256)
        hanging = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        cases = {
            "normal": (payments, {}, 5),
            "trust": (payments, {"DEFECT": "trust-health-check"}, 5),
            "off": (payments, {"AUTOMATION": "off"}, 5),
            "idle": (payments, {}, 0),  # nothing waits: the worker is idle, not stuck
            "payments-down": (closed, {}, 5),  # the signals agree: the pause is the answer
        }
        workers, controllers = {}, {}
        for db, (name, (payments_url, _, orders)) in enumerate(cases.items()):
            workers[name] = sut.service(
                "worker", db, {"REDIS_URL": hanging, "PAYMENTS_URL": payments_url}
            )
            queue_orders(sut.redis(db), orders)
        started = time.monotonic()
        for db, (name, (payments_url, env, _)) in enumerate(cases.items()):
            controllers[name] = sut.service(
                "controller",
                db,
                {
                    "PAYMENTS_URL": payments_url,
                    "WORKER_URL": workers[name].url,
                    "HARNESS_ESCALATION_URL": sink.url(name),
                    **env,
                },
            )
        normal = controllers["normal"]
        t_detected, detected = normal.first("conflict.detected", 5)
        assert STALL_AFTER <= t_detected - started <= STALL_AFTER + 2.5, t_detected - started
        time.sleep(1.5)  # long enough for a second page, were there one
    ((body),) = sink.bodies("normal")
    ((_, escalate),) = normal.events("escalate")
    incident = detected["correlation_id"]
    assert body["incident_id"] == escalate["correlation_id"] == incident
    assert body["runbook_url"] == "https://runbooks.example.internal/orders/conflicting-signals"
    assert body["severity"] == escalate["severity"] == "warning"
    assert "no order completed for 3" in body["summary"]
    assert detected["waiting"] == 5
    assert detected["completed"] == 0
    assert actions(normal, *FORBIDDEN) == []
    for name in ("trust", "off", "idle", "payments-down"):
        assert not controllers[name].events("conflict.detected"), name
        assert not controllers[name].events("escalate"), name
        assert not sink.bodies(name), name
    assert not controllers["trust"].events("observation")
    ((_, seen),) = controllers["off"].events("observation")
    assert seen["correlation_id"].startswith("conflict-")
    assert seen["expected_outcome"].startswith("no automatic action")
    assert controllers["payments-down"].events("workflow.pause")
    # the work moves again (a worker that reaches Redis): the incident ends, nothing else is paged
    healthy = sut.service("worker", 0, {"PAYMENTS_URL": payments})
    _, cleared = normal.first("conflict.cleared", 5)
    assert cleared["correlation_id"] == incident
    wait_until("all 5 orders completed", lambda: len(healthy.events("order.completed")) == 5, 5)
    assert len(sink.bodies("normal")) == 1
    assert normal.stop() < 2.0, "the controller must stop promptly on SIGTERM"
    assert normal.popen.returncode == 0


def test_restart_loop_escalated_once_after_the_fourth_recovery_counted_across_restarts(
    sut: Sut, sink: Sink
) -> None:
    payments = sut.service("payments", 0).url
    cases = {"normal": {}, "off": {"AUTOMATION": "off"}}
    workers: dict[str, Proc] = {}
    controllers: dict[str, Proc] = {}
    for db, (name, env) in enumerate(cases.items()):
        workers[name] = sut.service("worker", db, {"PAYMENTS_URL": payments})
        controllers[name] = sut.service(
            "controller",
            db,
            {
                "PAYMENTS_URL": payments,
                "WORKER_URL": workers[name].url,
                "HARNESS_ESCALATION_URL": sink.url(name),
                **env,
            },
        )
    for n in range(1, 6):
        for db, name in enumerate(cases):
            workers[name].stop(signal.SIGKILL if n % 2 else signal.SIGTERM)  # either way down
            workers[name] = sut.service("worker", db, {"PAYMENTS_URL": payments})
        for name in cases:
            controllers[name].wait_count(n, "recovery.restart", timeout=3)
        if n == 4:
            t_fourth = controllers["normal"].events("recovery.restart")[-1][0]
            t_page, _ = controllers["normal"].first("escalate", 2)
            assert t_page - t_fourth < 0.5, f"paged {t_page - t_fourth:.2f}s after"
    time.sleep(0.3)
    normal = controllers["normal"]
    assert [e["recoveries"] for _, e in normal.events("recovery.restart")] == [1, 2, 3, 4, 5]
    assert {e["target_service"] for _, e in normal.events("recovery.restart")} == {"worker"}
    ((body),) = sink.bodies("normal")
    assert body["summary"].startswith("worker recovered 4 times within 1h: restart loop (loop-")
    assert body["runbook_url"] == "https://runbooks.example.internal/orders/restart-loop"
    assert body["severity"] == "warning"
    assert not normal.events("conflict.detected")  # a crashed worker is no green health check
    off = controllers["off"]
    assert len(off.events("recovery.restart")) == 5
    ((_, seen),) = off.events("observation")
    assert seen["actual_outcome"] == "restart loop"
    assert not off.events("escalate")
    assert not sink.bodies("off")
    assert len(sut.redis(0).lrange("starts:worker", 0, -1)) == 6  # the first start included
    # a new controller counts the starts already recorded, and does not report them again
    assert normal.stop() < 2.0, "the controller must stop promptly on SIGTERM"
    again = sut.service(
        "controller",
        0,
        {"PAYMENTS_URL": payments, "WORKER_URL": workers["normal"].url},
    )
    again.first("automation.start", 3)
    time.sleep(0.3)
    assert not again.events("recovery.restart")
