"""A small typed client for the Toxiproxy HTTP API, checked against server v2.12.0.

Every failure raises ``ToxiproxyError`` (unreachable server, non-2xx answer, unreadable answer);
nothing is retried here, the caller decides. Facts from the server source (``api.go``): updates
use PATCH (POST is a deprecated alias), creating a proxy answers 201, creating a toxic 200,
deletes and ``/reset`` answer 204; errors carry ``{"error": message, "status": code}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Self, TypeVar
from urllib.parse import quote, unquote

import httpx
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from harness.errors import NotToxiproxyError, ToxiproxyError

Stream = Literal["upstream", "downstream"]
DEFAULT_URL = "http://127.0.0.1:8474"
UNREACHABLE_HINT = (
    "start one with `toxiproxy-server -host 127.0.0.1 -port N` and pass "
    "--toxiproxy http://127.0.0.1:N, or let the harness start its own "
    "(`make toxiproxy` installs the binary)"
)
_T = TypeVar("_T")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Toxic(_Frozen):
    """A toxic on one stream of a proxy; ``attributes`` depend on ``type`` (latency: ms)."""

    name: str
    type: str
    stream: Stream
    toxicity: float
    attributes: dict[str, int | float]


class Proxy(_Frozen):
    """A proxy as the server reports it; once enabled, ``listen`` is the address actually bound."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[Toxic, ...] = ()

    @property
    def address(self) -> tuple[str, int]:
        """The listen address as ``(host, port)``, ready for ``socket.create_connection``."""
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class ProxySpec(_Frozen):
    """One proxy for ``populate``: created, kept if unchanged, replaced if its addresses differ."""

    name: str
    listen: str
    upstream: str
    enabled: bool = True


class ProxyBytes(_Frozen):
    """Byte counters of one proxy from ``/metrics`` (server run with ``-proxy-metrics``).

    ``upstream_*`` counts client-to-server bytes, ``downstream_*`` server-to-client bytes;
    ``received`` entered Toxiproxy, ``sent`` left it. The server adds a connection's bytes only
    when that connection ends, and keeps the series of deleted proxies: the sums cover every
    listen/upstream address a proxy of that name has had.
    """

    upstream_received: int = 0
    upstream_sent: int = 0
    downstream_received: int = 0
    downstream_sent: int = 0


