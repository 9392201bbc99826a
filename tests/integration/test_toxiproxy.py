"""The Toxiproxy client and launcher against a real toxiproxy-server 2.12.0, with real traffic."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psutil
import pytest

from harness.errors import ToxiproxyError
from harness.faults import toxiproxy_server
from harness.faults.toxiproxy import (
    Proxy,
    ProxyBytes,
    ProxySpec,
    ToxiproxyClient,
    parse_proxy_bytes,
)
from harness.faults.toxiproxy_server import (
    BINARY_ENV,
    BINARY_NAME,
    ToxiproxyServer,
    find_toxiproxy_binary,
)

pytestmark = pytest.mark.integration

IO_TIMEOUT = 5.0
T = TypeVar("T")
Address = tuple[str, int]


class EchoServer:
    """A TCP echo server on 127.0.0.1, one thread per connection, every socket with a timeout."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.address: Address = self._listener.getsockname()[:2]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(IO_TIMEOUT)
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=IO_TIMEOUT)
        self._listener.close()


def round_trip(address: Address, payload: bytes = b"ping") -> tuple[bytes, float]:
    """Connect, send ``payload``, read the echo; returns what came back and the seconds taken."""
    start = time.monotonic()
    with socket.create_connection(address, timeout=IO_TIMEOUT) as sock:
        sock.sendall(payload)
        received = b""
        while len(received) < len(payload) and (chunk := sock.recv(4096)):
            received += chunk
    return received, time.monotonic() - start


