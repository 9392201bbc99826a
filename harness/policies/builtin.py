"""The built-in policies: importing this module registers each of them with ``@policy``."""

from harness.policies import (
    escalates,
    ignores_duplicates,
    isolates,
    no_data_lost,
    pauses,
    resumes,
    resumes_from_checkpoint,
    rolls_back,
    steady_state,
)

__all__ = [
    "escalates",
    "ignores_duplicates",
    "isolates",
    "no_data_lost",
    "pauses",
    "resumes",
    "resumes_from_checkpoint",
    "rolls_back",
    "steady_state",
]
