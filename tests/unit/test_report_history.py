"""The run history: recorded from sealed bundles, idempotent, schema versioned."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from bundles import later, run_timeline, sealed_run, verdict, write_run

from harness.policies import Status
from harness.report.history import (
    SCHEMA_VERSION,
    History,
    HistoryError,
    history_path,
    index_bundles,
    read_bundle,
)


def rows(reports: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(reports / "history.sqlite")
    try:
        runs = db.execute("SELECT * FROM runs ORDER BY run_id").fetchall()
        verdicts = db.execute("SELECT * FROM verdicts ORDER BY run_id, position").fetchall()
    finally:
        db.close()
    return runs + verdicts


def test_a_bundle_becomes_a_history_row_with_its_kpis_and_verdicts(tmp_path: Path) -> None:
    bundle = sealed_run(
        tmp_path,
        "pp-1",
        verdicts=[
            verdict("pauses", Status.FAILED, "no workflow.pause within 30s"),
            verdict("no_data_lost", Status.BROKEN, "no order was accepted"),
        ],
    )
    run = read_bundle(bundle, tmp_path)
    assert (run.run_id, run.scenario, run.mode, run.target) == (
        "pp-1",
        "payments-partition",
        "automated",
        "process",
    )
    assert run.started_at == "2026-11-02T09:00:00+00:00"
    assert run.time_scale == 0.05
    assert run.mttr == pytest.approx(2.0)  # fault at 2.0, probe ok again from 4.0
    assert run.scenario_mttr() == pytest.approx(40.0)
    assert run.mttd is None  # the hand-made timeline has no automation event
    assert run.lost is True
    assert run.bundle == "runs/pp-1"
    assert [(v.policy, v.outcome) for v in run.verdicts] == [
        ("pauses", "failed"),
        ("no_data_lost", "broken"),
    ]


def test_indexing_twice_changes_nothing(tmp_path: Path) -> None:
    sealed_run(tmp_path, "a-1", verdicts=[verdict("pauses"), verdict("resumes")])
    sealed_run(tmp_path, "a-2", timeline=run_timeline(later(5), recovered_at=None))
    first = index_bundles(tmp_path)
    assert first.indexed == ["a-1", "a-2"]
    before = rows(tmp_path)
    second = index_bundles(tmp_path)
    assert (second.indexed, second.unchanged) == ([], ["a-1", "a-2"])
    again = index_bundles(tmp_path, again=True)
    assert again.indexed == ["a-1", "a-2"]
    assert rows(tmp_path) == before
    assert len(before) == 2 + 3  # two runs, three verdicts


def test_adding_a_run_again_replaces_it(tmp_path: Path) -> None:
    run = read_bundle(sealed_run(tmp_path, "a-1", verdicts=[verdict("pauses")]), tmp_path)
    with History(tmp_path / "history.sqlite") as history:
        history.add(run)
        history.add(run)
        assert [r.verdicts for r in history.runs()] == [run.verdicts]


def test_unsealed_run_directories_are_skipped_and_reported(tmp_path: Path) -> None:
    sealed_run(tmp_path, "a-1")
    write_run(tmp_path, "kept-1")
    result = index_bundles(tmp_path)
    assert result.indexed == ["a-1"]
    assert result.unsealed == [tmp_path / "runs" / "kept-1"]


def test_an_unreadable_bundle_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    sealed_run(tmp_path, "a-1")
    bad = sealed_run(tmp_path, "a-2")
    (bad / "timeline.json").write_text("{not json")
    result = index_bundles(tmp_path)
    assert result.indexed == ["a-1"]
    assert [p.where for p in result.problems] == [str(bad)]
    assert "fails verification" in result.problems[0].what
    assert "timeline.json: changed" in result.problems[0].actual


def test_runs_keeps_each_scenarios_latest_and_orders_them_oldest_first(tmp_path: Path) -> None:
    for i in range(4):
        sealed_run(tmp_path, f"a-{i}", "alpha", timeline=run_timeline(later(10 * i)))
    sealed_run(tmp_path, "b-0", "beta", timeline=run_timeline(later(15)))
    index_bundles(tmp_path)
    with History(tmp_path / "history.sqlite") as history:
        assert [r.run_id for r in history.runs(last=2)] == ["b-0", "a-2", "a-3"]
        assert len(history.runs()) == 5
        assert [v.policy for v in history.runs(last=1)[0].verdicts] == ["steady_state"]


def test_the_schema_version_is_sqlites_user_version(tmp_path: Path) -> None:
    History(tmp_path / "history.sqlite").close()
    db = sqlite3.connect(tmp_path / "history.sqlite")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


def test_a_version_2_history_learns_which_bundles_are_signed(tmp_path: Path) -> None:
    sealed_run(tmp_path, "pp-1")
    index_bundles(tmp_path)
    db = sqlite3.connect(tmp_path / "history.sqlite")  # make it what version 2 wrote
    db.execute("DROP TABLE signatures")
    db.execute("DROP TABLE keys")
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    sealed_run(tmp_path, "pp-2")
    assert index_bundles(tmp_path).indexed == ["pp-2"]
    with History(history_path(tmp_path)) as history:
        assert list(history.signatures()) == ["pp-2"]  # pp-1 again with `harness report --reindex`
        assert len(history.keys()) == 1


def test_a_history_from_a_newer_harness_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    History(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(HistoryError, match=f"schema version {SCHEMA_VERSION + 1}") as caught:
        History(path)
    assert "a newer harness" in caught.value.hint


def test_a_foreign_sqlite_file_is_not_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE runs (x)")
    db.close()
    with pytest.raises(HistoryError, match="not a run history"):
        History(path)


def test_a_file_that_is_no_database_says_where_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    path.write_text("hello")
    with pytest.raises(HistoryError) as caught:
        History(path)
    assert caught.value.where == str(path)
    assert "rebuilds it from the bundles" in caught.value.hint


@pytest.mark.parametrize("status", [Status.ABORTED, Status.INTERRUPTED])
def test_an_aborted_or_interrupted_run_is_recorded(tmp_path: Path, status: Status) -> None:
    # schema version 1 refused these outcomes (a CHECK constraint): such runs were never indexed
    sealed_run(tmp_path, "pp-1", verdicts=[verdict("guard", status, "stopped")])
    assert index_bundles(tmp_path).indexed == ["pp-1"]
    with History(tmp_path / "history.sqlite") as history:
        (run,) = history.runs()
    assert [(v.policy, v.outcome) for v in run.verdicts] == [("guard", status.value)]


V1_VERDICTS = """CREATE TABLE verdicts (
  run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  policy TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('passed', 'failed', 'broken')),
  summary TEXT NOT NULL,
  PRIMARY KEY (run_id, position)
)"""


def test_a_version_1_history_is_migrated_keeping_its_runs(tmp_path: Path) -> None:
    sealed_run(tmp_path, "pp-1", verdicts=[verdict("pauses", Status.FAILED, "late")])
    index_bundles(tmp_path)
    before = rows(tmp_path)
    db = sqlite3.connect(tmp_path / "history.sqlite")  # make it what version 1 wrote
    db.execute("DROP TABLE signatures")
    db.execute("DROP TABLE keys")
    db.execute("ALTER TABLE verdicts RENAME TO v")
    db.execute(V1_VERDICTS)
    db.execute("INSERT INTO verdicts SELECT * FROM v")
    db.execute("DROP TABLE v")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    sealed_run(tmp_path, "pp-2", verdicts=[verdict("guard", Status.ABORTED, "guard tripped")])
    assert index_bundles(tmp_path).indexed == ["pp-2"]
    after = rows(tmp_path)
    assert set(before) <= set(after)
    assert ("pp-2", 0, "guard", "aborted", "guard tripped") in after
    db = sqlite3.connect(tmp_path / "history.sqlite")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()
