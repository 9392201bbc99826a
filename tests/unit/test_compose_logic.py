"""The compose target's pure parts: project names, Docker's clock, compose's failures, the
TCP health check through a port proxy, and the system file's compose section."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import ConfigError, ScenarioError, TargetError
from harness.system import HealthCheck, load_system
from harness.targets.compose import (
    COMPOSE_ENV,
    _compose_failure,
    _parse_docker_time,
    compose_command,
    probe_published,
    project_name,
)

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "fixtures" / "sut" / "system.yaml"
COMMAND = ["/usr/bin/docker-compose", "-p", "x", "-f", "compose.yaml", "up", "-d"]


@pytest.mark.parametrize(
    ("run_id", "project"),
    [
        ("payments-partition-20261124T001312-c378", "payments-partition-20261124t001312-c378"),
        ("a b.c-gw0", "a-b-c-gw0"),
        ("--", "harness"),
    ],
)
def test_project_name_is_what_both_compose_versions_accept(run_id: str, project: str) -> None:
    assert project_name(run_id) == project


def test_docker_time_keeps_sub_second_precision() -> None:
    assert _parse_docker_time("2026-11-23T23:59:57.686413147Z") == pytest.approx(
        1795478397.686413, abs=1e-6
    )
    assert _parse_docker_time("2026-11-23T23:59:57Z") == 1795478397.0
    assert _parse_docker_time("0001-01-01T00:00:00Z") < 0  # a container never started
    assert _parse_docker_time("garbage") == 0.0


def test_a_failed_pull_names_the_image_and_the_fix() -> None:
    output = (
        'Creating network "x_default" with the default driver\n'
        "Pulling toxiproxy (chaos-policy-harness/absent:none)...\n"
        'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such'
    )
    error = _compose_failure(COMMAND, output, Path("compose.yaml"))
    assert "chaos-policy-harness/absent:none (service toxiproxy)" in error.what
    assert error.hint is not None
    assert "make images" in error.hint


def test_a_compose_file_that_does_not_parse() -> None:
    output = "ERROR: yaml.parser.ParserError: while parsing a flow sequence"
    error = _compose_failure(COMMAND, output, Path("/x/compose.yaml"))
    assert error.what == "the compose file does not parse: /x/compose.yaml"
    assert error.hint == "run `/usr/bin/docker-compose -f /x/compose.yaml config` to see why"


@pytest.mark.parametrize(
    "output",
    [
        "ERROR: Couldn't connect to Docker daemon at http+docker://localhost - is it running?",
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker "
        "daemon running?",
    ],
    ids=["v1", "v2"],
)
def test_no_engine_behind_compose(output: str) -> None:
    assert _compose_failure(COMMAND, output, Path("c")).what == "no Docker engine answers compose"


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, threading.Event]]:
    """A loopback port; the test says whether accepted connections are closed at once."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    close_at_once = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            if close_at_once.is_set():
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server, close_at_once
    server.close()
    for conn in held:
        conn.close()
    thread.join(timeout=2)


def test_tcp_health_through_a_port_proxy(listener: tuple[socket.socket, threading.Event]) -> None:
    server, close_at_once = listener
    port = server.getsockname()[1]
    assert probe_published(port, HealthCheck(tcp=True)) == (True, "connected")
    close_at_once.set()  # what Docker's port proxy does while nothing listens in the container
    assert probe_published(port, HealthCheck(tcp=True)) == (False, "TCP: closed by the port proxy")


def test_reference_system_declares_a_port_for_every_service() -> None:
    system = load_system(REFERENCE)
    assert system.compose is not None
    assert set(system.compose.ports) == set(system.services)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "controller: 8000}",
            "controller: 8000, ledger: 1}",
            "ports of unknown services ['ledger']; known: "
            "['api', 'controller', 'payments', 'redis', 'worker']",
        ),
        (
            ", controller: 8000}",
            "}",
            "no container port for ['controller']: add them under compose.ports",
        ),
        (
            "toxiproxy: toxiproxy",
            "toxiproxy: redis",
            "toxiproxy service 'redis' is also a SUT service",
        ),
    ],
)
def test_compose_section_problems_are_located(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    text = REFERENCE.read_text()
    assert old in text
    path = tmp_path / "system.yaml"
    path.write_text(text.replace(old, new))

    with pytest.raises(ScenarioError) as info:
        load_system(path)

    (problem,) = info.value.problems
    assert problem.field == "compose"
    assert (
        problem.line
        == text.splitlines().index(
            "compose:             # the compose target "
            "(--target compose): images and commands in "
            "compose.yaml"
        )
        + 1
    )
    assert problem.message == message


# --- which compose: $HARNESS_COMPOSE ---------------------------------------------------------


def stub_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, v2: bool, v1: bool) -> Path:
    """A PATH with only stub ``docker`` (answering ``compose version`` when v2) and stub
    ``docker-compose`` commands: the real ones must not decide these tests."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stubs = {"docker": 'test "$1" = compose && exit ' + ("0" if v2 else "1")}
    if v1:
        stubs["docker-compose"] = "exit 0"
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


@pytest.mark.parametrize(
    ("forced", "picked"), [(None, "v2"), ("auto", "v2"), ("v2", "v2"), ("V1", "v1")]
)
def test_compose_is_v2_unless_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forced: str | None, picked: str
) -> None:
    bin_dir = stub_path(tmp_path, monkeypatch, v2=True, v1=True)
    if forced is None:
        monkeypatch.delenv(COMPOSE_ENV, raising=False)
    else:
        monkeypatch.setenv(COMPOSE_ENV, forced)
    expected = {"v2": [str(bin_dir / "docker"), "compose"], "v1": [str(bin_dir / "docker-compose")]}
    assert compose_command() == expected[picked]


def test_compose_falls_back_to_v1_unless_v2_is_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = stub_path(tmp_path, monkeypatch, v2=False, v1=True)
    monkeypatch.delenv(COMPOSE_ENV, raising=False)
    assert compose_command() == [str(bin_dir / "docker-compose")]
    monkeypatch.setenv(COMPOSE_ENV, "v2")
    with pytest.raises(TargetError) as caught:
        compose_command()
    assert "`docker compose` (v2) is not installed ($HARNESS_COMPOSE=v2)" in caught.value.what
    assert "make compose-v2" in caught.value.hint


def test_forced_v1_missing_is_not_replaced_by_v2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub_path(tmp_path, monkeypatch, v2=True, v1=False)
    monkeypatch.setenv(COMPOSE_ENV, "v1")
    with pytest.raises(TargetError, match=r"`docker-compose` \(v1\) is not installed"):
        compose_command()


def test_unknown_compose_version_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(COMPOSE_ENV, "v3")
    with pytest.raises(ConfigError) as caught:
        compose_command()
    assert caught.value.actual == "'v3'"
    assert "v2 (docker compose), v1 (docker-compose) or auto" in caught.value.expected


def test_a_failed_pull_on_compose_v2_names_the_image() -> None:
    output = (
        " Image chaos-policy-harness/absent:none Pulling \n"
        ' Image chaos-policy-harness/absent:none Error Get "https://registry-1.docker.io/v2/": '
        "dial tcp: lookup registry-1.docker.io: no such host\n"
        'Error response from daemon: Get "https://registry-1.docker.io/v2/": no such host'
    )
    error = _compose_failure(COMMAND, output, Path("compose.yaml"))
    assert error.what.endswith("cannot be pulled: chaos-policy-harness/absent:none")
    assert "make images" in error.hint
