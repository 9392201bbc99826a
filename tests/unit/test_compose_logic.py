"""The compose target's pure parts: project names, Docker's clock, compose's failures, the
TCP health check through a port proxy, and the system file's compose section."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.system import HealthCheck, load_system
from harness.targets.compose import (
    _compose_failure,
    _parse_docker_time,
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
