"""The append-only timeline of a run: every fault, observation and automation event, in order.

A run *records* into a ``Timeline``; policies *judge* it afterwards as pure functions. Offsets
(``t``) are seconds since the run started, read from a monotonic clock. The time scale of the run
and the system's contract (its vocabulary, ``harness/contract.py``) travel with the timeline, so
a stored timeline can be judged again with the same bounds and the same names.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter

from harness.contract import Contract
from harness.series import Series, merge

JsonScalar = str | int | float | bool | None


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    t: float = Field(description="seconds since the run started (monotonic)")


class PhaseEntry(_Entry):
    """The run entered a phase: setup, steady_state, inject, observe, heal, verify, teardown."""

    kind: Literal["phase"] = "phase"
    phase: str


class FaultEntry(_Entry):
    """A fault was injected into, or healed from, a dependency edge or a service."""

    kind: Literal["fault"] = "fault"
    action: Literal["inject", "heal"]
    fault_id: str = Field(description="unique per fault of a scenario, e.g. 'f1-partition'")
    fault_type: str
    target: str = Field(description="the edge ('worker->payments') or service it acts on")
    detail: dict[str, JsonScalar] = Field(default_factory=dict)


class EventEntry(_Entry):
    """A structured event the system under test reported (automation actions, business events)."""

    kind: Literal["event"] = "event"
    action: str
    service: str = ""
    trigger: str | None = None
    expected_outcome: str | None = None
    actual_outcome: str | None = None
    duration_ms: float | None = None
    correlation_id: str | None = None
    sut_ts: str | None = Field(default=None, description="the SUT's own timestamp, as sent")
    source: Literal["http", "stdout"] = "stdout"
    sender: str = Field(
        default="",
        description="the declared service (or hook:<name>) whose sink token or stdout carried "
        "it; '' when not known (a timeline from before sink tokens)",
    )
    attributes: dict[str, JsonScalar] = Field(default_factory=dict)


class EscalationEntry(_Entry):
    """An escalation to a human reached the harness's escalation sink."""

    kind: Literal["escalation"] = "escalation"
    summary: str
    severity: str | None = None
    runbook_url: str | None = None
    service: str = Field(default="", description="the service it is about, as the body says")
    source_format: Literal["generic", "alertmanager"] = "generic"
    sender: str = Field(
        default="", description="the declared service whose sink token carried it; '' unknown"
    )


class RejectedPostEntry(_Entry):
    """A POST to a sink that was refused: never an event, never judged.

    Without a valid token (401): the harness gave each declared service its own URL, so a post
    without one came from a process that was not given it (or a stale token): evidence of a
    forgery, not of the system. From a declared sender (``sender`` set; 400, 411, 413, 408): a
    body that is no event or escalation, shown so that a reader can tell "the automation never
    said it" from "the automation said it in a form the harness refused".
    """

    kind: Literal["rejected_post"] = "rejected_post"
    path: str = Field(description="the request's path, any token in it masked as ***")
    reason: str
    peer: str = Field(default="", description="the client's address, host:port")
    status: int = Field(default=401, description="the HTTP status the sink answered")
    sender: str = Field(default="", description="the declared sender whose token it carried")
    excerpt: str = Field(default="", description="the body's first bytes, as text")


UnplannedCause = Literal["fault_lifted", "fault_overran", "fault_unchecked", "process_died"]


class UnplannedEntry(_Entry):
    """Something the harness did not plan changed the experiment: what held was not the plan.

    A fault lifted by someone else (a proxy re-enabled, a toxic removed through Toxiproxy's
    API), a fault held longer than planned (the harness stalled), a fault that could not be
    checked, or a service the harness started that died outside any fault. Every verdict of
    the run is then broken ("cannot tell"), never failed against the automation.
    """

    kind: Literal["unplanned"] = "unplanned"
    cause: UnplannedCause
    subject: str = Field(description="the fault id, or the service")
    detail: str


