"""The process target never loses track of a process, even when a crash is healed twice."""

from __future__ import annotations

import textwrap
from pathlib import Path

import psutil
import pytest

from harness.cleanup import marked_processes
from harness.errors import TargetError
from harness.faults.toxiproxy import ToxiproxyClient
from harness.policies import Status
from harness.prepare import prepare
from harness.runner import Runner, RunOptions
from harness.state import StateFile
from harness.system import load_system
from harness.targets.base import TargetContext
from harness.targets.process import ProcessTarget

pytestmark = pytest.mark.integration

SYSTEM = """\
name: sleepers
services:
  sleeper:
    command: ["{python}", "-c", "import time; time.sleep(60)"]
"""


def target(tmp_path: Path, toxiproxy: ToxiproxyClient) -> ProcessTarget:
    path = tmp_path / "system.yaml"
    path.write_text(textwrap.dedent(SYSTEM))
    return ProcessTarget(
        TargetContext(
            system=load_system(path),
            system_dir=tmp_path,
            toxiproxy=toxiproxy,
            run_id="target-test",
            logs_dir=tmp_path / "logs",
            env={},
            on_line=lambda service, line: False,
            state=StateFile(tmp_path / "state.json", "target-test"),
        )
    )


def test_a_crash_healed_twice_leaves_no_process(tmp_path: Path, toxiproxy: ToxiproxyClient) -> None:
    sut = target(tmp_path, toxiproxy)
    sut.start()
    first = psutil.Process(sut.service_pids()["sleeper"])
    sut.kill("sleeper")
    sut.start_service("sleeper")
    second = psutil.Process(sut.service_pids()["sleeper"])
    sut.start_service("sleeper")  # the heal again, as an ExitStack would after an error

    sut.stop()

    assert not first.is_running()
    _, alive = psutil.wait_procs([second], timeout=5)
    assert alive == []
    assert sut.service_pids() == {}


def test_a_fault_on_a_service_that_is_not_running_is_a_target_error(
    tmp_path: Path, toxiproxy: ToxiproxyClient
) -> None:
    sut = target(tmp_path, toxiproxy)
    sut.start()
    try:
        sut.kill("sleeper")
        with pytest.raises(TargetError, match="'sleeper' is not running"):
            sut.freeze("sleeper")
    finally:
        sut.stop()


DAEMONIZING = """\
name: daemons
services:
  daemon:  # leaves a child in a session of its own: stopping the service's group misses it
    command:
      - "{python}"
      - "-c"
      - "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time;
        time.sleep(60)'], start_new_session=True); time.sleep(60)"
"""
STRAY = """\
name: stray
system: system.yaml
warmup: 1s
settle: 0s
steady_state:
  - {name: up, command: {argv: ["true"]}}
faults:
  - {type: crash, service: daemon, at: 0s, duration: 2s}
expectations:
  - {policy: steady_state, within: 30s}
"""


def test_a_run_stops_what_outlived_its_services(
    tmp_path: Path, toxiproxy: ToxiproxyClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A daemonized child (or a start a signal cut short) carries the run's marker: the run's
    own end stops it, since the reaper leaves a finished run alone."""
    (tmp_path / "system.yaml").write_text(DAEMONIZING)
    (tmp_path / "stray.yaml").write_text(STRAY)
    options = RunOptions(time_scale=0.05, toxiproxy_url=toxiproxy.url, reports_dir=tmp_path)

    result = Runner(options).run(prepare(tmp_path / "stray.yaml", None))

    assert [v.status for v in result.verdicts] == [Status.PASSED]
    assert marked_processes(result.run_id) == []
    assert "nobody stopped" in caplog.text  # two children: the first start's and the restart's
