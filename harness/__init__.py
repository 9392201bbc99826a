"""chaos-policy-harness: prove that an automation keeps its promises when things break."""

__version__ = "0.1.0"
