"""What an HTTP-aware edge adds to a request: Toxiproxy alone vs Toxiproxy + mitmdump, side by side.

One run, three paths to one tiny local HTTP server (its own process): direct, through a plain
Toxiproxy edge, and through an HTTP-aware edge (Toxiproxy, then the harness's mitmdump with its
addon, as a run wires ``protocol: http``). Requests are interleaved (direct, tcp, http, then the
next round), each on a new connection as the reference worker makes them, so load on the machine
falls on the three alike. Reports p50/p99 per path and what the HTTP proxy adds (http - tcp).

    .venv/bin/python benchmarks/http_edge.py            # 2,000 requests per path
    BENCH_SMOKE=1 .venv/bin/python benchmarks/http_edge.py   # 20: the CI smoke test

Results: ``benchmarks/results/http_edge.json`` (``BENCH_RESULTS_DIR`` elsewhere), with the
machine's description. Needs ``make deps`` (Toxiproxy) and mitmproxy (``[http]``, in ``dev``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import httpx
from _common import machine, percentile  # the script's folder is on sys.path

from harness.faults.http_edges import HttpEdges, mitmdump_binary
from harness.faults.toxiproxy_server import ToxiproxyServer
from harness.timeline import Timeline

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
REQUESTS = 20 if SMOKE else 2000
WARMUP = 3 if SMOKE else 50
RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR", Path(__file__).parent / "results"))
SERVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def summary(values: list[float]) -> dict[str, float]:
    """p50, p99 and mean in milliseconds."""
    return {
        "p50_ms": round(percentile(values, 0.50), 3),
        "p99_ms": round(percentile(values, 0.99), 3),
        "mean_ms": round(sum(values) / len(values), 3),
    }


def start_server(stack: ExitStack) -> int:
    """The tiny HTTP server in a process of its own; its port."""
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    stack.callback(proc.wait, timeout=5)
    stack.callback(proc.terminate)
    assert proc.stdout is not None
    return int(proc.stdout.readline())


def measure(urls: dict[str, str]) -> dict[str, list[float]]:
    """Interleaved GETs, a new connection each; milliseconds per request and path."""
    times: dict[str, list[float]] = {name: [] for name in urls}
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(limits=limits, timeout=5.0) as client:
        for i in range(WARMUP + REQUESTS):
            for name, url in urls.items():
                began = time.perf_counter()
                client.get(url).raise_for_status()
                if i >= WARMUP:
                    times[name].append((time.perf_counter() - began) * 1000)
    return times


def main() -> Path:
    with ExitStack() as stack:
        port = start_server(stack)
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-http-")))
        toxiproxy = stack.enter_context(ToxiproxyServer(log_path=folder / "toxiproxy.log"))
        client = stack.enter_context(toxiproxy.client())
        edges = stack.enter_context(HttpEdges(["bench->server"], Timeline(), folder / "http"))
        edges.start_edge("bench->server", ("127.0.0.1", port))
        mitm_host, mitm_port = edges.address("bench->server")
        tcp = client.create_proxy("bench-tcp", "127.0.0.1:0", f"127.0.0.1:{port}")
        http = client.create_proxy("bench-http", "127.0.0.1:0", f"{mitm_host}:{mitm_port}")
        urls = {
            "direct": f"http://127.0.0.1:{port}/charge",
            "toxiproxy": "http://{}:{}/charge".format(*tcp.address),
            "toxiproxy+mitmproxy": "http://{}:{}/charge".format(*http.address),
        }
        began = time.monotonic()
        times = measure(urls)
        elapsed = time.monotonic() - began
        toxiproxy_version = client.version()
    paths = {name: summary(values) for name, values in times.items()}
    added = {
        q: round(paths["toxiproxy+mitmproxy"][q] - paths["toxiproxy"][q], 3)
        for q in ("p50_ms", "p99_ms")
    }
    result = {
        "benchmark": "http_edge",
        "what": "latency per request, new connection each, to a tiny local HTTP server",
        "smoke": SMOKE,
        "requests_per_path": REQUESTS,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(elapsed, 2),
        "paths": paths,
        "added_by_http_edge_ms": added,
        "versions": {
            "mitmproxy": version("mitmproxy"),
            "toxiproxy": toxiproxy_version,
            "httpx": version("httpx"),
            "mitmdump": mitmdump_binary(),
        },
        "machine": machine(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("http_edge-smoke.json" if SMOKE else "http_edge.json")
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    for name, figures in paths.items():
        print(f"{name:>20}: p50 {figures['p50_ms']:7.3f} ms  p99 {figures['p99_ms']:7.3f} ms")
    print(f"{'HTTP-aware adds':>20}: p50 {added['p50_ms']:7.3f} ms  p99 {added['p99_ms']:7.3f} ms")
    print(f"results: {out}")
    return out


if __name__ == "__main__":
    socket.setdefaulttimeout(10)
    main()
