"""Only the system speaks for the system: each sender's sink URL carries its own token.

A POST without a valid token is refused (401), recorded as a rejected post and never judged;
a service's token names it, whatever its body claims.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from timelines import reference_contract

from harness.clock import FakeClock
from harness.observe import collector as collector_module
from harness.observe.collector import Collector
from harness.observe.senders import Senders, mask_path
from harness.policies import Status
from harness.policies import pauses as pauses_policy
from harness.scenario import PausesExpectation
from harness.secrets import mask_sink_tokens
from harness.timeline import (
    EscalationEntry,
    EventEntry,
    FaultEntry,
    PhaseEntry,
    RejectedPostEntry,
    Timeline,
)

PAUSE: dict[str, Any] = {"action": "workflow.pause", "trigger": "payments unreachable"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def timeline(clock: FakeClock) -> Timeline:
    return Timeline(0.05, monotonic=clock.monotonic, contract=reference_contract())


@pytest.fixture(scope="module")
def running() -> Iterator[Collector]:
    """One sink for the module: stopping one takes up to half a second (its poll interval)."""
    with Collector(Timeline(), senders=("worker", "controller")) as sink:
        yield sink


@pytest.fixture
def sink(running: Collector, timeline: Timeline) -> Collector:
    """The running sink, recording into this test's timeline with fresh counts."""
    running.timeline = timeline
    running.rejected = running.unauthorised = 0
    return running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as http:
        yield http


@pytest.mark.parametrize("path", ["/events", "/t/forged-token/events", "/t//events", "/"])
def test_a_post_without_a_valid_token_is_refused_and_never_an_event(
    sink: Collector, client: httpx.Client, timeline: Timeline, path: str
) -> None:
    response = client.post(sink.base_url + path, json=PAUSE)

    assert response.status_code == 401
    assert timeline.events() == ()
    (rejected,) = timeline.of(RejectedPostEntry)
    assert rejected.path == mask_path(path)
    assert rejected.reason == ("unknown sink token" if path.startswith("/t/") else "no sink token")
    assert rejected.peer.startswith("127.0.0.1:")
    assert (sink.rejected, sink.unauthorised) == (1, 1)


def test_an_escalation_without_a_token_is_refused(
    sink: Collector, client: httpx.Client, timeline: Timeline
) -> None:
    response = client.post(f"{sink.base_url}/escalations", json={"summary": "forged page"})

    assert response.status_code == 401
    assert timeline.of(EscalationEntry) == ()
    assert [e.path for e in timeline.of(RejectedPostEntry)] == ["/escalations"]


def test_a_token_of_another_run_is_refused(
    sink: Collector, client: httpx.Client, timeline: Timeline
) -> None:
    stale = Senders(["controller"]).urls(sink.base_url, "controller").events  # its own tokens

    assert client.post(stale, json=PAUSE).status_code == 401
    assert timeline.events() == ()


def test_a_valid_token_is_accepted_as_its_sender(
    sink: Collector, client: httpx.Client, timeline: Timeline
) -> None:
    response = client.post(sink.urls("controller").events, json=PAUSE)

    assert response.status_code == 202
    (event,) = timeline.events()
    assert (event.action, event.service, event.sender, event.source) == (
        "workflow.pause",
        "controller",
        "controller",
        "http",
    )
    assert timeline.of(RejectedPostEntry) == ()


def test_a_worker_posting_as_the_controller_is_recorded_as_the_worker(
    sink: Collector, client: httpx.Client, timeline: Timeline
) -> None:
    response = client.post(sink.urls("worker").events, json={**PAUSE, "service": "controller"})

    assert response.status_code == 202
    (event,) = timeline.events()
    assert (event.service, event.sender) == ("worker", "worker")
    assert event.attributes["claimed_service"] == "controller"


def test_a_body_may_name_a_part_of_its_sender(
    sink: Collector, client: httpx.Client, timeline: Timeline
) -> None:
    client.post(sink.urls("worker").events, json={"action": "job.done", "service": "runner"})

    (event,) = timeline.events()
    assert (event.service, event.sender, event.attributes) == ("runner", "worker", {})


def test_a_stdout_line_claiming_another_service_is_its_services(
    sink: Collector, timeline: Timeline
) -> None:
    assert sink.ingest_line("worker", '{"action": "workflow.pause", "service": "controller"}')

    (event,) = timeline.events()
    assert (event.service, event.sender, event.source) == ("worker", "worker", "stdout")
    assert event.attributes == {"claimed_service": "controller"}


def test_an_escalation_records_its_sender_beside_the_service_it_is_about(
    sink: Collector, client: httpx.Client, timeline: Timeline
) -> None:
    body = {"summary": "payments down", "service": "payments"}

    assert client.post(sink.urls("controller").escalations, json=body).status_code == 202
    (escalation,) = timeline.of(EscalationEntry)
    assert (escalation.service, escalation.sender) == ("payments", "controller")


def test_a_valid_token_on_an_unknown_sink_is_404(sink: Collector, client: httpx.Client) -> None:
    url = sink.urls("worker").events.removesuffix("/events") + "/nope"

    assert client.post(url, json=PAUSE).status_code == 404


