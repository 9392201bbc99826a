"""Sealing a run directory as an evidence bundle, and finding every change made since."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bundles import sealed_run, write_run

import harness
from harness.report import archive_run
from harness.report.bundle import (
    ENVIRONMENT,
    MANIFEST,
    BundleError,
    environment,
    redact,
    seal_bundle,
    verify_bundle,
)
from harness.report.history import History, history_path


def seal(run_dir: Path, options: dict[str, object] | None = None) -> None:
    env = environment(
        run_dir,
        run_id=run_dir.name,
        scenario="payments-partition",
        target="process",
        time_scale=0.05,
        options=options or {},
    )
    seal_bundle(run_dir, env, now=datetime(2026, 11, 2, 9, 30, tzinfo=UTC))


def problems(run_dir: Path) -> list[tuple[str, str]]:
    return [(p.file, p.what.split(" ")[0]) for p in verify_bundle(run_dir)]


def test_the_manifest_lists_every_file_but_itself_sorted_with_hash_and_size(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, "r1")
    seal(run_dir)
    manifest = json.loads((run_dir / MANIFEST).read_text())
    paths = [f["path"] for f in manifest["files"]]
    assert paths == [
        "environment.json",
        "logs/api.log",
        "logs/toxiproxy.log",
        "scenario.yaml",
        "state.json",
        "timeline.json",
        "verdicts.json",
    ]
    for entry in manifest["files"]:
        data = (run_dir / entry["path"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["size"] == len(data)
    assert manifest["created_at"] == "2026-11-02T09:30:00Z"
    assert verify_bundle(run_dir) == []
    assert not list(run_dir.glob(".*")), "no temporary file is left behind"


def test_environment_records_versions_and_run_settings(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, "r1")
    seal(run_dir, {"time_scale": 0.05, "keep_env": False, "reports_dir": tmp_path})
    env = json.loads((run_dir / ENVIRONMENT).read_text())
    assert env["toxiproxy_version"] == "2.12.0"  # from the private server's first log line
    assert env["harness_version"] == harness.__version__
    assert env["python"].startswith("3.")
    assert env["platform"]
    assert (env["scenario"], env["target"], env["time_scale"]) == (
        "payments-partition",
        "process",
        0.05,
    )
    assert env["mode"] == "automated"
    assert env["options"] == {"time_scale": 0.05, "keep_env": False, "reports_dir": str(tmp_path)}


def test_without_a_private_server_log_the_toxiproxy_version_is_unknown(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, "r1")
    (run_dir / "logs" / "toxiproxy.log").unlink()
    seal(run_dir)
    assert json.loads((run_dir / ENVIRONMENT).read_text())["toxiproxy_version"] is None


def test_secrets_never_reach_the_environment_file(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, "r1")
    options: dict[str, object] = {
        "sut_env": {
            "DEFECT": "no-pause",
            "API_TOKEN": "tok-123456",
            "db_password": "pw-123456",
            "STRIPE_KEY": "sk-123456",
            "DATABASE_DSN": "postgres://u:dsn-123456@db/x",
        },
        "toxiproxy_url": "http://admin:url-123456@127.0.0.1:8474",
        "client_secret": "cs-123456",
    }
    seal(run_dir, options)
    text = (run_dir / ENVIRONMENT).read_text()
    assert "123456" not in text
    env = json.loads(text)
    assert env["options"]["sut_env"] == {"DEFECT": "no-pause"}
    assert env["options"]["toxiproxy_url"] == "http://***@127.0.0.1:8474"
    assert env["redacted"] == [
        "client_secret",
        "sut_env.API_TOKEN",
        "sut_env.DATABASE_DSN",
        "sut_env.STRIPE_KEY",
        "sut_env.db_password",
    ]


def test_redact_keeps_plain_values_and_lists() -> None:
    kept, dropped = redact({"labels": ["a", 1, None], "nested": {"x": 1.5}})
    assert kept == {"labels": ["a", 1, None], "nested": {"x": 1.5}}
    assert dropped == []


def test_sealing_twice_is_an_error_that_says_where(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, "r1")
    seal(run_dir)
    before = (run_dir / MANIFEST).read_bytes()
    with pytest.raises(BundleError, match="already sealed") as caught:
        seal(run_dir)
    assert caught.value.where == str(run_dir / MANIFEST)
    assert "harness report --verify" in caught.value.hint
    assert (run_dir / MANIFEST).read_bytes() == before


def test_a_half_sealed_bundle_is_not_sealed_over(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, "r1")
    (run_dir / ENVIRONMENT).write_text("{}")
    with pytest.raises(BundleError, match="stopped half-way"):
        seal(run_dir)
    assert not (run_dir / MANIFEST).exists()


def test_a_link_in_the_run_directory_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, "r1")
    (run_dir / "logs" / "elsewhere.log").symlink_to(tmp_path / "outside.log")
    with pytest.raises(BundleError, match="regular files only"):
        seal(run_dir)
    assert not (run_dir / ENVIRONMENT).exists()


def test_verify_finds_a_deleted_file(tmp_path: Path) -> None:
    run_dir = sealed_run(tmp_path, "r1")
    (run_dir / "logs" / "api.log").unlink()
    assert problems(run_dir) == [("logs/api.log", "missing")]


def test_verify_finds_an_edited_file_even_of_the_same_size(tmp_path: Path) -> None:
    run_dir = sealed_run(tmp_path, "r1")
    path = run_dir / "verdicts.json"
    path.write_text(path.read_text().replace("passed", "failed"))
    found = verify_bundle(run_dir)
    assert [(p.file, p.what.split(" ")[0]) for p in found] == [("verdicts.json", "changed")]
    assert found[0].render().startswith(f"{run_dir / 'verdicts.json'}: changed")


def test_verify_finds_an_added_file(tmp_path: Path) -> None:
    run_dir = sealed_run(tmp_path, "r1")
    (run_dir / "logs" / "late.log").write_text("added after sealing\n")
    assert problems(run_dir) == [("logs/late.log", "extra")]


def test_verify_finds_every_problem_at_once(tmp_path: Path) -> None:
    run_dir = sealed_run(tmp_path, "r1")
    (run_dir / "state.json").unlink()
    (run_dir / "timeline.json").write_text("{}")
    (run_dir / "notes.txt").write_text("x")
    assert problems(run_dir) == [
        ("state.json", "missing"),
        ("timeline.json", "changed"),
        ("notes.txt", "extra"),
    ]


def test_verify_without_a_manifest_says_not_sealed(tmp_path: Path) -> None:
    run_dir = sealed_run(tmp_path, "r1")
    (run_dir / MANIFEST).unlink()
    assert [p.what for p in verify_bundle(run_dir)] == ["not sealed: no manifest.json"]


def test_verify_with_a_damaged_manifest_says_so(tmp_path: Path) -> None:
    run_dir = sealed_run(tmp_path, "r1")
    (run_dir / MANIFEST).write_text('{"files": "all"}')
    assert [p.what for p in verify_bundle(run_dir)] == [
        "manifest.json is unreadable or not a manifest"
    ]


def test_archive_run_seals_and_records_the_run(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, "r1")
    archive_run(
        run_dir,
        tmp_path,
        run_id="r1",
        scenario="payments-partition",
        target="process",
        time_scale=0.05,
        options={"time_scale": 0.05},
    )
    assert verify_bundle(run_dir) == []
    with History(history_path(tmp_path)) as history:
        assert [r.run_id for r in history.runs()] == ["r1"]


def test_a_history_that_cannot_be_written_is_a_warning_and_the_bundle_stays_sealed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    history_path(tmp_path).write_text("not a database, and not ours to overwrite")
    run_dir = write_run(tmp_path, "r1")
    with caplog.at_level(logging.WARNING, logger="harness.report"):
        archive_run(
            run_dir,
            tmp_path,
            run_id="r1",
            scenario="s",
            target="process",
            time_scale=1.0,
            options={},
        )
    assert verify_bundle(run_dir) == []
    assert "sealed but not added to the run history" in caplog.text
    assert "harness report" in caplog.text