class ProbeEntry(_Entry):
    """One sample of a steady-state probe."""

    kind: Literal["probe"] = "probe"
    probe: str
    ok: bool
    phase: str = ""
    status: int | None = None
    latency_ms: float | None = None
    detail: str = ""


class RequestEntry(_Entry):
    """One request the harness's workload sent to the system under test, and what came back."""

    kind: Literal["request"] = "request"
    method: str
    url: str
    status: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    idempotency_key: str | None = None
    origin: str = Field(default="workload", description="'workload', or the fault that sent it")
    outcome: Literal["ok", "failed", "unknown"] | None = Field(
        default=None,
        description="what the client knows happened: ok (2xx), failed (4xx: refused), unknown "
        "(5xx, a timeout, a reset: the work may or may not have happened)",
    )
    work_id: str | None = Field(
        default=None, description="the work's id in a 2xx answer (the contract's requests.work_id)"
    )


class TrafficEntry(_Entry):
    """Bytes a dependency edge's proxy carried in the whole run, per Toxiproxy's own counters.

    Recorded at the end, once every connection is closed (Toxiproxy counts a connection's bytes
    when it ends); an edge fault's inject entry holds the count at injection.
    """

    kind: Literal["traffic"] = "traffic"
    edge: str
    bytes: int


class StepEntry(_Entry):
    """A runbook step of a drill finished (``t``): what it did, when it began, whether it worked."""

    kind: Literal["step"] = "step"
    index: int = Field(description="1-based position in the runbook")
    step: str
    action: str = Field(description="wait, http, restart, deploy or command")
    started: float = Field(description="when the step began (seconds since the run started)")
    acted: float | None = Field(
        default=None, description="when the operator acted (after the wait and reaction)"
    )
    ok: bool
    operator: Literal["scripted", "interactive"] = "scripted"
    detail: str = ""


class LoadEntry(_Entry):
    """What the simulated users (Locust) saw in one interval ending at ``t``."""

    kind: Literal["load"] = "load"
    window: float = Field(description="length of the interval (seconds as measured)")
    requests: int
    failures: int = Field(description="requests that failed (an error or a 4xx/5xx answer)")
    status_5xx: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None


