"""The committed JSON Schemas that scenarios and system files point editors at are current."""

from __future__ import annotations

import json
from pathlib import Path

from harness.scenario import json_schema
from harness.system import json_schema as system_schema

SCHEMAS = Path(__file__).resolve().parents[2] / "schema"


def test_committed_schema_is_current() -> None:
    assert json.loads((SCHEMAS / "scenario.schema.json").read_text()) == json_schema(), (
        "schema/scenario.schema.json is stale: run `harness schema > schema/scenario.schema.json`"
    )


def test_committed_system_schema_is_current() -> None:
    assert json.loads((SCHEMAS / "system.schema.json").read_text()) == system_schema(), (
        "schema/system.schema.json is stale: "
        "run `harness schema --system > schema/system.schema.json`"
    )