def test_a_flood_of_forgeries_is_counted_but_recorded_only_up_to_a_bound(
    sink: Collector, client: httpx.Client, timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collector_module, "MAX_REJECTED_ENTRIES", 3)
    for _ in range(5):
        assert client.post(f"{sink.base_url}/events", json=PAUSE).status_code == 401

    assert len(timeline.of(RejectedPostEntry)) == 3
    assert sink.unauthorised == 5


def test_no_token_reaches_the_timeline_or_its_json(
    sink: Collector, client: httpx.Client, timeline: Timeline
) -> None:
    token = sink.urls("worker").events.split("/t/")[1].split("/")[0]
    client.post(f"{sink.base_url}/t/{token}x/events", json=PAUSE)  # a near miss: refused

    assert token not in timeline.to_json()
    assert timeline.of(RejectedPostEntry)[0].path == "/t/***/events"
    assert mask_sink_tokens(sink.urls("worker").events) == f"{sink.base_url}/t/<redacted>/events"


def test_senders_route_only_their_own_tokens() -> None:
    senders = Senders(["worker"])
    url = senders.urls("http://h:1", "worker").events
    path = url.removeprefix("http://h:1")

    route = senders.route(path + "?q=1")
    assert route is not None
    assert (route.sender, route.sink) == ("worker", "/events")
    assert senders.route(path.replace("/t/", "/t/x")) is None
    with pytest.raises(LookupError, match="worker"):
        senders.urls("http://h:1", "controller")


def test_a_timeline_from_before_sink_tokens_still_loads() -> None:
    old = (
        '{"time_scale": 1.0, "started_at": "2026-01-01T00:00:00+00:00", "entries": ['
        '{"t": 1.0, "kind": "event", "action": "a", "service": "worker", "source": "http"},'
        '{"t": 2.0, "kind": "escalation", "summary": "s"}]}'
    )

    loaded = Timeline.from_json(old)

    assert [getattr(e, "sender", None) for e in loaded.entries] == ["", ""]
    again = Timeline.from_json(loaded.to_json())
    assert again.entries == loaded.entries


def test_a_rejected_post_round_trips_through_json(timeline: Timeline) -> None:
    timeline.append(RejectedPostEntry(t=1.0, path="/events", reason="no sink token", peer="x"))

    assert Timeline.from_json(timeline.to_json()).entries == timeline.entries


# --- a forgery changes no verdict ---------------------------------------------------------


def run_without_a_pause(
    sink: Collector, client: httpx.Client, clock: FakeClock, pause_url: str, resume_url: str
) -> Timeline:
    """A run of a system that never pauses, while someone posts a pause and a resume.

    The posts go to ``pause_url``/``resume_url``; everything reaches the timeline through the
    collector, as in a real run.
    """
    timeline = sink.timeline
    timeline.append(PhaseEntry(t=timeline.now(), phase="inject"))
    clock.advance(5.2)
    inject = FaultEntry(
        t=timeline.now(),
        action="inject",
        fault_id="f1",
        fault_type="partition",
        target="worker->payments",
    )
    timeline.append(inject)
    clock.advance(0.4)
    client.post(pause_url, json=PAUSE)
    for _ in range(3):
        clock.advance(0.5)
        accepted = {"action": "order.accepted", "correlation_id": "o-1"}
        assert client.post(sink.urls("worker").events, json=accepted).status_code == 202
    clock.advance(1.0)
    timeline.append(inject.model_copy(update={"t": timeline.now(), "action": "heal"}))
    clock.advance(0.2)
    client.post(resume_url, json={"action": "workflow.resume"})
    clock.advance(2.0)
    timeline.append(PhaseEntry(t=timeline.now(), phase="teardown"))
    return timeline


@pytest.mark.parametrize(
    "forged",
    ["/events", "/t/0123456789abcdefghijklmnopqrstuv/events"],
    ids=["no-token", "unknown-token"],
)
def test_a_forged_pause_changes_no_verdict(
    sink: Collector, client: httpx.Client, clock: FakeClock, forged: str
) -> None:
    url = sink.base_url + forged
    timeline = run_without_a_pause(sink, client, clock, url, url)

    verdict = pauses_policy.check(PausesExpectation(policy="pauses"), timeline)

    assert verdict.status is Status.FAILED, verdict.summary
    assert len(timeline.of(RejectedPostEntry)) == 2
    assert not timeline.events("workflow.pause")
    assert not any(isinstance(e, RejectedPostEntry) for e in verdict.evidence)


def test_the_same_pause_from_the_automation_passes(
    sink: Collector, client: httpx.Client, clock: FakeClock
) -> None:
    # the control: the run above judged with the pause really sent, by the controller's token;
    # were the forgeries accepted, they would pass the same way
    own = sink.urls("controller").events
    timeline = run_without_a_pause(sink, client, clock, own, own)

    verdict = pauses_policy.check(PausesExpectation(policy="pauses"), timeline)

    assert verdict.status is Status.PASSED, verdict.summary
    assert isinstance(verdict.evidence[-1], EventEntry)
