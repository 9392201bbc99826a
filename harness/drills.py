"""No-automation drills: the automation is switched off and a runbook recovers the system.

A runbook is a YAML file of operator steps, each one of: ``wait`` (for an event, an escalation
or an HTTP answer: the alert), ``http`` (call an endpoint), ``restart`` (a service), ``deploy``
(a version, through the system's deploy hook) or ``command`` (run a program in the system's
folder). Each step may state a ``reaction``: how long the operator takes to act (after a wait:
to notice; before an action: to decide). Durations are scaled like every other.

The runbook runs in a thread from the moment faults start. The *scripted* operator takes each
step's stated reaction; the *interactive* operator is a person at a terminal: each step is shown,
and the harness acts when they confirm, recording when they did. Every step becomes a
``StepEntry`` on the timeline, so per-step durations and MTTR are measured like everything else.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal, Protocol

import httpx
from pydantic import Field, model_validator

from harness.durations import Duration
from harness.faults.base import ServiceControl
from harness.observe.probes import expand_url, sample
from harness.policies import Status, Verdict
from harness.scenario import HttpCheck, Probe
from harness.spec import JsonScalar, Model
from harness.timeline import EscalationEntry, EventEntry, StepEntry, Timeline
from harness.yamlsource import load_model

Mode = Literal["automated", "no-automation"]
OperatorKind = Literal["scripted", "interactive"]
_POLL = 0.05


# --- the runbook format -------------------------------------------------------------------


class Wait(Model):
    """Wait until something shows: an event of the system, an escalation, or an HTTP answer."""

    event: str | None = Field(default=None, description="an event's action, e.g. 'observation'")
    service: str | None = Field(default=None, description="only events of this service")
    escalation: bool = Field(default=False, description="wait for an escalation to a human")
    http: HttpCheck | None = Field(default=None, description="poll until this check passes")
    within: Duration = Field(default=1800.0, description="give up after this long (scaled)")

    @model_validator(mode="after")
    def _one_condition(self) -> Wait:
        given = [self.event is not None, self.escalation, self.http is not None]
        if sum(given) != 1:
            raise ValueError("a wait needs exactly one of: event, escalation, http")
        return self


class Call(Model):
    """An HTTP call an operator makes; ``{api}``-style endpoint names expand."""

    method: Literal["GET", "POST", "PUT", "DELETE"] = "POST"
    url: str
    json_: dict[str, JsonScalar] | None = Field(default=None, alias="json")
    status: int | list[int] = Field(default=200, description="status code(s) meaning it worked")
    timeout: Duration = Field(default=5.0, description="real time, not scaled")


class Deploy(Model):
    """Deploy a version of a service through the system's deploy hook."""

    service: str
    version: str


_ACTIONS = ("wait", "http", "restart", "deploy", "command")


class Step(Model):
    """One operator step: exactly one of wait, http, restart, deploy, command."""

    name: str
    reaction: Duration = Field(
        default=0.0, description="the operator's time to notice or to act (scaled)"
    )
    wait: Wait | None = None
    http: Call | None = None
    restart: str | None = Field(default=None, description="a service to restart")
    deploy: Deploy | None = None
    command: list[str] | None = Field(default=None, min_length=1)
    timeout: Duration = Field(default=60.0, description="for a command; real time")

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        given = [a for a in _ACTIONS if getattr(self, a)]
        if len(given) != 1:
            found = f"found {', '.join(given)}" if given else "found none"
            raise ValueError(
                f"a step needs exactly one of wait, http, restart, deploy, command; {found}"
            )
        return self

    @property
    def action(self) -> str:
        """What kind of step it is."""
        return next(a for a in _ACTIONS if getattr(self, a))


class Runbook(Model):
    """The operator's procedure for an incident, as a drill runs it."""

    name: str
    description: str = ""
    steps: list[Step] = Field(min_length=1)


def load_runbook(path: Path) -> Runbook:
    """Load a runbook; raise ScenarioError naming file, line and field."""
    runbook: Runbook = load_model(path, Runbook)
    return runbook


# --- operators ----------------------------------------------------------------------------


