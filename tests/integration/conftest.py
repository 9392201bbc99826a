"""Fixtures for integration tests: one real Toxiproxy server, the Docker engine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker import DockerClient

from harness.errors import TargetError
from harness.faults.toxiproxy import ToxiproxyClient
from harness.faults.toxiproxy_server import ToxiproxyServer
from harness.targets.compose import COMPOSE_ENV, RUN_LABEL, compose_command, docker_client


@pytest.fixture(scope="session")
def toxiproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyClient]:
    """One real Toxiproxy server for the session; runs are pointed at it with --toxiproxy."""
    log = tmp_path_factory.mktemp("toxiproxy") / "server.log"
    with ToxiproxyServer(log_path=log) as server, server.client() as client:
        yield client


LOCAL_IMAGES = Path(__file__).resolve().parents[2] / "fixtures" / "images" / "local.env"


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerClient]:
    """The Docker engine for compose tests; fails, never skips, when none answers.

    The locally built images (fixtures/images/local.env, written by `make images`) are put in
    the environment, unless it names others. CI must run these tests, on compose v2 (`make
    compose-v2`) and v1 (Debian's docker-compose): under CI both must answer.
    """
    if LOCAL_IMAGES.is_file():
        for line in LOCAL_IMAGES.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and not key.startswith("#"):
                os.environ.setdefault(key, value)
    chosen = os.environ.get(COMPOSE_ENV)
    try:
        client = docker_client()
        if os.environ.get("CI"):  # CI runs the compose tests on both versions: both must be here
            for version in ("v2", "v1"):
                os.environ[COMPOSE_ENV] = version
                compose_command()
    except TargetError as exc:
        pytest.fail(f"{exc.render()}\n(deselect these tests with -m 'not compose')", False)
    finally:
        os.environ.pop(COMPOSE_ENV, None)
        if chosen is not None:
            os.environ[COMPOSE_ENV] = chosen
    try:
        yield client
    finally:
        selector: dict[str, str | list[str] | bool] = {"label": RUN_LABEL}
        left = [c.name for c in client.containers.list(all=True, filters=selector)]
        left += [n.name for n in client.networks.list(filters=selector)]
        client.close()
        assert left == [], f"compose tests left containers or networks behind: {left}"
