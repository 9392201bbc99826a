"""The ``command`` probe kind: a program's exit code, and its stdout (text or JSON) as the value.

The program runs in the system file's folder, without a shell, with the harness's environment;
``{endpoint}`` and ``{env:NAME}`` in its arguments expand (other braces stay as written, so a
``jq`` filter needs no escaping). Its stderr is quoted, cut, when it fails.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping

from harness.hookspecs import hookimpl
from harness.probes.base import (
    PlaceholderError,
    ProbeContext,
    ProbeKind,
    Reading,
    Secrets,
    error_text,
    expand,
    failed,
)
from harness.probespec import CheckSpec, CommandCheck

MAX_OUTPUT = 1 << 20  # bytes of stdout read as the value; more is an error, not a value
MAX_QUOTED = 300  # characters of stderr or stdout quoted in a problem


class CommandKind:
    """Runs the program once; an exit code outside ``exit`` is a problem."""

    spec = CommandCheck

    def read(self, spec: CheckSpec, context: ProbeContext) -> Reading:
        """Run, bounded by the spec's timeout; stdout (stripped, or parsed as JSON) is the value."""
        assert isinstance(spec, CommandCheck)
        secrets = Secrets()
        try:
            argv = [expand(arg, context, secrets, strict=False) for arg in spec.argv]
        except PlaceholderError as exc:
            return failed(str(exc), secrets)
        shown = " ".join(spec.argv)  # the templates: no secret in them
        start = time.monotonic()
        try:
            done = subprocess.run(
                argv,
                cwd=context.base_dir,
                env=dict(context.environ),
                capture_output=True,
                timeout=spec.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return failed(f"{shown}: no exit within {spec.timeout:g}s", secrets)
        except OSError as exc:
            hint = "; is it installed and on PATH?" if isinstance(exc, FileNotFoundError) else ""
            return failed(f"{shown}: cannot run it: {error_text(exc)}{hint}", secrets)
        latency = round((time.monotonic() - start) * 1000, 1)
        return _reading(spec, shown, done, latency, secrets)


def _reading(
    spec: CommandCheck,
    shown: str,
    done: subprocess.CompletedProcess[bytes],
    latency: float,
    secrets: Secrets,
) -> Reading:
    if len(done.stdout) > MAX_OUTPUT:
        return failed(f"{shown}: more than {MAX_OUTPUT} bytes on stdout", secrets)
    stdout = done.stdout.decode("utf-8", errors="replace").strip()
    problems = []
    if done.returncode not in spec.exit_codes():
        stderr = done.stderr.decode("utf-8", errors="replace").strip()
        problems.append(
            f"{shown}: exit code {done.returncode}, expected {spec.exit}"
            + (f"; stderr: {_cut(stderr)}" if stderr else "")
        )
    if not spec.json_:
        return Reading(value=stdout, problems=_masked(problems, secrets), latency_ms=latency)
    try:
        value = json.loads(stdout)
    except json.JSONDecodeError as exc:
        if problems:  # the exit code already says what went wrong
            return Reading(value=stdout, problems=_masked(problems, secrets), latency_ms=latency)
        return failed(f"{shown}: stdout is not JSON ({exc}): {_cut(stdout)}", secrets)
    return Reading(value=value, problems=_masked(problems, secrets), latency_ms=latency)


def _masked(problems: list[str], secrets: Secrets) -> tuple[str, ...]:
    return tuple(secrets.mask(p) for p in problems)


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTED else f"...{text[-MAX_QUOTED:]}"


@hookimpl(trylast=True)
def harness_probe_kinds() -> Mapping[str, ProbeKind]:
    """The built-in ``command`` kind."""
    return {"command": CommandKind()}
