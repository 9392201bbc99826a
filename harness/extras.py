"""Optional extras: heavy packages that only some users need, imported when first used.

``pip install chaos-policy-harness`` gives the process target, the pytest plugin and the CLI. The
compose target needs the docker SDK (``[compose]``), charts need matplotlib (``[reports]``); each
is imported where it is used, and a missing one is a configuration error that names its extra.
"""

from __future__ import annotations

import importlib.util

from harness.errors import ConfigError

DISTRIBUTION = "chaos-policy-harness"


class MissingExtra(ConfigError):
    """An optional dependency is not installed: the error names the extra that brings it."""


def require(module: str, extra: str, purpose: str) -> None:
    """Raise MissingExtra unless ``module`` can be imported; ``purpose`` says what needs it."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtra(
            what=f"{purpose} needs the Python package {module!r}, which is not installed",
            expected=f"the [{extra}] extra installed",
            hint=f"pip install '{DISTRIBUTION}[{extra}]' (or '{DISTRIBUTION}[all]')",
        )
