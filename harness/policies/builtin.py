"""The built-in policies: importing this module registers each of them with ``@policy``."""

from harness.policies import pauses, resumes, steady_state

__all__ = ["pauses", "resumes", "steady_state"]
