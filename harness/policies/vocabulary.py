"""An expectation's event names, filled in from the system's contract before a policy judges.

Every event-name field of an expectation (``pause_action``, ``progress_actions``, ...) names the
contract roles it defaults to (``x-contract-role`` in its JSON Schema, set by
``expectations._role``). ``resolve`` fills each empty field with the names the contract declares
for its roles; a field the scenario set keeps its own names. A policy that cannot judge without a
field asks for it with ``need``: when neither the scenario nor the contract named any event, that
raises ``MissingVocabulary``, and the policy's verdict is broken, naming what to declare.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel

from harness.contract import Contract, MissingVocabulary
from harness.expectations import ROLE

X = TypeVar("X", bound=BaseModel)


def roles_of(model: type[BaseModel], field: str) -> list[str]:
    """The contract roles an expectation field defaults to (none for an ordinary field)."""
    extra = model.model_fields[field].json_schema_extra
    value = extra.get(ROLE) if isinstance(extra, dict) else None
    return str(value).split(",") if value else []


def resolve(expectation: X, contract: Contract) -> X:
    """A copy of ``expectation`` whose empty event-name fields hold the contract's names."""
    update: dict[str, Any] = {}
    for field in type(expectation).model_fields:
        roles = roles_of(type(expectation), field)
        if roles and not getattr(expectation, field):
            update[field] = tuple(n for role in roles for n in _declared(contract, role))
    return expectation.model_copy(update=update) if update else expectation


def need(expectation: BaseModel, field: str) -> tuple[str, ...]:
    """The names of ``field``; ``MissingVocabulary`` if neither scenario nor contract has any."""
    names: tuple[str, ...] = getattr(expectation, field)
    if not names:
        roles = roles_of(type(expectation), field)
        raise MissingVocabulary(" and ".join(roles) or field, field)
    return names


def _declared(contract: Contract, role: str) -> Iterable[str]:
    section, _, name = role.partition(".")
    names: tuple[str, ...] = getattr(getattr(contract, section), name)
    return names


def names_text(names: Iterable[str]) -> str:
    """``workflow.pause`` or ``order.completed or order.done``: names as findings quote them."""
    return " or ".join(names)
