"""Final-state reads: what the system really stored, as records ``id -> how many times held``.

A ``StateReader`` (harness/probespec.py) is a probe kind plus where the ids are. Reading one
never raises for a bad answer: an unreachable store, a failed query, a path that matches
nothing or an id that is no id is the read's ``error``, which the caller turns into a *broken*
verdict (the harness could not tell), never a passed or failed one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, JsonValue

from harness.jsonpaths import find
from harness.probes.base import ProbeContext
from harness.probes.sampling import read
from harness.probes.tolerance import show
from harness.probespec import StateReader
from harness.timeline import StateEntry

Records = dict[str, int]


class StateRead(BaseModel):
    """The result of one final-state read: records, or a raw value, or why there is neither."""

    model_config = ConfigDict(frozen=True)

    records: Records | None = None
    value: JsonValue = None
    error: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Whether the state could be read (a verdict built on a failed read is broken)."""
        return self.error is None

    def entry(self, t: float, name: str) -> StateEntry:
        """The read as a timeline entry; the raw value is kept only when there are no records."""
        return StateEntry(
            t=t,
            name=name,
            ok=self.ok,
            records=self.records,
            value=self.value if self.records is None else None,
            detail=self.error if self.error is not None else self.detail,
        )


class ShapeError(Exception):
    """The answer holds no records where the reader says they are."""


def read_state(reader: StateReader, context: ProbeContext) -> StateRead:
    """Read the final state once; every failure is the result's ``error``, masked of secrets."""
    kind, spec = reader.check()
    reading = read(kind, spec.for_records(), context)
    where = f"{kind} {spec.label()}"
    if reading.error is not None:
        return StateRead(error=f"final state ({where}): {reading.error}")
    if reading.problems:
        return StateRead(error=f"final state ({where}): {'; '.join(reading.problems)}")
    try:
        records = records_from(reading.value, reader)
    except ShapeError as exc:
        return StateRead(value=reading.value, error=f"final state ({where}): {exc}")
    if records is None:
        return StateRead(value=reading.value, detail=f"value {show(reading.value)}")
    return StateRead(records=records, detail=summary(records))


def records_from(value: JsonValue, reader: StateReader) -> Records | None:
    """The records in ``value`` as the reader says; None for a value that is no collection."""
    if reader.ids is not None:
        return _count_ids(_items(value, reader.ids), reader.ids)
    if reader.records is not None:
        return _from_records(_items(value, reader.records), reader)
    if reader.counts is not None:
        return _from_counts(_one(value, reader.counts), reader.counts)
    if isinstance(value, dict):
        return _from_counts(value, "the answer")
    if isinstance(value, list):
        return _from_rows(value)
    return None


def summary(records: Records) -> str:
    """``12 ids (15 held); held more than once: a x2, b x3``."""
    held = sum(records.values())
    again = sorted(k for k, n in records.items() if n > 1)
    text = f"{len(records)} ids ({held} held)"
    if again:
        shown = ", ".join(f"{k} x{records[k]}" for k in again[:10])
        text += f"; held more than once: {shown}" + (" ..." if len(again) > 10 else "")
    return text


def _items(value: JsonValue, path: str) -> Sequence[JsonValue]:
    """A path's matches as a list: the one list it names, or the several values it matches."""
    matches = find(path, value)
    if not matches:
        raise ShapeError(f"{path} matches nothing in {show(value)}; name the list (e.g. $.orders)")
    if len(matches) == 1 and isinstance(matches[0], list):
        return matches[0]
    return matches


def _one(value: JsonValue, path: str) -> JsonValue:
    matches = find(path, value)
    if len(matches) != 1:
        raise ShapeError(f"{path} matches {len(matches)} values in {show(value)}, expected one")
    return matches[0]


def _count_ids(items: Sequence[JsonValue], where: str) -> Records:
    counted: Counter[str] = Counter()
    for i, item in enumerate(items):
        counted[_id(item, f"{where} item #{i + 1}")] += 1
    return dict(counted)


def _from_records(items: Sequence[JsonValue], reader: StateReader) -> Records:
    counted: Counter[str] = Counter()
    for i, record in enumerate(items):
        where = f"{reader.records} record #{i + 1}"
        key = _id(_one(record, reader.id), f"{where} {reader.id}")
        count = 1 if reader.count is None else _count(_one(record, reader.count), where)
        counted[key] += count
    return dict(counted)


def _from_counts(value: JsonValue, where: str) -> Records:
    if not isinstance(value, dict):
        raise ShapeError(f"{where}: expected an object of id -> count, got {show(value)}")
    return {_id(k, where): _count(v, f"{where} {k!r}") for k, v in value.items()}


def _from_rows(rows: list[JsonValue]) -> Records:
    """Rows ``id``, ``(id)`` or ``(id, count)``: a query's or a command's list."""
    counted: Counter[str] = Counter()
    for i, row in enumerate(rows):
        where = f"row #{i + 1}"
        cells = row if isinstance(row, list) else [row]
        if len(cells) not in (1, 2) or isinstance(row, dict):
            raise ShapeError(
                f"{where}: expected (id) or (id, count), got {show(row)}; "
                "say where the ids are with ids, records (and id, count) or counts"
            )
        count = _count(cells[1], where) if len(cells) == 2 else 1
        counted[_id(cells[0], where)] += count
    return dict(counted)


def _id(value: JsonValue, where: str) -> str:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    raise ShapeError(f"{where}: {show(value)} is not an id (text or a whole number)")


def _count(value: JsonValue, where: str) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and value.strip().isdigit()
    ):
        number = int(value)
    if number is None or number < 0:
        raise ShapeError(f"{where}: count {show(value)} is not a whole number >= 0")
    return number
