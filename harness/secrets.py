"""What counts as a secret: values under such keys never reach a report, a bundle or a log."""

from __future__ import annotations

SECRET_WORDS: tuple[str, ...] = (
    *("TOKEN", "SECRET", "PASSWORD", "PASSWD", "PWD", "KEY", "CREDENTIAL", "AUTH"),
    *("COOKIE", "SESSION", "PRIVATE", "CERT", "SIGNATURE", "DSN"),
)
REDACTED = "<redacted>"


def is_secret(key: str) -> bool:
    """Whether a key (an environment variable, an option) names something secret."""
    upper = key.upper()
    return any(word in upper for word in SECRET_WORDS)
