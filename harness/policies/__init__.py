"""Policies: pure functions ``check(expectation, timeline) -> Verdict``; no I/O, no clock."""

from harness.policies.base import POLICIES, Status, Verdict, judge, policy

__all__ = ["POLICIES", "Status", "Verdict", "judge", "policy"]