_SAMPLE = re.compile(r"^toxiproxy_proxy_(received|sent)_bytes_total\{(.*)\}\s+(\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def parse_proxy_bytes(metrics_text: str) -> dict[str, ProxyBytes]:
    """Per-proxy byte counters in ``metrics()`` text; a proxy shows up once a connection ended."""
    totals: dict[str, dict[str, int]] = {}
    for line in metrics_text.splitlines():
        if (match := _SAMPLE.match(line)) is None:
            continue
        kind, labels_text, value = match.groups()
        labels = {
            key: re.sub(r"\\.", lambda m: _UNESCAPE.get(m.group(0), m.group(0)), raw)
            for key, raw in _LABEL.findall(labels_text)
        }
        counters = totals.setdefault(labels.get("proxy", ""), {})
        field = f"{labels.get('direction', '')}_{kind}"
        counters[field] = counters.get(field, 0) + int(float(value))  # Go may print 1.2e+06
    return {name: ProxyBytes.model_validate(counters) for name, counters in totals.items()}


_VERSION = TypeAdapter(dict[str, str])
_PROXY = TypeAdapter(Proxy)
_PROXIES = TypeAdapter(dict[str, Proxy])
_POPULATED = TypeAdapter(dict[str, tuple[Proxy, ...]])
_TOXIC = TypeAdapter(Toxic)
_TOXICS = TypeAdapter(tuple[Toxic, ...])


def _check_toxicity(toxicity: float) -> float:
    if not 0.0 < toxicity <= 1.0:  # also rejects NaN
        raise ValueError(
            f"toxicity must be in (0, 1], got {toxicity!r}: a toxic with toxicity 0 still "
            "disturbs some connections (Shopify/toxiproxy issue #603); remove the toxic instead"
        )
    return toxicity


def _path(proxy: str, *rest: str) -> str:
    return "/".join(["/proxies", *(quote(part, safe="") for part in (proxy, *rest))])


class ToxiproxyClient:
    """Synchronous client for one Toxiproxy server; use as a context manager or call ``close()``."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying HTTP connections."""
        self._http.close()

    def version(self) -> str:
        """The server's version string, e.g. ``"2.12.0"`` (``"git"`` if built without ldflags).

        A server that answers, but not as Toxiproxy does (``{"version": ...}`` as JSON), is
        named as such: the URL points at something else, and its page is not worth printing.
        """
        response = self._send("GET", "/version")
        try:
            if response.is_success:
                return _VERSION.validate_json(response.content)["version"]
        except (ValidationError, KeyError):
            pass
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        raise NotToxiproxyError(
            what="this is not a Toxiproxy server",
            where=self.url,
            expected='GET /version to answer 200 with JSON {"version": ...}',
            actual=f"HTTP {response.status_code}, {kind}, {len(response.content)} bytes",
            hint="check the URL and port (Toxiproxy's API listens on 8474 by default); or leave "
            "--toxiproxy out and the harness starts a private server",
        )

    def proxies(self) -> dict[str, Proxy]:
        """Every proxy on the server, by name, with its toxics."""
        return self._call("GET", "/proxies", _PROXIES)

    def get_proxy(self, name: str) -> Proxy:
        """One proxy by name."""
        return self._call("GET", _path(name), _PROXY)

    def create_proxy(self, name: str, listen: str, upstream: str, *, enabled: bool = True) -> Proxy:
        """Create a proxy; ``listen`` may use port 0, the answer holds the address bound.

        A proxy created disabled binds nothing: its ``listen`` stays as given until enabled.
        """
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        return self._call("POST", "/proxies", _PROXY, body)

    def update_proxy(
        self,
        name: str,
        *,
        enabled: bool | None = None,
        listen: str | None = None,
        upstream: str | None = None,
    ) -> Proxy:
        """Change the given fields; ``enabled=False`` closes the listener and every connection."""
        fields = {"enabled": enabled, "listen": listen, "upstream": upstream}
        body = {key: value for key, value in fields.items() if value is not None}
        return self._call("PATCH", _path(name), _PROXY, body)

    def delete_proxy(self, name: str, *, missing_ok: bool = False) -> None:
        """Delete a proxy and close its connections; ``missing_ok`` ignores an unknown name."""
        self._request("DELETE", _path(name), allow=404 if missing_ok else 0)

    def populate(self, specs: Iterable[ProxySpec]) -> tuple[Proxy, ...]:
        """Create or replace several proxies at once; proxies not named are left alone."""
        body = [spec.model_dump() for spec in specs]
        return self._call("POST", "/populate", _POPULATED, body)["proxies"]

    def toxics(self, proxy: str) -> tuple[Toxic, ...]:
        """The toxics of one proxy, both streams."""
        return self._call("GET", _path(proxy, "toxics"), _TOXICS)

    def add_toxic(
        self,
        proxy: str,
        *,
        name: str,
        type: str,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        attributes: Mapping[str, int | float],
    ) -> Toxic:
        """Add a toxic; it applies to open connections too. Pair it with ``remove_toxic``."""
        body = {
            "name": name,
            "type": type,
            "stream": stream,
            "attributes": dict(attributes),
            "toxicity": _check_toxicity(toxicity),
        }
        return self._call("POST", _path(proxy, "toxics"), _TOXIC, body)

    def update_toxic(
        self,
        proxy: str,
        name: str,
        *,
        toxicity: float | None = None,
        attributes: Mapping[str, int | float] | None = None,
    ) -> Toxic:
        """Change a toxic's toxicity and/or some attributes; attributes not given are kept."""
        body: dict[str, Any] = {} if attributes is None else {"attributes": dict(attributes)}
        if toxicity is not None:
            body["toxicity"] = _check_toxicity(toxicity)
        return self._call("PATCH", _path(proxy, "toxics", name), _TOXIC, body)

    def remove_toxic(self, proxy: str, name: str, *, missing_ok: bool = False) -> None:
        """Remove a toxic; ``missing_ok`` also accepts a missing proxy (nothing left to heal)."""
        self._request("DELETE", _path(proxy, "toxics", name), allow=404 if missing_ok else 0)

    def reset(self) -> None:
        """Re-enable every proxy and remove every toxic; proxies themselves are kept."""
        self._request("POST", "/reset")

    def metrics(self) -> str:
        """Raw Prometheus text of ``/metrics`` (404 unless the server runs with -proxy-metrics)."""
        return self._request("GET", "/metrics").text

    def _call(self, method: str, path: str, shape: TypeAdapter[_T], body: object = None) -> _T:
        response = self._request(method, path, body)
        try:
            return shape.validate_json(response.content)
        except ValidationError as exc:
            raise ToxiproxyError(
                what="Toxiproxy sent an answer this client cannot read",
                where=f"{self.url}{path}",
                expected="JSON shaped like the answers of Toxiproxy 2.12.0",
                actual=f"{response.text[:200]!r} ({exc.error_count()} validation errors)",
                hint="check the server's version(); this client is tested against 2.12.0",
            ) from exc

    def _request(
        self, method: str, path: str, body: object = None, allow: int = 0
    ) -> httpx.Response:
        response = self._send(method, path, body)
        if response.is_success or response.status_code == allow:
            return response
        raise _refusal(f"{self.url}{path}", method, response)

    def _send(self, method: str, path: str, body: object = None) -> httpx.Response:
        try:
            return self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise ToxiproxyError(
                what="Toxiproxy is not reachable",
                where=self.url,
                expected="a Toxiproxy server answering HTTP there",
                actual=f"{method} {path}: {type(exc).__name__}: {exc}",
                hint=UNREACHABLE_HINT,
            ) from exc


def _refusal(url: str, method: str, response: httpx.Response) -> ToxiproxyError:
    """The error for a non-2xx answer, naming the proxy or toxic the server could not find."""
    message, done = response.text.strip(), ""
    try:  # {"error": ..., "status": ...}; /populate adds the proxies done before failing
        answer = response.json()
        message = str(answer.get("error", message))
        if names := [str(p.get("name")) for p in answer.get("proxies") or ()]:
            done = f" (done before the failure: {', '.join(names)})"
    except (ValueError, AttributeError):
        pass
    path = response.request.url.path
    proxy, toxic, *_ = [unquote(part) for part in path.split("/")[2::2]] + ["", ""]
    what, hint = f"Toxiproxy refused {method} {path}", "see the toxiproxy-server log"
    if message == "proxy not found":
        what, hint = f"Toxiproxy has no proxy named {proxy!r}", "create it first, or fix the name"
    elif message == "toxic not found":
        what, hint = f"proxy {proxy!r} has no toxic named {toxic!r}", "list them with toxics()"
    elif path == "/metrics" and response.status_code == 404:
        hint = "start toxiproxy-server with -proxy-metrics (ToxiproxyServer does)"
    elif response.status_code == 409:
        hint = "names are unique on a server: remove the old one first or pick another name"
    return ToxiproxyError(
        what=what,
        where=url,
        expected="a 2xx answer",
        actual=f"HTTP {response.status_code}: {message}{done}",
        hint=hint,
    )