class Operator(Protocol):
    """Who carries out the steps."""

    kind: OperatorKind

    def react(self, step: Step, index: int, total: int, scaled_reaction: float) -> None:
        """Return when the operator acts on the step (after their reaction)."""
        ...


class ScriptedOperator:
    """Takes each step's stated reaction time, unattended (CI)."""

    kind: OperatorKind = "scripted"

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def react(self, step: Step, index: int, total: int, scaled_reaction: float) -> None:
        """Wait the step's (scaled) reaction time, or until the run ends."""
        self._stop.wait(scaled_reaction)


class InteractiveOperator:
    """A person at the terminal: each step is shown, and the harness acts on their Enter."""

    kind: OperatorKind = "interactive"

    def __init__(self, read_line: Callable[[], str], write: Callable[[str], None]) -> None:
        self._read, self._write = read_line, write

    def react(self, step: Step, index: int, total: int, scaled_reaction: float) -> None:
        """Show the step and block until the person confirms it."""
        what = _describe(step)
        self._write(
            f"\n[drill] step {index}/{total}: {step.name}\n        {what}\n"
            "        press Enter to carry it out (the time you take is recorded) "
        )
        self._read()


def _describe(step: Step) -> str:
    if step.wait is not None:
        return "the condition is met: " + _describe_wait(step.wait)
    if step.http is not None:
        return f"call {step.http.method} {step.http.url}"
    if step.restart is not None:
        return f"restart service {step.restart}"
    if step.deploy is not None:
        return f"deploy {step.deploy.service}@{step.deploy.version}"
    return f"run {' '.join(step.command or [])}"


def _describe_wait(wait: Wait) -> str:
    if wait.event is not None:
        return f"event {wait.event}" + (f" of {wait.service}" if wait.service else "")
    if wait.escalation:
        return "an escalation"
    assert wait.http is not None
    return f"{wait.http.method} {wait.http.url} answers as expected"


# --- running a runbook --------------------------------------------------------------------


