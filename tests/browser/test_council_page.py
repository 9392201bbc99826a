"""The council page as a browser shows it: headless Chromium loads it, dumps the DOM, screenshots.

Needs Debian's ``chromium`` (`make test` installs it); without it the tests fail with the fix,
they are never skipped: a check that does not run proves nothing.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from harness.report.council import build_council, render
from harness.report.history import HistoryRun, RunVerdict

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WIDTH, HEIGHT = 1280, 1600


def run(i: int, scenario: str, mttr: float | None, *outcomes: tuple[str, str]) -> HistoryRun:
    return HistoryRun(
        run_id=f"{scenario}-{i}",
        scenario=scenario,
        started_at=(T0 + timedelta(hours=i)).isoformat(),
        target="process",
        time_scale=0.05,
        mode="automated",
        mttr=mttr,
        mttd=0.1,
        lost=True,
        bundle=f"runs/{scenario}-{i}",
        sealed_at=(T0 + timedelta(hours=i, minutes=1)).isoformat(),
        harness_version="0.1.0",
        verdicts=tuple(RunVerdict(p, o, f"{p} {o}") for p, o in outcomes),
    )


def chromium(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: `make chromium` (apt-get install chromium)", False)
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={WIDTH},{HEIGHT}",
        *args,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=True)


@pytest.fixture
def page(tmp_path: Path) -> Path:
    runs = [
        run(i, "payments-partition", 1.5 + i / 10, ("steady_state", "passed"), ("pauses", "passed"))
        for i in range(4)
    ]
    runs.append(
        run(5, "payments-partition", None, ("steady_state", "failed"), ("pauses", "failed"))
    )
    runs.append(run(2, "bad-deploy", 0.9, ("rolls_back", "broken")))
    council = build_council(runs, last=10, generated_at=T0 + timedelta(days=1))
    path = tmp_path / "council" / "index.html"
    path.parent.mkdir()
    path.write_text(render(council), encoding="utf-8")
    return path


def test_chromium_shows_the_matrix_the_mttr_table_and_the_chart(page: Path, tmp_path: Path) -> None:
    dom = BeautifulSoup(chromium(page, tmp_path, "--dump-dom").stdout, "html.parser")
    rows = dom.select("#matrix tbody tr")
    assert [r["data-scenario"] for r in rows] == ["bad-deploy", "payments-partition"]
    marks = dom.select('#matrix tr[data-scenario="payments-partition"] td[data-policy="pauses"] a')
    assert [m["data-outcome"] for m in marks] == ["passed"] * 4 + ["failed"]
    kpis = dom.select("#kpis tbody tr")
    assert [r["data-scenario"] for r in kpis] == ["bad-deploy", "payments-partition"]
    median = dom.select_one(
        '#kpis tr[data-scenario="payments-partition"] td[data-kpi="mttr-automated-median"]'
    )
    assert median is not None
    assert median.get_text() == "33 s"
    chart = dom.select_one("#trend img#mttr-chart")
    assert chart is not None
    assert str(chart["src"]).startswith("data:image/png;base64,")


def test_chromium_renders_a_screenshot_of_the_page(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "council.png"
    chromium(page, tmp_path, f"--screenshot={shot}")
    head = shot.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", head[16:24]) == (WIDTH, HEIGHT)
    assert shot.stat().st_size > 50_000  # a page with tables and a chart, not a blank one
