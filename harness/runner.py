"""Runs one scenario on a target: record everything on the timeline, heal everything, then judge.

Every resource the run acquires (Toxiproxy server, collector, SUT processes, proxies, faults,
workload, sampler) is registered on one ExitStack the moment it exists. The stack unwinds on a
normal end, an error, Ctrl-C or SIGTERM, with further signals deferred until it is done, so no
fault outlives the run. What the run created is also written to ``state.json`` first, for the
run's reaper (harness/reaper.py) and ``harness cleanup`` after a SIGKILL.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx

from harness.cleanup import reap, stop_stragglers, unfinished_runs
from harness.clock import format_offset
from harness.drills import (
    DRILL_POLICIES,
    InteractiveOperator,
    Mode,
    Operator,
    OperatorKind,
    RunbookRun,
    ScriptedOperator,
    runbook_verdict,
)
from harness.errors import Aborted, HarnessError, ProbeError, ScenarioError, TargetError
from harness.faults.base import FaultContext, FaultDriver, Injected
from harness.faults.http_edges import HttpEdges
from harness.faults.toxiproxy import ToxiproxyClient, parse_proxy_bytes
from harness.faults.toxiproxy_server import private_toxiproxy
from harness.hookspecs import plugin_manager
from harness.observe.collector import Collector
from harness.observe.guards import GuardMonitor
from harness.observe.held import FaultWatch, overrun
from harness.observe.load import LoadRunner
from harness.observe.probes import Sampler, sample
from harness.observe.senders import SinkUrls
from harness.observe.workload import WorkloadRunner
from harness.observe.world import CounterSampler, read_final_state
from harness.policies import Status, Verdict, judge
from harness.policies.base import INTERRUPTED_PHASE
from harness.prepare import Prepared, check_time_scale, scale_warnings
from harness.reaper import Watchdog
from harness.report import archive_run
from harness.report.kpi import RunKpis, run_kpis
from harness.scale_floor import measured_scale_warnings
from harness.signals import Terminated, deferring, interruptible, shielded
from harness.state import StateFile, is_alive
from harness.targets.base import Target, TargetContext, hook_sender
from harness.targets.bridge import host_gateway
from harness.targets.compose import ComposeTarget, docker_client
from harness.targets.process import ProcessTarget
from harness.timeline import FaultEntry, GuardEntry, PhaseEntry, Timeline, TrafficEntry

log = logging.getLogger(__name__)

KEPT: list[object] = []
"""What --keep-env leaves running, referenced for the session so it is not collected (and
warned about) while it runs; `harness cleanup` stops it."""

STEADY_STATE_WAIT = 15.0
"""Seconds (real) the system may take to pass its probes once healthy, before any fault."""


@dataclass(frozen=True)
class RunOptions:
    """How to run: the knobs of ``pytest --scenario`` and ``harness run``."""

    time_scale: float = 1.0
    target: str | None = None
    sut_env: Mapping[str, str] = field(default_factory=dict)
    keep_env: bool = False
    toxiproxy_url: str | None = None
    toxiproxy_bin: str | None = None
    toxiproxy_image: str | None = None
    """Run the private Toxiproxy from this Docker image instead of a binary."""
    reports_dir: Path = Path("reports")
    run_label: str = ""
    drill: Mode | None = None
    """'no-automation' runs a drill (automation off, the runbook recovers); None: the scenario's."""
    operator: OperatorKind = "scripted"
    operator_io: tuple[Callable[[], str], Callable[[str], None]] | None = field(
        default=None, compare=False
    )
    """How an interactive operator is asked and answers: (read a line, write a prompt)."""


@dataclass(frozen=True)
class RunResult:
    """A finished run: its id, where its results are, the timeline and the verdicts."""

    run_id: str
    run_dir: Path
    timeline: Timeline
    verdicts: list[Verdict]
    kpis: RunKpis | None = None
    scenario: str = ""


