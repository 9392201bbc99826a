"""The probe kinds known to this process: the built-ins and every installed plugin's, by key."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from harness.probes.base import ProbeKind

_LOCK = threading.Lock()
_KINDS: dict[str, ProbeKind] | None = None


def probe_kinds() -> Mapping[str, ProbeKind]:
    """Every probe kind by its key; a plugin's kind replaces a built-in of the same key.

    Collected once per process (scenario validation asks on every probe with an unknown key).
    """
    global _KINDS
    with _LOCK:
        if _KINDS is None:
            from harness.hookspecs import plugin_manager

            merged: dict[str, ProbeKind] = {}
            for provided in reversed(plugin_manager().hook.harness_probe_kinds()):
                merged.update(provided)
            _KINDS = merged
        return _KINDS


def forget() -> None:
    """Collect the kinds again at the next ask (after registering a plugin, in tests)."""
    global _KINDS
    with _LOCK:
        _KINDS = None
