"""Building blocks shared by the scenario's models: the frozen base model, edges, requests."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from harness.durations import Duration

_EDGE = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*->\s*([A-Za-z0-9_.-]+)\s*$")
JsonScalar = str | int | float | bool | None


def _normalise_edge(value: str) -> str:
    match = _EDGE.match(value)
    if not match:
        raise ValueError(f"not a dependency edge: {value!r}; write it as 'client -> dependency'")
    return f"{match.group(1)}->{match.group(2)}"


Edge = Annotated[
    str,
    AfterValidator(_normalise_edge),
    Field(description="a dependency edge the target declares, 'client -> dependency'"),
]


class Model(BaseModel):
    """A frozen model that refuses unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class RequestSpec(Model):
    """One HTTP request to the system under test; ``{api}``-style endpoint names expand."""

    method: Literal["GET", "POST", "PUT", "DELETE"] = "POST"
    url: str
    json_: dict[str, JsonScalar] | None = Field(default=None, alias="json")
    idempotency_header: str | None = Field(
        default=None,
        description="header carrying the request's idempotency key; default: the system "
        "contract's requests.idempotency_header; null: none",
    )
    timeout: Duration = Field(default=2.0, description="per request; real time, not scaled")
