"""Hand-built timelines for policy tests, in the reference system's vocabulary by default."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from harness.contract import Contract
from harness.system import load_system
from harness.timeline import Entry, Timeline

REFERENCE = Path(__file__).resolve().parents[2] / "fixtures" / "sut" / "system.yaml"


@cache
def reference_contract() -> Contract:
    """The contract the reference system declares (fixtures/sut/system.yaml)."""
    return load_system(REFERENCE).contract


def make(*entries: Entry, scale: float = 0.05, contract: Contract | None = None) -> Timeline:
    """A timeline at ``scale`` (30s -> 1.5s by default) holding ``entries``."""
    timeline = Timeline(
        time_scale=scale,
        monotonic=lambda: 0.0,
        contract=reference_contract() if contract is None else contract,
    )
    for entry in entries:
        timeline.append(entry)
    return timeline
