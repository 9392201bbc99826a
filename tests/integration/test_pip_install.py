"""What a pip user gets: the built wheels, installed in a fresh venv outside the repository, run a
scenario of the repository with no Go, no Makefile and nothing of this checkout on PATH.

The harness's wheel (``python -m build``) and the Toxiproxy companion's linux/amd64 wheel
(fixtures/wheels/toxiproxy_wheels.py, as ``make wheels`` runs it) are built into a temporary
folder; ``pip install --find-links DIST 'HARNESS.whl[toxiproxy,sut,http]'`` must pull the companion
through the extra. PATH then holds only ``redis-server`` (the reference system's store).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import ROOT, makefile_pin

pytestmark = pytest.mark.integration


def run(
    command: list[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=env, timeout=timeout, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the repository with the built wheels installed (harness + companion)."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("the CI test installs the linux/amd64 wheels")
    dist = tmp_path_factory.mktemp("dist")
    built = run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(ROOT)])
    assert built.returncode == 0, built.stdout + built.stderr
    assert "Warning" not in built.stdout + built.stderr, built.stdout + built.stderr
    companion = run(
        [sys.executable, str(ROOT / "fixtures" / "wheels" / "toxiproxy_wheels.py"),
         "--toxiproxy", makefile_pin("TOXIPROXY_VERSION"),
         "--module", makefile_pin("TOXIPROXY_MODULE"),
         "--platform", "linux-amd64", "--out", str(dist)],
    )  # fmt: skip
    assert companion.returncode == 0, companion.stdout + companion.stderr
    (wheel,) = dist.glob("chaos_policy_harness-*.whl")
    home = tmp_path_factory.mktemp("pip-user")
    assert not home.is_relative_to(ROOT)
    made = run([sys.executable, "-m", "venv", str(home / "venv")])
    assert made.returncode == 0, made.stderr
    pip = [str(home / "venv" / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    done = run([*pip, "install", "-q", "--find-links", str(dist), f"{wheel}[toxiproxy,sut,http]"])
    assert done.returncode == 0, done.stdout + done.stderr
    return home / "venv"


def user_env(tmp_path: Path) -> dict[str, str]:
    """A pip user's environment: PATH with only redis-server, nothing of this checkout."""
    path = tmp_path / "path"
    path.mkdir()
    redis = shutil.which("redis-server")
    assert redis, "make test installs redis-server (Debian)"
    (path / "redis-server").symlink_to(redis)
    return {"HOME": str(tmp_path), "PATH": str(path), "LANG": os.environ.get("LANG", "C.UTF-8")}


def test_the_companion_binary_is_found_first(venv: Path, tmp_path: Path) -> None:
    script = "from harness.faults.toxiproxy_server import find_toxiproxy_binary as f; print(f())"
    found = run([str(venv / "bin" / "python"), "-c", script], env=user_env(tmp_path))
    assert found.returncode == 0, found.stderr
    binary = Path(found.stdout.strip())
    assert binary.parts[-3:] == ("chaos_policy_harness_toxiproxy", "bin", "toxiproxy-server")
    assert binary.is_relative_to(venv)
    version = run([str(binary), "-version"])
    assert makefile_pin("TOXIPROXY_VERSION") in version.stdout + version.stderr


def test_harness_run_of_a_repository_scenario_passes(venv: Path, tmp_path: Path) -> None:
    scenario = ROOT / "scenarios" / "payments-outage.yaml"
    done = run(
        [str(venv / "bin" / "harness"), "run", str(scenario), "--time-scale", "0.05",
         "--reports-dir", str(tmp_path / "reports"), "--json"],
        cwd=tmp_path, env=user_env(tmp_path), timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(done.stdout)
    assert document["exit_code"] == 0
    (result,) = document["runs"]
    assert {v["status"] for v in result["verdicts"]} == {"passed"}, result
    assert Path(result["run_dir"]).is_relative_to(tmp_path)


def test_a_missing_extra_is_a_configuration_error_naming_it(venv: Path, tmp_path: Path) -> None:
    # payments-partition has simulated users: Locust, the [load] extra, is not installed here
    scenario = ROOT / "scenarios" / "payments-partition.yaml"
    done = run(
        [str(venv / "bin" / "harness"), "run", str(scenario), "--time-scale", "0.05",
         "--reports-dir", str(tmp_path / "reports")],
        cwd=tmp_path, env=user_env(tmp_path), timeout=240,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "pip install 'chaos-policy-harness[load]'" in done.stderr
