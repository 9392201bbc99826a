"""The council page, rendered from hand-made bundles and read back as HTML."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bs4 import BeautifulSoup, Tag
from bundles import later, run_timeline, sealed_run, verdict

from harness.policies import Status
from harness.report.council import seconds, stats, write_council
from harness.report.history import index_bundles
from harness.report.kpi import percentile

NOW = datetime(2026, 11, 9, 8, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    """Three partition runs (the last fails), a broken deploy run and a manual drill."""
    ok = [verdict("steady_state"), verdict("pauses")]
    for i, recovered in enumerate((4.0, 5.0, None)):
        sealed_run(
            tmp_path,
            f"pp-{i}",
            "payments-partition",
            timeline=run_timeline(later(60 * i), recovered_at=recovered),
            verdicts=ok
            if i < 2
            else [verdict("steady_state"), verdict("pauses", Status.FAILED, "no <pause> in 30s")],
        )
    sealed_run(
        tmp_path,
        "bd-0",
        "bad-deploy",
        timeline=run_timeline(later(30)),
        verdicts=[
            verdict("steady_state"),
            verdict("rolls_back", Status.BROKEN, "no deploy happened"),
        ],
    )
    sealed_run(
        tmp_path,
        "pp-drill",
        "payments-partition",
        timeline=run_timeline(later(150), recovered_at=8.0),
        mode="manual",
    )
    index_bundles(tmp_path)
    return tmp_path


def page(reports: Path, last: int = 10) -> BeautifulSoup:
    path = write_council(reports, last=last, now=NOW)
    assert path == reports / "council" / "index.html"
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def find(soup: BeautifulSoup | Tag, selector: str) -> Tag:
    found = soup.select_one(selector)
    assert found is not None, f"no {selector}"
    return found


def test_the_matrix_has_a_row_per_scenario_and_a_mark_per_run(reports: Path) -> None:
    soup = page(reports)
    matrix = find(soup, "#matrix table")
    heads = [th.get_text() for th in matrix.select("thead th.policy")]
    assert heads == ["steady_state", "pauses", "rolls_back"]  # most-checked first
    partition = find(matrix, 'tr[data-scenario="payments-partition"]')
    marks = partition.select('td[data-policy="pauses"] a.mark')
    assert [m["data-outcome"] for m in marks] == ["passed", "passed", "failed", "absent"]
    assert marks[2]["href"] == "../runs/pp-2/"
    assert "no <pause> in 30s" in str(marks[2]["title"])
    assert find(partition, ".badge").get_text() == "passed"  # the drill is the latest run
    deploy = find(matrix, 'tr[data-scenario="bad-deploy"]')
    assert [m["data-outcome"] for m in deploy.select('td[data-policy="rolls_back"] a.mark')] == [
        "broken"
    ]
    assert deploy.select('td[data-policy="pauses"] a.mark') == []  # never checked: a dot


def test_summaries_are_escaped(reports: Path) -> None:
    html = (write_council(reports, now=NOW)).read_text(encoding="utf-8")
    assert "no &lt;pause&gt; in 30s" in html
    assert "<pause>" not in html


def test_links_lead_to_the_bundles(reports: Path) -> None:
    soup = page(reports)
    council = reports / "council"
    hrefs = {str(a["href"]) for a in soup.select("#runs a")}
    assert hrefs == {f"../runs/{r}/" for r in ("pp-0", "pp-1", "pp-2", "bd-0", "pp-drill")}
    assert all((council / h / "manifest.json").is_file() for h in hrefs)


def test_needs_attention_lists_the_latest_run_that_broke_or_could_not_tell(reports: Path) -> None:
    attention = find(page(reports), "#attention")
    assert [s.get_text() for s in attention.select("li strong")] == ["bad-deploy"]
    assert "no deploy happened" in attention.get_text()
    assert "1 of 2 scenarios" in find(attention, "h2").get_text()


def test_the_mttr_table_splits_automated_and_manual(reports: Path) -> None:
    row = find(page(reports), '#kpis tr[data-scenario="payments-partition"]')

    def cell(kpi: str) -> str:
        return find(row, f'td[data-kpi="{kpi}"]').get_text()

    # automated: 40 s and 60 s (scale 0.05; the third run never recovered), manual: 120 s
    assert cell("mttr-automated-median") == "50 s"
    assert cell("mttr-automated-p95") == "59 s"
    assert cell("mttr-manual-median") == "2 min 00 s"
    assert cell("probes-failed") == "3 of 3"
    cells = [td.get_text() for td in row.select("td")]
    assert cells[3:5] == ["3", "1"]  # runs, not restored


def test_the_chart_is_an_embedded_png(reports: Path) -> None:
    img = find(page(reports), "#trend img#mttr-chart")
    src = str(img["src"])
    assert src.startswith("data:image/png;base64,")
    assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    assert "MTTR" in str(img["alt"])


def test_last_limits_the_runs_per_scenario(reports: Path) -> None:
    soup = page(reports, last=1)
    assert [a.get_text() for a in soup.select("#runs tbody a")] == ["pp-drill", "bd-0"]
    partition = find(soup, 'tr[data-scenario="payments-partition"]')
    assert [m["data-outcome"] for m in partition.select("a.mark")] == ["passed"]
    assert [th.get_text() for th in soup.select("th.policy")] == ["steady_state", "rolls_back"]


def test_the_page_is_self_contained(reports: Path) -> None:
    soup = page(reports)
    assert soup.select("script") == []
    assert soup.select("link[rel=stylesheet]") == []
    sources = [str(t.get("src")) for t in soup.select("[src]")]
    assert all(s.startswith("data:") for s in sources)


def test_an_empty_history_still_renders(tmp_path: Path) -> None:
    soup = page(tmp_path)
    assert "No sealed run yet" in find(soup, "#attention").get_text()
    assert soup.select("#trend img") == []


def test_percentiles_interpolate_like_numpy() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 95) is None
    assert stats([1.0, None, 3.0]).missing == 1
    assert stats([1.0, None, 3.0]).median == 2.0


def test_durations_read_well() -> None:
    assert [seconds(v) for v in (None, 0.0, 1.94, 42.4, 185.0)] == [
        "\u2013",
        "0.0 s",
        "1.9 s",
        "42 s",
        "3 min 05 s",
    ]
