"""Real database and metrics servers for the probe tests: PostgreSQL, Redis, Prometheus.

Each is started once per test session in a temporary folder on a free loopback port, waited for
with a deadline, and always stopped. Missing binaries fail the tests on CI (CI=1: `make test`
installs them from Debian) and skip them elsewhere.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_USER = "harness-pg"  # initdb and postgres refuse to run as root
PG_PASSWORD = "pg-s3cret-do-not-leak"
APP_PASSWORD = "app-s3cret-do-not-leak"
REDIS_PASSWORD = "redis-s3cret-do-not-leak"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def missing(what: str, install: str) -> None:
    """Fail on CI (it must run these tests), skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not installed; CI installs it with `{install}`", False)
    pytest.skip(f"{what} is not installed (`{install}`)")


def wait_for(
    what: str, ready: Callable[[], bool], seconds: float, proc: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before it was ready")
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} was not ready within {seconds:g}s")


def stop(proc: subprocess.Popen[bytes], sig: int = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# --- PostgreSQL -----------------------------------------------------------------------------


def pg_bindir() -> Path | None:
    """Debian keeps initdb and postgres off PATH, under /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(versions[-1]).parent if versions else None


def _as_user(user: str | None) -> list[str]:
    """A prefix that runs a command as ``user`` (setpriv execs it: the pid stays the server's)."""
    if user is None:
        return []
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]


def _pg_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
            check=True,
        )
    return PG_USER


@dataclass(frozen=True)
class Postgres:
    port: int

    @property
    def endpoint(self) -> str:
        return f"postgresql://127.0.0.1:{self.port}"


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server with database ``orders``, its tables, and a read-only role ``app``.

    Its folder is a fresh one under the system's temporary directory, not pytest's (which only
    root may enter), owned by the unprivileged user that runs the server; removed at the end.
    """
    bindir = pg_bindir()
    if bindir is None:
        missing("PostgreSQL (initdb, postgres)", "make postgresql")
    assert bindir is not None
    user = _pg_user()
    base = Path(tempfile.mkdtemp(prefix="harness-pg-"))
    try:
        data, pwfile = base / "data", base / "pw"
        pwfile.write_text(PG_PASSWORD)
        if user:
            entry = pwd.getpwnam(user)
            for path in (base, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        with _pg_running(bindir, _as_user(user), base, data, pwfile) as server:
            yield server
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def _pg_running(
    bindir: Path, prefix: list[str], base: Path, data: Path, pwfile: Path
) -> Iterator[Postgres]:
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", f"--pwfile={pwfile}",
         "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    port = free_port()
    log = (base / "postgres.log").open("wb")
    proc = subprocess.Popen(
        [*prefix, str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(base),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        server = Postgres(port)
        wait_for("postgres", lambda: _pg_ready(server), 30, proc)
        _pg_fixtures(server)
        yield server
    finally:
        stop(proc, 2)  # SIGINT: fast shutdown
        log.close()


def _admin_dsn(server: Postgres, db: str = "postgres") -> str:
    return f"{server.endpoint}/{db}?user=postgres&password={PG_PASSWORD}&connect_timeout=2"


def _pg_ready(server: Postgres) -> bool:
    import psycopg

    try:
        psycopg.connect(_admin_dsn(server)).close()
    except psycopg.OperationalError:
        return False
    return True


def _pg_fixtures(server: Postgres) -> None:
    import psycopg

    with psycopg.connect(_admin_dsn(server), autocommit=True) as conn:
        conn.execute("CREATE DATABASE orders")
        conn.execute(f"CREATE ROLE app LOGIN PASSWORD '{APP_PASSWORD}'")
    with psycopg.connect(_admin_dsn(server, "orders"), autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id text PRIMARY KEY, status text, amount numeric)")
        conn.execute("CREATE TABLE charges (order_id text, charged_at timestamptz DEFAULT now())")
        conn.execute(
            "INSERT INTO orders VALUES ('o1', 'done', 42.5), ('o2', 'done', 10), ('o3', 'stuck', 7)"
        )
        conn.execute("INSERT INTO charges (order_id) VALUES ('o1'), ('o2'), ('o2')")
        conn.execute("GRANT SELECT ON orders, charges TO app")


# --- Redis ----------------------------------------------------------------------------------


@contextlib.contextmanager
def redis_server(base: Path) -> Iterator[str]:
    """A password-protected redis-server; yields its endpoint ``redis://127.0.0.1:PORT``."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server", "make redis")
    assert binary is not None
    import redis

    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--requirepass", REDIS_PASSWORD, "--dir", str(base)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port, password=REDIS_PASSWORD, socket_timeout=1)

    def pings() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    try:
        wait_for("redis-server", pings, 15, proc)
        client.rpush("queue:orders", "o4")
        client.sadd("stored", "o1", "o2")
        client.hset("charges", mapping={"o1": 1, "o2": 2})
        yield f"redis://127.0.0.1:{port}"
    finally:
        client.close()
        stop(proc)


# --- Prometheus -----------------------------------------------------------------------------


@contextlib.contextmanager
def prometheus(base: Path) -> Iterator[str]:
    """Prometheus scraping a tiny exporter every 200 ms; yields its base URL once it has data.

    The exporter (prometheus-client's HTTP server, in this process) has ``probe_test_depth``
    with two queues (3 and 0) and ``probe_test_up`` = 1.
    """
    binary = shutil.which("prometheus")
    if binary is None:
        missing("prometheus", "make prometheus")
    assert binary is not None
    import httpx
    from prometheus_client import CollectorRegistry, Gauge, start_http_server

    registry = CollectorRegistry()
    depth = Gauge("probe_test_depth", "queue depth", ["queue"], registry=registry)
    depth.labels("orders").set(3)
    depth.labels("refunds").set(0)
    Gauge("probe_test_up", "up", registry=registry).set(1)
    exporter_port, port = free_port(), free_port()
    exporter, thread = start_http_server(exporter_port, addr="127.0.0.1", registry=registry)
    config = base / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 200ms, scrape_timeout: 200ms, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: exporter\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n"
    )
    log = (base / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={base / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def scraped() -> bool:
        try:
            answer = httpx.get(f"{url}/api/v1/query", params={"query": "probe_test_up"}, timeout=1)
            return bool(answer.json()["data"]["result"])
        except (httpx.HTTPError, ValueError, KeyError):
            return False

    try:
        wait_for("prometheus", scraped, 30, proc)
        yield url
    finally:
        stop(proc)
        log.close()
        exporter.shutdown()
        exporter.server_close()
        thread.join(timeout=5)
