"""The run history: one SQLite file (``reports/history.sqlite``) with every sealed run.

Each run is recorded from its sealed bundle alone (``environment.json``, ``manifest.json``,
``timeline.json``, ``verdicts.json``), so the history can always be rebuilt from the bundles:
``harness report`` indexes every sealed bundle under ``reports/runs/`` and adding a run again
replaces it (idempotent). The schema's version is SQLite's ``PRAGMA user_version``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import TypeAdapter

from harness.errors import HarnessError
from harness.policies import Verdict
from harness.report import kpi
from harness.report.bundle import (
    ENVIRONMENT,
    MANIFEST,
    BundleError,
    Environment,
    read_manifest,
    verify_bundle,
)
from harness.timeline import Timeline

SCHEMA_VERSION = 3
BUSY_TIMEOUT = 30.0
"""Seconds to wait for another process (an xdist worker) that is writing the history."""

_SCHEMA = (
    """
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY,
  scenario TEXT NOT NULL,
  started_at TEXT NOT NULL,            -- UTC, ISO 8601
  target TEXT NOT NULL,
  time_scale REAL NOT NULL,
  mode TEXT NOT NULL,                  -- automated | manual | no-automation
  mttr_measured_s REAL,                -- seconds of the run; NULL: not restored
  mttd_measured_s REAL,                -- seconds of the run; NULL: not detected
  steady_state_lost INTEGER,           -- 1: a steady-state probe failed after the first fault
  bundle TEXT NOT NULL,                -- the bundle directory, relative to the reports dir
  sealed_at TEXT NOT NULL,             -- UTC, ISO 8601 (the manifest's creation time)
  harness_version TEXT NOT NULL
)""",
    "CREATE INDEX runs_by_scenario ON runs (scenario, started_at)",
    """
CREATE TABLE verdicts (
  run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
  position INTEGER NOT NULL,           -- the expectation's place in the scenario
  policy TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('passed', 'failed', 'broken', 'aborted', 'interrupted')),
  summary TEXT NOT NULL,
  PRIMARY KEY (run_id, position)
)""",
    """
CREATE TABLE signatures (
  run_id TEXT PRIMARY KEY REFERENCES runs (run_id) ON DELETE CASCADE,
  public_key TEXT NOT NULL             -- base64 Ed25519: who signed the bundle's manifest
)""",
    """
CREATE TABLE keys (
  public_key TEXT PRIMARY KEY,         -- a key whose bundles were indexed: trusted from then on
  first_run TEXT NOT NULL
)""",
)
"""The statements of schema version 3 (one by one: ``executescript`` would commit first)."""
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 1 -> 2: a verdict may also be aborted (a guard tripped) or interrupted; version 1's CHECK
    # refused them, so such runs never reached the history. SQLite cannot change a CHECK: the
    # table is rebuilt (https://www.sqlite.org/lang_altertable.html#otheralter).
    1: (
        "ALTER TABLE verdicts RENAME TO verdicts_v1",
        _SCHEMA[2],
        "INSERT INTO verdicts SELECT * FROM verdicts_v1",
        "DROP TABLE verdicts_v1",
    ),
    # 2 -> 3: which bundles were signed, and by which keys (signing came after)
    2: (_SCHEMA[3], _SCHEMA[4]),
}
_VERDICTS: TypeAdapter[list[Verdict]] = TypeAdapter(list[Verdict])


class HistoryError(HarnessError):
    """The history file cannot be read or written."""


@dataclass(frozen=True)
class RunVerdict:
    """One verdict of a recorded run."""

    policy: str
    outcome: str
    summary: str


@dataclass(frozen=True)
class HistoryRun:
    """One sealed run as the history records it; KPIs in seconds as measured in the run."""

    run_id: str
    scenario: str
    started_at: str
    target: str
    time_scale: float
    mode: str
    mttr: float | None
    mttd: float | None
    lost: bool | None  # a steady-state probe failed after the first fault (None: no fault)
    bundle: str
    sealed_at: str
    harness_version: str
    verdicts: tuple[RunVerdict, ...] = ()
    signed_by: str | None = None
    """The public key (base64) that signed the bundle's manifest; None: unsigned."""

    def scenario_mttr(self) -> float | None:
        """MTTR in the scenario's time (measured / time scale)."""
        return kpi.scenario_seconds(self.mttr, self.time_scale)

    def scenario_mttd(self) -> float | None:
        """MTTD in the scenario's time (measured / time scale)."""
        return kpi.scenario_seconds(self.mttd, self.time_scale)


