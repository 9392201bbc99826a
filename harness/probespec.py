"""What a probe reads, as a scenario spells it: one key per kind (``http:``, ``sql:``, ...).

Every place that checks the system (steady-state probes, guards, the drain, final-state reads)
takes one probe *kind*: ``http``, ``command``, ``sql``, ``redis`` or ``prometheus``, each with
its own fields and an optional ``expect`` tolerance. A kind that a plugin registers through the
harness's hooks (``harness_probe_kinds``) is spelled the same way, under its own name. Addresses
start with an endpoint name of the system (``{api}/health``, ``{orders_db}/orders``); a secret
comes from the environment as ``{env:NAME}`` and is expanded only when the probe runs.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import (
    Field,
    SerializeAsAny,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from harness.durations import Duration
from harness.jsonpaths import JsonPath
from harness.probes.tolerance import Tolerance
from harness.spec import JsonScalar, Model


class CheckSpec(Model):
    """What every probe kind has: a tolerance its value must meet, and a timeout."""

    expect: Tolerance | None = Field(default=None, description="what the value must be")
    timeout: Duration = Field(default=2.0, description="per read; real time, not scaled")

    def for_records(self) -> Self:
        """The spec as a final-state read uses it (a kind may shape its value differently)."""
        return self

    def address(self) -> tuple[str, str] | None:
        """The field naming where it reads, and its template; None when it reads locally."""
        return None

    def label(self) -> str:
        """What it reads, in a few words for messages (templates only: no secret in them)."""
        address = self.address()
        return address[1] if address else type(self).__name__


class HttpCheck(CheckSpec):
    """An HTTP request and what a healthy answer looks like (``expect`` reads the JSON body)."""

    url: str = Field(description="URL; '{api}' and other endpoint names of the target expand")
    method: Literal["GET", "POST", "PUT", "DELETE", "HEAD"] = "GET"
    status: int | list[int] = Field(default=200, description="expected status code(s)")
    json_: dict[str, JsonScalar] | None = Field(
        default=None,
        alias="json",
        description="expected JSON fields; dotted keys reach into objects ('status.ready')",
    )

    def expected_statuses(self) -> tuple[int, ...]:
        """Every status code that counts as healthy."""
        return (self.status,) if isinstance(self.status, int) else tuple(self.status)

    def label(self) -> str:
        """The URL (what guards and plans have always said)."""
        return self.url

    def address(self) -> tuple[str, str] | None:
        """The URL."""
        return ("url", self.url)


class CommandCheck(CheckSpec):
    """A program run in the system file's folder: its exit code, and its stdout as the value."""

    argv: list[str] = Field(
        min_length=1, description="program and arguments; {endpoint} and {env:NAME} expand"
    )
    exit: int | list[int] = Field(default=0, description="exit code(s) that count as healthy")
    json_: bool = Field(
        default=False, alias="json", description="parse stdout as JSON (else: the text, stripped)"
    )
    timeout: Duration = Field(default=10.0, description="per run; real time, not scaled")

    def exit_codes(self) -> tuple[int, ...]:
        """Every exit code that counts as healthy."""
        return (self.exit,) if isinstance(self.exit, int) else tuple(self.exit)

    def label(self) -> str:
        """The command line."""
        return " ".join(self.argv)


class SqlCheck(CheckSpec):
    """A read-only query on PostgreSQL (psycopg 3) or SQLite (stdlib)."""

    dsn: str = Field(
        description="'{orders_db}/orders?user=app&password={env:ORDERS_DB_PASSWORD}' (an "
        "endpoint of the system), or 'sqlite:///path' (relative to the system file)"
    )
    query: str = Field(min_length=1, description="SQL, run in a read-only transaction")
    returns: Literal["value", "rows", "lists"] = Field(
        default="value",
        description="'value': the first column of the first row; 'rows': every row as an "
        "object of column -> value; 'lists': every row as a list of values",
    )

    def for_records(self) -> Self:
        """Final state reads rows by position: (id) or (id, count)."""
        return self.model_copy(update={"returns": "lists"})

    def address(self) -> tuple[str, str] | None:
        """The DSN, unless it names a local SQLite file."""
        return None if self.dsn.startswith("sqlite:") else ("dsn", self.dsn)

    def label(self) -> str:
        """The database and the query."""
        return f"{self.dsn}: {_short(self.query)}"


class RedisCheck(CheckSpec):
    """One Redis command (redis-py); its reply is the value (``[LLEN, orders]`` -> 3)."""

    url: str = Field(description="'{redis}/0': an endpoint of the system, then the database")
    command: list[str | int | float] = Field(min_length=1, description="e.g. [LLEN, queue]")

    def address(self) -> tuple[str, str] | None:
        """The URL."""
        return ("url", self.url)

    def label(self) -> str:
        """The server and the command."""
        return f"{self.url}: {' '.join(str(c) for c in self.command)}"


