"""Allure end to end: `pytest --scenario ... --alluredir` results, and the HTML report of them.

Two real runs of payments-partition write into one results directory: the reference system
(passes) and `DEFECT=no-pause` (fails). The report is built with the npm `allure` 3 command line
and read back from the data its single HTML file embeds.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from e2e_support import ROOT, SCALE, SCENARIO, run_pytest

from harness.faults.toxiproxy import ToxiproxyClient

ALLURE_PREFIX = ROOT / "build" / "node"
SECRET = "tok-do-not-leak-1234"


@pytest.fixture(scope="module")
def results(toxiproxy: ToxiproxyClient, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One results directory holding a passing and a failing run of payments-partition."""
    base = tmp_path_factory.mktemp("allure")
    results = base / "allure-results"
    runs = {  # the last run's session writes environment.properties: the one with a secret
        "no-pause": ("--sut-env", "DEFECT=no-pause"),
        "reference": ("--sut-env", f"API_TOKEN={SECRET}"),
    }
    for name, extra in runs.items():
        done = run_pytest(
            "--scenario",
            str(SCENARIO),
            "--time-scale",
            SCALE,
            "--toxiproxy",
            toxiproxy.url,
            f"--alluredir={results}",
            *extra,
            reports=base / name,
        )
        assert done.returncode == (0 if name == "reference" else 1), done.stdout + done.stderr
    return results


def result_files(results: Path) -> dict[str, dict[str, Any]]:
    """allure-pytest's results, by the run's SUT env ('' for none)."""
    found = {}
    for path in results.glob("*-result.json"):
        doc = json.loads(path.read_text())
        params = {p["name"]: p["value"] for p in doc["parameters"]}
        found[params.get("SUT env", "")] = doc
    return found


@pytest.mark.integration
def test_results_carry_labels_steps_evidence_and_outcomes(results: Path) -> None:
    by_env = result_files(results)
    assert set(by_env) == {"API_TOKEN=***", "DEFECT=no-pause"}
    passed, failed = by_env["API_TOKEN=***"], by_env["DEFECT=no-pause"]
    assert passed["status"] == "passed"
    assert "statusDetails" not in passed
    assert failed["status"] == "failed"
    message = failed["statusDetails"]["message"]
    assert message.startswith("pauses: no workflow.pause within 30s")
    assert "Traceback" not in message
    assert "trace" not in failed["statusDetails"]
    for doc in (passed, failed):
        labels = {(x["name"], x["value"]) for x in doc["labels"]}
        assert {
            ("epic", "Operations automation promises"),
            ("feature", "network"),
            ("story", "pauses"),
            ("story", "no_data_lost"),
            ("severity", "critical"),
            ("tag", "target=process"),
            ("tag", f"time-scale={SCALE}"),
        } <= labels
        phases = [s["name"].split(":")[0] for s in doc["steps"]]
        assert phases == ["setup", "steady state", "inject", "heal", "drain", "verify", "teardown"]
        assert all(s["start"] <= s["stop"] for s in doc["steps"])
        assert doc["start"] <= doc["steps"][0]["start"] <= doc["steps"][-1]["stop"] <= doc["stop"]
        names = {a["name"]: a["source"] for a in doc["attachments"]}
        assert {"timeline.json", "verdicts.json", "events.json", "timeline.png"} <= set(names)
        assert (results / names["timeline.png"]).read_bytes().startswith(b"\x89PNG")
        excluded = {p["name"] for p in doc["parameters"] if p.get("excluded")}
        assert excluded == {"time scale", "run id"}
    assert ("tag", "DEFECT=no-pause") in {(x["name"], x["value"]) for x in failed["labels"]}
    verify = next(s for s in failed["steps"] if s["name"].startswith("verify"))
    assert verify["status"] == "failed"
    assert ("pauses: failed", "failed") in {(s["name"], s["status"]) for s in verify["steps"]}
    assert passed["testCaseId"] == failed["testCaseId"]  # one scenario, two configurations
    assert passed["historyId"] != failed["historyId"]
    for path in results.iterdir():
        assert SECRET.encode() not in path.read_bytes(), path.name


@pytest.mark.integration
def test_environment_and_categories_are_written_once(results: Path) -> None:
    properties = (results / "environment.properties").read_text()
    assert re.search(r"^toxiproxy\.version=2\.\d+\.\d+ \(server at http", properties, re.M)
    assert f"time.scale={SCALE}\n" in properties
    assert "target=process\n" in properties
    assert "sut.env=API_TOKEN=***\n" in properties
    assert SECRET not in properties
    names = [c["name"] for c in json.loads((results / "categories.json").read_text())]
    assert names[0] == "Policy violations"
    assert "System under test unavailable" in names