class RunbookRun:
    """Carries out a runbook's steps in order, in a thread, recording each on the timeline."""

    def __init__(
        self,
        runbook: Runbook,
        *,
        timeline: Timeline,
        endpoints: Mapping[str, str],
        services: ServiceControl,
        system_dir: Path,
        operator: Operator,
        stop: threading.Event,
    ) -> None:
        self.runbook, self.timeline, self._endpoints = runbook, timeline, endpoints
        self._services, self._dir, self._operator, self._stop = services, system_dir, operator, stop
        self._began = 0.0
        self._thread = threading.Thread(target=self._run, name="runbook", daemon=True)
        self.error: str | None = None

    def start(self) -> None:
        """Begin with the first step now."""
        self._began = self.timeline.now()
        self._thread.start()

    def wait(self, timeout: float) -> bool:
        """Wait (bounded) for the last step; whether the runbook is done."""
        self._thread.join(timeout=timeout)
        return not self._thread.is_alive()

    def stop(self) -> None:
        """End the runbook where it is (the run is over)."""
        self._stop.set()
        self._thread.join(timeout=10.0)

    def _run(self) -> None:
        total = len(self.runbook.steps)
        with httpx.Client() as client:
            for index, step in enumerate(self.runbook.steps, start=1):
                if self._stop.is_set():
                    return
                started = self.timeline.now()
                try:
                    ok, detail, acted = self._step(client, step, index, total)
                except Exception as exc:  # a step that cannot be carried out ends the runbook
                    ok, detail, acted = False, f"{type(exc).__name__}: {exc}", None
                self.timeline.append(
                    StepEntry(
                        t=self.timeline.now(),
                        index=index,
                        step=step.name,
                        action=step.action,
                        started=started,
                        acted=acted,
                        ok=ok,
                        operator=self._operator.kind,
                        detail=detail,
                    )
                )
                if not ok:
                    self.error = f"step {index} ({step.name}) did not work: {detail}"
                    return

    def _step(
        self, client: httpx.Client, step: Step, index: int, total: int
    ) -> tuple[bool, str, float | None]:
        reaction = self.timeline.scaled(step.reaction)
        if step.wait is not None:
            ok, detail = self._wait(client, step.wait)
            if not ok:
                return False, detail, None
            self._operator.react(step, index, total, reaction)
            return (not self._stop.is_set()), detail, self.timeline.now()
        self._operator.react(step, index, total, reaction)
        if self._stop.is_set():
            return False, "the run ended before the operator acted", None
        acted = self.timeline.now()
        ok, detail = self._act(client, step)
        return ok, detail, acted

    def _wait(self, client: httpx.Client, wait: Wait) -> tuple[bool, str]:
        deadline = self.timeline.now() + self.timeline.scaled(wait.within)
        probe = Probe(name="runbook-wait", http=wait.http) if wait.http else None
        while not self._stop.is_set():
            if probe is not None:
                entry = sample(client, probe, self._endpoints, t_of=self.timeline, phase="drill")
                if entry.ok:
                    return True, f"{_describe_wait(wait)}: {entry.detail or 'ok'}"
            elif (seen := self._seen(wait)) is not None:
                return True, seen
            if self.timeline.now() >= deadline:
                return False, f"no {_describe_wait(wait)} within {wait.within:g}s (scaled)"
            time.sleep(_POLL)
        return False, "the run ended while waiting"

    def _seen(self, wait: Wait) -> str | None:
        if wait.escalation:
            for escalation in self.timeline.of(EscalationEntry):
                if escalation.t >= self._began:
                    return f"escalation at {escalation.t:.1f}s: {escalation.summary}"
            return None
        for event in self.timeline.of(EventEntry):
            of_service = wait.service is None or event.service == wait.service
            if event.t >= self._began and event.action == wait.event and of_service:
                return f"{event.action} of {event.service} at {event.t:.1f}s"
        return None

    def _act(self, client: httpx.Client, step: Step) -> tuple[bool, str]:
        if step.http is not None:
            call = step.http
            url = expand_url(call.url, self._endpoints)
            try:
                answer = client.request(call.method, url, json=call.json_, timeout=call.timeout)
            except httpx.HTTPError as exc:
                return False, f"{call.method} {url}: {type(exc).__name__}: {exc}"
            wanted = (call.status,) if isinstance(call.status, int) else tuple(call.status)
            ok = answer.status_code in wanted
            return ok, f"{call.method} {call.url} -> {answer.status_code} {answer.text[:200]}"
        if step.restart is not None:
            self._services.restart(step.restart)
            return True, f"restarted {step.restart}"
        if step.deploy is not None:
            values = {"service": step.deploy.service, "version": step.deploy.version}
            self._services.run_hook("deploy", values)
            return True, f"deployed {step.deploy.service}@{step.deploy.version}"
        command = step.command or []
        done = subprocess.run(
            command,
            cwd=self._dir,
            capture_output=True,
            text=True,
            timeout=step.timeout,
            check=False,
        )
        output = (done.stdout + done.stderr).strip()[-300:]
        return done.returncode == 0, f"{' '.join(command)} -> exit {done.returncode} {output}"


# --- judging the drill --------------------------------------------------------------------


def runbook_verdict(runbook: Runbook, timeline: Timeline) -> Verdict:
    """Passed when every step of the runbook was carried out and worked, in order."""
    steps = timeline.of(StepEntry)
    done = [s for s in steps if s.ok]
    if len(done) == len(runbook.steps) and len(steps) == len(done):
        took = steps[-1].t - steps[0].started
        return Verdict(
            policy="runbook",
            status=Status.PASSED,
            summary=f"all {len(done)} steps of runbook {runbook.name} carried out in {took:.1f}s "
            f"({', '.join(f'{s.step} {s.t - s.started:.1f}s' for s in steps)})",
            evidence=list(steps),
        )
    failed = next((s for s in steps if not s.ok), None)
    if failed is not None:
        summary = f"runbook {runbook.name}: step {failed.index} ({failed.step}) did not work: "
        summary += failed.detail
    else:
        missing = runbook.steps[len(steps)].name
        summary = (
            f"runbook {runbook.name}: {len(steps)} of {len(runbook.steps)} steps carried out "
            f"by the end of the run; next was '{missing}'"
        )
    return Verdict(policy="runbook", status=Status.FAILED, summary=summary, evidence=list(steps))


DRILL_POLICIES = frozenset({"steady_state", "no_data_lost"})
"""The policies a no-automation drill judges: recovery and data, not the automation's actions."""