class HttpCount(BaseModel):
    """Requests of one interval on an HTTP-aware edge with one method, path, status and fault."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str
    path: str = Field(description="without the query; '(other)' past the per-interval cap")
    status: int | None = Field(description="the answer's status; None: no answer at all")
    fault: str | None = Field(default=None, description="the harness fault that acted on them")
    count: int = Field(ge=0)


class HttpEntry(_Entry):
    """What crossed an HTTP-aware edge in one interval ending at ``t``, as its proxy counted it.

    Requests count in the interval in which they arrived, once their outcome is known (a late
    outcome adds a second entry for the same interval). One entry per interval with traffic
    keeps a long run bounded: an hour at 100 requests a second is 3,600 entries, not 360,000.
    """

    kind: Literal["http"] = "http"
    edge: str
    window: float = Field(description="length of the interval (seconds as measured)")
    requests: int
    counts: tuple[HttpCount, ...] = ()
    p50_ms: float | None = Field(default=None, description="arrival to answer, at the proxy")
    p99_ms: float | None = None


class GuardEntry(_Entry):
    """A guard (halt condition) tripped: every fault is healed at once and the run aborted."""

    kind: Literal["guard"] = "guard"
    guard: str
    detail: str = ""


class StateEntry(_Entry):
    """A read of what the system really stored (final state), and whether it could be read.

    ``records`` maps each work id to how many times the store holds it (a count of 2: stored or
    charged twice); ``value`` is the raw answer when it is not records. ``ok`` false means the
    harness could not read the state (``detail`` says why): a verdict built on it is broken.
    """

    kind: Literal["state"] = "state"
    name: str
    ok: bool
    records: dict[str, int] | None = None
    value: JsonValue = None
    detail: str = ""


class CounterEntry(_Entry):
    """One sample of a counter of the system's store (``state.counters``: completed, failed).

    ``value`` None: the counter could not be read then (``detail`` says why).
    """

    kind: Literal["counter"] = "counter"
    name: str
    value: float | None
    detail: str = ""

    @property
    def action(self) -> str:
        """How findings quote the sample beside events: ``completed counter at 42``."""
        return f"{self.name} counter at {self.value:g}" if self.value is not None else self.name


Entry = Annotated[
    PhaseEntry
    | FaultEntry
    | EventEntry
    | EscalationEntry
    | ProbeEntry
    | RequestEntry
    | TrafficEntry
    | StepEntry
    | GuardEntry
    | LoadEntry
    | StateEntry
    | CounterEntry
    | HttpEntry
    | RejectedPostEntry
    | UnplannedEntry,
    Field(discriminator="kind"),
]
_ENTRIES: TypeAdapter[list[Entry]] = TypeAdapter(list[Entry])

E = TypeVar(
    "E",
    PhaseEntry,
    FaultEntry,
    EventEntry,
    EscalationEntry,
    ProbeEntry,
    RequestEntry,
    TrafficEntry,
    StepEntry,
    GuardEntry,
    LoadEntry,
    StateEntry,
    CounterEntry,
    HttpEntry,
    RejectedPostEntry,
    UnplannedEntry,
)


class FaultWindow(BaseModel):
    """When one fault was active: from its inject entry to its heal entry (None: never healed)."""

    model_config = ConfigDict(frozen=True)

    inject: FaultEntry
    heal: FaultEntry | None

    @property
    def start(self) -> float:
        """Offset of the injection."""
        return self.inject.t

    @property
    def end(self) -> float | None:
        """Offset of the heal, or None if the timeline has none."""
        return self.heal.t if self.heal else None


class Timeline:
    """Append-only, thread-safe record of a run. Read it through ``entries`` (a snapshot).

    Entries are indexed as they are appended (by kind, events also by action), each index kept
    in time order, so reading one kind costs what that kind holds and a window of time is found
    by bisection: judging is linear in the timeline's size. Snapshots (tuples) are built once
    and kept until the next append.
    """

    def __init__(
        self,
        time_scale: float = 1.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        started_at: datetime | None = None,
        entries: Iterable[Entry] = (),
        contract: Contract | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError(f"time scale must be positive, got {time_scale}")
        self.time_scale = time_scale
        self.contract = contract or Contract()
        self.started_at = started_at or datetime.now(UTC)
        self._monotonic = monotonic
        self._origin = monotonic()
        self._lock = threading.RLock()
        self._all = Series[Entry]()
        self._kinds: dict[type, Series[Entry]] = {}
        self._actions: dict[str, Series[Entry]] = {}
        self._memo: dict[object, object] = {}
        self._count = 0
        ordered = sorted(enumerate(entries), key=lambda pair: pair[1].t)
        for seq, entry in ordered:  # in time order: every index appends, nothing is inserted
            self._index(entry, seq)
        self._count = len(ordered)

    def _index(self, entry: Entry, seq: int) -> None:
        self._all.add(entry, seq)
        kind = type(entry)
        series = self._kinds.get(kind)
        if series is None:
            series = self._kinds[kind] = Series[Entry]()
        series.add(entry, seq)
        if isinstance(entry, EventEntry):
            series = self._actions.get(entry.action)
            if series is None:
                series = self._actions[entry.action] = Series[Entry]()
            series.add(entry, seq)

    def now(self) -> float:
        """Seconds since the run started."""
        return self._monotonic() - self._origin

    def append(self, entry: Entry) -> Entry:
        """Record one entry; entries are kept in the order they were appended."""
        with self._lock:
            self._index(entry, self._count)
            self._count += 1
            if self._memo:
                self._memo.clear()
        return entry

    def scaled(self, seconds: float) -> float:
        """A duration as the scenario states it, scaled to this run."""
        return seconds * self.time_scale

    def _memoised(self, key: object, build: Callable[[], object]) -> Any:
        with self._lock:
            if key not in self._memo:
                self._memo[key] = build()
            return self._memo[key]

    @property
    def entries(self) -> tuple[Entry, ...]:
        """A snapshot of every entry so far, sorted by offset (stable for equal offsets)."""
        return cast("tuple[Entry, ...]", self._memoised("entries", lambda: tuple(self._all.items)))

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        with self._lock:
            return self._count

    def of(
        self, kind: type[E], *, start: float | None = None, end: float | None = None
    ) -> tuple[E, ...]:
        """Every entry of one type, in time order; only ``start <= t <= end`` if given."""
        with self._lock:
            series = self._kinds.get(kind)
            if series is None:
                return ()
            if start is None and end is None:
                return cast("tuple[E, ...]", self._memoised(kind, lambda: tuple(series.items)))
            return cast("tuple[E, ...]", tuple(series.span(start, end).items()))

    def first(self, kind: type[E], *, after: float) -> E | None:
        """The earliest entry of one type strictly after ``after``, or None."""
        with self._lock:
            series = self._kinds.get(kind)
            if series is None:
                return None
            return cast("E | None", series.first_after(after))

    def events(
        self,
        action: str | Sequence[str] | None = None,
        *,
        prefix: str | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> tuple[EventEntry, ...]:
        """Events, optionally only those with this exact action (or one of these), or prefix.

        With ``start``/``end``: only those with ``start <= t <= end``.
        """
        names = (action,) if isinstance(action, str) else action
        if names is None and prefix is None:
            return self.of(EventEntry, start=start, end=end)
        if start is None and end is None:
            key = ("events", None if names is None else tuple(names), prefix)
            found: tuple[EventEntry, ...] = self._memoised(key, lambda: self._select(names, prefix))
            return found
        with self._lock:
            return self._select(names, prefix, start, end)

    def _select(
        self,
        names: Sequence[str] | None,
        prefix: str | None,
        start: float | None = None,
        end: float | None = None,
    ) -> tuple[EventEntry, ...]:
        """Events of the named actions (and prefix), merged back into time (and append) order."""
        actions = self._actions if names is None else {n: self._actions.get(n) for n in names}
        chosen = [s for a, s in actions.items() if s and (prefix is None or a.startswith(prefix))]
        found = merge([s.span(start, end) for s in chosen])
        return cast("tuple[EventEntry, ...]", found)

    def fault_windows(self) -> tuple[FaultWindow, ...]:
        """Each injected fault paired with its heal, in injection order."""

        def build() -> tuple[FaultWindow, ...]:
            faults = self.of(FaultEntry)
            heals = {e.fault_id: e for e in faults if e.action == "heal"}
            return tuple(
                FaultWindow(inject=e, heal=heals.get(e.fault_id))
                for e in faults
                if e.action == "inject"
            )

        windows: tuple[FaultWindow, ...] = self._memoised("fault_windows", build)
        return windows

    def end(self) -> float:
        """Offset of the last entry (0.0 for an empty timeline)."""
        with self._lock:
            return self._all.times[-1] if self._all.times else 0.0

    def to_json(self) -> str:
        """Serialise the timeline (scale, start time and entries) as JSON."""
        doc = {
            "time_scale": self.time_scale,
            "started_at": self.started_at.isoformat(),
            "contract": self.contract.model_dump(mode="json", exclude_defaults=True),
            "entries": _ENTRIES.dump_python(list(self.entries), mode="json"),
        }
        return json.dumps(doc, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Timeline:
        """Rebuild a stored timeline, to judge it again (one without a contract: an empty one)."""
        doc = json.loads(text)
        return cls(
            float(doc["time_scale"]),
            started_at=datetime.fromisoformat(doc["started_at"]),
            entries=_ENTRIES.validate_python(doc["entries"]),
            contract=Contract.model_validate(doc.get("contract") or {}),
        )

    def write(self, path: Path) -> None:
        """Write the timeline as JSON to ``path``."""
        path.write_text(self.to_json(), encoding="utf-8")
