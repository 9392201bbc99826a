"""The ``prometheus`` probe kind: an instant PromQL query against a Prometheus HTTP API.

``GET {url}/api/v1/query?query=...``. With ``returns: value`` (the default) the value is the
number of a scalar, or of a vector's only sample (null for an empty vector: write
``sum(...) or vector(0)`` to read 0 instead); with ``returns: samples`` it is the list of
``{metric: {labels}, value: number}``. An error answer quotes Prometheus's ``error``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx
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
from harness.probespec import CheckSpec, PrometheusCheck


class AnswerError(Exception):
    """Prometheus answered, but not with a result the probe can read."""


class PrometheusKind:
    """Runs the instant query once."""

    spec = PrometheusCheck

    def read(self, spec: CheckSpec, context: ProbeContext) -> Reading:
        """The query's result, as the spec's ``returns`` says."""
        assert isinstance(spec, PrometheusCheck)
        secrets = Secrets()
        try:
            base = expand(spec.url, context, secrets).rstrip("/")
        except PlaceholderError as exc:
            return failed(str(exc), secrets)
        url = f"{base}/api/v1/query"
        params = {"query": spec.query, "timeout": f"{spec.timeout:g}s"}
        start = time.monotonic()
        try:
            response = _get(context, url, params, spec.timeout)
            value = result_value(response, spec.returns)
        except httpx.HTTPError as exc:
            return failed(
                f"cannot query Prometheus at {url}: {error_text(exc)}; is it up, and is the "
                "endpoint's URL its base (without /api/v1)?",
                secrets,
            )
        except AnswerError as exc:
            return failed(f"Prometheus at {url}, query {spec.query!r}: {exc}", secrets)
        latency = round((time.monotonic() - start) * 1000, 1)
        return Reading(value=value, status=response.status_code, latency_ms=latency)


def _get(
    context: ProbeContext, url: str, params: Mapping[str, str], timeout: float
) -> httpx.Response:
    if context.http is not None:
        return context.http.get(url, params=params, timeout=timeout)
    with httpx.Client() as client:
        return client.get(url, params=params, timeout=timeout)


def result_value(response: httpx.Response, returns: str) -> JsonValue:
    """The value of an instant query's answer; AnswerError when there is none to read."""
    kind, result = _result(response)
    if kind == "scalar":
        return _number(result[1])
    if kind == "string":
        return str(result[1])
    try:
        values = [_number(s["value"][1]) for s in result]
        labels = [dict(s.get("metric", {})) for s in result]
    except (KeyError, IndexError, TypeError, AttributeError):
        raise AnswerError(f"a sample without a value in {str(result)[:200]}") from None
    if returns == "samples":
        return [{"metric": m, "value": v} for m, v in zip(labels, values, strict=True)]
    if len(values) > 1:
        raise AnswerError(
            f"{len(values)} series answer; aggregate them (sum(...)), or write returns: samples"
        )
    return values[0] if values else None


def _result(response: httpx.Response) -> tuple[str, list[Any]]:
    """The answer's ``resultType`` and ``result``, once they are what an instant query gives."""
    try:
        doc = response.json()
    except ValueError:
        raise AnswerError(f"HTTP {response.status_code}, not JSON: {response.text[:200]}") from None
    if not isinstance(doc, dict) or doc.get("status") != "success":
        error = doc.get("error", doc) if isinstance(doc, dict) else doc
        kind = doc.get("errorType", "error") if isinstance(doc, dict) else "error"
        raise AnswerError(f"HTTP {response.status_code}, {kind}: {error}")
    data = doc.get("data")
    kind = data.get("resultType") if isinstance(data, dict) else None
    result = data.get("result") if isinstance(data, dict) else None
    if kind not in ("scalar", "string", "vector"):
        raise AnswerError(f"a {kind} result; an instant query of a vector or scalar is expected")
    if not isinstance(result, list) or (kind != "vector" and len(result) != 2):
        raise AnswerError(f"a {kind} result that cannot be read: {str(result)[:200]}")
    return str(kind), result


def _number(text: Any) -> float:
    """A sample value: Prometheus writes them as text ("1", "NaN", "+Inf")."""
    try:
        return float(text)
    except (TypeError, ValueError):
        raise AnswerError(f"a sample value that is no number: {text!r}") from None


@hookimpl(trylast=True)
def harness_probe_kinds() -> Mapping[str, ProbeKind]:
    """The built-in ``prometheus`` kind."""
    return {"prometheus": PrometheusKind()}
