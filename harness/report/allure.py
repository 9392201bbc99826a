"""What Allure shows of a scenario run: labels, parameters, ids, links, outcome and categories.

Pure functions of the scenario, how it was run and what it concluded. The pytest side
(``harness.allure_plugin``) writes them into allure-pytest's result; nothing here imports Allure,
so every mapping is tested without it.

History: Allure 2 keys a test's history by ``historyId``, Allure 3 by ``testCaseId`` plus the
values of the parameters that are not ``excluded``. Both are built from the scenario's name, the
target, the SUT environment (a defect switch is another configuration, with its own history), the
mode (a no-automation drill is another) and the trial of ``--trials``, never from the run id or
the time scale, which are excluded parameters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.report.attachments import masked_env

if TYPE_CHECKING:
    from harness.errors import HarnessError
    from harness.policies import Verdict
    from harness.scenario import Scenario
    from harness.timeline import Timeline

EPIC = "Operations automation promises"

FAULT_AREAS: Mapping[str, str] = {
    **dict.fromkeys(
        ("partition", "flap", "latency", "slow", "timeout", "reset_peer", "slicer", "limit_data"),
        "network",
    ),
    **dict.fromkeys(("http_error", "http_delay", "http_abort"), "network"),
    **dict.fromkeys(("crash", "pause", "restart"), "process"),
    **dict.fromkeys(("duplicate", "replay"), "requests"),
    "deploy": "change",
}
"""The area (Allure *feature*) of each fault type: what part of the world the scenario breaks."""

CRITICAL_POLICIES = frozenset(
    {"no_data_lost", "escalates", "escalates_on_conflict", "bounded_recovery"}
)
"""Promises whose breach loses data or leaves a human unpaged (or paged for nothing): a scenario
that checks one is *critical*, any other *normal*. Static per scenario, so the severity of a
scenario never changes from run to run."""

DEFECT_KEY = "DEFECT"


@dataclass(frozen=True)
class Label:
    """An Allure label: epic, feature, story, severity, tag."""

    name: str
    value: str


@dataclass(frozen=True)
class Param:
    """An Allure parameter; an ``excluded`` one is shown but is no part of the history key."""

    name: str
    value: str
    excluded: bool = False


@dataclass(frozen=True)
class Link:
    """An Allure link."""

    name: str
    url: str
    type: str = "link"


@dataclass(frozen=True)
class RunContext:
    """How a scenario was run: target, time scale, SUT environment, mode, trial, run id."""

    target: str
    time_scale: float
    sut_env: Mapping[str, str]
    run_id: str | None = None
    mode: str = "automated"
    trial: int | None = None


@dataclass(frozen=True)
class Outcome:
    """Allure's status for the run, and its message (a finding, never a Python traceback)."""

    status: str
    message: str


def areas(scenario: Scenario) -> list[str]:
    """The areas the scenario's faults act on, in order of first appearance."""
    return list(dict.fromkeys(FAULT_AREAS.get(f.type, "other") for f in scenario.faults))


def stories(scenario: Scenario) -> list[str]:
    """Each policy the scenario checks, once."""
    return list(dict.fromkeys(e.policy for e in scenario.expectations))


def severity(scenario: Scenario) -> str:
    """``critical`` when the scenario checks a data-loss or escalation promise, else ``normal``."""
    return "critical" if CRITICAL_POLICIES & set(stories(scenario)) else "normal"


def tags(context: RunContext) -> list[str]:
    """Target, time scale, a drill's mode and the defect switch, if one is on."""
    found = [f"target={context.target}", f"time-scale={context.time_scale:g}"]
    if context.mode != "automated":
        found.append(f"mode={context.mode}")
    defect = context.sut_env.get(DEFECT_KEY)
    if defect:
        found.append(f"{DEFECT_KEY}={masked_env({DEFECT_KEY: defect})[DEFECT_KEY]}")
    return found


def labels(scenario: Scenario | None, context: RunContext) -> list[Label]:
    """Epic, features (areas), stories (policies), severity and tags.

    A scenario that did not load gets the epic and the tags only.
    """
    found = [Label("epic", EPIC)]
    if scenario is not None:
        found += [Label("feature", area) for area in areas(scenario)]
        found += [Label("story", policy) for policy in stories(scenario)]
        found.append(Label("severity", severity(scenario)))
    found += [Label("tag", tag) for tag in tags(context)]
    return found


def parameters(context: RunContext) -> list[Param]:
    """Target, SUT env, mode, trial (the history key); time scale and run id (excluded)."""
    found = [Param("target", context.target)]
    if context.sut_env:
        shown = masked_env(context.sut_env)
        found.append(Param("SUT env", " ".join(f"{k}={v}" for k, v in sorted(shown.items()))))
    if context.mode != "automated":
        found.append(Param("mode", context.mode))
    if context.trial is not None:
        found.append(Param("trial", str(context.trial)))
    found.append(Param("time scale", f"{context.time_scale:g}", excluded=True))
    if context.run_id:
        found.append(Param("run id", context.run_id, excluded=True))
    return found


