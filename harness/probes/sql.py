"""The ``sql`` probe kind: a read-only query on PostgreSQL (psycopg 3) or SQLite (stdlib).

The DSN picks the driver: ``postgresql://`` (or ``postgres://``) is psycopg, imported only when
such a probe runs (``pip install 'chaos-policy-harness[sql]'``); ``sqlite:///file.db`` is the
stdlib's sqlite3, the path relative to the system file's folder (``sqlite:////abs/file.db`` is
absolute, SQLAlchemy's spelling). Queries run in a read-only transaction, bounded by the
probe's timeout; the value is the first column of the first row, or every row (``returns``).
Errors quote the database's own message, with every password masked.
"""

from __future__ import annotations

import datetime
import decimal
import math
import sqlite3
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import JsonValue

from harness.hookspecs import hookimpl
from harness.probes.base import (
    PlaceholderError,
    ProbeContext,
    ProbeKind,
    Reading,
    Secrets,
    error_text,
    expand,
    failed,
)
from harness.probespec import CheckSpec, SqlCheck

MAX_ROWS = 100_000  # rows one read may return; a final state of a test run has far fewer


@dataclass(frozen=True)
class Rows:
    """A query's result: column names and rows, as JSON values."""

    columns: tuple[str, ...]
    rows: tuple[tuple[JsonValue, ...], ...]


class QueryError(Exception):
    """The query could not run; the message says why (quoting the database) and what to try."""


class SqlKind:
    """Runs the query; what it returns (as the spec's ``returns`` says) is the value."""

    spec = SqlCheck

    def read(self, spec: CheckSpec, context: ProbeContext) -> Reading:
        """One connection, one read-only query."""
        assert isinstance(spec, SqlCheck)
        secrets = Secrets()
        try:
            dsn = expand(spec.dsn, context, secrets)
        except PlaceholderError as exc:
            return failed(str(exc), secrets)
        start = time.monotonic()
        try:
            result = run_query(dsn, spec.query, spec.timeout, context.base_dir)
        except QueryError as exc:
            return failed(f"{spec.dsn}: {exc}", secrets)
        latency = round((time.monotonic() - start) * 1000, 1)
        value: JsonValue
        if spec.returns == "rows":
            value = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
        elif spec.returns == "lists":
            value = [list(row) for row in result.rows]
        else:
            value = result.rows[0][0] if result.rows and result.rows[0] else None
        return Reading(value=value, latency_ms=latency)


def run_query(dsn: str, query: str, timeout: float, base_dir: Path) -> Rows:
    """Run ``query`` read-only on the database ``dsn`` names; QueryError if it cannot."""
    scheme = dsn.split(":", 1)[0].lower() if ":" in dsn else ""
    if scheme == "sqlite":
        return _sqlite(dsn, query, timeout, base_dir)
    if scheme in ("postgresql", "postgres"):
        return _postgresql(dsn, query, timeout)
    raise QueryError(
        f"unsupported database URL scheme {scheme + ':' if scheme else '(none)'}; "
        "expected postgresql://... or sqlite:///path"
    )


def _postgresql(dsn: str, query: str, timeout: float) -> Rows:
    try:
        import psycopg
    except ImportError:
        raise QueryError(
            "PostgreSQL needs psycopg 3: pip install 'chaos-policy-harness[sql]'"
        ) from None
    try:
        with psycopg.connect(dsn, connect_timeout=max(2, math.ceil(timeout))) as conn:
            conn.read_only = True
            conn.execute(f"SET statement_timeout = {max(1, round(timeout * 1000))}")
            cursor = conn.execute(query.encode("utf-8"))
            result = _fetch(cursor.description, cursor.fetchmany(MAX_ROWS + 1))
            conn.rollback()
            return result
    except psycopg.OperationalError as exc:
        raise QueryError(
            f"cannot query PostgreSQL: {error_text(exc)}; is the server up, and are the "
            "host, port, database, user and password in the DSN right?"
        ) from None
    except psycopg.Error as exc:
        raise QueryError(f"the query failed: {error_text(exc)}") from None


def _sqlite(dsn: str, query: str, timeout: float, base_dir: Path) -> Rows:
    raw = dsn.split(":", 1)[1].removeprefix("///")
    path = Path(raw) if raw.startswith("/") else base_dir / raw
    if not path.is_file():
        raise QueryError(f"no SQLite database at {path} (relative paths start at {base_dir})")
    deadline = time.monotonic() + timeout
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=timeout)
    except sqlite3.Error as exc:
        raise QueryError(f"cannot open {path}: {error_text(exc)}") from None
    try:
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        cursor = conn.execute(query)
        return _fetch(cursor.description, cursor.fetchmany(MAX_ROWS + 1))
    except sqlite3.Error as exc:
        late = time.monotonic() > deadline
        why = f"no answer within {timeout:g}s" if late else error_text(exc)
        raise QueryError(f"the query failed: {why}") from None
    finally:
        conn.close()


def _fetch(description: Sequence[Any] | None, rows: Sequence[Sequence[Any]]) -> Rows:
    if description is None:
        raise QueryError("the query returns no rows (a SELECT is expected)")
    if len(rows) > MAX_ROWS:
        raise QueryError(f"more than {MAX_ROWS} rows; narrow the query")
    columns = tuple(str(d[0]) for d in description)
    return Rows(columns, tuple(tuple(to_json(v) for v in row) for row in rows))


def to_json(value: Any) -> JsonValue:
    """A database value as JSON: decimals as numbers, times as ISO text, bytes as hex."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID | datetime.timedelta):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return str(value)


@hookimpl(trylast=True)
def harness_probe_kinds() -> Mapping[str, ProbeKind]:
    """The built-in ``sql`` kind."""
    return {"sql": SqlKind()}
