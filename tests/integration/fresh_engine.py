"""A private, freshly started Docker engine beside the machine's own, for the compose tests.

The machine's engine may have run before, so its default bridge may already report a
``Gateway``; a first start of Debian's dockerd 20.10 does not (it elects a subnet for a bridge
that has no address yet and leaves ``Gateway`` out of the IPAM config). This engine is always a
first start: its own bridge interface, created without an address, and its own data root,
exec root, pid file and socket, all removed afterwards. It leaves the machine's iptables to the
machine's engine (``--iptables=false``): containers reach the host's bridge address and the
published loopback ports through the userland proxy, which is all a compose run needs. Its
networks come from a pool of its own, and two FORWARD rules accept that pool's traffic: the
machine's engine sets FORWARD's policy to DROP, and with ``br_netfilter`` loaded even traffic
between two containers on one bridge passes through FORWARD.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker

START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
POOL = "10.213.0.0/16"
"""The private engine's address pool (its default bridge and every network it creates)."""
FORWARD_RULES: tuple[tuple[str, ...], ...] = (
    ("-s", POOL, "-j", "ACCEPT"),
    ("-d", POOL, "-j", "ACCEPT"),
)


@dataclass(frozen=True)
class FreshEngine:
    """A running private engine: where it answers and the bridge interface it owns."""

    host: str
    """``unix:///...``: the value of ``DOCKER_HOST`` for it."""
    bridge: str
    log: Path


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _iptables(*args: str) -> None:
    subprocess.run(["iptables", *args], check=True, capture_output=True, timeout=30)


def _answers(socket_path: str) -> bool:
    """``GET /_ping`` on the engine's socket, over a plain socket that is always closed.

    (The docker SDK's client and httpx's UDS transport both leak a socket while nothing
    listens yet, which pytest's unraisable-exception check turns into an error.)
    """
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2.0)
            sock.connect(socket_path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: engine\r\n\r\n")
            status = sock.recv(64).split(b"\r\n", 1)[0]
    except OSError:
        return False
    return status.startswith(b"HTTP/1.") and b" 200" in status


def _wait_for(host: str, proc: subprocess.Popen[bytes], log: Path) -> docker.DockerClient:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the private dockerd exited:\n{log.read_text()[-3000:]}")
        if _answers(host.removeprefix("unix://")):
            return docker.DockerClient(base_url=host, timeout=30)
        time.sleep(0.25)
    raise RuntimeError(f"the private dockerd did not answer in {START_TIMEOUT:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT)


def copy_images(target_host: str, names: Sequence[str]) -> None:
    """``docker save`` the images from the machine's engine, ``docker load`` them into the other.

    Through the docker command rather than the SDK: the SDK's ``save()`` stream leaves its
    socket to the garbage collector, whose ResourceWarning then fails whichever test runs next.
    """
    saved = subprocess.run(
        ["docker", "save", *names], capture_output=True, timeout=300, check=True
    ).stdout
    env = {**os.environ, "DOCKER_HOST": target_host}
    subprocess.run(
        ["docker", "load"], input=saved, capture_output=True, timeout=300, check=True, env=env
    )


@contextlib.contextmanager
def fresh_engine(images: Sequence[str] = ()) -> Iterator[FreshEngine]:
    """Start a private dockerd (root only), with ``images`` copied in from the machine's engine."""
    root = Path(tempfile.mkdtemp(prefix="hfe", dir="/tmp"))  # short: socket paths are bounded
    bridge = f"hfe{os.getpid() % 100000}"
    host = f"unix://{root}/docker.sock"
    log = root / "dockerd.log"
    _ip("link", "add", "name", bridge, "type", "bridge")
    proc: subprocess.Popen[bytes] | None = None
    rules: list[tuple[str, ...]] = []
    try:
        _ip("link", "set", bridge, "up")
        for rule in FORWARD_RULES:
            _iptables("-I", "FORWARD", "1", *rule)
            rules.append(rule)
        command = [
            "dockerd", "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
            "--pidfile", str(root / "docker.pid"), "--host", host, "--bridge", bridge,
            "--iptables=false", "--ip-masq=false",
            "--default-address-pool", f"base={POOL},size=24",
        ]  # fmt: skip
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        client = _wait_for(host, proc, log)
        try:
            if images:
                copy_images(host, images)
            yield FreshEngine(host=host, bridge=bridge, log=log)
        finally:
            for container in client.containers.list(all=True):
                with contextlib.suppress(docker.errors.DockerException):
                    container.remove(force=True, v=True)
            client.close()
    finally:
        if proc is not None:
            _stop(proc)
        for rule in rules:
            with contextlib.suppress(subprocess.SubprocessError):
                _iptables("-D", "FORWARD", *rule)
        with contextlib.suppress(subprocess.SubprocessError):
            _ip("link", "del", bridge)
        shutil.rmtree(root, ignore_errors=True)
