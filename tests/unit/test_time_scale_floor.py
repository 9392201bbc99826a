"""A system may declare the smallest time scale its own timers honour (``min_time_scale``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.prepare import check_time_scale, prepare

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "slow-payments.yaml"


def test_the_reference_system_declares_its_floor() -> None:
    # slow-payments at 0.02 fails isolates 3 of 3: the system's timers have floors
    assert prepare(SCENARIO, None).system.min_time_scale == 0.05


def test_a_run_below_the_floor_is_refused_naming_the_floor_and_its_line() -> None:
    prepared = prepare(SCENARIO, None)
    with pytest.raises(ConfigError) as caught:
        check_time_scale(prepared, 0.02)
    text = str(caught.value)
    assert "below the floor 0.05 of system 'orders'" in text
    line = next(
        i
        for i, row in enumerate(prepared.system_path.read_text().splitlines(), 1)
        if row.startswith("min_time_scale:")
    )
    assert f"{prepared.system_path}:{line}:1: min_time_scale" in text
    assert "--time-scale 0.05 or more" in text


@pytest.mark.parametrize("scale", [0.05, 0.1, 1.0])
def test_a_run_at_or_above_the_floor_goes_on(scale: float) -> None:
    check_time_scale(prepare(SCENARIO, None), scale)


def test_without_a_floor_any_scale_goes_on(tmp_path: Path) -> None:
    system = ROOT / "fixtures" / "sut" / "system.yaml"
    text = system.read_text().replace("min_time_scale: 0.05", "")
    (tmp_path / "system.yaml").write_text(text)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO.read_text().replace("../fixtures/sut/system.yaml", "system.yaml"))
    prepared = prepare(scenario, None)
    assert prepared.system.min_time_scale is None
    check_time_scale(prepared, 0.001)
