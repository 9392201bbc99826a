"""Where containers reach the sinks, from recorded `docker network inspect bridge` outputs.

Each recorded output is one an engine really gives: a restarted engine (Gateway present), a
freshly started Debian dockerd 20.10 (no Gateway: docker0 did not exist yet), IPv6 entries
listed first, a custom --bip, and an engine on another machine.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import TargetError
from harness.targets.bridge import sink_address


def bridge(*configs: dict[str, str], interface: str | None = "docker0") -> dict[str, Any]:
    options = {"com.docker.network.bridge.default_bridge": "true"}
    if interface is not None:
        options["com.docker.network.bridge.name"] = interface
    return {
        "Name": "bridge",
        "Driver": "bridge",
        "IPAM": {"Driver": "default", "Options": None, "Config": list(configs)},
        "Options": options,
    }


HOST = {"lo": ["127.0.0.1"], "eth0": ["10.0.2.15"], "docker0": ["172.17.0.1"]}


def test_the_gateway_the_engine_reports_is_used() -> None:
    attrs = bridge({"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"})
    assert sink_address(attrs, HOST) == "172.17.0.1"


def test_a_fresh_engine_without_gateway_falls_back_to_the_bridge_interface() -> None:
    attrs = bridge({"Subnet": "172.17.0.0/16"})  # dockerd 20.10, first start
    assert sink_address(attrs, HOST) == "172.17.0.1"


def test_ipv6_entries_listed_first_are_skipped() -> None:
    attrs = bridge(
        {"Subnet": "fd00:dead:beef::/48", "Gateway": "fd00:dead:beef::1"},
        {"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"},
    )
    assert sink_address(attrs, HOST) == "172.17.0.1"


def test_ipv6_first_and_no_ipv4_gateway_uses_the_interface() -> None:
    attrs = bridge({"Subnet": "fd00::/64", "Gateway": "fd00::1"}, {"Subnet": "172.17.0.0/16"})
    host = {**HOST, "docker0": ["172.17.0.1"]}
    assert sink_address(attrs, host) == "172.17.0.1"


def test_a_custom_bip_is_found_on_its_own_interface() -> None:
    # dockerd --bridge hbr0 --bip 192.168.77.1/24: a bridge of another name, another subnet
    attrs = bridge({"Subnet": "192.168.77.0/24"}, interface="hbr0")
    host = {**HOST, "hbr0": ["10.9.9.9", "192.168.77.1"]}
    assert sink_address(attrs, host) == "192.168.77.1"  # the address inside the subnet


def test_without_a_bridge_name_the_default_bridge_is_docker0() -> None:
    attrs = bridge({"Subnet": "172.17.0.0/16"}, interface=None)
    assert sink_address(attrs, HOST) == "172.17.0.1"


def test_the_subnets_first_host_when_the_interface_is_unknown() -> None:
    attrs = bridge({"Subnet": "172.18.0.0/16"}, interface="br-elsewhere")
    host = {"lo": ["127.0.0.1"], "br-renamed": ["172.18.0.1"]}
    assert sink_address(attrs, host) == "172.18.0.1"


def test_a_remote_engine_is_a_message_naming_every_place_looked_at() -> None:
    attrs = bridge({"Subnet": "172.17.0.0/16"})
    with pytest.raises(TargetError) as caught:
        sink_address(attrs, {"lo": ["127.0.0.1"], "eth0": ["10.0.2.15"]})
    message = caught.value.render()
    assert "IPAM.Config has no IPv4 Gateway ({Subnet: 172.17.0.0/16})" in message
    assert "interface docker0: no IPv4 address (no such interface on this machine)" in message
    assert "subnet 172.17.0.0/16: its first host 172.17.0.1 is not an address" in message
    assert "DOCKER_HOST" in message


def test_an_empty_ipam_config_is_a_message_not_a_stop_iteration() -> None:
    attrs = {"Name": "bridge", "IPAM": {"Config": None}, "Options": None}
    with pytest.raises(TargetError) as caught:
        sink_address(attrs, {"lo": ["127.0.0.1"]})
    assert "IPAM.Config has no IPv4 Gateway (empty)" in caught.value.actual
    assert "no IPv4 subnet in IPAM.Config" in caught.value.actual
