"""The harness's own hooks: fault drivers and probe kinds, built-in ones included.

The built-ins register through them like any plugin would (``trylast``, so a plugin's
implementation of the same name wins).

A third-party package adds fault types or probe kinds by exposing a module with ``@hookimpl``
functions under the ``harness`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from harness.faults.base import FaultContext, FaultDriver
    from harness.probes.base import ProbeKind

hookspec = pluggy.HookspecMarker("harness")
hookimpl = pluggy.HookimplMarker("harness")


@hookspec
def harness_fault_drivers(context: FaultContext) -> Mapping[str, FaultDriver]:
    """Return fault drivers by the fault ``type`` they handle; later plugins may override."""
    raise NotImplementedError


@hookspec
def harness_probe_kinds() -> Mapping[str, ProbeKind]:
    """Return probe kinds by the key a scenario spells them with (``redis:``); later win."""
    raise NotImplementedError


PROBE_MODULES = ("http", "command", "sql", "redis", "prometheus")
"""The built-in probe kinds' modules under ``harness.probes`` (each imports its driver lazily)."""


def plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with the built-in drivers and every installed ``harness`` plugin."""
    import importlib

    import harness.faults.deploy
    import harness.faults.http
    import harness.faults.network
    import harness.faults.process
    import harness.faults.requests
    import harness.hookspecs

    pm = pluggy.PluginManager("harness")
    pm.add_hookspecs(harness.hookspecs)
    for builtin in (
        harness.faults.network,
        harness.faults.http,
        harness.faults.process,
        harness.faults.requests,
        harness.faults.deploy,
    ):
        pm.register(builtin)
    for name in PROBE_MODULES:
        pm.register(importlib.import_module(f"harness.probes.{name}"))
    pm.load_setuptools_entrypoints("harness")
    return pm
