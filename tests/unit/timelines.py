"""Hand-built timelines for policy tests."""

from __future__ import annotations

from harness.timeline import Entry, Timeline


def make(*entries: Entry, scale: float = 0.05) -> Timeline:
    """A timeline at ``scale`` (30s -> 1.5s by default) holding ``entries``."""
    timeline = Timeline(time_scale=scale, monotonic=lambda: 0.0)
    for entry in entries:
        timeline.append(entry)
    return timeline