def wait_for(probe: Callable[[], T | None], timeout: float = IO_TIMEOUT) -> T:
    """Poll ``probe`` until it returns a value other than None, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while (value := probe()) is None:
        if time.monotonic() >= deadline:
            pytest.fail(f"nothing after {timeout} s")
        time.sleep(0.02)
    return value


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("toxiproxy") / "server.log"


@pytest.fixture(scope="module")
def server(server_log: Path) -> Iterator[ToxiproxyServer]:
    with ToxiproxyServer(log_path=server_log) as running:
        yield running


@pytest.fixture
def client(server: ToxiproxyServer) -> Iterator[ToxiproxyClient]:
    with server.client() as toxiproxy:
        yield toxiproxy
        toxiproxy.reset()
        for name in toxiproxy.proxies():
            toxiproxy.delete_proxy(name)


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    running = EchoServer()
    yield running
    running.close()


@pytest.fixture
def proxy(client: ToxiproxyClient, echo: EchoServer) -> Proxy:
    host, port = echo.address
    return client.create_proxy("echo", "127.0.0.1:0", f"{host}:{port}")


def test_version_is_the_pinned_release(client: ToxiproxyClient) -> None:
    assert client.version() == "2.12.0"


def test_proxy_lifecycle(client: ToxiproxyClient, echo: EchoServer) -> None:
    upstream = f"{echo.address[0]}:{echo.address[1]}"
    created = client.create_proxy("life", "localhost:0", upstream, enabled=False)
    assert created.listen == "localhost:0"  # as given: nothing is bound while disabled
    assert (created.enabled, created.upstream, created.toxics) == (False, upstream, ())
    assert client.proxies() == {"life": created}
    enabled = client.update_proxy("life", enabled=True)
    assert enabled.enabled
    assert enabled.listen.startswith("127.0.0.1:")  # binding rewrites localhost and port 0
    assert enabled.address[1] != 0
    assert client.get_proxy("life") == enabled
    assert round_trip(enabled.address)[0] == b"ping"
    moved = client.update_proxy("life", upstream=f"localhost:{echo.address[1]}")
    assert (moved.listen, moved.upstream) == (enabled.listen, f"localhost:{echo.address[1]}")
    assert round_trip(moved.address)[0] == b"ping"
    client.delete_proxy("life")
    assert client.proxies() == {}
    client.delete_proxy("life", missing_ok=True)


def test_traffic_partition_and_heal(client: ToxiproxyClient, proxy: Proxy) -> None:
    assert round_trip(proxy.address, b"hello")[0] == b"hello"
    with socket.create_connection(proxy.address, timeout=IO_TIMEOUT) as open_conn:
        open_conn.sendall(b"x")
        assert open_conn.recv(16) == b"x"
        assert not client.update_proxy("echo", enabled=False).enabled
        try:
            after = open_conn.recv(16)
        except ConnectionResetError:
            after = b""
        assert after == b"", "an open connection survived the partition"
    with pytest.raises(ConnectionRefusedError):
        round_trip(proxy.address)
    assert client.update_proxy("echo", enabled=True).listen == proxy.listen
    assert round_trip(proxy.address)[0] == b"ping"


def test_latency_toxic_delays_and_removal_restores(client: ToxiproxyClient, proxy: Proxy) -> None:
    toxic = client.add_toxic("echo", name="slow", type="latency", attributes={"latency": 300})
    assert (toxic.name, toxic.type, toxic.stream, toxic.toxicity) == (
        "slow",
        "latency",
        "downstream",
        1.0,
    )
    assert toxic.attributes == {"latency": 300, "jitter": 0}
    assert client.toxics("echo") == (toxic,)
    assert client.get_proxy("echo").toxics == (toxic,)
    echoed, seconds = round_trip(proxy.address)
    assert echoed == b"ping"
    assert seconds >= 0.25
    client.remove_toxic("echo", "slow")
    assert client.toxics("echo") == ()
    assert round_trip(proxy.address)[0] == b"ping"


def test_update_toxic_keeps_unnamed_attributes(client: ToxiproxyClient, proxy: Proxy) -> None:
    client.add_toxic(
        "echo",
        name="jittery",
        type="latency",
        stream="upstream",
        toxicity=0.5,
        attributes={"latency": 10, "jitter": 5},
    )
    updated = client.update_toxic("echo", "jittery", toxicity=0.25, attributes={"latency": 20})
    assert (updated.stream, updated.toxicity) == ("upstream", 0.25)
    assert updated.attributes == {"latency": 20, "jitter": 5}
    assert client.update_toxic("echo", "jittery").toxicity == 0.25


def test_reset_removes_toxics_and_enables_proxies(client: ToxiproxyClient, proxy: Proxy) -> None:
    client.add_toxic("echo", name="stall", type="timeout", attributes={"timeout": 0})
    client.update_proxy("echo", enabled=False)
    client.reset()
    healed = client.get_proxy("echo")
    assert (healed.enabled, healed.toxics) == (True, ())
    assert round_trip(proxy.address)[0] == b"ping"


def test_populate_creates_keeps_and_replaces(client: ToxiproxyClient, echo: EchoServer) -> None:
    upstream = f"{echo.address[0]}:{echo.address[1]}"
    kept = client.create_proxy("kept", "127.0.0.1:0", upstream)
    client.add_toxic("kept", name="slow", type="latency", attributes={"latency": 1})
    specs = [
        ProxySpec(name="kept", listen=kept.listen, upstream=upstream),
        ProxySpec(name="new", listen="127.0.0.1:0", upstream=upstream, enabled=False),
    ]
    kept_again, new = client.populate(specs)
    assert kept_again.toxics == client.get_proxy("kept").toxics != ()  # unchanged: kept as is
    assert (new.name, new.enabled) == ("new", False)
    assert set(client.proxies()) == {"kept", "new"}


def test_populate_failure_names_what_was_done(client: ToxiproxyClient, echo: EchoServer) -> None:
    upstream = f"{echo.address[0]}:{echo.address[1]}"
    specs = [
        ProxySpec(name="first", listen="127.0.0.1:0", upstream=upstream),
        ProxySpec(name="clash", listen=upstream, upstream=upstream),  # that port is taken
    ]
    with pytest.raises(ToxiproxyError, match="address already in use") as caught:
        client.populate(specs)
    assert "done before the failure: first" in caught.value.actual
    assert set(client.proxies()) == {"first"}


def test_metrics_count_bytes_per_proxy(client: ToxiproxyClient, proxy: Proxy) -> None:
    assert round_trip(proxy.address, b"twelve bytes")[0] == b"twelve bytes"

    def counted() -> ProxyBytes | None:  # bytes are added when the connection's links end
        counters = parse_proxy_bytes(client.metrics()).get("echo")
        return counters if counters and counters.downstream_sent >= 12 else None

    counters = wait_for(counted)
    assert counters.upstream_received >= 12
    assert counters.upstream_sent >= 12
    assert counters.downstream_received >= 12


def test_parse_proxy_bytes_reads_go_float_format() -> None:
    text = (
        "# TYPE toxiproxy_proxy_sent_bytes_total counter\n"
        'toxiproxy_proxy_sent_bytes_total{direction="upstream",listener="127.0.0.1:1",'
        'proxy="a \\"b\\"",upstream="x:2"} 1.234567e+06\n'
        'toxiproxy_proxy_sent_bytes_total{direction="upstream",listener="127.0.0.1:3",'
        'proxy="a \\"b\\"",upstream="x:2"} 3\n'
        'promhttp_metric_handler_errors_total{cause="encoding"} 0\n'
    )
    assert parse_proxy_bytes(text) == {'a "b"': ProxyBytes(upstream_sent=1234570)}


def test_duplicate_proxy_is_a_409(client: ToxiproxyClient, proxy: Proxy) -> None:
    with pytest.raises(ToxiproxyError, match="409") as caught:
        client.create_proxy("echo", "127.0.0.1:0", proxy.upstream)
    assert "proxy already exists" in caught.value.actual


def test_missing_proxy_and_toxic_are_named(client: ToxiproxyClient, proxy: Proxy) -> None:
    with pytest.raises(ToxiproxyError, match="'ghost'") as caught:
        client.get_proxy("ghost")
    assert caught.value.actual.startswith("HTTP 404")
    with pytest.raises(ToxiproxyError, match="'ghost'"):
        client.delete_proxy("ghost")
    with pytest.raises(ToxiproxyError, match="no toxic named 'nope'"):
        client.remove_toxic("echo", "nope")
    client.remove_toxic("echo", "nope", missing_ok=True)
    client.remove_toxic("ghost", "nope", missing_ok=True)


def test_unknown_toxic_type_is_refused(client: ToxiproxyClient, proxy: Proxy) -> None:
    with pytest.raises(ToxiproxyError, match="invalid toxic type"):
        client.add_toxic("echo", name="odd", type="no-such-toxic", attributes={})


@pytest.mark.parametrize("toxicity", [0.0, -0.5, 1.5, float("nan")])
def test_toxicity_outside_0_1_is_rejected(
    client: ToxiproxyClient, proxy: Proxy, toxicity: float
) -> None:
    with pytest.raises(ValueError, match="#603"):
        client.add_toxic("echo", name="t", type="latency", toxicity=toxicity, attributes={})
    client.add_toxic("echo", name="t", type="latency", attributes={"latency": 1})
    with pytest.raises(ValueError, match="remove the toxic instead"):
        client.update_toxic("echo", "t", toxicity=toxicity)
    assert client.toxics("echo")[0].toxicity == 1.0


def test_unreachable_server_says_how_to_fix_it() -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    with ToxiproxyClient(url, timeout=2.0) as nobody, pytest.raises(ToxiproxyError) as caught:
        nobody.version()
    error = caught.value
    assert error.what == "Toxiproxy is not reachable"
    assert error.where == url
    assert "not reachable" in str(error)
    assert "toxiproxy-server -host 127.0.0.1 -port" in error.hint
    assert "make toxiproxy" in error.hint


def test_find_binary_prefers_explicit_then_env(
    monkeypatch: pytest.MonkeyPatch, server: ToxiproxyServer
) -> None:
    real = str(psutil.Process(server.pid).exe())
    monkeypatch.setenv(BINARY_ENV, "/nonexistent/toxiproxy-server")
    assert find_toxiproxy_binary(real) == Path(real)
    with pytest.raises(ToxiproxyError, match="Toxiproxy server not found") as caught:
        find_toxiproxy_binary()
    assert f"{BINARY_ENV}=/nonexistent/toxiproxy-server" in caught.value.where
    assert "make toxiproxy" in caught.value.hint
    assert "pip install 'chaos-policy-harness[toxiproxy]'" in caught.value.hint


def test_find_binary_with_empty_path_and_no_venv_binary(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(BINARY_ENV, raising=False)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(ToxiproxyError) as caught:
        find_toxiproxy_binary()
    assert str(tmp_path / BINARY_NAME) in caught.value.where
    assert "PATH" in caught.value.where
    assert "make toxiproxy" in str(caught.value)


def test_find_binary_falls_back_to_the_venv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BINARY_ENV, raising=False)
    monkeypatch.setenv("PATH", "")
    venv_binary = Path(sys.executable).parent / BINARY_NAME
    if not os.access(venv_binary, os.X_OK):
        pytest.skip(f"no {venv_binary}")
    assert find_toxiproxy_binary() == venv_binary


def test_server_stop_is_idempotent_and_ends_the_process(tmp_path: Path) -> None:
    running = ToxiproxyServer(log_path=tmp_path / "log", seed=7)
    with running:
        pid = running.pid
        with running.client() as toxiproxy:
            assert toxiproxy.version() == "2.12.0"
        assert "-seed" in psutil.Process(pid).cmdline()
    running.stop()
    assert not psutil.pid_exists(pid)
    with pytest.raises(ToxiproxyError, match="not running"):
        _ = running.url


def test_server_retries_when_its_port_is_taken(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    free_port = toxiproxy_server._free_port
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        taken = [squatter.getsockname()[1]]
        monkeypatch.setattr(
            toxiproxy_server, "_free_port", lambda host: taken.pop() if taken else free_port(host)
        )
        log = tmp_path / "log"
        with ToxiproxyServer(log_path=log) as running, running.client() as toxiproxy:
            assert toxiproxy.version() == "2.12.0"
            assert not running.url.endswith(f":{squatter.getsockname()[1]}")
    assert "address already in use" in log.read_text()


def test_server_gives_up_when_every_port_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        port = squatter.getsockname()[1]
        monkeypatch.setattr(toxiproxy_server, "_free_port", lambda host: port)
        with pytest.raises(ToxiproxyError, match="could not get a port"):
            ToxiproxyServer(attempts=2).start()


def test_server_that_exits_early_shows_its_log(tmp_path: Path) -> None:
    fake = tmp_path / "fake-toxiproxy"
    fake.write_text("#!/bin/sh\necho 'flag provided but not defined: -proxy-metrics' >&2\nexit 2\n")
    fake.chmod(0o755)
    with pytest.raises(ToxiproxyError, match="exited before it answered") as caught:
        ToxiproxyServer(fake, log_path=tmp_path / "log").start()
    assert "flag provided but not defined" in caught.value.actual


def test_server_that_never_answers_is_stopped_at_the_deadline(tmp_path: Path) -> None:
    fake = tmp_path / "mute-toxiproxy"
    fake.write_text("#!/bin/sh\necho $$\nexec sleep 30\n")
    fake.chmod(0o755)
    log = tmp_path / "log"
    started = time.monotonic()
    with pytest.raises(ToxiproxyError, match="did not answer"):
        ToxiproxyServer(fake, log_path=log, start_timeout=0.5).start()
    assert time.monotonic() - started < 10  # bounded: start_timeout plus the stop timeout
    assert not psutil.pid_exists(int(log.read_text().split()[0]))
