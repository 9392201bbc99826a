"""What counts as a secret: values under such keys never reach a report, a bundle or a log."""

from __future__ import annotations

import re

SECRET_WORDS: tuple[str, ...] = (
    *("TOKEN", "SECRET", "PASSWORD", "PASSWD", "PWD", "KEY", "CREDENTIAL", "AUTH"),
    *("COOKIE", "SESSION", "PRIVATE", "CERT", "SIGNATURE", "DSN"),
)
REDACTED = "<redacted>"


def is_secret(key: str) -> bool:
    """Whether a key (an environment variable, an option) names something secret."""
    upper = key.upper()
    return any(word in upper for word in SECRET_WORDS)


_URL_PASSWORD = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)(?!\{env:)[^@/?#\s]*(?=@)"
)
_QUERY_PASSWORD = re.compile(
    r"(?P<head>(?:^|[?&;\s])(?:password|passwd|pwd)=)(?!\{env:)[^&;\s]*", re.IGNORECASE
)


_SINK_TOKEN = re.compile(r"/t/[^/?#\s]+/")


def mask_sink_tokens(text: str) -> str:
    """``text`` with the run's sink tokens in URLs replaced (``/t/<token>/events``)."""
    return _SINK_TOKEN.sub(f"/t/{REDACTED}/", text)


def mask_url_passwords(text: str) -> str:
    """``text`` with the passwords of URLs in it replaced (``redis://:pw@h`` -> ``:<redacted>@``).

    Both places a URL carries one: the user info (``user:pw@host``) and a ``password=`` query
    parameter (libpq's and redis-py's URLs accept it there, as do ``key=value`` DSNs). A
    ``{env:NAME}`` placeholder is no password but where one comes from: it stays.
    """
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{REDACTED}", text)
    return _QUERY_PASSWORD.sub(lambda m: f"{m.group('head')}{REDACTED}", text)
