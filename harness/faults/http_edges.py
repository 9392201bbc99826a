"""HTTP-aware edges: a mitmdump reverse proxy behind the Toxiproxy proxy of each such edge.

An edge declared ``protocol: http`` is wired ``client -> Toxiproxy -> mitmdump -> dependency``.
Toxiproxy stays in front, so every TCP fault keeps its meaning (a partition refuses the client's
connections, toxics act on its bytes, Toxiproxy's byte counters still see the edge's traffic);
the HTTP proxy sees only what Toxiproxy lets through, counts it, and injects the HTTP faults.

mitmproxy is large (cryptography, h2, ...), so it is an optional extra (``[http]``) and runs as
its own process (``mitmdump -s mitm/edge_addon.py``), never imported here. Per edge, the run's
``http/`` folder holds ``<edge>.control.json`` (the active fault rules and the upstream, which
this module rewrites atomically; the addon re-reads it when it changes), ``<edge>.jsonl`` (the
addon's counts, one line per interval, followed by a thread that appends ``HttpEntry`` entries)
and ``<edge>.log``. Each mitmdump's pid goes into ``state.json`` before it is used.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.extras import MissingExtra
from harness.faults.http_rules import ControlDoc, HttpRule
from harness.timeline import HttpCount, HttpEntry, Timeline

ADDON = Path(__file__).resolve().parent / "mitm" / "edge_addon.py"
READY_WAIT = 30.0
"""Real seconds a mitmdump may take to listen (it creates its CA on the first start)."""
STOP_GRACE = 5.0
INSTALL_HINT = "pip install 'chaos-policy-harness[http]' (mitmproxy >= 11)"


class HttpEdgeError(HarnessError):
    """An HTTP-aware edge's proxy could not be started or controlled."""


def mitmdump_binary() -> str:
    """The ``mitmdump`` command beside this Python, or on PATH; HttpEdgeError if none."""
    beside = Path(sys.executable).parent / "mitmdump"
    found = str(beside) if beside.exists() else shutil.which("mitmdump")
    if found is None:
        raise MissingExtra(  # a configuration error (exit 2), like every missing extra
            what="mitmproxy is not installed, so the HTTP-aware edges (protocol: http) cannot run",
            hint=INSTALL_HINT,
        )
    return found


def edge_slug(edge: str) -> str:
    """A file name for an edge: ``worker.to.payments``."""
    return edge.replace("->", ".to.")


def free_port(host: str) -> int:
    """A free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _Proxy:
    """One edge's mitmdump: its address, control file, process and what it forwards to."""

    def __init__(self, edge: str, host: str, folder: Path) -> None:
        self.edge, self.host, self.port = edge, host, free_port(host)
        slug = edge_slug(edge)
        self.control = folder / f"{slug}.control.json"
        self.counts = folder / f"{slug}.jsonl"
        self.log = folder / f"{slug}.log"
        self.rules: dict[str, HttpRule] = {}
        self.upstream: tuple[str, int] | None = None
        self.proc: subprocess.Popen[bytes] | None = None