def test_a_harness_error_is_broken_with_its_kind_and_no_traceback(tmp_path: Path) -> None:
    results = tmp_path / "allure-results"
    done = run_pytest(
        "--scenario",
        str(SCENARIO),
        "--time-scale",
        SCALE,
        "--toxiproxy-bin=/nonexistent/toxiproxy-server",
        f"--alluredir={results}",
        reports=tmp_path / "reports",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    (doc,) = result_files(results).values()
    assert doc["status"] == "broken"
    message = doc["statusDetails"]["message"]
    assert message.startswith("ToxiproxyError: ")
    assert "Toxiproxy server not found" in message
    assert "Traceback" not in json.dumps(doc)
    assert ("story", "pauses") in {(x["name"], x["value"]) for x in doc["labels"]}
    properties = (results / "environment.properties").read_text()
    assert "toxiproxy.version=unknown (ToxiproxyError: " in properties


# --- the HTML report (npm allure 3) ----------------------------------------------------------


def allure_version() -> str:
    """The Allure command line's version, as pinned once, in the Makefile (ALLURE_VERSION)."""
    pin = re.search(r"^ALLURE_VERSION\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert pin is not None, "the Makefile pins no ALLURE_VERSION"
    return pin.group(1)


def test_the_allure_pin_is_one_exact_version() -> None:
    assert re.fullmatch(r"3\.\d+\.\d+", allure_version())


def unavailable(why: str) -> None:
    if os.environ.get("CI"):  # CI must build the report: a skip there would hide a regression
        pytest.fail(f"{why}; CI installs it with `make allure-cli`")
    pytest.skip(why)


@pytest.fixture(scope="module")
def allure_cli() -> Path:
    """The npm `allure` 3 command line: $HARNESS_ALLURE, or build/node (installed if missing)."""
    explicit = os.environ.get("HARNESS_ALLURE")
    cli = Path(explicit) if explicit else ALLURE_PREFIX / "node_modules" / ".bin" / "allure"
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("the Allure 3 report needs Node.js 20 and npm")
    assert node is not None
    assert npm is not None
    major = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    if int(major.stdout.strip().lstrip("v").split(".")[0]) < 20:
        unavailable(f"the Allure 3 report needs Node.js 20, found {major.stdout.strip()}")
    if not cli.exists() and not explicit:
        install = [npm, "install", "--prefix", str(ALLURE_PREFIX), "--no-audit", "--no-fund"]
        subprocess.run(
            [*install, f"allure@{allure_version()}"], capture_output=True, timeout=600, check=True
        )
    if not cli.exists():
        unavailable(f"no allure command line at {cli}")
    return cli


def generate(cli: Path, results: Path, cwd: Path) -> dict[str, Any]:
    """Build the report with the project's allurerc.json; return the data its HTML embeds."""
    done = subprocess.run(
        [str(cli), "generate", "--config", str(ROOT / "allurerc.json"), str(results)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    html = (cwd / "reports" / "allure-report" / "index.html").read_text()
    embedded = re.findall(r'd\("([^"]+)","([A-Za-z0-9+/=]*)"\)', html)
    assert embedded, "no embedded report data: is the report still a single file?"
    return {name: base64.b64decode(value) for name, value in embedded}


@pytest.mark.integration
def test_html_report_shows_both_runs_and_carries_history(
    allure_cli: Path, results: Path, tmp_path: Path
) -> None:
    data = generate(allure_cli, results, tmp_path)
    tests = [
        json.loads(body) for name, body in data.items() if name.startswith("data/test-results/")
    ]
    by_status = {t["status"]: t for t in tests}
    assert sorted(by_status) == ["failed", "passed"]
    assert {t["name"] for t in tests} == {"payments-partition"}
    failed = by_status["failed"]
    assert failed["error"]["message"].startswith("pauses: no workflow.pause")
    assert [c["name"] for c in failed["categories"]] == ["Policy violations"]
    assert any(s["name"].startswith("verify") for s in failed["steps"])
    assert any(name.startswith("data/attachments/") for name in data)
    environment = json.loads(data["widgets/allure_environment.json"])
    assert "toxiproxy.version" in {e["name"] for e in environment}
    history = tmp_path / "reports" / "allure-history.jsonl"
    assert len(history.read_text().splitlines()) == 1

    again = generate(allure_cli, results, tmp_path)  # the next week's report, same history file
    assert len(history.read_text().splitlines()) == 2
    for name, body in again.items():
        if name.startswith("data/test-results/"):
            test = json.loads(body)
            assert [h["status"] for h in test["history"]] == [test["status"]], test["name"]
