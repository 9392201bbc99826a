"""``no_retry_storm`` and the HTTP-count helper, judged on hand-built timelines.

The calls come from an HTTP-aware edge's proxy (``HttpEntry`` per interval), never from the
system's events: a timeline with no event at all is still judged. Proven twice: a client that
calls less while the dependency fails passes; one that hammers it fails, with the counts quoted;
no counts at all, or no warmup to compare with, is broken.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from timelines import make

from harness.expectations import NoRetryStormExpectation
from harness.policies import Status, judge
from harness.policies.base import describe
from harness.policies.http_counts import calls, http_entries
from harness.timeline import Entry, FaultEntry, HttpCount, HttpEntry, PhaseEntry

EDGE = "worker->payments"
WINDOW = 0.25


def http(t: float, n: int, status: int | None = 200, fault: str | None = None) -> HttpEntry:
    """One interval ending at ``t``: ``n`` POST /charge with ``status``, 2 GET /health with 200."""
    counts = (
        HttpCount(method="POST", path="/charge", status=status, fault=fault, count=n),
        HttpCount(method="GET", path="/health", status=200, count=2),
    )
    return HttpEntry(t=t, edge=EDGE, window=WINDOW, requests=n + 2, counts=counts)


def fault(t: float, action: str) -> FaultEntry:
    return FaultEntry(
        t=t,
        action="inject" if action == "inject" else "heal",
        fault_id="f1-http_error",
        fault_type="http_error",
        target=EDGE,
    )


def run(during: int, *, warmup: int = 3, after: bool = True) -> list[Entry]:
    """Warmup 2.0-4.0 s at ``warmup`` calls per interval (12/s), a fault 4.0-6.0 s with
    ``during`` calls per interval, then normal traffic again."""
    entries: list[Entry] = [PhaseEntry(t=2.0, phase="inject")]
    entries += [http(2.0 + WINDOW * (i + 1), warmup) for i in range(8)]
    entries += [fault(4.0, "inject")]
    entries += [
        http(4.0 + WINDOW * (i + 1), during, status=503, fault="f1-http_error") for i in range(8)
    ]
    entries += [fault(6.0, "heal")]
    if after:
        entries += [http(6.0 + WINDOW * (i + 1), warmup) for i in range(4)]
    entries += [PhaseEntry(t=8.0, phase="teardown")]
    return entries


def storm(**bounds: float) -> NoRetryStormExpectation:
    return NoRetryStormExpectation.model_validate(
        {"policy": "no_retry_storm", "edge": EDGE, "method": "POST", "path": "/charge", **bounds}
    )


def one(expectation: NoRetryStormExpectation, entries: Sequence[Entry]) -> tuple[Status, str]:
    [verdict] = judge([expectation], make(*entries))
    return verdict.status, verdict.summary


def test_a_client_that_backs_off_passes() -> None:
    status, text = one(storm(max_rate=2, max_calls=40), run(during=1))
    assert status is Status.PASSED, text
    assert "8 calls to worker->payments (POST /charge...)" in text
    assert "0.3x the warmup's 12.0/s" in text
    assert "by status 503: 8" in text


def test_a_storm_fails_with_its_counts_quoted() -> None:
    status, text = one(storm(max_rate=2), run(during=50))
    assert status is Status.FAILED, text
    assert text.startswith("retry storm: 400 calls to worker->payments")
    assert "(2.0s: 200.0/s, 16.7x the warmup's 12.0/s), above 2x the warmup's rate" in text
    assert "answered or held by f1-http_error (400)" in text


def test_max_calls_alone_bounds_each_window() -> None:
    assert one(storm(max_calls=100), run(during=10))[0] is Status.PASSED
    status, text = one(storm(max_calls=79), run(during=10))
    assert status is Status.FAILED
    assert "80 calls to worker->payments" in text
    assert "above max_calls 79" in text


def test_the_failure_carries_the_fault_and_the_busiest_intervals() -> None:
    [verdict] = judge([storm(max_rate=2)], make(*run(during=50)))
    kinds = [e.kind for e in verdict.evidence]
    assert kinds.count("fault") == 2
    assert kinds.count("http") == 2
    assert "http worker->payments: 52 requests (50 POST /charge 503" in describe(
        verdict.evidence[1]
    )


def test_no_http_counts_is_broken_never_passed() -> None:
    entries = [e for e in run(during=50) if not isinstance(e, HttpEntry)]
    status, text = one(storm(max_rate=2, max_calls=10), entries)
    assert status is Status.BROKEN
    assert "no HTTP counts for worker->payments" in text
    assert "protocol: http" in text


def test_no_warmup_traffic_cannot_give_a_rate() -> None:
    status, text = one(storm(max_rate=2), run(during=50, warmup=0))
    assert status is Status.BROKEN, text
    assert "no warmup rate" in text
    # an absolute bound needs no warmup
    assert one(storm(max_calls=10), run(during=50, warmup=0))[0] is Status.FAILED


def test_counts_that_stop_before_the_fault_are_broken() -> None:
    entries = [e for e in run(during=1) if not (isinstance(e, HttpEntry) and e.t > 4.0)]
    status, text = one(storm(max_rate=2), entries)
    assert status is Status.BROKEN
    assert "counted nothing from http_error worker->payments" in text


def test_no_fault_is_broken() -> None:
    entries = [e for e in run(during=1) if not isinstance(e, FaultEntry)]
    assert one(storm(max_calls=10), entries)[0] is Status.BROKEN


def test_a_bound_is_required() -> None:
    with pytest.raises(ValueError, match="max_calls, max_rate or both"):
        NoRetryStormExpectation.model_validate({"policy": "no_retry_storm", "edge": EDGE})


def test_calls_filters_by_method_path_and_span() -> None:
    timeline = make(*run(during=5))
    assert len(http_entries(timeline, EDGE)) == 20
    assert http_entries(timeline, "api->redis") == ()
    during = calls(timeline, EDGE, 4.0, 6.0, method="post", path="/charge")
    assert during.total == 40
    assert dict(during.by_status) == {503: 40}
    assert dict(during.by_fault) == {"f1-http_error": 40}
    assert during.status_text() == "503: 40"
    everything = calls(timeline, EDGE, 4.0, 6.0)
    assert everything.total == 56  # and 2 GET /health per interval
    assert dict(everything.by_status) == {503: 40, 200: 16}
    # an interval counts where its midpoint lies: 4.0-4.25 is in [4.0, 4.2], 4.25-4.5 is not
    assert calls(timeline, EDGE, 4.0, 4.2, path="/charge").total == 5