class HttpEdges:
    """The run's HTTP-aware edges: their proxies, their fault rules and their counts."""

    def __init__(
        self,
        edges: Sequence[str],
        timeline: Timeline,
        folder: Path,
        *,
        host: str = "127.0.0.1",
        track: Callable[[str, int], None] = lambda name, pid: None,
    ) -> None:
        self._binary = mitmdump_binary()  # refuses early, with the fix, if mitmproxy is missing
        folder.mkdir(parents=True, exist_ok=True)
        self._timeline, self._folder, self._track = timeline, folder, track
        self._proxies = {edge: _Proxy(edge, host, folder) for edge in edges}
        self._interval = max(timeline.scaled(1.0), 0.1)
        self._origin = time.monotonic() - timeline.now()  # the run's start on the shared clock
        self._confdir = Path(tempfile.mkdtemp(prefix="harness-mitm-"))  # its CA key: not evidence
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._tail = threading.Thread(target=self._follow, name="harness-http", daemon=True)
        self._offsets: dict[Path, int] = {}

    # --- what targets use ---------------------------------------------------------------------

    def is_http(self, edge: str) -> bool:
        """Whether ``edge`` is one of the HTTP-aware edges."""
        return edge in self._proxies

    def address(self, edge: str) -> tuple[str, int]:
        """Where the edge's HTTP proxy listens: Toxiproxy forwards the edge there."""
        proxy = self._proxies[edge]
        return proxy.host, proxy.port

    def start_edge(self, edge: str, upstream: tuple[str, int]) -> None:
        """Start the edge's proxy towards ``upstream``, or re-point a running one there."""
        proxy = self._proxies[edge]
        with self._lock:
            proxy.upstream = upstream
            self._write_control(proxy)
        if proxy.proc is None or proxy.proc.poll() is not None:
            self._spawn(proxy)
            self._await_listening(proxy)
        if not self._tail.is_alive() and not self._stop.is_set():
            self._tail.start()

    # --- what fault drivers use (HttpFaultControl) ------------------------------------------

    def set_rule(self, edge: str, rule: HttpRule) -> None:
        """Make ``rule`` active on ``edge``: the proxy applies it from its next request on."""
        proxy = self._proxies[edge]
        with self._lock:
            proxy.rules[rule.id] = rule
            self._write_control(proxy)

    def clear_rule(self, edge: str, rule_id: str) -> None:
        """Remove a rule from ``edge``; idempotent."""
        proxy = self._proxies[edge]
        with self._lock:
            if proxy.rules.pop(rule_id, None) is not None:
                self._write_control(proxy)

    # --- life ---------------------------------------------------------------------------------

    def __enter__(self) -> HttpEdges:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every proxy (SIGTERM: it writes its last counts), read them, clean up."""
        for proxy in self._proxies.values():
            self._terminate(proxy)
        self._stop.set()
        if self._tail.is_alive():
            self._tail.join(timeout=STOP_GRACE)
        self._read_all()  # whatever the proxies wrote as they stopped
        shutil.rmtree(self._confdir, ignore_errors=True)

    # --- internals ----------------------------------------------------------------------------

    def _write_control(self, proxy: _Proxy) -> None:
        """Write the control file whole, then rename it: the proxy never reads half of it."""
        doc = ControlDoc(faults=tuple(proxy.rules.values()), upstream=proxy.upstream)
        tmp = proxy.control.with_suffix(".tmp")
        tmp.write_text(doc.model_dump_json(indent=1), encoding="utf-8")
        os.replace(tmp, proxy.control)

    def _spawn(self, proxy: _Proxy) -> None:
        assert proxy.upstream is not None
        up_host, up_port = proxy.upstream
        command = [
            self._binary, "--quiet",
            "--mode", f"reverse:http://{up_host}:{up_port}",
            "--listen-host", proxy.host, "--listen-port", str(proxy.port),
            "--set", "connection_strategy=lazy",  # a fault's answer never touches the dependency
            "--set", f"confdir={self._confdir}",
            "--set", "termlog_verbosity=warn",
            "-s", str(ADDON),
            "--set", f"harness_edge={proxy.edge}",
            "--set", f"harness_control={proxy.control}",
            "--set", f"harness_counts={proxy.counts}",
            "--set", f"harness_interval={self._interval!r}",
        ]  # fmt: skip
        with proxy.log.open("ab") as log:
            try:
                proxy.proc = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise HttpEdgeError(
                    what=f"cannot start mitmdump for edge {proxy.edge}: {exc}", hint=INSTALL_HINT
                ) from exc
        self._track(f"mitmdump {proxy.edge}", proxy.proc.pid)

    def _await_listening(self, proxy: _Proxy) -> None:
        assert proxy.proc is not None
        deadline = time.monotonic() + READY_WAIT
        while time.monotonic() < deadline:
            code = proxy.proc.poll()
            if code is not None:
                break
            with (
                contextlib.suppress(OSError),
                socket.create_connection((proxy.host, proxy.port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        why = (
            f"exited with code {proxy.proc.poll()}"
            if proxy.proc.poll() is not None
            else (f"did not listen on {proxy.host}:{proxy.port} within {READY_WAIT:g}s")
        )
        raise HttpEdgeError(
            what=f"the HTTP proxy of edge {proxy.edge} (mitmdump) {why}",
            actual=_tail(proxy.log),
            hint=f"read {proxy.log}",
        )

    def _terminate(self, proxy: _Proxy) -> None:
        proc = proxy.proc
        if proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STOP_GRACE)

    def _follow(self) -> None:
        while not self._stop.wait(min(self._interval, 0.25)):
            self._read_all()

    def _read_all(self) -> None:
        with self._lock:  # the follower and close() never read one file at once
            for proxy in self._proxies.values():
                self._read(proxy.counts)

    def _read(self, path: Path) -> None:
        try:
            with path.open("rb") as stream:
                stream.seek(self._offsets.get(path, 0))
                data = stream.read()
        except OSError:
            return
        complete = data[: data.rfind(b"\n") + 1]
        self._offsets[path] = self._offsets.get(path, 0) + len(complete)
        for raw in complete.splitlines():
            entry = self.entry(raw)
            if entry is not None:
                self._timeline.append(entry)

    def entry(self, raw: bytes) -> HttpEntry | None:
        """One line of the addon's counts as a timeline entry; None for a line that is not one."""
        try:
            line: dict[str, Any] = json.loads(raw)
            counts = tuple(HttpCount.model_validate(c) for c in line["counts"])
            start, end = float(line["start"]), float(line["end"])
            return HttpEntry(
                t=min(end - self._origin, self._timeline.now()),
                edge=str(line["edge"]),
                window=end - start,
                requests=sum(c.count for c in counts),
                counts=counts,
                p50_ms=line.get("p50_ms"),
                p99_ms=line.get("p99_ms"),
            )
        except (ValueError, KeyError, TypeError):
            return None  # not a line of ours: never stop following


def _tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"
