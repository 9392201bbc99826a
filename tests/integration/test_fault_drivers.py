"""Each network fault driver against a real Toxiproxy: inject sets exactly its toxic or state,
heal removes it, and healing twice is harmless."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from pydantic import TypeAdapter

from harness.faults.base import FaultContext, Injected
from harness.faults.toxiproxy import ToxiproxyClient
from harness.hookspecs import plugin_manager
from harness.scenario import Fault
from harness.timeline import Timeline

pytestmark = pytest.mark.integration
FAULT: TypeAdapter[Any] = TypeAdapter(Fault)
PROXY = "drivers-test.a.to.b"


class NoServices:
    """Network drivers never touch services; any call is a bug in the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a network driver called services.{name}")


@pytest.fixture
def drivers(toxiproxy: ToxiproxyClient) -> Iterator[Mapping[str, Any]]:
    toxiproxy.create_proxy(PROXY, "127.0.0.1:0", "127.0.0.1:9")
    context = FaultContext(
        toxiproxy=toxiproxy,
        proxy_for=lambda edge: PROXY,
        time_scale=0.5,
        run_id="drivers-test",
        services=NoServices(),
        endpoints={},
        timeline=Timeline(0.5),
    )
    merged: dict[str, Any] = {}
    for provided in reversed(plugin_manager().hook.harness_fault_drivers(context=context)):
        merged.update(provided)
    yield merged
    toxiproxy.delete_proxy(PROXY, missing_ok=True)


def inject(drivers: Mapping[str, Any], spec: dict[str, Any]) -> Injected:
    fault = FAULT.validate_python({"edge": "a -> b", "at": "0s", "duration": "1s", **spec})
    handle: Injected = drivers[fault.type].inject(fault, f"f1-{fault.type}")
    return handle


@pytest.mark.parametrize(
    ("spec", "toxic_type", "attributes"),
    [
        ({"type": "latency", "latency": "2s", "jitter": "100ms"}, "latency",
         {"latency": 1000, "jitter": 50}),
        ({"type": "slow", "rate_kb": 8}, "bandwidth", {"rate": 8}),
        ({"type": "timeout", "timeout": "4s"}, "timeout", {"timeout": 2000}),
        ({"type": "reset_peer"}, "reset_peer", {"timeout": 0}),
        ({"type": "slicer", "average_size": 16, "size_variation": 4, "delay": "2ms"}, "slicer",
         {"average_size": 16, "size_variation": 4, "delay": 1000}),
        ({"type": "limit_data", "bytes": 100, "stream": "upstream", "toxicity": 0.5},
         "limit_data", {"bytes": 100}),
    ],
)  # fmt: skip
def test_toxic_is_added_scaled_and_removed_on_heal(
    drivers: Mapping[str, Any],
    toxiproxy: ToxiproxyClient,
    spec: dict[str, Any],
    toxic_type: str,
    attributes: dict[str, int],
) -> None:
    handle = inject(drivers, spec)

    (toxic,) = toxiproxy.toxics(PROXY)
    assert toxic.type == toxic_type
    assert toxic.name == f"drivers-test-f1-{spec['type']}"
    assert toxic.attributes == attributes  # durations scaled by 0.5, in ms (slicer: µs)
    assert toxic.stream == spec.get("stream", "downstream")
    assert toxic.toxicity == spec.get("toxicity", 1.0)
    assert handle.heal() is True
    assert toxiproxy.toxics(PROXY) == ()
    assert handle.heal() is False  # idempotent


def test_partition_disables_and_heal_enables(
    drivers: Mapping[str, Any], toxiproxy: ToxiproxyClient
) -> None:
    handle = inject(drivers, {"type": "partition"})
    assert toxiproxy.get_proxy(PROXY).enabled is False
    handle.heal()
    assert toxiproxy.get_proxy(PROXY).enabled is True


def test_flap_goes_down_and_up_and_heal_leaves_it_up(
    drivers: Mapping[str, Any], toxiproxy: ToxiproxyClient
) -> None:
    handle = inject(drivers, {"type": "flap", "down": "400ms", "up": "400ms"})
    seen: set[bool] = set()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and len(seen) < 2:
        seen.add(toxiproxy.get_proxy(PROXY).enabled)
        time.sleep(0.02)
    handle.heal()

    assert seen == {True, False}
    assert toxiproxy.get_proxy(PROXY).enabled is True
    time.sleep(0.3)  # the flapping thread is gone: nothing disables it again
    assert toxiproxy.get_proxy(PROXY).enabled is True