class PrometheusCheck(CheckSpec):
    """An instant PromQL query (``GET /api/v1/query``); a single sample's value is the value."""

    url: str = Field(description="the Prometheus base URL: an endpoint, '{prometheus}'")
    query: str = Field(min_length=1, description="PromQL, e.g. 'sum(rate(errors_total[1m]))'")
    returns: Literal["value", "samples"] = Field(
        default="value",
        description="'value': the only sample's number (null if none); 'samples': every "
        "sample as {metric: {labels}, value: number}",
    )

    def for_records(self) -> Self:
        """Final state reads every sample."""
        return self.model_copy(update={"returns": "samples"})

    def label(self) -> str:
        """The server and the query."""
        return f"{self.url}: {_short(self.query)}"

    def address(self) -> tuple[str, str] | None:
        """The URL."""
        return ("url", self.url)


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


class ExtensionCheck(Model):
    """A probe kind a plugin registered: its name and its own spec model."""

    kind: str
    spec: SerializeAsAny[CheckSpec]


BUILTIN_KINDS = ("http", "command", "sql", "redis", "prometheus")


class Checks(Model):
    """One probe kind per key; subclasses say how many may be given."""

    http: HttpCheck | None = None
    command: CommandCheck | None = None
    sql: SqlCheck | None = None
    redis: RedisCheck | None = None
    prometheus: PrometheusCheck | None = None
    extension: SkipJsonSchema[ExtensionCheck | None] = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _plugin_kinds(cls, data: Any) -> Any:
        """Move a key that names a plugin's probe kind into ``extension``, validated by it."""
        if not isinstance(data, dict):
            return data
        if "extension" in data and not isinstance(data["extension"], ExtensionCheck):
            raise ValueError("unknown field 'extension'")
        names = {f.alias or n for n, f in cls.model_fields.items()} | set(cls.model_fields)
        unknown = [k for k in data if isinstance(k, str) and k not in names]
        if not unknown:
            return data
        from harness.probes.registry import probe_kinds

        kinds = probe_kinds()
        for key in unknown:
            if key in kinds:
                spec = _plugin_spec(kinds[key].spec, key, data[key])
                rest = {k: v for k, v in data.items() if k != key}
                return rest | {"extension": ExtensionCheck(kind=key, spec=spec)}
        return data  # extra="forbid" reports the unknown keys, located, with a did-you-mean

    def given(self) -> list[tuple[str, CheckSpec]]:
        """Every kind given, as (kind name, spec)."""
        found: list[tuple[str, CheckSpec]] = [
            (name, spec) for name in BUILTIN_KINDS if (spec := getattr(self, name)) is not None
        ]
        if self.extension is not None:
            found.append((self.extension.kind, self.extension.spec))
        return found

    def check(self) -> tuple[str, CheckSpec]:
        """The one kind given (the subclass's validator made sure there is exactly one)."""
        given = self.given()
        assert len(given) == 1, given
        return given[0]

    def kind_fields(self) -> dict[str, Any]:
        """The kind fields that are set, to build another model with the same check."""
        fields: dict[str, Any] = {n: getattr(self, n) for n in BUILTIN_KINDS if getattr(self, n)}
        if self.extension is not None:
            fields["extension"] = self.extension
        return fields

    def as_probe(self, name: str) -> Probe:
        """The check as a named probe (a drain's or a guard's check, sampled like probes)."""
        return Probe(name=name, **self.kind_fields())

    def _exactly_one(self, also: int = 0, other: str = "") -> None:
        if len(self.given()) + also != 1:
            kinds = ", ".join(BUILTIN_KINDS) + (f" or {other}" if other else "")
            raise ValueError(f"give exactly one of: {kinds}")


def _plugin_spec(model: type[CheckSpec], key: str, raw: Any) -> CheckSpec:
    """Validate a plugin kind's fields with its own model; its problems name their fields."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in (key, *e['loc']))}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(problems) from None


class Probe(Checks):
    """A steady-state probe: a named check that holds when the system is healthy."""

    name: str

    @model_validator(mode="after")
    def _one_kind(self) -> Probe:
        self._exactly_one()
        return self


class StateReader(Checks):
    """A read of what the system really stored, as records: id -> how many times it is held.

    Without ``ids``, ``records`` or ``counts``, the value's shape decides: a list of ids (or of
    rows ``(id)``/``(id, count)``), or an object of id -> count. A path that matches nothing is
    an error, so name the list itself (``$.orders``) when it may be empty.
    """

    ids: JsonPath | None = Field(
        default=None, description="the list of ids ('$.orders[*].id'); each occurrence counts"
    )
    records: JsonPath | None = Field(
        default=None, description="the list of records ('$.orders'); see id and count"
    )
    id: JsonPath = Field(default="id", description="with records: each record's id")
    count: JsonPath | None = Field(
        default=None, description="with records: each record's count (default: 1 each)"
    )
    counts: JsonPath | None = Field(
        default=None, description="an object of id -> count ('$.charges')"
    )

    @model_validator(mode="after")
    def _one_shape(self) -> StateReader:
        self._exactly_one()
        picked = [n for n in ("ids", "records", "counts") if getattr(self, n) is not None]
        if len(picked) > 1:
            raise ValueError(f"give at most one of: ids, records, counts (got {picked})")
        if self.records is None and ({"id", "count"} & self.model_fields_set):
            raise ValueError("'id' and 'count' read each of the 'records'; give records too")
        if self.check()[1].expect is not None:
            raise ValueError("a final-state read has no 'expect': the policies judge records")
        return self
