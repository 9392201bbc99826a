"""Signed bundles: a rewritten manifest, a forger's own key or a removed signature are named."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from bundles import sealed_run
from click.testing import CliRunner

from harness.cli import main
from harness.errors import ConfigError
from harness.report import verify_reports
from harness.report.bundle import verify_bundle
from harness.report.signing import KEY_ENV, TRUSTED_ENV, key_path, public_key, signing_key


@pytest.fixture(autouse=True)
def own_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is a machine of its own: its key is made in its own config folder."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(TRUSTED_ENV, raising=False)


def report(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["report", *args])
    return result.exit_code, result.output


def test_the_first_seal_makes_a_private_key_outside_the_reports(tmp_path: Path) -> None:
    run_dir = sealed_run(tmp_path / "reports", "a-1")
    assert key_path() == tmp_path / "config" / "chaos-policy-harness" / "signing.key"
    assert oct(key_path().stat().st_mode & 0o777) == "0o600"
    signature = json.loads((run_dir / "manifest.sig").read_text())
    own = signing_key(create=False)
    assert own is not None
    assert signature["public_key"] == public_key(own)
    assert verify_bundle(run_dir) == []
    assert "manifest.sig" not in (run_dir / "manifest.json").read_text()  # signs, not listed


def test_a_rewritten_manifest_breaks_the_signature(tmp_path: Path) -> None:
    run_dir = sealed_run(tmp_path, "a-1")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["files"] = manifest["files"][:-1]
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    problems = [p.render() for p in verify_bundle(run_dir)]
    assert problems[0] == f"{run_dir / 'manifest.sig'}: the signature does not match " + (
        "manifest.json: it was changed after signing"
    )


def test_a_bundle_signed_again_by_another_key_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forger = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv(KEY_ENV, forger)
    run_dir = sealed_run(tmp_path / "reports", "a-1")
    monkeypatch.delenv(KEY_ENV)
    sealed_run(tmp_path / "reports", "a-2")  # this machine's own key, made now
    (problem,) = verify_bundle(run_dir)
    assert problem.file == "manifest.sig"
    assert "which is not trusted here" in problem.what

    code, out = report("--reports", str(tmp_path / "reports"))  # never indexed
    assert code == 1
    assert f"{run_dir}: not indexed: it fails verification" in out
    assert "1 runs indexed" in out

    forger_public = json.loads((run_dir / "manifest.sig").read_text())["public_key"]
    monkeypatch.setenv(TRUSTED_ENV, f"other, {forger_public}")  # e.g. the CI's key, on a laptop
    assert verify_bundle(run_dir) == []
    code, out = report("--reports", str(tmp_path / "reports"))
    assert code == 0, out
    monkeypatch.delenv(TRUSTED_ENV)  # once indexed, the history trusts that key
    assert verify_reports(tmp_path / "reports").problems == []


def test_a_signature_removed_after_indexing_is_named(tmp_path: Path) -> None:
    run_dir = sealed_run(tmp_path, "a-1")
    assert report("--reports", str(tmp_path))[0] == 0
    (run_dir / "manifest.sig").unlink()
    assert verify_bundle(run_dir) == []  # unsigned bundles pass their hashes...
    problems = [p.render() for p in verify_reports(tmp_path).problems]
    assert len(problems) == 1  # ... not the history's memory
    assert problems[0].startswith(f"{run_dir / 'manifest.sig'}: unsigned; the history recorded")


def test_a_malformed_signing_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "not a key")
    with pytest.raises(ConfigError) as caught:
        signing_key()
    assert caught.value.where == KEY_ENV
    assert "base64 of 32 bytes" in str(caught.value)
