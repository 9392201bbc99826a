"""The policy catalog, proven twice: each scenario passes against the reference automation and
fails, on exactly the promise a defect breaks, against each deliberately defective variant.

Runs in-process through the same Runner as the plugin, on the process target, through a real
Toxiproxy, at time scale 0.05. A negative control whose policy does not fail is a test that
cannot fail, so each one is asserted.
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
    "payments-partition": {"no-pause": {"pauses"}, "noisy-escalation": {"escalates"}},
    "payments-outage": {"no-escalation": {"escalates"}, "noisy-escalation": {"escalates"}},
    "slow-payments": {"retry-storm": {"isolates"}},
    "worker-crash": {"ack-before-work": {"resumes_from_checkpoint", "no_data_lost"}},
    "duplicate-orders": {"no-idempotency": {"ignores_duplicates", "no_data_lost"}},
    "bad-deploy": {"slow-rollback": {"rolls_back"}},
    "conflicting-signals": {"trust-health-check": {"escalates_on_conflict"}},
    "restart-loop": {"hide-restarts": {"bounded_recovery"}},
}
CASES = [(s, None) for s in MATRIX] + [(s, d) for s, ds in MATRIX.items() for d in ds]


def run(scenario: str, defect: str | None, toxiproxy: ToxiproxyClient, tmp: Path) -> list[Verdict]:
    options = RunOptions(
        time_scale=SCALE,
        sut_env={"DEFECT": defect} if defect else {},
        toxiproxy_url=toxiproxy.url,
        reports_dir=tmp,
    )
    result = Runner(options).run(prepare(ROOT / "scenarios" / f"{scenario}.yaml", None))
    assert [p for p in toxiproxy.proxies() if p.startswith(result.run_id)] == []
    return result.verdicts


def table(verdicts: list[Verdict]) -> str:
    return "\n".join(v.render() for v in verdicts)


@pytest.mark.parametrize(
    ("scenario", "defect"), CASES, ids=[f"{s}-{d or 'reference'}" for s, d in CASES]
)
def test_catalog(
    scenario: str, defect: str | None, toxiproxy: ToxiproxyClient, tmp_path: Path
) -> None:
    verdicts = run(scenario, defect, toxiproxy, tmp_path)
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
