"""``harness report``: index and render, and ``--verify`` with its exit codes."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from bundles import sealed_run, write_run
from click.testing import CliRunner

from harness.cli import main


def report(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["report", *args])
    return result.exit_code, result.output


def test_report_indexes_the_bundles_and_writes_the_page(tmp_path: Path) -> None:
    sealed_run(tmp_path, "a-1")
    write_run(tmp_path, "kept-1")
    code, out = report("--reports", str(tmp_path), "--last", "5")
    assert code == 0, out
    assert "history: 1 runs indexed, 0 already there; 1 run directories not sealed" in out
    assert (tmp_path / "council" / "index.html").is_file()
    assert f"council page: {tmp_path / 'council' / 'index.html'}" in out
    code, out = report("--reports-dir", str(tmp_path))
    assert (code, "0 runs indexed, 1 already there" in out) == (0, True)


def test_a_bundle_that_cannot_be_read_fails_the_command_but_not_the_page(tmp_path: Path) -> None:
    sealed_run(tmp_path, "a-1")
    bad = sealed_run(tmp_path, "a-2")
    (bad / "verdicts.json").write_text("[{")
    code, out = report("--reports", str(tmp_path))
    assert code == 1
    assert f"{bad}: not indexed: it fails verification" in out  # changed since it was sealed
    assert (tmp_path / "council" / "index.html").is_file()


def test_verify_passes_intact_bundles(tmp_path: Path) -> None:
    sealed_run(tmp_path, "a-1")
    sealed_run(tmp_path, "a-2")
    write_run(tmp_path, "kept-1")
    code, out = report("--reports", str(tmp_path), "--verify")
    assert code == 0, out
    assert (
        out.strip() == "2 bundles checked: 2 intact, 0 with problems; 1 run directories not sealed"
    )


def test_verify_lists_each_problem_and_fails(tmp_path: Path) -> None:
    one = sealed_run(tmp_path, "a-1")
    two = sealed_run(tmp_path, "a-2")
    sealed_run(tmp_path, "a-3")
    (one / "logs" / "api.log").unlink()
    (two / "timeline.json").write_text(json.dumps({"edited": True}))
    (two / "extra.txt").write_text("x")
    code, out = report("--reports", str(tmp_path), "--verify")
    assert code == 1
    lines = out.strip().splitlines()
    assert lines[0] == f"{one / 'logs' / 'api.log'}: missing (the manifest lists it)"
    assert lines[1].startswith(f"{two / 'timeline.json'}: changed (now ")
    assert lines[2] == f"{two / 'extra.txt'}: extra (not in the manifest)"
    assert lines[3] == "3 bundles checked: 1 intact, 2 with problems"


def test_verify_catches_a_removed_manifest_of_a_recorded_run(tmp_path: Path) -> None:
    run_dir = sealed_run(tmp_path, "a-1")
    assert report("--reports", str(tmp_path))[0] == 0  # now the history records it
    (run_dir / "manifest.json").unlink()
    (run_dir / "verdicts.json").write_text("[]")
    code, out = report("--reports", str(tmp_path), "--verify")
    assert code == 1
    assert f"{run_dir / 'manifest.json'}: not sealed: no manifest.json" in out


def test_verify_catches_a_removed_bundle_of_a_recorded_run(tmp_path: Path) -> None:
    run_dir = sealed_run(tmp_path, "a-1")
    assert report("--reports", str(tmp_path))[0] == 0
    shutil.rmtree(run_dir)
    code, out = report("--reports", str(tmp_path), "--verify")
    assert code == 1
    assert f"{run_dir}: missing: the history records it" in out


def test_verify_of_an_empty_reports_dir_creates_nothing(tmp_path: Path) -> None:
    code, out = report("--reports", str(tmp_path / "none"), "--verify")
    assert (code, out.strip()) == (0, "0 bundles checked: 0 intact, 0 with problems")
    assert not (tmp_path / "none").exists()


def test_a_reports_dir_that_cannot_hold_a_history_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    code, out = report("--reports", str(tmp_path / "file" / "reports"))
    assert code == 1
    assert (
        f"{tmp_path / 'file' / 'reports' / 'history.sqlite'}: the run history cannot be opened"
        in out
    )


def _forge(run_dir: Path, status: str) -> None:
    """Edit verdicts.json and rewrite the manifest's hash and size, as a forger would.

    The forger has no signing key, so also removes the signature: an unsigned bundle the
    history never saw is checked by its hashes, and its verdicts by re-judging.
    """
    (run_dir / "manifest.sig").unlink()
    verdicts = json.loads((run_dir / "verdicts.json").read_text())
    verdicts[0]["status"] = status
    (run_dir / "verdicts.json").write_text(json.dumps(verdicts))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    data = (run_dir / "verdicts.json").read_bytes()
    for entry in manifest["files"]:
        if entry["path"] == "verdicts.json":
            entry["sha256"], entry["size"] = hashlib.sha256(data).hexdigest(), len(data)
    (run_dir / "manifest.json").write_text(json.dumps(manifest))


def test_verify_names_a_forged_verdict_behind_a_rewritten_manifest(tmp_path: Path) -> None:
    sealed_run(tmp_path, "a-1")
    forged = sealed_run(tmp_path, "a-2")
    _forge(forged, "failed")
    code, out = report("--reports", str(tmp_path), "--verify")
    assert code == 1, out
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"{forged / 'verdicts.json'}: steady_state says failed ("), out
    assert "its timeline judges steady_state passed (" in lines[0], out
    assert lines[-1] == "2 bundles checked: 1 intact, 1 with problems"


def test_verify_names_a_forged_abort(tmp_path: Path) -> None:
    forged = sealed_run(tmp_path, "a-1")
    verdicts = json.loads((forged / "verdicts.json").read_text())
    verdicts[0].update(policy="guard")
    (forged / "verdicts.json").write_text(json.dumps(verdicts))
    _forge(forged, "aborted")
    code, out = report("--reports", str(tmp_path), "--verify")
    assert code == 1, out
    assert "says the run was aborted, but its timeline shows no guard entry" in out
