"""The compose target beyond the catalog: it never leaves a container, network or proxy behind,
and a broken setup (no engine, a bad compose file, a missing service or image) is one clear
pytest error, never a policy failure.

Each run is a real `pytest --scenario ... --target compose` process against the reference
system's compose file, with the locally built images (`make images`). What is left behind is
read from the Docker engine by the compose project's label, and from the project's Toxiproxy.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from docker import DockerClient
from e2e_support import (
    ROOT,
    SCALE,
    kill_with_its_reaper,
    makefile_pin,
    pytest_command,
    run_pytest,
)

from harness.errors import ToxiproxyError
from harness.faults.toxiproxy import ToxiproxyClient
from harness.targets.compose import COMPOSE_ENV, PROJECT_LABEL, SERVICE_LABEL

pytestmark = [pytest.mark.integration, pytest.mark.compose]

HARNESS = str(Path(sys.executable).parent / "harness")
SUT = ROOT / "fixtures" / "sut"
REAP_BOUND = 60.0  # seconds for the reaper to remove a compose project (`down` takes a few)


def leftovers(engine: DockerClient, project: str) -> list[str]:
    """Containers and networks of a compose project that still exist."""
    selector: dict[str, str | list[str] | bool] = {"label": f"{PROJECT_LABEL}={project}"}
    listed = engine.containers.list(all=True, filters=selector, sparse=True)  # no inspect: no 404
    containers = [f"container {str(c.attrs['Names'][0]).lstrip('/')}" for c in listed]
    networks = [f"network {n.name}" for n in engine.networks.list(filters=selector)]
    return containers + networks


def start_run(reports: Path, compose: str = "auto") -> subprocess.Popen[str]:
    # a long fault (60 s at scale 0.5 = 30 s), so the signal lands while it is active
    command = pytest_command(
        "--scenario", "payments-partition", "--time-scale", "0.5", "--target", "compose",
        reports=reports,
    )  # fmt: skip
    return subprocess.Popen(
        command,
        env={**os.environ, COMPOSE_ENV: compose},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_for_partition(proc: subprocess.Popen[str], reports: Path) -> tuple[Path, str, str]:
    """Poll until the run's Toxiproxy shows the partition; the run dir, project, Toxiproxy URL."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended before its fault started:\n{proc.communicate()[0]}")
        for state_file in reports.glob("runs/*/state.json"):
            state = json.loads(state_file.read_text())
            if state.get("compose_project") and state.get("toxiproxy_url"):
                with ToxiproxyClient(state["toxiproxy_url"], timeout=2.0) as client:
                    try:
                        if any(not p.enabled for p in client.proxies().values()):
                            project, url = state["compose_project"], state["toxiproxy_url"]
                            return state_file.parent, project, url
                    except Exception:
                        pass  # not up yet
        time.sleep(0.2)
    proc.kill()
    pytest.fail("the partition never showed up in the project's Toxiproxy")


