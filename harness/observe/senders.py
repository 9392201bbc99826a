"""Who may post to the sinks: one secret token per sender and run, carried in the URL path.

Every declared service of a run (and every hook, as ``hook:<name>``) gets its own token
(``secrets.token_urlsafe``), and its sink URLs carry it: ``http://HOST:PORT/t/<token>/events``
and ``.../escalations``. A system that POSTs to the URL in its environment needs no change;
a process that was not given a URL cannot post at all (the sink answers 401), and a service
that posts is known by its token, whatever its body says.

What a body may claim (docs/architecture.md, "Who speaks for the system"): an event's
``service`` names who says so, and may name a part of the sender (a logger, a component). It may
not name *another sender*: a worker cannot post the controller's actions. Such an event is
recorded as the sender's, with the name it claimed kept as the attribute ``claimed_service``.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

TOKEN_BYTES = 24
"""Random bytes per token (32 URL-safe characters): far beyond guessing on loopback."""
CLAIMED = "claimed_service"
"""The attribute that keeps the service an event claimed when it named another sender."""
_PATH = re.compile(r"^/t/(?P<token>[A-Za-z0-9_-]+)(?P<sink>/[^?]*)")
_MASK = re.compile(r"^/t/[^/?]*")


@dataclass(frozen=True)
class SinkUrls:
    """One sender's URLs for its events and its escalations."""

    events: str
    escalations: str


@dataclass(frozen=True)
class Route:
    """Who sent a request with a valid token, and to which sink path (``/events``)."""

    sender: str
    sink: str


def mask_path(path: str) -> str:
    """A request path fit for the timeline: a token in it (valid or not) replaced by ``***``."""
    return _MASK.sub("/t/***", path.split("?")[0])[:200]


class Senders:
    """The run's senders and their tokens; the token of a request names its sender."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._tokens: dict[str, str] = {}
        for name in names:
            self.add(name)

    def add(self, name: str) -> str:
        """Give ``name`` a token (once); return it."""
        if name not in self._tokens:
            self._tokens[name] = secrets.token_urlsafe(TOKEN_BYTES)
        return self._tokens[name]

    @property
    def names(self) -> frozenset[str]:
        """Every sender that has a token."""
        return frozenset(self._tokens)

    def urls(self, base_url: str, name: str) -> SinkUrls:
        """``name``'s sink URLs under ``base_url``; LookupError if it has no token."""
        token = self._tokens.get(name)
        if token is None:
            raise LookupError(f"no sink token for {name!r}; known: {sorted(self._tokens)}")
        return SinkUrls(f"{base_url}/t/{token}/events", f"{base_url}/t/{token}/escalations")

    def route(self, path: str) -> Route | None:
        """The sender and sink of ``path`` (``/t/<token>/events?...``); None without a valid token.

        Every known token is compared in constant time, so an answer's timing tells nothing of
        how much of a guess was right.
        """
        match = _PATH.match(path)
        if match is None:
            return None
        offered = match.group("token").encode()
        found = None
        for name, token in self._tokens.items():
            if hmac.compare_digest(offered, token.encode()):
                found = name
        return None if found is None else Route(found, match.group("sink"))

    def attribute(self, claimed: str, sender: str) -> str:
        """The service an event of ``sender`` is recorded under, given the one it ``claimed``.

        The claim stands unless it names another sender (impersonation): then the sender's.
        """
        if claimed and claimed != sender and claimed in self._tokens:
            return sender
        return claimed or sender
