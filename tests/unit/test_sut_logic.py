"""Pure logic of the reference SUT (fixtures/sut/ordersut): breaker, backoff, escalation timing,
the rollback's sliding window and the controller's probe classification. No processes, no I/O."""

from __future__ import annotations

import sys
import urllib.error
from pathlib import Path

import pytest

SUT = Path(__file__).resolve().parents[2] / "fixtures" / "sut"
if str(SUT) not in sys.path:
    sys.path.insert(0, str(SUT))

from ordersut.breaker import Breaker, State, backoff  # noqa: E402
from ordersut.common import KNOWN_DEFECTS, ConfigError, Settings  # noqa: E402
from ordersut.controller import classify  # noqa: E402
from ordersut.escalation import Mode, escalation_due  # noqa: E402
from ordersut.rollback import Sample, is_bad, window_counts  # noqa: E402


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_three_consecutive_failures_and_half_opens_after_cooldown() -> None:
    clock = FakeClock()
    breaker = Breaker(threshold=3, cooldown=0.75, clock=clock)
    assert [breaker.on_failure(), breaker.on_failure()] == [None, None]
    assert breaker.on_failure() is State.OPEN
    assert breaker.failures == 3
    assert breaker.remaining() == pytest.approx(0.75)
    assert breaker.try_half_open() is None  # still cooling down
    clock.now += 0.75
    assert breaker.try_half_open() is State.HALF_OPEN
    assert breaker.on_success() is State.CLOSED
    assert breaker.failures == 0


def test_a_failed_trial_reopens_for_a_new_cooldown() -> None:
    clock = FakeClock()
    breaker = Breaker(threshold=3, cooldown=1.0, clock=clock)
    for _ in range(3):
        breaker.on_failure()
    clock.now += 1.0
    breaker.try_half_open()
    clock.now += 0.3
    assert breaker.on_failure() is State.OPEN
    assert breaker.remaining() == pytest.approx(1.0)


def test_a_success_resets_the_consecutive_count() -> None:
    breaker = Breaker(threshold=3, cooldown=1.0, clock=FakeClock())
    breaker.on_failure()
    breaker.on_failure()
    assert breaker.on_success() is None
    assert [breaker.on_failure(), breaker.on_failure()] == [None, None]
    assert breaker.state is State.CLOSED


def test_breaker_state_events() -> None:
    assert [s.event for s in State] == ["breaker.close", "breaker.open", "breaker.half_open"]


def test_backoff_doubles_up_to_the_cap_and_never_shrinks() -> None:
    delays = [backoff(n, base=1.0, factor=2.0, cap=8.0) for n in range(1, 8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    assert backoff(10_000, base=1.0, factor=2.0, cap=8.0) == 8.0
    with pytest.raises(ValueError, match="from 1"):
        backoff(0, base=1.0, factor=2.0, cap=8.0)


@pytest.mark.parametrize(
    ("mode", "paused_for", "sent", "since_last", "due"),
    [
        ("normal", 149.0, 0, 149.0, False),
        ("normal", 150.0, 0, 150.0, True),
        ("normal", 400.0, 1, 250.0, False),  # once per incident
        ("noisy", 0.0, 0, 0.0, True),  # at once at every pause
        ("noisy", 20.0, 1, 20.0, False),
        ("noisy", 60.0, 2, 30.0, True),  # and every 30 s
        ("off", 1000.0, 0, 1000.0, False),
    ],
)
def test_escalation_due(
    mode: Mode, paused_for: float, sent: int, since_last: float, due: bool
) -> None:
    result = escalation_due(
        mode,
        paused_for=paused_for,
        sent=sent,
        since_last=since_last,
        after=150.0,
        every=30.0,
    )
    assert result is due


def test_window_counts_cover_only_the_last_window() -> None:
    samples = [Sample(0.0, 0, 0), Sample(1.0, 10, 1), Sample(2.0, 30, 9), Sample(3.0, 40, 13)]
    assert window_counts(samples, now=3.0, window=2.0) == (30, 12)  # from t=1 to t=3
    assert window_counts(samples, now=3.0, window=0.5) == (0, 0)  # one sample: no rate yet
    assert window_counts([], now=3.0, window=10.0) == (0, 0)


@pytest.mark.parametrize(
    ("requests", "errors", "bad"),
    [(9, 9, False), (10, 2, False), (10, 3, True), (100, 20, False), (100, 21, True)],
)
def test_is_bad_needs_ten_requests_and_more_than_twenty_percent(
    requests: int, errors: int, bad: bool
) -> None:
    assert is_bad(requests, errors) is bad


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")), "unreachable"),
        (ConnectionResetError(104, "Connection reset by peer"), "unreachable"),
        (ConnectionError("bad HTTP answer: RemoteDisconnected()"), "unreachable"),
        (urllib.error.URLError(OSError(113, "No route to host")), "unreachable"),
        (urllib.error.URLError(TimeoutError("timed out")), "degraded"),
        (urllib.error.URLError("timed out"), "degraded"),
        (TimeoutError("timed out"), "degraded"),
    ],
)
def test_only_connection_failures_count_as_unreachable(error: OSError, kind: str) -> None:
    assert classify(error) == kind


def test_every_defect_of_the_catalog_is_known() -> None:
    catalog = (Path(__file__).resolve().parents[2] / "docs" / "catalog.md").read_text()
    documented = {line.split("`")[1] for line in catalog.splitlines() if line.startswith("| `")}
    switches = {name for name in documented if "-" in name}
    assert switches <= KNOWN_DEFECTS
    assert len(KNOWN_DEFECTS) == 13
    with pytest.raises(ConfigError, match="unknown"):
        Settings.from_env({"DEFECT": "no-such-defect"})