def test_case_id(name: str) -> str:
    """The scenario, however it was selected (its path may differ from machine to machine)."""
    return _md5("chaos-policy-harness scenario", name)


def history_id(name: str, params: Sequence[Param]) -> str:
    """The scenario and the parameters that are not excluded: the same for every run of it."""
    kept = sorted((p.name, p.value) for p in params if not p.excluded)
    return _md5(test_case_id(name), *(f"{k}={v}" for k, v in kept))


def links(scenario_path: Path, shown_as: str, timeline: Timeline | None) -> list[Link]:
    """The scenario file, and each runbook an escalation of the run pointed to."""
    found = [Link(f"scenario {shown_as}", scenario_path.resolve().as_uri())]
    if timeline is not None:
        from harness.timeline import EscalationEntry

        urls = dict.fromkeys(e.runbook_url for e in timeline.of(EscalationEntry) if e.runbook_url)
        found += [Link(f"runbook {url}", url) for url in urls]
    return found


def outcome(verdicts: Sequence[Verdict], run_dir: Path, scrub: Callable[[str], str]) -> Outcome:
    """Broken if a guard aborted the run or a verdict is broken, else failed if one failed.

    The message lists the verdicts that decided it, as pytest's report does.
    """
    from harness.policies import Status

    aborted = [v for v in verdicts if v.status == Status.ABORTED]
    interrupted = [v for v in verdicts if v.status == Status.INTERRUPTED]
    broken = [v for v in verdicts if v.status == Status.BROKEN]
    failed = [v for v in verdicts if v.status == Status.FAILED]
    where = f"\nresults: {run_dir}"
    if interrupted:  # nothing was judged: a person or a signal stopped the run
        text = "\n".join(v.render() for v in interrupted)
        return Outcome("broken", scrub(f"interrupted (every fault was healed):\n{text}{where}"))
    if aborted:  # nothing was judged: the guard's finding is the outcome
        text = "\n".join(v.render() for v in aborted)
        head = "aborted (a guard tripped; every fault was healed)"
        return Outcome("broken", scrub(f"{head}:\n{text}{where}"))
    if broken:  # a failed verdict beside them still shows: it is a finding
        text = "\n".join(v.render() for v in broken + failed)
        return Outcome(
            "broken", scrub(f"inconclusive (the harness could not tell):\n{text}{where}")
        )
    if failed:
        return Outcome("failed", scrub("\n".join(v.render() for v in failed) + where))
    return Outcome("passed", "")


def allure_status(status: str) -> str:
    """A verdict's status as Allure knows it: an aborted or interrupted run is broken."""
    return "broken" if status in ("aborted", "interrupted") else status


def error_outcome(error: HarnessError, scrub: Callable[[str], str]) -> Outcome:
    """A run that could not be done: broken, named by the kind of error (categories match it)."""
    return Outcome("broken", scrub(f"{type(error).__name__}: {error}"))


CATEGORIES: tuple[Mapping[str, object], ...] = (
    {"name": "Policy violations", "matchedStatuses": ["failed"]},
    {
        "name": "System under test unavailable",
        "matchedStatuses": ["broken"],
        "messageRegex": r"^(?:ProbeError|TargetError)\b[\s\S]*",
    },
    {
        "name": "Interrupted (every fault healed)",
        "matchedStatuses": ["broken"],
        "messageRegex": r"^interrupted\b[\s\S]*",
    },
    {
        "name": "Aborted by a guard (every fault healed)",
        "matchedStatuses": ["broken"],
        "messageRegex": r"^aborted\b[\s\S]*",
    },
    {
        "name": "Inconclusive (fault never reached traffic)",
        "matchedStatuses": ["broken"],
        "messageRegex": r"^inconclusive\b[\s\S]*never reached traffic[\s\S]*",
    },
    {
        "name": "Inconclusive (a policy could not tell)",
        "matchedStatuses": ["broken"],
        "messageRegex": r"^inconclusive\b[\s\S]*",
    },
    {"name": "Harness errors", "matchedStatuses": ["broken"]},
)
"""Allure 2's ``categories.json``; Allure 3 reads the same keys from ``categories`` in its
allurerc. The first match wins, so the last, for every other broken result, catches harness
errors (ScenarioError, FaultError, ToxiproxyError, a crash of the harness itself). The
patterns work both as Allure 2 applies them (Java, whole message) and as Allure 3 does
(JavaScript, a search)."""


def environment_properties(values: Mapping[str, str]) -> str:
    """``key=value`` lines in the Java properties format Allure reads."""

    def escape(text: str, key: bool = False) -> str:
        text = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        if key:
            for char in " =:#!":
                text = text.replace(char, "\\" + char)
        return text

    return "".join(f"{escape(k, key=True)}={escape(v)}\n" for k, v in values.items())


def _md5(*parts: str) -> str:
    return hashlib.md5("\x1f".join(parts).encode(), usedforsecurity=False).hexdigest()
