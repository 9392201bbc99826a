"""Judge a sealed bundle again from its own timeline, so an edited verdict is named.

A manifest of hashes catches an edit only until someone rewrites the manifest too. The verdicts
are a pure function of the timeline and the scenario's expectations, both in the bundle, so
``harness report --verify`` judges every bundle again with this harness's policies and names
every verdict that differs from ``verdicts.json``. A bundle sealed by another harness version may
differ for that reason alone: the problem says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness import __version__
from harness.drills import DRILL_POLICIES
from harness.errors import HarnessError
from harness.policies import judge
from harness.policies.base import INTERRUPTED_PHASE
from harness.report.bundle import ENVIRONMENT, BundleProblem, Environment
from harness.scenario import load_scenario
from harness.timeline import GuardEntry, PhaseEntry, Timeline

VERDICTS = "verdicts.json"
STOPPED = {"guard": "aborted", "run": "interrupted"}
"""The single verdict of a run that was not judged: its policy and status."""


def rejudge_bundle(run_dir: Path) -> list[BundleProblem]:
    """Every verdict of ``verdicts.json`` that the bundle's own timeline does not bear out."""
    try:
        env = Environment.model_validate_json((run_dir / ENVIRONMENT).read_bytes())
        stored: list[dict[str, Any]] = json.loads((run_dir / VERDICTS).read_text("utf-8"))
        timeline = Timeline.from_json((run_dir / "timeline.json").read_text("utf-8"))
        scenario = load_scenario(run_dir / "scenario.yaml")
    except (OSError, ValueError, HarnessError) as exc:  # ValidationError is a ValueError
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return [BundleProblem(run_dir, VERDICTS, f"cannot be judged again: {detail}")]
    if [v.get("policy") for v in stored] in (["guard"], ["run"]):
        return _stopped(run_dir, stored[0], timeline)
    expectations = scenario.expectations
    if env.mode == "no-automation":  # the runbook's verdict needs the runbook: not in the bundle
        expectations = [e for e in expectations if e.policy in DRILL_POLICIES]
        stored = [v for v in stored if v.get("policy") in DRILL_POLICIES]
    again = judge(expectations, timeline)
    version = (
        ""
        if env.harness_version == __version__
        else f" (sealed by harness {env.harness_version}, judged again by {__version__})"
    )
    if len(again) != len(stored):
        what = f"holds {len(stored)} verdicts, the timeline gives {len(again)}{version}"
        return [BundleProblem(run_dir, VERDICTS, what)]
    problems = []
    for old, new in zip(stored, again, strict=True):
        said = (old.get("policy"), old.get("status"), old.get("summary"))
        if said != (new.policy, new.status.value, new.summary):
            what = (
                f"{old.get('policy')} says {old.get('status')} ({old.get('summary')!r}), "
                f"its timeline judges {new.policy} {new.status.value} ({new.summary!r}){version}"
            )
            problems.append(BundleProblem(run_dir, VERDICTS, what))
    return problems


def _stopped(run_dir: Path, verdict: dict[str, Any], timeline: Timeline) -> list[BundleProblem]:
    """An aborted or interrupted run: its timeline must show the guard or the interrupt."""
    policy, status = verdict.get("policy"), verdict.get("status")
    if STOPPED.get(str(policy)) != status:
        return [BundleProblem(run_dir, VERDICTS, f"{policy} cannot be {status}")]
    shown = (
        timeline.of(GuardEntry)
        if policy == "guard"
        else [e for e in timeline.of(PhaseEntry) if e.phase == INTERRUPTED_PHASE]
    )
    if shown:
        return []
    missing = "guard entry" if policy == "guard" else "interrupt"
    what = f"says the run was {status}, but its timeline shows no {missing}"
    return [BundleProblem(run_dir, VERDICTS, what)]