def read_bundle(bundle: Path, reports_dir: Path) -> HistoryRun:
    """A sealed bundle as a history row: its environment, verdicts and the timeline's KPIs."""
    from harness.report.signing import read_signature  # cryptography, only when reading one

    manifest = read_manifest(bundle)
    try:
        env = Environment.model_validate_json((bundle / ENVIRONMENT).read_bytes())
        timeline = Timeline.from_json((bundle / "timeline.json").read_text(encoding="utf-8"))
        verdicts = _VERDICTS.validate_json((bundle / "verdicts.json").read_bytes())
        signature = read_signature(bundle)
    except (OSError, ValueError, KeyError) as exc:  # ValidationError is a ValueError
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BundleError(
            what="the bundle cannot be read into the history",
            where=str(bundle),
            actual=detail,
            hint="check it with `harness report --verify`",
        ) from None
    return HistoryRun(
        run_id=env.run_id,
        scenario=env.scenario,
        started_at=timeline.started_at.astimezone(UTC).isoformat(),
        target=env.target,
        time_scale=env.time_scale,
        mode=env.mode,
        mttr=kpi.mttr(timeline),
        mttd=kpi.mttd(timeline),
        lost=kpi.steady_state_lost(timeline),
        bundle=_relative(bundle, reports_dir),
        sealed_at=manifest.created_at.astimezone(UTC).isoformat(),
        harness_version=env.harness_version,
        verdicts=tuple(RunVerdict(v.policy, v.status.value, v.summary) for v in verdicts),
        signed_by=signature.public_key if signature else None,
    )


def _relative(bundle: Path, reports_dir: Path) -> str:
    try:
        return bundle.resolve().relative_to(reports_dir.resolve()).as_posix()
    except ValueError:
        return str(bundle.resolve())


class History:
    """The history file, open; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(
                what="the run history cannot be opened", where=str(path), actual=str(exc)
            ) from None
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            self._ensure_schema()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise HistoryError(
                what="the run history cannot be opened",
                where=str(path),
                actual=str(exc),
                hint="move the file away: `harness report` rebuilds it from the bundles",
            ) from None
        except HistoryError:
            self._db.close()
            raise

    def __enter__(self) -> History:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def _ensure_schema(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")  # one process creates the schema, the others wait
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                if self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    raise HistoryError(
                        what="this SQLite file is not a run history (it has other tables)",
                        where=str(self.path),
                        hint="give the reports directory its own history.sqlite",
                    )
                for statement in _SCHEMA:
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version in _MIGRATIONS:  # an older harness wrote it: bring it up to date
                while version in _MIGRATIONS:
                    for statement in _MIGRATIONS[version]:
                        self._db.execute(statement)
                    version += 1
                self._db.execute(f"PRAGMA user_version = {version}")
            elif version != SCHEMA_VERSION:
                raise HistoryError(
                    what=f"the run history has schema version {version}",
                    where=str(self.path),
                    expected=f"version {SCHEMA_VERSION}",
                    hint="a newer harness wrote it: upgrade, or move the file away and rebuild "
                    "it with `harness report`",
                )
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def add(self, run: HistoryRun) -> None:
        """Record a run and its verdicts, replacing any earlier record of the same run."""
        row = (
            run.run_id,
            run.scenario,
            run.started_at,
            run.target,
            run.time_scale,
            run.mode,
            run.mttr,
            run.mttd,
            run.lost,
            run.bundle,
            run.sealed_at,
            run.harness_version,
        )
        verdicts = [
            (run.run_id, i, v.policy, v.outcome, v.summary) for i, v in enumerate(run.verdicts)
        ]
        with self._transaction():
            self._db.execute("DELETE FROM signatures WHERE run_id = ?", (run.run_id,))
            self._db.execute("DELETE FROM runs WHERE run_id = ?", (run.run_id,))
            self._db.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            self._db.executemany("INSERT INTO verdicts VALUES (?, ?, ?, ?, ?)", verdicts)
            if run.signed_by is not None:
                self._db.execute(
                    "INSERT INTO signatures VALUES (?, ?)", (run.run_id, run.signed_by)
                )
                self._db.execute(
                    "INSERT OR IGNORE INTO keys VALUES (?, ?)", (run.signed_by, run.run_id)
                )

    def keys(self) -> set[str]:
        """Public keys of the signed bundles indexed so far: trusted for later ones."""
        return {k for (k,) in self._db.execute("SELECT public_key FROM keys").fetchall()}

    def signatures(self) -> dict[str, str]:
        """Run id -> the public key that signed its bundle, for every signed recorded run."""
        return dict(self._db.execute("SELECT run_id, public_key FROM signatures").fetchall())

    def sealed_at(self) -> dict[str, str]:
        """Run id -> when its bundle was sealed, for every recorded run."""
        return dict(self._db.execute("SELECT run_id, sealed_at FROM runs").fetchall())

    def runs(self, last: int | None = None) -> list[HistoryRun]:
        """Recorded runs, oldest first; with ``last``, only each scenario's ``last`` latest."""
        limit = -1 if last is None else last
        chosen = """
            WITH chosen AS (
              SELECT * FROM (
                SELECT *, row_number() OVER (PARTITION BY scenario ORDER BY started_at DESC) AS n
                FROM runs)
              WHERE ? < 0 OR n <= ?)
        """
        rows = self._db.execute(
            chosen
            + """
            SELECT run_id, scenario, started_at, target, time_scale, mode, mttr_measured_s,
                   mttd_measured_s, steady_state_lost, bundle, sealed_at, harness_version
            FROM chosen ORDER BY started_at, run_id
            """,
            (limit, limit),
        ).fetchall()
        verdicts: dict[str, list[RunVerdict]] = {}
        for run_id, policy, outcome, summary in self._db.execute(
            chosen
            + """
            SELECT v.run_id, v.policy, v.outcome, v.summary
            FROM verdicts AS v JOIN chosen USING (run_id) ORDER BY v.run_id, v.position
            """,
            (limit, limit),
        ):
            verdicts.setdefault(run_id, []).append(RunVerdict(policy, outcome, summary))
        return [_run_of(row, tuple(verdicts.get(row[0], ()))) for row in rows]

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


