"""A watchdog that outlives the harness: when the harness dies, it reaps the run within a second.

testcontainers' Ryuk is the model. Each run starts one, right after its ``state.json`` exists
and before anything else: a detached ``python -m harness.reaper`` in its own session (a Ctrl-C
to the terminal or a kill of the harness's group does not reach it) whose stdin is the read end
of a pipe the harness holds the only write end of (``os.pipe`` descriptors are not inherited,
and ``subprocess`` closes the others, so no process of the run holds it). The reaper blocks on
reading. End of file means the harness is gone, by any means (SIGKILL, a crash, the OOM killer)
or by choice at its end. Then it reads the state file: a finished run (the harness cleaned up)
or a kept one (--keep-env waits for ``harness cleanup``) is left alone; any other is reaped as
``harness cleanup`` reaps it (heal through Toxiproxy's API, stop the processes, remove the
compose project, mark it finished), bounded by ``REAP_TIMEOUT``.

For the window before a process is recorded, the run sets ``RUN_MARKER=<run id>`` in the
harness's environment while it runs, so everything it starts (services, its private
toxiproxy-server, mitmdump, Locust, hooks) inherits it, and reaping stops every process whose
``/proc/<pid>/environ`` carries it. The reaper itself is started without it, and logs to the
run's ``logs/reaper.log``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness.cleanup import RUN_MARKER, Reaped, reap
from harness.state import read_record

log = logging.getLogger("harness.reaper")

REAP_TIMEOUT = 30.0
"""Seconds the reaper gives ``reap`` (its Toxiproxy calls time out after 3 s, each process gets
a 5 s grace before SIGKILL); then it gives up, says so in its log and exits."""
RELEASE_WAIT = REAP_TIMEOUT + 5.0
"""Seconds the harness waits, at its end, for its reaper to exit (at once for a finished run)."""


class Watchdog:
    """The harness's side: the reaper process and the write end of its pipe."""

    def __init__(self, proc: subprocess.Popen[bytes] | None, write_fd: int | None) -> None:
        self._proc, self._write_fd = proc, write_fd
        self._saved: str | None = None
        self._marked = False

    @classmethod
    def start(cls, state_path: Path, run_id: str, log_path: Path) -> Watchdog:
        """Start the reaper of a run and mark the environment of everything it will start.

        A reaper that cannot start is a warning: the run goes on, `harness cleanup` still works.
        """
        read_fd, write_fd = os.pipe()  # neither end is inheritable (PEP 446)
        command = [sys.executable, "-m", "harness.reaper", "--state", str(state_path.resolve())]
        env = {k: v for k, v in os.environ.items() if k != RUN_MARKER}  # the reaper is not the run
        try:
            with log_path.open("ab") as out:
                proc = subprocess.Popen(
                    [*command, "--run-id", run_id],
                    stdin=read_fd,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
        except OSError as exc:
            os.close(write_fd)
            log.warning("the reaper of run %s did not start (%s): after a kill of the harness, "
                        "run `harness cleanup`", run_id, exc)  # fmt: skip
            watchdog = cls(None, None)
        else:
            watchdog = cls(proc, write_fd)
        finally:
            os.close(read_fd)
        watchdog._mark(run_id)
        return watchdog

    def _mark(self, run_id: str) -> None:
        self._saved, self._marked = os.environ.get(RUN_MARKER), True
        os.environ[RUN_MARKER] = run_id

    def release(self) -> None:
        """At the run's end (after ``state.finish()``): close the pipe, wait for the reaper.

        It finds the run finished (or kept) and exits at once; an unfinished run (a heal
        failed) it reaps. Never raises: the run's own results matter more.
        """
        if self._marked:
            self._marked = False
            if self._saved is None:
                os.environ.pop(RUN_MARKER, None)
            else:
                os.environ[RUN_MARKER] = self._saved
        fd, self._write_fd = self._write_fd, None
        if fd is not None:
            os.close(fd)
        if self._proc is not None:
            try:
                self._proc.wait(timeout=RELEASE_WAIT)
            except subprocess.TimeoutExpired:
                pid = self._proc.pid
                log.warning("the reaper (pid %d) did not exit in %g s", pid, RELEASE_WAIT)


def reap_if_abandoned(state_path: Path, run_id: str, timeout: float = REAP_TIMEOUT) -> str:
    """What the reaper does once the harness is gone; returns what it did, in one line."""
    try:
        record = read_record(state_path)
    except (OSError, ValueError) as exc:
        return f"state file unreadable ({exc}): nothing reaped"
    if record.finished:
        return "the run finished: nothing to reap"
    if record.keep_env:
        return "the run was kept (--keep-env): left for `harness cleanup`"
    # the harness closed the pipe (it died, or it gave up on a heal): its liveness is no reason
    # to wait, unlike for `harness cleanup`, which cannot tell
    record = record.model_copy(update={"owner": None})
    result: list[Reaped] = []
    worker = threading.Thread(target=lambda: result.append(reap(state_path, record)), daemon=True)
    worker.start()
    worker.join(timeout)
    if not result:
        return f"reaping did not end within {timeout:g} s: run `harness cleanup`"
    done = result[0]
    removed = [*done.proxies, *done.processes, *done.containers]
    summary = f"reaped run {run_id}: {', '.join(removed) or 'nothing was left'}"
    if done.gone_proxies:
        summary += f"; proxies gone with the private Toxiproxy: {', '.join(done.gone_proxies)}"
    return summary + "".join(f"; problem: {p}" for p in done.problems)


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.reaper --state PATH --run-id ID``: wait for end of file, then reap."""
    parser = argparse.ArgumentParser(prog="python -m harness.reaper", description=__doc__)
    parser.add_argument("--state", type=Path, required=True, help="the run's state.json")
    parser.add_argument("--run-id", required=True, help="the run id (its processes' marker)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s reaper[%(process)d] %(message)s")
    with contextlib.suppress(ImportError):  # before the wait, so a compose run is reaped fast
        import harness.targets.compose  # noqa: F401
    log.info("watching run %s (%s)", args.run_id, args.state)
    while os.read(0, 4096):  # nothing is ever written: only end of file counts
        pass
    began = time.monotonic()
    log.info("the harness let go")
    outcome = reap_if_abandoned(args.state, args.run_id)
    log.info("%s (%.2f s)", outcome, time.monotonic() - began)
    return 0


if __name__ == "__main__":
    sys.exit(main())
