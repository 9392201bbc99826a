"""Messages a new user met and could not act on, each now saying what to do: a tab in YAML, a
scenario given to pytest as a path, two scenario files with one name, a Toxiproxy URL that
points at another server, a missing Toxiproxy, and options without help or with two names."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.errors import NotToxiproxyError, ScenarioError, ToxiproxyError
from harness.faults.toxiproxy import ToxiproxyClient
from harness.faults.toxiproxy_server import BINARY_ENV, find_toxiproxy_binary
from harness.prepare import check_unique_names
from harness.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
PARTITION = ROOT / "scenarios" / "payments-partition.yaml"


def pytest_in_root(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


# --- YAML with a tab ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name: x\nfaults:\n\t- {type: partition}\n", "3:1"),
        ("name: x\nsteady_state:\n  - name: a\n\t  http: {}\n", "4:1"),
    ],
)
def test_a_tab_says_indent_with_spaces_at_its_line(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "tab.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    rendered = caught.value.render()
    assert rendered.startswith(f"{path}:{where}: ")
    assert "indent with spaces" in rendered


def test_other_syntax_errors_keep_the_parser_words(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text("name: x\nfaults:\n  - {type: partition\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert "indent with spaces" not in caught.value.render()
    assert "expected ',' or '}'" in caught.value.render()


# --- one name, two files --------------------------------------------------------------------


def copies(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(exist_ok=True)
    text = PARTITION.read_text().replace("../fixtures/", f"{ROOT}/fixtures/")
    paths = []
    for name in names:
        path = folder / f"{name}.yaml"
        path.write_text(text)
        paths.append(path)
    return paths


def test_two_files_with_one_name_in_the_scenarios_dir(tmp_path: Path) -> None:
    original, copy = copies(tmp_path / "scenarios", "payments-partition", "my-partition")
    with pytest.raises(ScenarioError) as caught:
        check_unique_names([copy], tmp_path / "scenarios")  # only the copy is selected
    rendered = caught.value.render()
    assert f"{copy}:2:1: name: 'payments-partition' is also the name of {original}" in rendered
    assert f"{original}:2:1: name: 'payments-partition' is also the name of {copy}" in rendered


def test_two_files_with_one_name_selected_together(tmp_path: Path) -> None:
    first = copies(tmp_path / "a", "x")[0]
    second = copies(tmp_path / "b", "x")[0]
    check_unique_names([first], tmp_path / "elsewhere")  # alone, outside the dir: fine
    with pytest.raises(ScenarioError, match="is also the name of"):
        check_unique_names([first, second], tmp_path / "elsewhere")


def test_distinct_names_pass(tmp_path: Path) -> None:
    check_unique_names(sorted((ROOT / "scenarios").glob("*.yaml")), ROOT / "scenarios")


def test_harness_run_refuses_a_duplicate_name_with_2(tmp_path: Path) -> None:
    copies(tmp_path / "scenarios", "payments-partition", "my-partition")
    result = CliRunner().invoke(
        main, ["run", "my-partition", "--scenarios-dir", str(tmp_path / "scenarios")]
    )
    assert result.exit_code == 2, result.output
    assert "is also the name of" in result.stderr


def test_pytest_refuses_a_duplicate_name(tmp_path: Path) -> None:
    first, second = copies(tmp_path, "one", "two")
    done = pytest_in_root(f"--scenario={first}", f"--scenario={second}", "--dry-run")
    assert done.returncode == 4, done.stdout + done.stderr  # pytest's usage error
    assert "is also the name of" in done.stderr


# --- pytest scenarios/x.yaml ---------------------------------------------------------------


def test_pytest_collects_a_scenario_given_as_a_path() -> None:
    done = pytest_in_root("scenarios/payments-partition.yaml", "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout.strip().splitlines()[-1], done.stdout
    assert "plan of scenarios/payments-partition.yaml::payments-partition" in done.stdout


def test_pytest_deprecated_reports_option_still_works() -> None:
    done = pytest_in_root("--harness-reports=/tmp/x", "--scenario=payments-partition", "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "--harness-reports is deprecated, use --reports-dir" in done.stdout


# --- Toxiproxy ------------------------------------------------------------------------------


class _Html(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!DOCTYPE HTML><html>not found</html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_web_server_is_not_a_toxiproxy_server(web_server: str) -> None:
    with ToxiproxyClient(web_server) as client, pytest.raises(NotToxiproxyError) as caught:
        client.version()
    assert caught.value.what == "this is not a Toxiproxy server"
    assert caught.value.actual.startswith("HTTP 404, text/html, ")
    assert "DOCTYPE" not in caught.value.render()


def test_no_toxiproxy_names_the_pip_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BINARY_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr("harness.faults.toxiproxy_server.companion_binary", lambda: None)
    with pytest.raises(ToxiproxyError) as caught:
        find_toxiproxy_binary()
    assert "pip install 'chaos-policy-harness[toxiproxy]'" in caught.value.hint


def test_the_companion_comes_before_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for folder in ("companion", "path"):
        (tmp_path / folder).mkdir()
        binary = tmp_path / folder / "toxiproxy-server"
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
    monkeypatch.delenv(BINARY_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    companion = tmp_path / "companion" / "toxiproxy-server"
    monkeypatch.setattr("harness.faults.toxiproxy_server.companion_binary", lambda: companion)
    assert find_toxiproxy_binary() == companion
    assert find_toxiproxy_binary(str(tmp_path / "path" / "toxiproxy-server")).parent.name == "path"


# --- options: help, and one name for one thing ------------------------------------------------


def test_run_options_have_help() -> None:
    text = CliRunner().invoke(main, ["run", "--help"], terminal_width=200).output
    for option in ("--scenarios-dir", "--reports-dir", "--toxiproxy-bin", "--toxiproxy-image"):
        (line,) = [x for x in text.splitlines() if x.strip().startswith(option)]
        assert len(line.split()) > 2, line  # the option, its metavar or default, and words
    assert "--json" in text


def test_pytest_and_the_cli_name_the_directories_alike() -> None:
    done = pytest_in_root("--help")
    assert "--reports-dir=DIR" in done.stdout
    assert "--scenarios-dir=DIR" in done.stdout
    assert "--toxiproxy-image=IMAGE" in done.stdout
