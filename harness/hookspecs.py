"""The harness's own hooks. Built-in fault drivers register through them like any plugin would.

A third-party package adds fault types by exposing a module with ``@hookimpl`` functions under
the ``harness`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from harness.faults.base import FaultContext, FaultDriver

hookspec = pluggy.HookspecMarker("harness")
hookimpl = pluggy.HookimplMarker("harness")


@hookspec
def harness_fault_drivers(context: FaultContext) -> Mapping[str, FaultDriver]:
    """Return fault drivers by the fault ``type`` they handle; later plugins may override."""
    raise NotImplementedError


def plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with the built-in drivers and every installed ``harness`` plugin."""
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
    pm.load_setuptools_entrypoints("harness")
    return pm
