"""The evidence bundle: a finished run directory, sealed so that later changes show.

Sealing adds ``environment.json`` (what ran where: harness, Toxiproxy and Python versions, the
platform, target, time scale and run options, with anything that looks like a secret left out)
and then ``manifest.json`` (the sha256 and size of every other file, sorted by path, and when the
manifest was made). A bundle is sealed once; ``verify_bundle`` lists every file that went
missing, changed, or was added since.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

import harness
from harness.errors import HarnessError
from harness.secrets import is_secret

ENVIRONMENT, MANIFEST, SIGNATURE = "environment.json", "manifest.json", "manifest.sig"
FORMAT = 1
MAX_FILES = 10_000
"""A bundle holds a run's few result files and logs; more than this is not a run directory."""

"""A key that contains one of these (in any case) is a secret: its value is never recorded."""


class BundleError(HarnessError):
    """A bundle could not be sealed, or is not a bundle."""


class Environment(BaseModel):
    """``environment.json``: what a run ran with, for reproducing it. Never holds secrets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int = FORMAT
    run_id: str
    scenario: str
    mode: str = Field(description="'automated'; drills add 'manual' and 'no-automation'")
    target: str
    time_scale: float
    harness_version: str
    toxiproxy_version: str | None = Field(description="None: an external server, not known")
    python: str
    platform: str
    options: dict[str, JsonValue] = Field(description="the run options, secrets left out")
    redacted: list[str] = Field(description="keys whose values were left out as secrets")


class ManifestFile(BaseModel):
    """One file of a bundle: its path inside the bundle, sha256 and size in bytes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    sha256: str
    size: int


class Manifest(BaseModel):
    """``manifest.json``: every file of the bundle but itself, sorted by path."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int = FORMAT
    created_at: datetime
    algorithm: str = "sha256"
    files: list[ManifestFile]


@dataclass(frozen=True)
class BundleProblem:
    """One thing wrong with a sealed bundle: which file, and what."""

    bundle: Path
    file: str
    what: str

    def render(self) -> str:
        """``reports/runs/<id>/timeline.json: changed (...)``."""
        return f"{self.bundle / self.file}: {self.what}"


def redact(options: Mapping[str, object]) -> tuple[dict[str, JsonValue], list[str]]:
    """Options as JSON, without values under secret-looking keys (returned, dotted) or in URLs."""
    dropped: list[str] = []
    return _redact(options, "", dropped), sorted(dropped)


def _redact(mapping: Mapping[str, object], prefix: str, dropped: list[str]) -> dict[str, JsonValue]:
    kept: dict[str, JsonValue] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if is_secret(str(key)):
            dropped.append(name)
        elif isinstance(value, Mapping):
            kept[str(key)] = _redact(value, f"{name}.", dropped)
        else:
            kept[str(key)] = _json_scalar(value)
    return kept


def _json_scalar(value: object) -> JsonValue:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_json_scalar(v) for v in value]
    return _without_userinfo(str(value))


def _without_userinfo(text: str) -> str:
    """A URL's user and password replaced by ``***`` (other text unchanged)."""
    if "://" not in text or "@" not in text:
        return text
    try:
        parts = urlsplit(text)
    except ValueError:
        return re.sub(r"//[^/@\s]*@", "//***@", text)
    if parts.username is None and parts.password is None:
        return text
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def toxiproxy_version(run_dir: Path) -> str | None:
    """The version the run's private Toxiproxy server logged as it started, or None."""
    log = run_dir / "logs" / "toxiproxy.log"
    try:
        with log.open("rb") as f:
            first = f.readline(4096)
        line = json.loads(first)
    except (OSError, ValueError):
        return None
    version = line.get("version") if isinstance(line, dict) else None
    return version if isinstance(version, str) else None


def environment(
    run_dir: Path,
    *,
    run_id: str,
    scenario: str,
    target: str,
    time_scale: float,
    options: Mapping[str, object],
    mode: str = "automated",
) -> Environment:
    """What the run in ``run_dir`` ran with; secret-looking options are left out."""
    kept, dropped = redact(options)
    return Environment(
        run_id=run_id,
        scenario=scenario,
        mode=mode,
        target=target,
        time_scale=time_scale,
        harness_version=harness.__version__,
        toxiproxy_version=toxiproxy_version(run_dir),
        python=platform.python_version(),
        platform=platform.platform(),
        options=kept,
        redacted=dropped,
    )


