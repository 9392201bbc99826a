"""Each service and hook gets sink URLs with its own token; no one holds another's."""

from __future__ import annotations

import textwrap
from pathlib import Path

from harness.observe.collector import Collector
from harness.secrets import REDACTED
from harness.state import StateFile
from harness.system import load_system
from harness.targets.base import TargetContext, hook_sender
from harness.targets.compose import _redacted
from harness.targets.process import ProcessTarget
from harness.timeline import Timeline

SYSTEM = """\
name: pair
services:
  worker: {command: ["{python}", "-c", "pass"]}
  controller: {command: ["{python}", "-c", "pass"]}
hooks:
  show:
    command: ["{python}", "-c", "import os; print(os.environ['HARNESS_EVENTS_URL'])"]
"""


def target(tmp_path: Path, sink: Collector) -> ProcessTarget:
    path = tmp_path / "system.yaml"
    path.write_text(textwrap.dedent(SYSTEM))
    names = ["worker", "controller", hook_sender("show")]
    sinks = {n: {"HARNESS_EVENTS_URL": sink.urls(n).events} for n in names}
    return ProcessTarget(
        TargetContext(
            system=load_system(path),
            system_dir=tmp_path,
            toxiproxy=None,
            run_id="sinks-test",
            logs_dir=tmp_path / "logs",
            env={"SHARED": "1"},
            sinks=sinks,
            on_line=lambda service, line: False,
            state=StateFile(tmp_path / "state.json", "sinks-test"),
        )
    )


def test_each_service_gets_its_own_sink_url(tmp_path: Path) -> None:
    sink = Collector(Timeline())
    try:
        sut = target(tmp_path, sink)
        worker = sut._environment("worker", {}, None)
        controller = sut._environment("controller", {}, None)
    finally:
        sink.close()

    assert worker["HARNESS_EVENTS_URL"] == sink.urls("worker").events
    assert controller["HARNESS_EVENTS_URL"] == sink.urls("controller").events
    assert worker["SHARED"] == controller["SHARED"] == "1"


def test_a_hook_posts_under_its_own_name(tmp_path: Path) -> None:
    sink = Collector(Timeline())
    try:
        shown = target(tmp_path, sink).run_hook("show", {}).strip()
    finally:
        sink.close()

    assert shown == sink.urls(hook_sender("show")).events


def test_the_compose_override_kept_as_evidence_hides_the_tokens() -> None:
    url = "http://host.docker.internal:4/t/s3cr3t-token/events"
    doc = {"services": {"worker": {"environment": {"HARNESS_EVENTS_URL": url, "API_KEY": "k"}}}}

    env = _redacted(doc)["services"]["worker"]["environment"]

    assert env == {
        "HARNESS_EVENTS_URL": f"http://host.docker.internal:4/t/{REDACTED}/events",
        "API_KEY": REDACTED,
    }
