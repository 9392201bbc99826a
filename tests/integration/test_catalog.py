"""The policy catalog, proven twice: each scenario passes against the reference automation and
fails, on exactly the promise a defect breaks, against each deliberately defective variant.

Runs in-process through the same Runner as the plugin, through a real Toxiproxy, at time scale
0.05, on both targets: every case on the process target; on the compose target, with compose v2
(`docker compose`, the plugin `make compose-v2` builds), every scenario against the reference
and the negative controls in COMPOSE_CONTROLS, with the same expected outcomes; and with compose
v1 (Debian's docker-compose) the cases in COMPOSE_V1: a network fault through the project's
Toxiproxy and a process fault on a container v1 created (v1 and v2 differ in how they name and
create containers and networks, not in what the engine does after). A negative control whose
policy does not fail is a test that cannot fail, so each one is asserted.

Every process case runs twice: with the system's business events, and with EVENTS=automation-
only, where the reference system reports no order or payment event at all and the data and
isolation promises are judged from the harness's own evidence (client history, the store's
counters and final state, HTTP counts on the worker -> payments edge). The compose v2 cases run
automation-only, v1 with every event. DEFECTS_SEEN_BY_EVIDENCE are caught only that way.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import ROOT

import harness.targets.compose as compose_target
from harness.faults.toxiproxy import ToxiproxyClient
from harness.policies import Status, Verdict
from harness.prepare import prepare
from harness.runner import Runner, RunOptions
from harness.timeline import RejectedPostEntry, Timeline

pytestmark = pytest.mark.integration

SCALE = 0.05

# scenario -> defects, each with the policies it must make FAIL
MATRIX: dict[str, dict[str, set[str]]] = {
    "payments-partition": {
        "no-pause": {"pauses"},
        "noisy-escalation": {"escalates"},
        "surface-errors": {"user_impact"},
        "lost-ack": {"no_data_lost"},  # it answers 201 for orders it drops, and says nothing
    },
    "payments-outage": {"no-escalation": {"escalates"}, "noisy-escalation": {"escalates"}},
    "slow-payments": {
        "retry-storm": {"isolates"},
        "storm-silent": {"isolates"},  # no breaker, no retry event: the calls show the storm
    },
    "worker-crash": {
        "ack-before-work": {"resumes_from_checkpoint", "no_data_lost"},
        "lying-events": {"no_data_lost"},  # it reports done what its store does not hold
    },
    "duplicate-orders": {"no-idempotency": {"ignores_duplicates", "no_data_lost"}},
    "bad-deploy": {"slow-rollback": {"rolls_back"}},
    "conflicting-signals": {"trust-health-check": {"escalates_on_conflict"}},
    "restart-loop": {"hide-restarts": {"bounded_recovery"}},
    # HTTP-aware edge: the storm is seen in the edge's counts only, no event betrays it
    "payments-errors": {"storm-silent": {"no_retry_storm"}},
    "payments-throttled": {},  # a 429 opens the breaker: isolates and no_retry_storm pass
}
# the negative controls that also run on the compose target (one per kind of fault)
COMPOSE_CONTROLS = {
    ("payments-partition", "no-pause"),  # network: partition through the Toxiproxy service
    ("slow-payments", "retry-storm"),  # network: toxics, and the dependency's own call log
    ("worker-crash", "ack-before-work"),  # process: docker kill, start again
    ("bad-deploy", "slow-rollback"),  # change: the deploy hook through a published port
    ("payments-errors", "storm-silent"),  # HTTP: mitmdump on the host, behind Toxiproxy's proxy
}
# what also runs on compose v1: a partition through the project's Toxiproxy, and a crash
COMPOSE_V1 = {("payments-partition", None), ("worker-crash", "ack-before-work")}
CASES = [(s, None) for s in MATRIX] + [(s, d) for s, ds in MATRIX.items() for d in ds]
AUTOMATION_ONLY = "automation-only"
"""EVENTS=automation-only: the reference system reports no business event at all."""


def _wanted(target: str, events: str, scenario: str, defect: str | None) -> bool:
    if target == "process":
        return True
    if target == "compose-v1":
        return events == "all" and (scenario, defect) in COMPOSE_V1
    if events != AUTOMATION_ONLY:  # compose-v2 judges from the harness's own evidence
        return False
    return defect is None or (scenario, defect) in COMPOSE_CONTROLS


TARGET_CASES = [
    pytest.param(
        target,
        events,
        scenario,
        defect,
        id=f"{target}-{scenario}-{defect or 'reference'}"
        + ("-automation-only" if events == AUTOMATION_ONLY else ""),
        marks=[pytest.mark.compose] if target != "process" else [],
    )
    for target in ("process", "compose-v2", "compose-v1")
    for events in ("all", AUTOMATION_ONLY)
    for scenario, defect in CASES
    if _wanted(target, events, scenario, defect)
]


def run(
    target: str,
    events: str,
    scenario: str,
    defect: str | None,
    request: pytest.FixtureRequest,
    tmp: Path,
) -> list[Verdict]:
    toxiproxy: ToxiproxyClient | None = None
    used: list[list[str]] = []
    if target == "process":
        toxiproxy = request.getfixturevalue("toxiproxy")
    else:
        request.getfixturevalue("docker_engine")
        used = force_compose(request, "v1" if target == "compose-v1" else "v2")
    options = RunOptions(
        time_scale=SCALE,
        target=target.split("-")[0],
        sut_env={"EVENTS": events, **({"DEFECT": defect} if defect else {})},
        toxiproxy_url=toxiproxy.url if toxiproxy else None,
        reports_dir=tmp,
    )
    prepared = prepare(ROOT / "scenarios" / f"{scenario}.yaml", None)
    result = Runner(options).run(prepared)
    check_senders(result.timeline, set(prepared.system.services))
    if target != "process":  # the compose it was meant to run on, and no other
        assert used, "the compose target never picked a compose command"
        assert all((c[-1] == "compose") == (target == "compose-v2") for c in used), used
    if toxiproxy is not None:
        assert [p for p in toxiproxy.proxies() if p.startswith(result.run_id)] == []
    return result.verdicts


def check_senders(timeline: Timeline, services: set[str]) -> None:
    """Every post came through a token of the run's services; none was refused."""
    assert timeline.of(RejectedPostEntry) == ()
    posted = [e for e in timeline.events() if e.source == "http"]
    assert {e.sender for e in posted} <= services, {e.sender for e in posted}
    assert all(e.service == e.sender for e in posted if e.service in services)


