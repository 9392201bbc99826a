"""What really held: a thread that checks, while the run goes on, that the plan is in force.

Every active fault whose driver can say so is asked whether it still holds (a partitioned
proxy still disabled, a toxic still present, through Toxiproxy's API); every service the harness
started must still run unless the harness stopped it. Whatever departs from the plan becomes an
``UnplannedEntry`` (once per fault or service), and a verdict judged over such a timeline is
broken ("cannot tell"), never failed against the automation. A fault held past its plan (the
harness stalled) is found by the runner at the heal, with ``overrun``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from harness.errors import HarnessError
from harness.faults.base import Injected
from harness.timeline import Timeline, UnplannedCause, UnplannedEntry

log = logging.getLogger(__name__)

WATCH_INTERVAL = 0.25
"""Seconds (real) between two checks: a lift is on the timeline within about this long."""
UNCHECKED_AFTER = 3
"""Failed checks in a row of one fault before the harness says it cannot tell whether it held."""
OVERRUN_TOLERANCE = 0.5
"""Seconds (real) a fault may outlast its plan before the run cannot be judged; or ..."""
OVERRUN_SHARE = 0.2
"""... this share of its planned length, if larger."""


def overrun(planned: float, held: float) -> str | None:
    """Why a fault held for ``held`` seconds against ``planned`` cannot be judged, or None."""
    allowed = max(OVERRUN_TOLERANCE, OVERRUN_SHARE * planned)
    if held - planned <= allowed:
        return None
    return (
        f"held {held:.2f}s against the {planned:.2f}s planned (more than {allowed:.2f}s late: "
        "the harness stalled or a heal waited)"
    )


class FaultWatch:
    """Checks the active faults and the started services every ``interval`` until stopped."""

    def __init__(
        self,
        timeline: Timeline,
        exited: Callable[[], Mapping[str, str]],
        interval: float = WATCH_INTERVAL,
    ) -> None:
        self._timeline, self._exited, self._interval = timeline, exited, interval
        self._faults: dict[str, Injected] = {}
        self._failures: dict[str, int] = {}
        self._reported: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def track(self, fault_id: str, handle: Injected) -> None:
        """Watch a fault from now until it is healed."""
        with self._lock:
            self._faults[fault_id] = handle

    def report(self, cause: UnplannedCause, subject: str, detail: str) -> None:
        """Record one departure from the plan on the timeline, once per cause and subject."""
        with self._lock:
            if (cause, subject) in self._reported:
                return
            self._reported.add((cause, subject))
        log.warning("unplanned: %s", detail)
        self._timeline.append(
            UnplannedEntry(t=self._timeline.now(), cause=cause, subject=subject, detail=detail)
        )

    def check_now(self) -> None:
        """One pass over every active fault and every service."""
        with self._lock:
            faults = [(f, h) for f, h in self._faults.items() if not h.healed]
        for fault_id, handle in faults:
            try:
                reason = handle.lifted()
            except (HarnessError, OSError) as exc:
                self._failures[fault_id] = self._failures.get(fault_id, 0) + 1
                if self._failures[fault_id] >= UNCHECKED_AFTER:
                    self.report(
                        "fault_unchecked",
                        fault_id,
                        f"fault {fault_id} could not be checked {UNCHECKED_AFTER} times in a "
                        f"row ({exc}): whether it held is unknown",
                    )
                continue
            self._failures[fault_id] = 0
            if reason is not None:
                self.report("fault_lifted", fault_id, f"fault {fault_id} lifted: {reason}")
        try:
            gone = self._exited()
        except Exception as exc:  # a target that cannot list its services: say so once
            log.warning("could not check the services: %s", exc)
            return
        for name, how in gone.items():
            self.report(
                "process_died",
                name,
                f"service {name!r} {how}, outside any fault: the harness did not stop it",
            )

    def start(self) -> None:
        """Check in a daemon thread until ``stop``."""
        self._thread = threading.Thread(target=self._loop, name="fault-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop checking (idempotent): no check runs once it has returned."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.check_now()
            except Exception:  # never let the watch end the run; say why it stopped looking
                log.exception("the fault watch failed; it checks nothing more in this run")
                return
