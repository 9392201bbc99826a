"""Pure logic of the controller's conflict and restart watches (fixtures/sut/ordersut): the stall
that makes a conflict, a green worker, recoveries in a window, and when a restart loop is paged.
No processes: Redis and the escalation sink are fakes."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest

SUT = Path(__file__).resolve().parents[2] / "fixtures" / "sut"
if str(SUT) not in sys.path:
    sys.path.insert(0, str(SUT))

import redis  # noqa: E402
from ordersut.conflict import Stall, Work, conflict_mode, worker_green  # noqa: E402
from ordersut.paging import Pager, stated  # noqa: E402
from ordersut.restarts import (  # noqa: E402
    RestartWatcher,
    parse_start,
    recoveries,
    restart_mode,
    within,
)


def test_a_stall_under_green_signals_becomes_a_conflict_after_the_bound() -> None:
    stall = Stall(after=1.5)
    assert stall.update(0.0, green=True, work=Work(completed=5, waiting=3)) is None
    assert stall.update(1.0, green=True, work=Work(completed=5, waiting=9)) is None
    assert stall.stalled_for(1.0) == pytest.approx(1.0)
    assert stall.update(1.5, green=True, work=Work(completed=5, waiting=12)) == "detected"
    assert stall.open
    # once open, red signals do not end it (no second incident for one stall); work does
    assert stall.update(2.0, green=False, work=Work(completed=5, waiting=15)) is None
    assert stall.update(2.5, green=True, work=Work(completed=6, waiting=14)) == "cleared"
    assert not stall.open


@pytest.mark.parametrize(
    ("green", "work", "why"),
    [
        (False, Work(completed=5, waiting=3), "a red signal: they agree"),
        (True, None, "redis could not tell"),
        (True, Work(completed=6, waiting=3), "an order completed"),
        (True, Work(completed=5, waiting=0), "nothing waits: idle, not stuck"),
    ],
)
def test_a_stall_starts_again_when(green: bool, work: Work | None, why: str) -> None:
    stall = Stall(after=1.5)
    stall.update(0.0, green=True, work=Work(completed=5, waiting=3))
    assert stall.update(1.0, green=green, work=work) is None, why
    stuck = Work(completed=work.completed if work else 5, waiting=3)
    assert stall.update(2.0, green=True, work=stuck) is None, why  # 1.5 s would have passed
    assert stall.update(2.5, green=True, work=stuck) == "detected", why  # from 00:01.0


def test_an_idle_queue_clears_an_open_conflict() -> None:
    stall = Stall(after=1.0)
    stall.update(0.0, green=True, work=Work(completed=1, waiting=1))
    assert stall.update(1.0, green=True, work=Work(completed=1, waiting=1)) == "detected"
    assert stall.update(1.5, green=True, work=Work(completed=1, waiting=0)) == "cleared"


@pytest.mark.parametrize(
    ("status", "body", "green"),
    [
        (200, {"status": "ok", "completed": 3, "breaker": "closed"}, True),
        (200, {"status": "ok", "completed": 3, "breaker": "none"}, True),  # retry-storm
        (200, {"status": "ok"}, True),
        (200, {"status": "ok", "breaker": "open"}, False),  # the worker says it is not fine
        (200, {"status": "ok", "breaker": "half_open"}, False),
        (200, {"status": "starting"}, False),
        (503, {"status": "ok"}, False),
        (200, None, False),
    ],
)
def test_worker_green(status: int, body: Any, green: bool) -> None:
    assert worker_green(status, body) is green


def test_modes_follow_the_settings() -> None:
    none: frozenset[str] = frozenset()
    assert conflict_mode(automation=True, defects=none) == "normal"
    assert conflict_mode(automation=False, defects=none) == "observe"
    assert conflict_mode(automation=True, defects=frozenset({"trust-health-check"})) == "trust"
    assert restart_mode(automation=True, defects=none) == "normal"
    assert restart_mode(automation=False, defects=frozenset({"hide-restarts"})) == "observe"
    assert restart_mode(automation=True, defects=frozenset({"hide-restarts"})) == "hide"


@pytest.mark.parametrize(
    ("seconds", "text"), [(3600, "1h"), (7200, "2h"), (120, "2min"), (30, "30s"), (1.5, "1.5s")]
)
def test_stated(seconds: float, text: str) -> None:
    assert stated(seconds) == text


def test_recoveries_are_every_start_but_the_first() -> None:
    starts = [(30.0, "30 1"), (10.0, "10 1"), (20.0, "20 2")]
    assert recoveries(starts) == [(20.0, "20 2"), (30.0, "30 1")]
    assert recoveries(starts, kept=3) == sorted(starts)  # a full list was trimmed
    assert recoveries([]) == []
    assert parse_start("1712345678.5 4242") == (1712345678.5, "1712345678.5 4242")
    assert parse_start("garbage") is None
    assert parse_start("") is None
    assert within([1.0, 2.0, 3.0, 9.0], now=3.0, window=1.0) == 2


class FakeRedis:
    """Just what the restart watch reads: one list."""

    def __init__(self) -> None:
        self.starts: list[str] = []  # newest first, like LPUSH
        self.fail = False

    def lrange(self, key: str, start: int, end: int) -> list[str]:
        assert (key, start, end) == ("starts:worker", 0, -1)
        if self.fail:
            raise redis.ConnectionError("gone")
        return list(self.starts)


class FakePager(Pager):
    def __init__(self) -> None:
        super().__init__(url=None, runbook_url="https://rb/restart-loop", severity="warning")
        self.pages: list[str] = []
        self.deliver = True

    def page(
        self, summary: str, *, incident: str, trigger: str, duration_ms: float | None = None
    ) -> bool:
        if self.deliver:
            self.pages.append(summary)
        return self.deliver


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def watcher(mode: str = "normal") -> tuple[RestartWatcher, FakeRedis, FakePager, Clock]:
    client, pager, clock = FakeRedis(), FakePager(), Clock()
    watch = RestartWatcher(
        client,  # type: ignore[arg-type]
        threading.Event(),
        mode=mode,  # type: ignore[arg-type]
        scale=0.05,  # the window: 1h -> 180 s
        pager=pager,
        clock=clock,
    )
    return watch, client, pager, clock


def start(client: FakeRedis, clock: Clock, after: float = 1.0) -> None:
    clock.now += after
    client.starts.insert(0, f"{clock.now:.6f} {len(client.starts)}")


def test_the_fourth_recovery_within_the_window_is_paged_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    watch, client, pager, clock = watcher()
    start(client, clock)  # the first start: no recovery
    watch.tick()
    for _ in range(3):
        start(client, clock)
        watch.tick()
    assert pager.pages == []
    start(client, clock)
    watch.tick()
    (summary,) = pager.pages
    assert summary.startswith("worker recovered 4 times within 1h: restart loop (loop-")
    start(client, clock)
    watch.tick()
    assert len(pager.pages) == 1  # once per loop
    events = [line for line in capsys.readouterr().out.splitlines() if "recovery.restart" in line]
    assert len(events) == 5
    assert '"recoveries":5' in events[-1]
    assert '"target_service":"worker"' in events[-1]


def test_a_new_loop_after_the_window_is_paged_again_and_a_failed_page_retried() -> None:
    watch, client, pager, clock = watcher()
    for _ in range(5):
        start(client, clock)
        watch.tick()
    assert len(pager.pages) == 1
    clock.now += 181  # the window (180 s) has passed: the loop is over
    watch.tick()
    pager.deliver = False
    for _ in range(4):
        start(client, clock, after=10.0)
        watch.tick()
    assert len(pager.pages) == 1  # the sink refused: retried at the next tick
    pager.deliver = True
    watch.tick()
    assert len(pager.pages) == 2


def test_starts_before_the_controller_watched_count_but_are_not_reported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    watch, client, pager, clock = watcher()
    for _ in range(5):
        start(client, clock)
    watch.tick()
    assert "recovery.restart" not in capsys.readouterr().out
    assert len(pager.pages) == 1  # 4 recoveries already: a loop in progress


@pytest.mark.parametrize("mode", ["hide", "observe"])
def test_hidden_or_observed_loops_are_never_paged(
    mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    watch, client, pager, clock = watcher(mode)
    for _ in range(6):
        start(client, clock)
        watch.tick()
    assert pager.pages == []
    out = capsys.readouterr().out
    assert out.count('"action":"recovery.restart"') == 5
    assert out.count('"action":"observation"') == (1 if mode == "observe" else 0)


def test_redis_errors_do_not_end_the_watch() -> None:
    watch, client, *_ = watcher()
    stop = threading.Event()
    watch._stop = stop
    client.fail = True
    runner = threading.Thread(target=watch.run)
    runner.start()
    stop.wait(0.2)
    assert runner.is_alive()
    stop.set()
    runner.join(timeout=2)
    assert not runner.is_alive()


# --- the worker: orders orphaned by a take whose reply was lost --------------------------------


class LostTake:
    """A checkpoint whose first take fails as a lost reply would, after moving an order."""

    def __init__(self) -> None:
        self.processing = ["o-1"]  # what Redis did before the reply was lost
        self.takes: list[str | Exception | None] = [redis.TimeoutError("timed out"), "o-2", None]
        self.reclaimed: list[str] = []

    def take(self, block: float) -> str | None:
        result = self.takes.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    def reclaim(self) -> list[str]:
        moved, self.processing = self.processing, []
        self.reclaimed += moved
        return moved


def test_the_worker_reclaims_orphans_once_idle_after_a_failed_take() -> None:
    from ordersut.worker import Worker

    worker = Worker(redis.Redis(), "http://payments", threading.Event())
    orders = LostTake()
    worker._orders = orders  # type: ignore[assignment]
    with pytest.raises(redis.TimeoutError):
        worker._take()
    assert worker._take() == "o-2"  # busy: not yet
    assert orders.reclaimed == []
    assert worker._take() is None  # idle: whatever is in processing is an orphan
    assert orders.reclaimed == ["o-1"]
    orders.takes.append(None)
    assert worker._take() is None
    assert orders.reclaimed == ["o-1"]  # once per failed take


class ListRedis:
    """LLEN and LMOVE over in-memory lists (index 0 = LEFT)."""

    def __init__(self, **lists: list[str]) -> None:
        self.lists = lists

    def llen(self, key: str) -> int:
        return len(self.lists.get(key, []))

    def lmove(self, source: str, dest: str, src: str, dst: str) -> str | None:
        assert (src, dst) == ("LEFT", "RIGHT")
        items = self.lists.get(source, [])
        if not items:
            return None
        item = items.pop(0)
        self.lists.setdefault(dest, []).append(item)
        return item


def test_reclaim_puts_orphans_back_at_the_head_of_the_queue(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ordersut.checkpoint import Checkpoint

    client = ListRedis(**{"processing:orders": ["o-9"], "queue:orders": ["o-11", "o-10"]})
    checkpoint = Checkpoint(client, threading.Event())  # type: ignore[arg-type]
    assert checkpoint.reclaim() == ["o-9"]
    assert client.lists == {"processing:orders": [], "queue:orders": ["o-11", "o-10", "o-9"]}
    (line,) = capsys.readouterr().out.splitlines()
    assert '"action":"order.requeued"' in line
    assert '"correlation_id":"o-9"' in line
    assert checkpoint.reclaim() == []