def new_run_id(name: str, label: str = "") -> str:
    """``<scenario>-<UTC time>-<random>``, plus a label such as the xdist worker."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    suffix = f"-{label}" if label else ""
    return f"{name}-{stamp}-{secrets.token_hex(2)}{suffix}"


class Runner:
    """Runs prepared scenarios with one set of options."""

    def __init__(self, options: RunOptions) -> None:
        if options.time_scale <= 0:
            raise ValueError("the time scale must be positive")
        self.options = options

    def mode(self, prepared: Prepared) -> Mode:
        """'automated', or 'no-automation' for a drill (by option or by the scenario)."""
        drill = prepared.scenario.drill
        return self.options.drill or (drill.mode if drill else "automated")

    def run(self, prepared: Prepared) -> RunResult:
        """Run the scenario, always clean up, then judge the timeline."""
        mode = self.mode(prepared)
        if mode == "no-automation":
            _check_drill(prepared)
        check_time_scale(prepared, self.options.time_scale)  # before anything starts
        if not self.options.keep_env:  # a malformed signing key, before the run, not at its seal
            from harness.report.signing import signing_key

            signing_key()
        reap_leftovers(self.options.reports_dir)
        run_id = new_run_id(prepared.scenario.name, self.options.run_label)
        run_dir = self.options.reports_dir / "runs" / run_id
        with deferring() as pending:  # a run folder comes whole, its state and its reaper with it
            (run_dir / "logs").mkdir(parents=True)
            shutil.copyfile(prepared.path, run_dir / "scenario.yaml")
            timeline = Timeline(self.options.time_scale, contract=prepared.system.contract)
            for warning in scale_warnings(prepared, self.options.time_scale):
                log.warning("%s: %s", prepared.scenario.name, warning)
            state = StateFile(run_dir / "state.json", run_id, keep_env=self.options.keep_env)
            watchdog = Watchdog.start(state.path, run_id, run_dir / "logs" / "reaper.log")
        stack = ExitStack()
        aborted: Aborted | None = None
        interrupted: KeyboardInterrupt | None = None
        try:
            with interruptible():  # the shield goes up before SIGTERM's handler comes down
                try:
                    pending.raise_now()  # a signal while the folder was made: sealed as interrupted
                    execution = _Execution(
                        self.options, prepared, timeline, state, stack, run_id, run_dir
                    )
                    execution.mode = mode
                    execution.go()
                except Aborted as exc:  # the stack heals every fault now, like for any end
                    aborted = exc
                except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM: heal, then seal what it has
                    interrupted = exc
                    timeline.append(PhaseEntry(t=timeline.now(), phase=INTERRUPTED_PHASE))
                finally:
                    with shielded():
                        try:
                            stack.close()
                            if not self.options.keep_env:
                                _stop_stragglers(run_id)
                                state.finish()
                        finally:  # the evidence is written even when a heal failed
                            watchdog.release()  # the reaper reaps what a failed heal left
                            timeline.write(run_dir / "timeline.json")
        except KeyboardInterrupt as exc:  # deferred from the cleanup: it finished first
            if interrupted is None:
                interrupted = exc
                timeline.append(PhaseEntry(t=timeline.now(), phase=INTERRUPTED_PHASE))
                timeline.write(run_dir / "timeline.json")
        with shielded():  # judged and sealed whole; a signal meanwhile ends the command after
            return self._conclude(prepared, timeline, mode, run_id, run_dir, aborted, interrupted)

    def _conclude(
        self,
        prepared: Prepared,
        timeline: Timeline,
        mode: Mode,
        run_id: str,
        run_dir: Path,
        aborted: Aborted | None,
        interrupted: KeyboardInterrupt | None,
    ) -> RunResult:
        """Judge the timeline (or say why not), seal the bundle; re-raise an interrupt after."""
        if interrupted is not None:
            verdicts = [interrupted_verdict(timeline, interrupted)]
        elif aborted is not None or timeline.of(GuardEntry):  # a guard that tripped too late
            # to stop the run (after the last look, in the drain) still says it was not safe
            verdicts = [aborted_verdict(timeline)]
        elif mode == "no-automation":  # recovery and data are judged; the automation was off
            assert prepared.runbook is not None
            kept = [e for e in prepared.scenario.expectations if e.policy in DRILL_POLICIES]
            verdicts = [runbook_verdict(prepared.runbook, timeline), *judge(kept, timeline)]
        else:
            verdicts = judge(prepared.scenario.expectations, timeline)
        if interrupted is None and aborted is None:
            declared = prepared.system.min_time_scale is not None
            for warning in measured_scale_warnings(
                prepared.scenario.expectations, timeline, declared=declared
            ):
                log.warning("%s: %s", prepared.scenario.name, warning)
        (run_dir / "verdicts.json").write_text(
            "[" + ",\n".join(v.model_dump_json() for v in verdicts) + "]", encoding="utf-8"
        )
        kpis = run_kpis(timeline, mode)
        (run_dir / "kpis.json").write_text(kpis.model_dump_json(indent=1), encoding="utf-8")
        if not self.options.keep_env:  # `harness cleanup` still rewrites a kept run's state.json
            archive_run(
                run_dir,
                self.options.reports_dir,
                run_id=run_id,
                scenario=prepared.scenario.name,
                target=self.options.target or prepared.scenario.target,
                time_scale=self.options.time_scale,
                options={k: v for k, v in asdict(self.options).items() if k != "operator_io"},
                mode=mode,
            )
        if interrupted is not None:  # sealed as interrupted: now the command stops (130)
            raise interrupted
        return RunResult(run_id, run_dir, timeline, verdicts, kpis, prepared.scenario.name)


def reap_leftovers(reports_dir: Path) -> None:
    """Clean up after earlier runs that were killed: their harness is gone, they are unfinished.

    Kept runs (--keep-env) wait for `harness cleanup`; a run whose harness still runs is left
    alone. What could not be removed is logged; the new run goes on.
    """
    try:
        leftovers = unfinished_runs(reports_dir)
    except (OSError, ValueError) as exc:  # an unreadable state file: `harness cleanup` says more
        log.warning("could not look for leftovers of killed runs in %s: %s", reports_dir, exc)
        return
    for path, record in leftovers:
        if record.keep_env or (record.owner is not None and is_alive(record.owner)):
            continue
        done = reap(path, record)
        removed = [*done.proxies, *done.processes, *done.containers]
        log.warning("reaped what killed run %s left: %s", record.run_id, ", ".join(removed) or "-")
        for problem in done.problems:
            log.warning("  %s", problem)


def interrupted_verdict(timeline: Timeline, interrupt: KeyboardInterrupt) -> Verdict:
    """A person or a signal stopped the run: when, in which phase, and when every fault healed."""
    stops = [e for e in timeline.of(PhaseEntry) if e.phase == INTERRUPTED_PHASE]
    at = stops[0].t if stops else timeline.now()
    phases = [e for e in timeline.of(PhaseEntry) if e.phase != INTERRUPTED_PHASE]
    during = [e.phase for e in phases if e.t <= at]
    heals = [e for e in timeline.of(FaultEntry) if e.action == "heal" and e.t >= at]
    healed = f"; every fault healed {heals[-1].t - at:.2f}s later" if heals else ""
    how = "SIGTERM" if isinstance(interrupt, Terminated) else "SIGINT (Ctrl-C)"
    phase = f" during {during[-1]}" if during else ""
    return Verdict(
        policy="run",
        status=Status.INTERRUPTED,
        summary=f"interrupted by {how} at {format_offset(at)}{phase}: nothing was judged{healed}",
        evidence=(*stops[:1], *heals),
    )


def aborted_verdict(timeline: Timeline) -> Verdict:
    """The run was aborted by a guard: which, when, and how soon every fault was healed."""
    guard = timeline.of(GuardEntry)[0]
    heals = [e for e in timeline.of(FaultEntry) if e.action == "heal" and e.t >= guard.t]
    healed = f"; every fault healed {heals[-1].t - guard.t:.2f}s later" if heals else ""
    return Verdict(
        policy="guard",
        status=Status.ABORTED,
        summary=f"aborted: guard {guard.guard} tripped at {format_offset(guard.t)}: "
        f"{guard.detail}{healed}",
        evidence=(guard, *heals),
    )


def _stop_stragglers(run_id: str) -> None:
    """Stop what outlived the teardown (a daemonized child, a start a signal cut short), loudly."""
    stopped = stop_stragglers(run_id)
    if stopped:
        log.warning("stopped what run %s started and nobody stopped (a daemonized child, "
                    "a start cut short by a signal): %s", run_id, ", ".join(stopped))  # fmt: skip


def _check_drill(prepared: Prepared) -> None:
    """A drill needs a runbook and a way to switch the automation off."""
    if prepared.runbook is None:
        raise ScenarioError(
            what=f"scenario {prepared.scenario.name!r} has no runbook, so it cannot run as a "
            "no-automation drill",
            where=str(prepared.path),
            hint="add 'drill: {runbook: path/to/runbook.yaml}' to the scenario",
        )
    automation = prepared.system.automation
    if automation is None or automation.switch is None:
        raise TargetError(
            what=f"system {prepared.system.name!r} declares no automation switch, so a drill "
            "cannot turn its automation off",
            where=str(prepared.system_path),
            hint="add 'automation: {service: ..., switch: {env: AUTOMATION, off: \"off\"}}'",
        )


class _Execution:
    """The steps of one run; every step registers its undo on ``stack`` at once."""

    def __init__(
        self,
        options: RunOptions,
        prepared: Prepared,
        timeline: Timeline,
        state: StateFile,
        stack: ExitStack,
        run_id: str,
        run_dir: Path,
    ) -> None:
        self.options, self.prepared, self.timeline = options, prepared, timeline
        self.state, self.stack, self.run_id, self.run_dir = state, stack, run_id, run_dir
        self.scenario = prepared.scenario
        self.mode: Mode = "automated"
        self.tripped: GuardEntry | None = None
        self._tripped_event = threading.Event()
        self._watch: FaultWatch | None = None

    def go(self) -> None:
        self._phase("setup")
        compose = (self.options.target or self.scenario.target) == "compose"
        if compose and self.options.toxiproxy_url:
            raise TargetError(
                what="--toxiproxy applies to the process target only",
                hint="the compose target runs Toxiproxy as a service of the project; drop "
                "--toxiproxy, or run with --target process",
            )
        if compose:  # the project brings its own Toxiproxy; the sinks face the containers
            engine = docker_client()
            self.stack.callback(engine.close)
            client, sink_host = None, host_gateway(engine)
        else:
            client, sink_host = self._toxiproxy(), "127.0.0.1"
        senders = self._senders()
        collector = self.stack.enter_context(
            Collector(self.timeline, host=sink_host, senders=senders)
        )
        http = self._http_edges(sink_host)  # stopped after the services: their last requests count
        context = TargetContext(
            system=self.prepared.system,
            system_dir=self.prepared.system_path.parent,
            toxiproxy=client,
            run_id=self.run_id,
            logs_dir=self.run_dir / "logs",
            env=self._sut_env(),
            sinks={name: self._sink_env(collector.urls(name)) for name in senders},
            on_line=collector.ingest_line,
            state=self.state,
            http=http,
        )
        target: Target = ComposeTarget(context, engine) if compose else ProcessTarget(context)
        if not self.options.keep_env:
            self.stack.callback(target.close)
            # runs after target.stop: Toxiproxy counts a connection's bytes when it closes
            self.stack.callback(self._record_traffic, target)
            self.stack.callback(target.stop)
        else:
            KEPT.append(target)
        self.target = target
        target.start()
        self.client = client = target.toxiproxy()
        endpoints = target.endpoints()
        self._phase("steady_state")
        sampler = Sampler(
            self.scenario.steady_state,
            endpoints,
            self.timeline,
            self._sample_interval(),
            base_dir=self.prepared.system_path.parent,
        )
        self._await_steady_state(sampler)
        drivers = self._drivers(
            FaultContext(
                toxiproxy=client,
                proxy_for=target.proxy_for,
                time_scale=self.timeline.time_scale,
                scales_magnitudes=self.prepared.system.honours_time_scale,
                run_id=self.run_id,
                services=target,
                endpoints=endpoints,
                timeline=self.timeline,
                workload=self.scenario.workload,
                http=http,
            )
        )
        self._inject_phase(sampler, endpoints, drivers, target)

    # --- setup ----------------------------------------------------------------------------

    def _phase(self, name: str) -> None:
        self.timeline.append(PhaseEntry(t=self.timeline.now(), phase=name))

    def _toxiproxy(self) -> ToxiproxyClient:
        url = self.options.toxiproxy_url
        if url is None:
            server = private_toxiproxy(
                self.options.toxiproxy_bin,
                self.options.toxiproxy_image,
                log_path=self.run_dir / "logs" / "toxiproxy.log",
            )
            if not self.options.keep_env:
                self.stack.callback(server.stop)
            else:
                KEPT.append(server)
            server.start()
            self.state.add_process("toxiproxy", server.pid)
            url = server.url
        client = self.stack.enter_context(ToxiproxyClient(url))
        client.version()  # fails early, with a hint, if nothing answers
        self.state.set_toxiproxy(url)
        return client

    def _http_edges(self, host: str) -> HttpEdges | None:
        """The proxies of the edges declared ``protocol: http``, listening on ``host``."""
        edges = [e.name for e in self.prepared.system.http_edges()]
        if not edges:
            return None
        http = HttpEdges(
            edges, self.timeline, self.run_dir / "http", host=host, track=self.state.add_process
        )
        if self.options.keep_env:
            KEPT.append(http)
        else:
            self.stack.callback(http.close)
        return http

    def _senders(self) -> list[str]:
        """Who gets sink URLs of its own: every service, and every hook's command."""
        system = self.prepared.system
        return [*system.services, *(hook_sender(hook) for hook in system.hooks)]

    @staticmethod
    def _sink_env(urls: SinkUrls) -> dict[str, str]:
        """One sender's sink URLs as variables; each carries the sender's own token."""
        return {"HARNESS_EVENTS_URL": urls.events, "HARNESS_ESCALATION_URL": urls.escalations}

    def _sut_env(self) -> dict[str, str]:
        env = {
            "HARNESS_TIME_SCALE": repr(self.timeline.time_scale),
            "HARNESS_RUN_ID": self.run_id,
        }
        env.update(self.scenario.sut_env)
        env.update(self.options.sut_env)
        automation = self.prepared.system.automation
        if self.mode == "no-automation" and automation and automation.switch:
            env[automation.switch.env] = automation.switch.off
        return env

    def _sample_interval(self) -> float:
        return max(self.timeline.scaled(1.0), 0.1)

    def _await_steady_state(self, sampler: Sampler) -> None:
        deadline = time.monotonic() + STEADY_STATE_WAIT
        with httpx.Client() as client:
            while True:
                failing = [e for e in sampler.probe_round(client, "steady_state") if not e.ok]
                if not failing:
                    sampler.sample_all(client, "steady_state")
                    return
                if time.monotonic() > deadline:
                    sampler.record(failing)
                    raise ProbeError(
                        what="the system is not in its steady state, so no fault was injected",
                        expected="every steady_state probe passes",
                        actual="; ".join(f"{e.probe}: {e.detail}" for e in failing),
                        hint=f"read the service logs in {self.run_dir / 'logs'}",
                    )
                time.sleep(0.1)

    def _drivers(self, context: FaultContext) -> dict[str, FaultDriver]:
        merged: dict[str, FaultDriver] = {}
        for provided in reversed(plugin_manager().hook.harness_fault_drivers(context=context)):
            merged.update(provided)
        return merged

    # --- inject, observe, verify ----------------------------------------------------------

    def _inject_phase(
        self,
        sampler: Sampler,
        endpoints: Mapping[str, str],
        drivers: dict[str, FaultDriver],
        services: Target,
    ) -> None:
        self._phase("inject")
        sampler.start()
        self.stack.callback(sampler.stop)
        base_dir = self.prepared.system_path.parent
        counters = CounterSampler(
            self.prepared.state, endpoints, self.timeline, self._sample_interval(), base_dir
        )
        if counters:
            counters.sample_all()  # the baseline, before the first fault
            counters.start()
            self.stack.callback(counters.stop)
        guards = GuardMonitor(
            self.scenario.guards,
            endpoints,
            self.timeline,
            self._trip,
            base_dir=self.prepared.system_path.parent,
        )
        guards.start()
        self.stack.callback(guards.stop)
        watch = self._watch = FaultWatch(self.timeline, self.target.exited)
        watch.start()
        self.stack.callback(watch.stop)
        if self.scenario.load:  # users first: they are active before the first fault
            users = LoadRunner(
                self.scenario.load,
                endpoints,
                self.timeline,
                self.run_dir / "load",
                self.prepared.path.parent,
                track=self.state.add_process,
            )
            self.stack.callback(users.stop)
            users.start()
        load = None
        if self.scenario.workload:
            load = WorkloadRunner(self.scenario.workload, endpoints, self.timeline, self.run_id)
            load.start()
            self.stack.callback(load.stop)
        start = self.timeline.now() + self.timeline.scaled(self.scenario.warmup)
        active: dict[str, Injected] = {}
        runbook = None
        for when, action, index in self._schedule(start):
            self._sleep_until(when)
            if runbook is None and self.mode == "no-automation":
                runbook = self._start_runbook(endpoints, services)  # on call from the first fault
            fault, fault_id = self.scenario.faults[index], self.scenario.fault_ids()[index]
            if action == "inject":
                active[fault_id] = self._inject(drivers, fault, fault_id)
            else:
                active[fault_id].heal()
        self._phase("heal")
        sampler.phase = "observe"
        if runbook is not None:
            deadline = start + self.timeline.scaled(self.scenario.time_budget)
            while not runbook.wait(0.1) and self.timeline.now() < deadline:
                self._check_guards()
        self._sleep_until(self.timeline.now() + self.timeline.scaled(self.scenario.settle_time()))
        if load is not None:
            load.stop()
        if self.scenario.load:
            users.stop()
        sampler.stop()
        counters.stop()
        with httpx.Client() as client:
            self._drain(client, endpoints)
            watch.stop()
            watch.check_now()  # the last look, before anything is stopped on purpose
            self._phase("verify")
            if counters:
                counters.sample_all()
            read_final_state(self.prepared.state, endpoints, self.timeline, base_dir)
            sampler.sample_all(client, "verify")
        self._phase("teardown")

    def _start_runbook(self, endpoints: Mapping[str, str], services: Target) -> RunbookRun:
        assert self.prepared.runbook is not None
        stop = threading.Event()
        operator: Operator
        if self.options.operator == "interactive":
            if self.options.operator_io is None:
                raise HarnessError(what="an interactive operator needs a terminal to ask")
            operator = InteractiveOperator(*self.options.operator_io)
        else:
            operator = ScriptedOperator(stop)
        run = RunbookRun(
            self.prepared.runbook,
            timeline=self.timeline,
            endpoints=endpoints,
            services=services,
            system_dir=self.prepared.system_path.parent,
            operator=operator,
            stop=stop,
        )
        self.stack.callback(run.stop)
        run.start()
        return run

    def _drain(self, client: httpx.Client, endpoints: Mapping[str, str]) -> None:
        """Wait (bounded, scaled) until the system reports its work done; record the answer."""
        drain = self.scenario.drain
        if drain is None:
            return
        self._phase("drain")
        probe, base_dir = drain.as_probe("drain"), self.prepared.system_path.parent
        deadline = self.timeline.now() + self.timeline.scaled(drain.within)
        while True:
            entry = sample(
                client, probe, endpoints, t_of=self.timeline, phase="drain", base_dir=base_dir
            )
            if entry.ok or self.timeline.now() >= deadline:
                self.timeline.append(entry)
                return
            self._check_guards()
            time.sleep(0.05)

    def _schedule(self, start: float) -> list[tuple[float, str, int]]:
        steps = []
        for i, fault in enumerate(self.scenario.faults):
            at = start + self.timeline.scaled(fault.at)
            steps.append((at, "inject", i))
            steps.append((at + self.timeline.scaled(fault.duration), "heal", i))
        # at one instant: heal a fault before injecting the next, but inject before healing
        # the same (instant) fault
        return sorted(steps, key=lambda s: (s[0], 2 * s[2] + (s[1] == "heal")))

    def _inject(self, drivers: dict[str, FaultDriver], fault: Any, fault_id: str) -> Injected:
        driver = drivers.get(fault.type)
        if driver is None:
            raise HarnessError(
                what=f"no fault driver handles type {fault.type!r}",
                expected=f"one of {sorted(drivers)}",
                hint="install the plugin that provides it",
            )
        edge = getattr(fault, "edge", None)
        before = self._traffic(self.target).get(edge) if edge else None
        timeline = self.timeline

        def entry(action: Literal["inject", "heal"], at: float) -> FaultEntry:
            return FaultEntry(
                t=at,
                action=action,
                fault_id=fault_id,
                fault_type=fault.type,
                target=handle.target,
                detail=dict(handle.detail),
            )

        started = timeline.now()  # the moment the fault acts, not when its driver returns
        handle = driver.inject(fault, fault_id)
        applied = timeline.now()  # a restart's fault is its whole inject: held from here
        undo = handle.undo

        planned = timeline.scaled(fault.duration)
        watch = self._watch

        def heal_and_record() -> None:
            at = timeline.now()
            undo()
            timeline.append(entry("heal", at))
            late = overrun(planned, at - applied)
            if late is not None and watch is not None:
                watch.report("fault_overran", fault_id, f"fault {fault_id} {late}")

        handle.undo = heal_and_record
        self.stack.callback(handle.heal)  # at once: nothing may stand between inject and this
        if before is not None:
            handle.detail = {**handle.detail, "bytes_at_inject": before}

        timeline.append(entry("inject", started))
        if watch is not None:
            watch.track(fault_id, handle)
        return handle

    def _traffic(self, target: Target) -> dict[str, int]:
        """Bytes each edge's proxy has carried so far; empty if the server keeps no metrics."""
        try:
            counters = parse_proxy_bytes(target.toxiproxy().metrics())
        except HarnessError:  # no metrics, or the target never got as far as its Toxiproxy
            return {}
        totals = {}
        for edge in self.prepared.system.edge_names():
            found = counters.get(target.proxy_for(edge))
            totals[edge] = (found.upstream_received + found.downstream_received) if found else 0
        return totals

    def _record_traffic(self, target: Target) -> None:
        """After the services stopped (every connection counted): each edge's bytes in the run."""
        now = self.timeline.now()
        for edge, count in self._traffic(target).items():
            self.timeline.append(TrafficEntry(t=now, edge=edge, bytes=count))

    def _sleep_until(self, when: float) -> None:
        while (remaining := when - self.timeline.now()) > 0:
            self._check_guards()
            self._tripped_event.wait(min(remaining, 0.1))
        self._check_guards()

    def _trip(self, entry: GuardEntry) -> None:
        """A guard tripped (guard thread): the main thread aborts at its next look."""
        self.tripped = entry
        self._tripped_event.set()

    def _check_guards(self) -> None:
        if self.tripped is not None:
            raise Aborted(
                what=f"guard {self.tripped.guard!r} tripped: {self.tripped.detail}",
                hint="every fault was healed at once; the run stopped before its end",
            )
