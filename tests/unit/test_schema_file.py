"""The committed JSON Schema that scenarios point editors at is the one the code produces."""

from __future__ import annotations

import json
from pathlib import Path

from harness.scenario import json_schema

SCHEMA = Path(__file__).resolve().parents[2] / "schema" / "scenario.schema.json"


def test_committed_schema_is_current() -> None:
    assert json.loads(SCHEMA.read_text()) == json_schema(), (
        "schema/scenario.schema.json is stale: run `harness schema > schema/scenario.schema.json`"
    )