def seal_bundle(run_dir: Path, env: Environment, *, now: datetime | None = None) -> Manifest:
    """Write ``environment.json``, then ``manifest.json`` over every file; once only.

    With a key (see ``signing.py``), ``manifest.sig`` then signs the manifest.
    """
    if (run_dir / MANIFEST).exists():
        raise BundleError(
            what="the bundle is already sealed; a bundle is written once",
            where=str(run_dir / MANIFEST),
            hint="check it with `harness report --verify`; a new run makes a new bundle",
        )
    if (run_dir / ENVIRONMENT).exists():
        raise BundleError(
            what="environment.json but no manifest.json: an earlier sealing stopped half-way",
            where=str(run_dir / ENVIRONMENT),
            hint="remove environment.json to seal the bundle again",
        )
    if not run_dir.is_dir():
        raise BundleError(what="no such run directory", where=str(run_dir))
    _regular_files(run_dir)  # refuses links and odd files before anything is written
    _write_once(run_dir / ENVIRONMENT, env.model_dump_json(indent=1))
    manifest = Manifest(
        created_at=(now or datetime.now(UTC)).astimezone(UTC),
        files=[_describe(run_dir, rel) for rel in _regular_files(run_dir)],
    )
    text = manifest.model_dump_json(indent=1)
    from harness.report import signing  # cryptography: only once a run is sealed

    key = signing.signing_key()
    _write_once(run_dir / MANIFEST, text)
    if key is not None:
        signature = signing.sign(text.encode("utf-8"), key)
        _write_once(run_dir / signing.SIGNATURE, signature.model_dump_json(indent=1))
    return manifest


def _signature_problems(run_dir: Path, trusted: set[str] | None) -> list[BundleProblem]:
    from harness.report import signing

    try:
        signature = signing.read_signature(run_dir)
        manifest = (run_dir / MANIFEST).read_bytes()
    except (OSError, ValueError) as exc:
        return [BundleProblem(run_dir, SIGNATURE, f"unreadable: {exc}")]
    if signature is None:
        return []
    keys = signing.trusted_keys() if trusted is None else trusted
    problem = signing.signature_problem(manifest, signature, keys)
    return [] if problem is None else [BundleProblem(run_dir, SIGNATURE, problem)]


def _write_once(path: Path, text: str) -> None:
    """Write a file that must not exist yet, whole or not at all (a link cannot overwrite)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.link(tmp, path)
    except FileExistsError:
        raise BundleError(
            what="the bundle is already sealed; a bundle is written once", where=str(path)
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def _walk(run_dir: Path) -> dict[str, bool]:
    """Every entry under ``run_dir`` but the manifest (POSIX path -> is a regular file), bounded."""
    found: dict[str, bool] = {}
    for root, dirs, names in os.walk(run_dir):
        links = [d for d in dirs if (Path(root) / d).is_symlink()]  # os.walk does not enter them
        for name in [*names, *links]:
            path = Path(root) / name
            rel = path.relative_to(run_dir).as_posix()
            if rel not in (MANIFEST, SIGNATURE):
                found[rel] = path.is_file() and not path.is_symlink()
            if len(found) > MAX_FILES:
                raise BundleError(
                    what=f"more than {MAX_FILES} files: this is not a run directory",
                    where=str(run_dir),
                )
    return dict(sorted(found.items()))


def _regular_files(run_dir: Path) -> list[str]:
    """Every file under ``run_dir`` but the manifest, sorted; BundleError for a link."""
    found = _walk(run_dir)
    odd = [rel for rel, regular in found.items() if not regular]
    if odd:
        raise BundleError(
            what="a bundle holds regular files only",
            where=str(run_dir / odd[0]),
            actual="a symbolic link or special file",
        )
    return list(found)


def _describe(run_dir: Path, rel: str) -> ManifestFile:
    path = run_dir / rel
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return ManifestFile(path=rel, sha256=digest, size=path.stat().st_size)


def read_manifest(run_dir: Path) -> Manifest:
    """The bundle's manifest; BundleError if it is missing or not a manifest."""
    path = run_dir / MANIFEST
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise BundleError(what="not sealed: no manifest.json", where=str(run_dir)) from None
    except (OSError, ValidationError) as exc:
        raise BundleError(
            what="manifest.json is unreadable or not a manifest",
            where=str(path),
            actual=str(exc).splitlines()[0],
        ) from None


def verify_bundle(run_dir: Path, trusted: set[str] | None = None) -> list[BundleProblem]:
    """Every file missing, changed or added since the bundle was sealed (empty: intact).

    A signed bundle's signature must match its manifest and be by a ``trusted`` key (default:
    this machine's and HARNESS_TRUSTED_KEYS'); an unsigned bundle is checked by its hashes.
    """
    try:
        manifest = read_manifest(run_dir)
        present = _walk(run_dir)
    except BundleError as exc:
        return [BundleProblem(run_dir, MANIFEST, exc.what)]
    problems: list[BundleProblem] = []
    if (run_dir / SIGNATURE).exists() or (run_dir / SIGNATURE).is_symlink():
        problems += _signature_problems(run_dir, trusted)
    listed = {f.path: f for f in manifest.files}
    for rel, expected in sorted(listed.items()):
        if rel not in present:
            problems.append(BundleProblem(run_dir, rel, "missing (the manifest lists it)"))
        elif not present[rel]:
            problems.append(BundleProblem(run_dir, rel, "no longer a regular file"))
        else:
            actual = _describe(run_dir, rel)
            if actual != expected:
                what = f"changed (now {actual.size} bytes, sha256 {actual.sha256[:12]}...; "
                what += f"sealed: {expected.size} bytes, sha256 {expected.sha256[:12]}...)"
                problems.append(BundleProblem(run_dir, rel, what))
    for rel in sorted(set(present) - set(listed)):
        problems.append(BundleProblem(run_dir, rel, "extra (not in the manifest)"))
    return problems