def _run_of(row: tuple[Any, ...], verdicts: tuple[RunVerdict, ...]) -> HistoryRun:
    run_id, scenario, started, target, scale, mode, mttr, mttd, lost, bundle, sealed, version = row
    return HistoryRun(
        run_id=run_id,
        scenario=scenario,
        started_at=started,
        target=target,
        time_scale=scale,
        mode=mode,
        mttr=mttr,
        mttd=mttd,
        lost=None if lost is None else bool(lost),
        bundle=bundle,
        sealed_at=sealed,
        harness_version=version,
        verdicts=verdicts,
    )


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        elif self._db.in_transaction:
            self._db.execute("ROLLBACK")


@dataclass
class IndexResult:
    """What indexing the bundles of a reports directory did."""

    indexed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    unsealed: list[Path] = field(default_factory=list)
    problems: list[BundleError] = field(default_factory=list)


def history_path(reports_dir: Path) -> Path:
    """Where a reports directory keeps its history."""
    return reports_dir / "history.sqlite"


def index_bundles(reports_dir: Path, *, again: bool = False) -> IndexResult:
    """Add every sealed bundle under ``reports_dir/runs`` not yet recorded (``again``: all)."""
    from harness.report.signing import trusted_keys

    result = IndexResult()
    runs = reports_dir / "runs"
    bundles = sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
    with History(history_path(reports_dir)) as history:
        known = {} if again else history.sealed_at()
        trusted = trusted_keys() | history.keys()
        for bundle in bundles:
            if not (bundle / MANIFEST).exists():
                result.unsealed.append(bundle)
                continue
            try:
                if bundle.name in known and _sealed_at(bundle) == known[bundle.name]:
                    result.unchanged.append(bundle.name)
                    continue
                _check(bundle, trusted)
                run = read_bundle(bundle, reports_dir)
            except BundleError as exc:
                result.problems.append(exc)
                continue
            history.add(run)
            result.indexed.append(run.run_id)
    return result


def _check(bundle: Path, trusted: set[str]) -> None:
    """Refuse a bundle changed since it was sealed, or signed by a key not trusted here.

    Re-judging is ``--verify``'s: it is slow.
    """
    problems = verify_bundle(bundle, trusted)
    if problems:
        raise BundleError(
            what="not indexed: it fails verification",
            where=str(bundle),
            actual="; ".join(f"{p.file}: {p.what}" for p in problems),
            hint="see `harness report --verify`",
        )


def _sealed_at(bundle: Path) -> str:
    return read_manifest(bundle).created_at.astimezone(UTC).isoformat()
