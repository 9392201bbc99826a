"""Fixtures for integration tests: one real Toxiproxy server for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.faults.toxiproxy import ToxiproxyClient
from harness.faults.toxiproxy_server import ToxiproxyServer


@pytest.fixture(scope="session")
def toxiproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyClient]:
    """One real Toxiproxy server for the session; runs are pointed at it with --toxiproxy."""
    log = tmp_path_factory.mktemp("toxiproxy") / "server.log"
    with ToxiproxyServer(log_path=log) as server, server.client() as client:
        yield client
