"""Where the containers of a compose run reach the harness's sinks: Docker's default bridge.

Containers name the host ``host.docker.internal`` (``extra_hosts: host-gateway``), which the
engine resolves to the host's address on its default bridge network, and the sinks listen
there. The engine does not always say which address that is: a freshly started Debian dockerd
20.10 elects a subnet for a ``docker0`` that does not exist yet and leaves ``Gateway`` out of
``docker network inspect bridge``'s IPAM config; it is there only once ``docker0`` already has
an address when the engine starts. So the address is looked for in three places, in order:

1. an IPv4 ``Gateway`` in the network's IPAM config (IPv6 entries are skipped);
2. the IPv4 address of the bridge's interface (``com.docker.network.bridge.name``, ``docker0``
   for the default bridge), read from this machine's interfaces;
3. the first host of the network's IPv4 subnet, when this machine holds that address.

The decision is a pure function of the inspect output and the machine's interfaces, so each
path is tested on recorded outputs; :func:`host_gateway` feeds it the live ones.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.errors import TargetError

if TYPE_CHECKING:
    import docker

BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
DEFAULT_BRIDGE_INTERFACE = "docker0"

Interfaces = Mapping[str, Sequence[str]]
"""IPv4 addresses of this machine, by interface name."""


def local_ipv4_interfaces() -> dict[str, list[str]]:
    """The IPv4 addresses of this machine by interface (psutil reads them from the kernel)."""
    import psutil

    return {
        name: [a.address for a in addresses if a.family == socket.AF_INET]
        for name, addresses in psutil.net_if_addrs().items()
    }


def sink_address(attrs: Mapping[str, Any], interfaces: Interfaces) -> str:
    """The host's IPv4 address on the bridge network ``attrs`` (``docker network inspect``).

    Raises ``TargetError`` naming each place looked at and what it held.
    """
    tried: list[str] = []
    configs = _ipam_configs(attrs)
    for config in configs:
        gateway = str(config.get("Gateway") or "")
        if _is_ipv4(gateway):
            return gateway
    tried.append(f"IPAM.Config has no IPv4 Gateway ({_render(configs)})")

    options = attrs.get("Options") or {}
    interface = str(options.get(BRIDGE_NAME_OPTION) or "") if isinstance(options, Mapping) else ""
    if not interface and attrs.get("Name") == "bridge":
        interface = DEFAULT_BRIDGE_INTERFACE
    subnets = [_ipv4_subnet(c) for c in configs]
    networks = [n for n in subnets if n is not None]
    if interface:
        address = _interface_address(interfaces.get(interface, ()), networks)
        if address:
            return address
        held = ", ".join(interfaces.get(interface, ())) or "no IPv4 address"
        where = "" if interface in interfaces else " (no such interface on this machine)"
        tried.append(f"interface {interface}: {held}{where}")
    else:
        tried.append(f"the network names no bridge interface ({BRIDGE_NAME_OPTION})")

    local = {address for addresses in interfaces.values() for address in addresses}
    for network in networks:
        first = str(next(network.hosts(), network.network_address))
        if first in local:
            return first
        tried.append(f"subnet {network}: its first host {first} is not an address of this machine")
    if not networks:
        tried.append("no IPv4 subnet in IPAM.Config")
    raise TargetError(
        what="cannot find the host's address on Docker's default bridge network, where the "
        "harness's sinks listen for the containers",
        expected="an IPv4 address of this machine on the bridge",
        actual="; ".join(tried),
        hint="check `docker network inspect bridge` and `ip -4 addr show docker0`; with a "
        "remote engine (DOCKER_HOST), run the harness on the engine's machine",
    )


def host_gateway(client: docker.DockerClient) -> str:
    """The host's address on the engine's default bridge: what ``host-gateway`` resolves to."""
    from docker.errors import DockerException

    try:
        attrs = client.networks.get("bridge").attrs
    except DockerException as exc:
        raise TargetError(
            what="cannot read Docker's default bridge network",
            actual=str(exc).splitlines()[0] if str(exc) else repr(exc),
            hint="check `docker network inspect bridge`; the harness's sinks listen there",
        ) from exc
    return sink_address(attrs, local_ipv4_interfaces())


def _ipam_configs(attrs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    ipam = attrs.get("IPAM") or {}
    configs = ipam.get("Config") if isinstance(ipam, Mapping) else None
    return [c for c in configs or [] if isinstance(c, Mapping)]


def _interface_address(addresses: Sequence[str], networks: Sequence[Any]) -> str:
    """The interface's IPv4 address inside the bridge's subnet, else its first IPv4 address."""
    ipv4 = [a for a in addresses if _is_ipv4(a)]
    for address in ipv4:
        if any(ipaddress.IPv4Address(address) in network for network in networks):
            return address
    return ipv4[0] if ipv4 else ""


def _ipv4_subnet(config: Mapping[str, Any]) -> ipaddress.IPv4Network | None:
    try:
        network = ipaddress.ip_network(str(config.get("Subnet") or ""), strict=False)
    except ValueError:
        return None
    return network if isinstance(network, ipaddress.IPv4Network) else None


def _is_ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def _render(configs: Sequence[Mapping[str, Any]]) -> str:
    return (
        ", ".join("{" + ", ".join(f"{k}: {v}" for k, v in c.items()) + "}" for c in configs)
        or "empty"
    )
