"""`harness run`'s exit codes from real runs, one each, and 130 for SIGINT and SIGTERM at three
moments of a run (setting up, during the partition, after judging): never 1.

Runs are `harness run` processes of tests/integration/scenarios/sigint-partition.yaml (about
eight seconds at time scale 0.05) against the session's Toxiproxy.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from e2e_support import ROOT, proxies_of, run_processes

from harness.faults.toxiproxy import ToxiproxyClient
from harness.report.bundle import verify_bundle

pytestmark = pytest.mark.integration

HARNESS = str(Path(sys.executable).parent / "harness")
SCENARIO = Path(__file__).parent / "scenarios" / "sigint-partition.yaml"
GUARD = """
guards:
  - name: workflow-stalled
    http: {url: "{api}/stats", json: {paused: false}}
    after: 3
"""


def harness_run(
    *args: str, reports: Path, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HARNESS, "run", *args, "--time-scale", "0.05", "--reports-dir", str(reports)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def copy_scenario(tmp_path: Path, extra: str = "", **replace: str) -> Path:
    text = SCENARIO.read_text().replace(
        "../../../fixtures/sut/system.yaml", str(ROOT / "fixtures/sut/system.yaml")
    )
    for old, new in replace.items():
        text = text.replace(old, new)
    path = tmp_path / "scenario.yaml"
    path.write_text(text + extra)
    return path


def test_kept_is_0_and_broken_promise_is_1(toxiproxy: ToxiproxyClient, tmp_path: Path) -> None:
    kept = harness_run(str(SCENARIO), f"--toxiproxy={toxiproxy.url}", "--json", reports=tmp_path)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert json.loads(kept.stdout)["outcome"] == "passed"
    broken = harness_run(
        str(SCENARIO), f"--toxiproxy={toxiproxy.url}", "--sut-env", "DEFECT=no-pause",
        reports=tmp_path,
    )  # fmt: skip
    assert broken.returncode == 1, broken.stdout + broken.stderr


def test_a_system_that_does_not_start_is_3(toxiproxy: ToxiproxyClient, tmp_path: Path) -> None:
    system = (ROOT / "fixtures" / "sut" / "system.yaml").read_text()
    broken = system.replace(
        'command: ["{python}", -m, ordersut.payments]',
        'command: ["{python}", -c, "raise SystemExit(3)"]',
    )
    assert broken != system
    (tmp_path / "system.yaml").write_text(broken)
    scenario = copy_scenario(tmp_path)
    scenario.write_text(
        scenario.read_text().replace(
            str(ROOT / "fixtures/sut/system.yaml"), str(tmp_path / "system.yaml")
        )
    )
    done = harness_run(str(scenario), f"--toxiproxy={toxiproxy.url}", reports=tmp_path / "r")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "payments" in done.stderr


def test_a_tripped_guard_is_4(toxiproxy: ToxiproxyClient, tmp_path: Path) -> None:
    scenario = copy_scenario(tmp_path, GUARD)
    done = harness_run(str(scenario), f"--toxiproxy={toxiproxy.url}", reports=tmp_path)
    assert done.returncode == 4, done.stdout + done.stderr


class _NotToxiproxy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!DOCTYPE HTML><html><body><h1>404 Not Found</h1></body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotToxiproxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_toxiproxy_url_of_another_server_is_2_and_says_so(web_server: str, tmp_path: Path) -> None:
    done = harness_run(str(SCENARIO), f"--toxiproxy={web_server}", reports=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "this is not a Toxiproxy server" in done.stderr
    assert "HTTP 404, text/html" in done.stderr
    assert "DOCTYPE" not in done.stdout + done.stderr


# --- interrupted: 130 ---------------------------------------------------------------------


def setting_up(reports: Path, toxiproxy: ToxiproxyClient) -> bool:
    return any(reports.glob("runs/*/state.json"))


def partitioned(reports: Path, toxiproxy: ToxiproxyClient) -> bool:
    return any(not p.enabled for name, p in toxiproxy.proxies().items() if "sigint" in name)


def judged(reports: Path, toxiproxy: ToxiproxyClient) -> bool:
    return any(reports.glob("runs/*/verdicts.json"))


MOMENTS = {"setting-up": setting_up, "partitioned": partitioned, "judged": judged}


@pytest.mark.parametrize("moment", list(MOMENTS))
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_is_130(
    toxiproxy: ToxiproxyClient, tmp_path: Path, moment: str, sig: signal.Signals
) -> None:
    proc = subprocess.Popen(
        [HARNESS, "run", str(SCENARIO), "--time-scale", "0.05", f"--toxiproxy={toxiproxy.url}",
         "--reports-dir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    reached = MOMENTS[moment]
    deadline = time.monotonic() + 120
    while proc.poll() is None and not reached(tmp_path, toxiproxy):
        assert time.monotonic() < deadline, f"the run never reached {moment}"
        time.sleep(0.01)
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=60)
    if proc.returncode == 0 and moment == "judged":
        pytest.skip("the run ended before the signal arrived")  # the machine was too quick
    assert proc.returncode == 130, output
    for run_dir in (tmp_path / "runs").iterdir():
        assert proxies_of(run_dir, toxiproxy) == [], output
        assert run_processes(run_dir) == [], output
        # sealed whole with what it had: a signal never leaves a half-sealed folder
        assert (run_dir / "manifest.json").exists(), output
        assert verify_bundle(run_dir) == [], output
        verdicts = json.loads((run_dir / "verdicts.json").read_text())
        if moment != "judged":  # once judged, the verdicts stand and the command still ends 130
            assert [(v["policy"], v["status"]) for v in verdicts] == [("run", "interrupted")]
            name = "SIGTERM" if sig == signal.SIGTERM else "SIGINT"
            assert f"interrupted by {name}" in verdicts[0]["summary"], verdicts
