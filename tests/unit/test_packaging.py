"""The package's metadata as a pip user meets it: README links that work on PyPI, an SPDX
license, and pins that agree with the Makefile (the one place versions are set)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.extras import MissingExtra
from harness.faults.toxiproxy_server import OFFICIAL_IMAGE
from harness.report.chart import trend_png
from harness.targets.compose import docker_client

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def makefile_pin(name: str) -> str:
    found = re.search(rf"^{name}\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert found, name
    return found.group(1)


def test_readme_links_into_the_repository_are_absolute() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    relative = [t for t in targets if not re.match(r"(https?:|#|mailto:)", t)]
    assert relative == [], "relative links break on PyPI"
    home = PROJECT["urls"]["Repository"]
    into_docs = [t for t in targets if "/docs/" in t]
    assert into_docs, "README links to docs/"
    assert all(t.startswith(f"{home}/blob/main/docs/") for t in into_docs), into_docs
    for target in into_docs:  # and the file each one names exists here
        assert (ROOT / target.removeprefix(f"{home}/blob/main/").split("#")[0]).is_file(), target


def test_license_is_an_spdx_string() -> None:
    assert PROJECT["license"] == "Apache-2.0"


def test_the_toxiproxy_extra_and_image_follow_the_makefile_pin() -> None:
    version = makefile_pin("TOXIPROXY_VERSION")
    (companion,) = PROJECT["optional-dependencies"]["toxiproxy"]
    assert companion == f"chaos-policy-harness-toxiproxy~={version}"
    assert OFFICIAL_IMAGE.endswith(f":{version}")


def test_heavy_dependencies_are_extras() -> None:
    names = [re.split(r"[<>=~\[ ]", d)[0] for d in PROJECT["dependencies"]]
    assert "docker" not in names
    assert "matplotlib" not in names
    assert "docker>=7.1" in PROJECT["optional-dependencies"]["compose"]
    assert "matplotlib>=3.8" in PROJECT["optional-dependencies"]["reports"]


def test_the_process_path_imports_neither_docker_nor_matplotlib() -> None:
    code = (
        "import sys, harness.cli, harness.plugin, harness.runner, harness.cleanup, "
        "harness.report.council, harness.report.bundle; "
        "print(sorted(m for m in ('docker', 'matplotlib') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def without(name: str, *args: Any) -> Any:
        return None if name in ("docker", "matplotlib") else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without)
    with pytest.raises(MissingExtra) as compose:
        docker_client()
    assert "pip install 'chaos-policy-harness[compose]'" in compose.value.hint
    with pytest.raises(MissingExtra) as reports:
        trend_png([])
    assert "pip install 'chaos-policy-harness[reports]'" in reports.value.hint
    assert isinstance(reports.value, ConfigError)  # harness run: exit 2
