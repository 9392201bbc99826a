"""The policy catalog, proven twice: each scenario passes against the reference automation and
fails, on exactly the promise a defect breaks, against each deliberately defective variant.

Runs in-process through the same Runner as the plugin, through a real Toxiproxy, at time scale
0.05, on both targets: every case on the process target; on the compose target every scenario
against the reference and the negative controls in COMPOSE_CONTROLS, with the same expected
outcomes. A negative control whose policy does not fail is a test that cannot fail, so each one
is asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import ROOT

from harness.faults.toxiproxy import ToxiproxyClient
from harness.policies import Status, Verdict
from harness.prepare import prepare
from harness.runner import Runner, RunOptions

pytestmark = pytest.mark.integration

SCALE = 0.05

# scenario -> defects, each with the policies it must make FAIL
MATRIX: dict[str, dict[str, set[str]]] = {
    "payments-partition": {
        "no-pause": {"pauses"},
        "noisy-escalation": {"escalates"},
        "surface-errors": {"user_impact"},
    },
    "payments-outage": {"no-escalation": {"escalates"}, "noisy-escalation": {"escalates"}},
    "slow-payments": {"retry-storm": {"isolates"}},
    "worker-crash": {"ack-before-work": {"resumes_from_checkpoint", "no_data_lost"}},
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
CASES = [(s, None) for s in MATRIX] + [(s, d) for s, ds in MATRIX.items() for d in ds]
TARGET_CASES = [
    pytest.param(
        target,
        scenario,
        defect,
        id=f"{target}-{scenario}-{defect or 'reference'}",
        marks=[pytest.mark.compose] if target == "compose" else [],
    )
    for target in ("process", "compose")
    for scenario, defect in CASES
    if target == "process" or defect is None or (scenario, defect) in COMPOSE_CONTROLS
]


def run(
    target: str, scenario: str, defect: str | None, request: pytest.FixtureRequest, tmp: Path
) -> list[Verdict]:
    toxiproxy: ToxiproxyClient | None = None
    if target == "process":
        toxiproxy = request.getfixturevalue("toxiproxy")
    else:
        request.getfixturevalue("docker_engine")
    options = RunOptions(
        time_scale=SCALE,
        target=target,
        sut_env={"DEFECT": defect} if defect else {},
        toxiproxy_url=toxiproxy.url if toxiproxy else None,
        reports_dir=tmp,
    )
    result = Runner(options).run(prepare(ROOT / "scenarios" / f"{scenario}.yaml", None))
    if toxiproxy is not None:
        assert [p for p in toxiproxy.proxies() if p.startswith(result.run_id)] == []
    return result.verdicts


def table(verdicts: list[Verdict]) -> str:
    return "\n".join(v.render() for v in verdicts)


@pytest.mark.parametrize(("target", "scenario", "defect"), TARGET_CASES)
def test_catalog(
    target: str, scenario: str, defect: str | None, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    verdicts = run(target, scenario, defect, request, tmp_path)
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
