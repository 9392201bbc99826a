"""The files a report attaches to a run, with the secrets of the SUT's environment taken out.

Every attachment is made from the finished timeline and the run's own files: the timeline, the
verdicts, the KPIs (MTTD, MTTR) and the bundle's environment as stored, the events the system
reported, the escalations, what Toxiproxy did (edge faults and each edge's byte count), the probe
samples and the workload's requests. Values of environment variables whose names look secret (as
harness/secrets.py decides: TOKEN, SECRET, PASSWORD, KEY, ...) are masked wherever they are named
and replaced wherever they appear in an attachment's text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from harness.secrets import is_secret
from harness.timeline import (
    EscalationEntry,
    EventEntry,
    FaultEntry,
    LoadEntry,
    ProbeEntry,
    RequestEntry,
    Timeline,
    TrafficEntry,
)

MASK = "***"
MIN_SECRET = 4
"""A secret value shorter than this is masked where it is named, but not searched for in free
text: replacing every ``1`` of a timeline would destroy the evidence and protect nothing."""


def masked_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment with every secret value masked."""
    return {k: (MASK if is_secret(k) else v) for k, v in env.items()}


class Scrubber:
    """Replaces the values of secret environment variables in text, the longest first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        secrets = {v for k, v in env.items() if is_secret(k) and len(v) >= MIN_SECRET}
        self._secrets = sorted(secrets, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """``text`` with each secret value replaced by the mask."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text


@dataclass(frozen=True)
class Attachment:
    """One file to attach: its name in the report, content, MIME type and file extension."""

    name: str
    body: bytes
    mime: str
    extension: str


def run_attachments(
    timeline: Timeline, run_dir: Path, scrub: Callable[[str], str]
) -> list[Attachment]:
    """The evidence of one run, each scrubbed of secrets."""
    found: list[Attachment] = []
    for name, mime in (
        ("timeline.json", "application/json"),
        ("verdicts.json", "application/json"),
        ("kpis.json", "application/json"),
        ("environment.json", "application/json"),
    ):
        path = run_dir / name
        if path.is_file():
            found.append(_text(name, path.read_text(encoding="utf-8"), mime, scrub))
    found += [
        _json("events.json", timeline.of(EventEntry), scrub),
        _json("escalations.json", timeline.of(EscalationEntry), scrub),
        _text("toxiproxy.json", toxiproxy_json(timeline), "application/json", scrub),
        _text("probes.csv", probes_csv(timeline), "text/csv", scrub),
        _text("requests.csv", requests_csv(timeline), "text/csv", scrub),
    ]
    if timeline.of(LoadEntry):
        found.append(_text("load.csv", load_csv(timeline), "text/csv", scrub))
    scenario = run_dir / "scenario.yaml"
    if scenario.is_file():
        found.append(
            _text("scenario.yaml", scenario.read_text(encoding="utf-8"), "application/yaml", scrub)
        )
    return found


def toxiproxy_json(timeline: Timeline) -> str:
    """What Toxiproxy did, and the bytes each edge's proxy carried in the whole run.

    Each edge fault's inject and heal entries name the proxy, the toxic and the bytes the proxy
    had carried when the fault started.
    """
    edges = {e.edge for e in timeline.of(TrafficEntry)}
    faults = [e for e in timeline.of(FaultEntry) if "proxy" in e.detail or e.target in edges]
    doc = {
        "faults": [e.model_dump(mode="json") for e in faults],
        "traffic": [e.model_dump(mode="json") for e in timeline.of(TrafficEntry)],
    }
    return json.dumps(doc, indent=1)


def probes_csv(timeline: Timeline) -> str:
    """Every probe sample, one row each."""
    columns = ("t", "phase", "probe", "ok", "status", "latency_ms", "detail")
    return _csv(columns, timeline.of(ProbeEntry))


def requests_csv(timeline: Timeline) -> str:
    """Every request the harness sent, one row each."""
    columns = ("t", "origin", "method", "url", "status", "latency_ms", "error", "idempotency_key")
    return _csv(columns, timeline.of(RequestEntry))


def load_csv(timeline: Timeline) -> str:
    """What the simulated users saw, one row per interval."""
    columns = ("t", "window", "requests", "failures", "status_5xx", "p50_ms", "p95_ms", "p99_ms")
    return _csv(columns, timeline.of(LoadEntry))


def _csv(columns: tuple[str, ...], entries: Iterable[BaseModel]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for entry in entries:
        row = entry.model_dump(mode="json")
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    return out.getvalue()


def _json(name: str, entries: Iterable[BaseModel], scrub: Callable[[str], str]) -> Attachment:
    text = json.dumps([e.model_dump(mode="json") for e in entries], indent=1)
    return _text(name, text, "application/json", scrub)


def _text(name: str, text: str, mime: str, scrub: Callable[[str], str]) -> Attachment:
    return Attachment(name, scrub(text).encode("utf-8"), mime, name.rsplit(".", 1)[-1])
