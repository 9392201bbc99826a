"""The ``redis`` probe kind: one command through redis-py; its reply is the value.

``{redis}/0`` names an endpoint of the system (``redis: "redis://{addr:redis}"``) and the
database; a password goes in the URL from the environment
(``{redis}/0?password={env:REDIS_PASSWORD}``). Replies are what redis-py makes of them,
decoded as UTF-8 text: ``PING`` is true, ``LLEN`` a number, ``GET`` text (or null),
``HGETALL`` an object, ``SMEMBERS`` a sorted list. redis-py is imported only when such a
probe runs (the ``sut`` extra has it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pydantic import JsonValue

from harness.hookspecs import hookimpl
from harness.probes.base import (
    PlaceholderError,
    ProbeContext,
    ProbeKind,
    Reading,
    Secrets,
    error_text,
    expand,
    failed,
)
from harness.probespec import CheckSpec, RedisCheck


class RedisKind:
    """Sends the command once on a fresh connection, bounded by the spec's timeout."""

    spec = RedisCheck

    def read(self, spec: CheckSpec, context: ProbeContext) -> Reading:
        """The command's reply as JSON; a refused command quotes Redis's error."""
        assert isinstance(spec, RedisCheck)
        secrets = Secrets()
        try:
            url = expand(spec.url, context, secrets)
        except PlaceholderError as exc:
            return failed(str(exc), secrets)
        try:
            import redis
        except ImportError:
            return failed("the redis probe needs redis-py: pip install redis", secrets)
        shown = " ".join(str(part) for part in spec.command)
        start = time.monotonic()
        try:
            client = redis.Redis.from_url(
                url,
                socket_timeout=spec.timeout,
                socket_connect_timeout=spec.timeout,
                decode_responses=True,
            )
        except ValueError as exc:  # not a redis:// URL
            return failed(f"{spec.url}: not a Redis URL: {exc}", secrets)
        try:
            reply = client.execute_command(*spec.command)  # type: ignore[no-untyped-call]
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            return failed(
                f"{spec.url}: cannot reach Redis at {url}: {error_text(exc)}; is it up, and is "
                "the endpoint's address right?",
                secrets,
            )
        except redis.RedisError as exc:
            return failed(f"{spec.url}: Redis refused {shown}: {error_text(exc)}", secrets)
        finally:
            client.close()
        latency = round((time.monotonic() - start) * 1000, 1)
        return Reading(value=to_json(reply), latency_ms=latency)


def to_json(reply: Any) -> JsonValue:
    """A Redis reply as JSON: bytes decoded, sets sorted, maps and arrays kept."""
    if reply is None or isinstance(reply, bool | int | float | str):
        return reply
    if isinstance(reply, bytes):
        return reply.decode("utf-8", errors="replace")
    if isinstance(reply, set | frozenset):
        return sorted((to_json(v) for v in reply), key=str)
    if isinstance(reply, Mapping):
        return {str(to_json(k)): to_json(v) for k, v in reply.items()}
    if isinstance(reply, list | tuple):
        return [to_json(v) for v in reply]
    return str(reply)


@hookimpl(trylast=True)
def harness_probe_kinds() -> Mapping[str, ProbeKind]:
    """The built-in ``redis`` kind."""
    return {"redis": RedisKind()}