def test_sigkill_then_cleanup_removes_containers_networks_and_proxies(
    docker_engine: DockerClient, tmp_path: Path
) -> None:
    proc = start_run(tmp_path)
    run_dir, project, toxiproxy_url = wait_for_partition(proc, tmp_path)

    kill_with_its_reaper(proc)  # the reaper too, else it removes the project before cleanup
    proc.communicate(timeout=30)
    assert leftovers(docker_engine, project), "a SIGKILLed run cannot have cleaned up"
    with ToxiproxyClient(toxiproxy_url, timeout=2.0) as client:
        assert client.proxies(), "the project's proxies outlive the killed run"

    cleanup = subprocess.run(
        [HARNESS, "cleanup", "--reports-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert run_dir.name in cleanup.stdout, cleanup.stdout
    assert "container" in cleanup.stdout, cleanup.stdout
    assert leftovers(docker_engine, project) == []
    with ToxiproxyClient(toxiproxy_url, timeout=2.0) as client, pytest.raises(ToxiproxyError):
        client.proxies()  # the Toxiproxy of the run is gone, and its proxies with it
    again = subprocess.run(
        [HARNESS, "cleanup", "--reports-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "nothing to clean up" in again.stdout


def test_a_sigkilled_run_is_reaped_without_cleanup(
    docker_engine: DockerClient, tmp_path: Path
) -> None:
    """SIGKILL of the harness alone mid-partition: its reaper removes the project and proxies."""
    proc = start_run(tmp_path)
    run_dir, project, toxiproxy_url = wait_for_partition(proc, tmp_path)

    proc.kill()  # the pytest process that runs the harness: its reaper lives on
    killed = time.monotonic()
    proc.communicate(timeout=30)
    state = run_dir / "state.json"

    def left_of_the_run() -> list[str]:
        unfinished = [] if json.loads(state.read_text())["finished"] else ["state not finished"]
        return leftovers(docker_engine, project) + unfinished

    left = left_of_the_run()
    while left and time.monotonic() - killed < REAP_BOUND:
        time.sleep(0.2)
        left = left_of_the_run()
    took = time.monotonic() - killed
    print(f"compose project {project}: {'still ' + str(left) if left else 'gone'} {took:.1f}s "
          "after the kill")  # fmt: skip

    assert left == [], f"{took:.1f}s after the kill: {left}"
    with ToxiproxyClient(toxiproxy_url, timeout=2.0) as client, pytest.raises(ToxiproxyError):
        client.proxies()  # the project's Toxiproxy went with it, and every fault with it
    assert "reaped run" in (run_dir / "logs" / "reaper.log").read_text()


@pytest.mark.parametrize("compose", ["v2", "v1"])
def test_sigterm_mid_fault_tears_the_project_down(
    docker_engine: DockerClient, tmp_path: Path, compose: str
) -> None:
    proc = start_run(tmp_path, compose)
    run_dir, project, _ = wait_for_partition(proc, tmp_path)
    selector: dict[str, str | list[str] | bool] = {"label": f"{PROJECT_LABEL}={project}"}
    made_by = {
        c.labels.get("com.docker.compose.version")
        for c in docker_engine.containers.list(filters=selector)
    }
    # compose labels what it creates with its version: v2 is the plugin at the Makefile's pin
    wanted = makefile_pin("COMPOSE_VERSION") if compose == "v2" else "1."
    assert len(made_by) == 1, made_by
    assert all(v is not None and v.startswith(wanted) for v in made_by), made_by

    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)

    assert proc.returncode != 0, output
    assert leftovers(docker_engine, project) == [], output
    logs = {p.name for p in (run_dir / "logs").iterdir() if p.stat().st_size}
    assert {"api.log", "worker.log", "controller.log", "toxiproxy.log"} <= logs, logs


# --- bad input: one clear error each ------------------------------------------------------


def system_copy(tmp_path: Path, compose_text: str | None = None, **replace: str) -> Path:
    """The reference system file and compose file in ``tmp_path``, optionally altered."""
    shutil.copytree(SUT / "ordersut", tmp_path / "ordersut")
    compose = (SUT / "compose.yaml").read_text()
    (tmp_path / "compose.yaml").write_text(compose if compose_text is None else compose_text)
    system = (SUT / "system.yaml").read_text()
    for old, new in replace.items():
        system = system.replace(old, new)
    (tmp_path / "system.yaml").write_text(system)
    return tmp_path / "system.yaml"


def run_compose(
    tmp_path: Path, system: Path | None = None, env: dict[str, str] | None = None
) -> str:
    """`pytest --scenario payments-partition --target compose`, on ``system`` if given."""
    scenario = ROOT / "scenarios" / "payments-partition.yaml"
    if system is not None:
        text = scenario.read_text().replace("../fixtures/sut/system.yaml", str(system))
        scenario = tmp_path / "payments-partition.yaml"
        scenario.write_text(text)
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run(
        pytest_command(
            f"--scenario={scenario}", "--time-scale", SCALE, "--target", "compose",
            f"--rootdir={ROOT}", reports=tmp_path / "reports",
        ),
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False, env=full_env,
    )  # fmt: skip
    return result.stdout


def assert_broken(stdout: str, *needles: str) -> None:
    last = stdout.strip().splitlines()[-1]
    assert "1 error" in last, stdout
    assert "failed" not in last, stdout
    assert "passed" not in last, stdout
    for needle in needles:
        assert needle in stdout, stdout
    assert "Traceback" not in stdout, stdout


def test_no_docker_engine_says_how_to_start_one(
    docker_engine: DockerClient, tmp_path: Path
) -> None:
    stdout = run_compose(tmp_path, env={"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"})
    assert_broken(stdout, "no Docker engine answers", "make engine")


def test_compose_file_that_does_not_parse(docker_engine: DockerClient, tmp_path: Path) -> None:
    system = system_copy(tmp_path, "services:\n  api: [this is: not, a service\n")
    stdout = run_compose(tmp_path, system)
    assert_broken(stdout, "the compose file does not parse", str(tmp_path / "compose.yaml"))


def test_service_missing_from_the_compose_file(docker_engine: DockerClient, tmp_path: Path) -> None:
    compose = (SUT / "compose.yaml").read_text().split("  controller:")[0]
    system = system_copy(tmp_path, compose)
    stdout = run_compose(tmp_path, system)
    assert_broken(stdout, "the compose file has no service 'controller'")


def test_missing_image_names_it_and_the_fix(docker_engine: DockerClient, tmp_path: Path) -> None:
    stdout = run_compose(tmp_path, env={"TOXIPROXY_IMAGE": "chaos-policy-harness/absent:none"})
    assert_broken(stdout, "cannot be pulled", "chaos-policy-harness/absent:none", "make images")


def test_port_not_declared_for_a_service(docker_engine: DockerClient, tmp_path: Path) -> None:
    system = system_copy(tmp_path, **{"controller: 8000}": "}"})
    stdout = run_compose(tmp_path, system)
    assert_broken(stdout, "no container port for ['controller']", "compose.ports")


def test_wrong_container_port_is_a_health_error(
    docker_engine: DockerClient, tmp_path: Path
) -> None:
    # payments listens on 8001 in its container, the system says 8000 (compose.ports):
    # nothing answers on the port the harness published
    system = system_copy(tmp_path, **{'env: {PORT: "{port}"}': 'env: {PORT: "8001"}'})
    assert '"8001"' in system.read_text()
    stdout = run_compose(tmp_path, system)
    assert_broken(stdout, "service 'payments' did not become healthy", "docker logs")


def test_system_without_compose_section(docker_engine: DockerClient, tmp_path: Path) -> None:
    system = system_copy(tmp_path)
    text = system.read_text()
    system.write_text(text[: text.index("compose:")])
    stdout = run_compose(tmp_path, system)
    assert_broken(stdout, "has no compose section", "--target")


def test_plain_run_keeps_the_logs_and_events_reach_the_timeline_but_no_secret(
    docker_engine: DockerClient, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    result = run_pytest(
        "--scenario", "worker-crash", "--time-scale", SCALE, "--target", "compose",
        "--sut-env", "SHOP_API_TOKEN=s3cr3t-value", reports=reports,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    run_dir = next((reports / "runs").iterdir())
    timeline = json.loads((run_dir / "timeline.json").read_text())
    events = [e for e in timeline["entries"] if e["kind"] == "event"]
    services = {e["service"] for e in events}
    # stdout JSON lines (worker, api) and POSTed events (controller) both arrive
    assert {"worker", "api"} <= services, services
    resumes = [e for e in events if e["action"] == "checkpoint.resume"]
    assert len(resumes) == 2, resumes  # the first start and the start after the crash
    state = json.loads((run_dir / "state.json").read_text())
    assert state["finished"]
    assert leftovers(docker_engine, state["compose_project"]) == []
    for service in ("redis", "payments", "api", "worker", "controller", "toxiproxy"):
        assert (run_dir / "logs" / f"{service}.log").stat().st_size > 0, service
    leaks = [p for p in run_dir.rglob("*") if p.is_file() and b"s3cr3t-value" in p.read_bytes()]
    assert leaks == []
    assert "SHOP_API_TOKEN" in (run_dir / "compose.override.yaml").read_text()  # named, hidden


def test_a_container_killed_outside_any_fault_is_broken_not_failed(
    docker_engine: DockerClient, tmp_path: Path
) -> None:
    """A service's container dies by someone else's hand mid-partition: nobody is blamed."""
    scenario = ROOT / "tests" / "integration" / "scenarios" / "sigint-partition.yaml"
    proc = subprocess.Popen(
        [HARNESS, "run", str(scenario), "--time-scale", "0.05", "--target", "compose",
         "--reports-dir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        run_dir, project, _ = wait_for_partition(proc, tmp_path)
        selector = [f"{PROJECT_LABEL}={project}", f"{SERVICE_LABEL}=redis"]
        (redis,) = docker_engine.containers.list(filters={"label": selector})
        redis.kill()
        output, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    verdicts = json.loads((run_dir / "verdicts.json").read_text())
    assert {v["status"] for v in verdicts} == {"broken"}, output
    for verdict in verdicts:
        assert verdict["summary"].startswith("cannot tell: the plan did not hold: service "
                                             "'redis' container"), verdict  # fmt: skip
    assert proc.returncode == 3, output
    assert leftovers(docker_engine, project) == []