def force_compose(request: pytest.FixtureRequest, version: str) -> list[list[str]]:
    """Run on compose ``version`` ($HARNESS_COMPOSE); the commands the target picked."""
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv(compose_target.COMPOSE_ENV, version)
    used: list[list[str]] = []
    pick = compose_target.compose_command

    def spy() -> list[str]:
        used.append(pick())
        return used[-1]

    monkeypatch.setattr(compose_target, "compose_command", spy)
    return used


def table(verdicts: list[Verdict]) -> str:
    return "\n".join(v.render() for v in verdicts)


@pytest.mark.parametrize(("target", "events", "scenario", "defect"), TARGET_CASES)
def test_catalog(
    target: str,
    events: str,
    scenario: str,
    defect: str | None,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    verdicts = run(target, events, scenario, defect, request, tmp_path)
    status = {v.policy: v.status for v in verdicts}

    assert Status.BROKEN not in status.values(), table(verdicts)
    if defect is None:
        assert set(status.values()) == {Status.PASSED}, table(verdicts)
        return
    must_fail = MATRIX[scenario][defect]
    assert {p for p in must_fail if status[p] != Status.FAILED} == set(), table(verdicts)
    for verdict in verdicts:
        if verdict.policy in must_fail:
            assert verdict.evidence, f"{verdict.policy} failed without evidence"
