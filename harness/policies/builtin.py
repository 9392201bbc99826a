"""The built-in policies: importing this module registers each of them with ``@policy``."""

from harness.policies import (
    bounded_recovery,
    escalates,
    escalates_on_conflict,
    ignores_duplicates,
    isolates,
    no_data_lost,
    no_retry_storm,
    pauses,
    resumes,
    resumes_from_checkpoint,
    rolls_back,
    steady_state,
    user_impact,
)

__all__ = [
    "bounded_recovery",
    "escalates",
    "escalates_on_conflict",
    "ignores_duplicates",
    "isolates",
    "no_data_lost",
    "no_retry_storm",
    "pauses",
    "resumes",
    "resumes_from_checkpoint",
    "rolls_back",
    "steady_state",
    "user_impact",
]
