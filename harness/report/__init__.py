"""Reports of finished runs: the sealed evidence bundle, the run history and the council page.

``report`` reads only what runs wrote (bundles, timelines, verdicts); it never imports
``faults``, ``targets`` or ``observe``, so every report can be made again from stored runs.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.report.bundle import (
    MANIFEST,
    BundleProblem,
    environment,
    seal_bundle,
    verify_bundle,
)
from harness.report.history import History, history_path, read_bundle
from harness.report.rejudge import rejudge_bundle

log = logging.getLogger(__name__)


def archive_run(
    run_dir: Path,
    reports_dir: Path,
    *,
    run_id: str,
    scenario: str,
    target: str,
    time_scale: float,
    options: Mapping[str, object],
    mode: str = "automated",
) -> None:
    """Seal a judged run's directory as its evidence bundle, then add it to the run history.

    A bundle that cannot be sealed raises (the evidence must not be lost silently). The history
    is an index that ``harness report`` rebuilds from the bundles, so failing to write it is a
    warning, not a broken run.
    """
    env = environment(
        run_dir,
        run_id=run_id,
        scenario=scenario,
        target=target,
        time_scale=time_scale,
        options=options,
        mode=mode,
    )
    seal_bundle(run_dir, env)
    try:
        with History(history_path(reports_dir)) as history:
            history.add(read_bundle(run_dir, reports_dir))
    except (HarnessError, sqlite3.Error) as exc:
        log.warning(
            "%s was sealed but not added to the run history: %s (`harness report` adds it)",
            run_dir,
            exc,
        )


@dataclass
class Verification:
    """What ``verify_reports`` found: bundles checked, their problems, unsealed run directories."""

    checked: int = 0
    problems: list[BundleProblem] = field(default_factory=list)
    unsealed: list[Path] = field(default_factory=list)


def verify_reports(reports_dir: Path) -> Verification:
    """Check every sealed bundle under ``reports_dir/runs`` and every bundle the history records.

    A bundle the history records is checked even without its manifest or directory, so that
    removing either cannot hide a change.
    """
    found = Verification()
    runs = reports_dir / "runs"
    dirs = sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
    from harness.report.signing import SIGNATURE, fingerprint, read_signature, trusted_keys

    recorded: dict[str, Path] = {}
    signed: dict[str, str] = {}  # run id -> the key the history saw sign it
    trusted = trusted_keys()
    if history_path(reports_dir).exists():
        try:
            with History(history_path(reports_dir)) as history:
                recorded = {r.run_id: reports_dir / r.bundle for r in history.runs()}
                signed, trusted = history.signatures(), trusted | history.keys()
        except HarnessError as exc:
            found.problems.append(BundleProblem(history_path(reports_dir), "", exc.what))
    by_bundle = {recorded[run_id]: key for run_id, key in signed.items() if run_id in recorded}
    sealed = {p for p in dirs if (p / MANIFEST).exists()} | set(recorded.values())
    for bundle in sorted(sealed):
        found.checked += 1
        if not bundle.is_dir():
            found.problems.append(BundleProblem(bundle, "", "missing: the history records it"))
            continue
        hashed = verify_bundle(bundle, trusted)
        if bundle in by_bundle:  # a signature removed, or replaced by another trusted key's
            try:
                now = read_signature(bundle)
            except ValueError:
                now = None  # verify_bundle named it
            if now is None or now.public_key != by_bundle[bundle]:
                was = fingerprint(by_bundle[bundle])
                what = "unsigned" if now is None else f"signed by {fingerprint(now.public_key)}"
                hashed.append(BundleProblem(bundle, SIGNATURE, f"{what}; the history "
                                            f"recorded it signed by key {was}"))  # fmt: skip
        # a rewritten manifest hides an edit from the hashes, not from the timeline's own verdict
        found.problems += hashed or rejudge_bundle(bundle)
    found.unsealed = [p for p in dirs if p not in sealed]
    return found
