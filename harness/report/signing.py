"""Signed bundles: an Ed25519 signature over ``manifest.json``, by a key kept outside the reports.

The hashes of ``manifest.json`` show a change to any file, but whoever can edit the files can
rewrite the manifest too. ``manifest.sig`` closes that: it holds the signer's public key and
its signature of the manifest's exact bytes, made with a private key that never lives in the
reports directory: ``HARNESS_SIGNING_KEY`` (base64 of the 32-byte private key, e.g. a CI
secret), else ``$XDG_CONFIG_HOME/chaos-policy-harness/signing.key`` (``~/.config`` by default),
created on first use, readable by its owner only.

A signature proves something only with a key one trusts: this machine's own key, the keys the
history has already recorded (a bundle is indexed only when its key is trusted), and
``HARNESS_TRUSTED_KEYS`` (public keys, comma-separated, e.g. the CI's for a laptop that reads
its artifacts). A bundle sealed without a key (an older harness, no writable home) is unsigned;
the history remembers which bundles were signed, so removing a signature shows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, ConfigDict, ValidationError

from harness.errors import ConfigError

log = logging.getLogger(__name__)

SIGNATURE = "manifest.sig"
KEY_ENV = "HARNESS_SIGNING_KEY"
TRUSTED_ENV = "HARNESS_TRUSTED_KEYS"
APP = "chaos-policy-harness"


class Signature(BaseModel):
    """``manifest.sig``: who signed the manifest (public key) and the signature, both base64."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    algorithm: Literal["ed25519"] = "ed25519"
    public_key: str
    signature: str


def key_path() -> Path:
    """Where this machine's signing key lives when ``HARNESS_SIGNING_KEY`` is not set."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / APP / "signing.key"


def _private(text: str, where: str) -> Ed25519PrivateKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        if len(raw) != 32:
            raise ValueError(f"{len(raw)} bytes")
        return Ed25519PrivateKey.from_private_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(
            what="the bundle signing key is not an Ed25519 private key",
            where=where,
            expected="base64 of 32 bytes",
            actual=str(exc),
            hint='make one with `python -c "import base64,os; print(base64.b64encode('
            "os.urandom(32)).decode())\"`, or unset it to use this machine's key",
        ) from None


def signing_key(*, create: bool = True) -> Ed25519PrivateKey | None:
    """The key bundles are signed with; None if there is none (and ``create`` is off or fails).

    A malformed ``HARNESS_SIGNING_KEY`` or key file is a ConfigError: bad input is never
    silently replaced by another key.
    """
    if text := os.environ.get(KEY_ENV):
        return _private(text, KEY_ENV)
    path = key_path()
    try:
        return _private(path.read_text(encoding="ascii"), str(path))
    except FileNotFoundError:
        if not create:
            return None
    except OSError as exc:
        log.warning("cannot read the signing key %s (%s): bundles are not signed", path, exc)
        return None
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes_raw()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(base64.b64encode(raw).decode() + "\n")
    except FileExistsError:  # another run made it first: use that one
        return signing_key(create=False)
    except OSError as exc:
        log.warning("cannot create the signing key %s (%s): bundles are not signed", path, exc)
        return None
    log.warning("created the bundle signing key %s; its public key: %s", path, public_key(key))
    return key


def public_key(key: Ed25519PrivateKey) -> str:
    """The public half of ``key``, base64 (what the history and HARNESS_TRUSTED_KEYS hold)."""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def fingerprint(public: str) -> str:
    """A short name of a public key for people: the first 16 hex digits of its sha256."""
    return hashlib.sha256(public.encode()).hexdigest()[:16]


def trusted_keys() -> set[str]:
    """The public keys trusted here: this machine's (if it has one) and HARNESS_TRUSTED_KEYS'."""
    found = {k.strip() for k in os.environ.get(TRUSTED_ENV, "").split(",") if k.strip()}
    own = signing_key(create=False)
    if own is not None:
        found.add(public_key(own))
    return found


def sign(manifest: bytes, key: Ed25519PrivateKey) -> Signature:
    """The signature of a manifest's exact bytes."""
    signed = base64.b64encode(key.sign(manifest)).decode()
    return Signature(public_key=public_key(key), signature=signed)


def read_signature(run_dir: Path) -> Signature | None:
    """The bundle's signature; None if unsigned; ValueError if it is not a signature."""
    try:
        return Signature.model_validate_json((run_dir / SIGNATURE).read_bytes())
    except FileNotFoundError:
        return None
    except ValidationError as exc:
        raise ValueError(f"not a signature ({str(exc).splitlines()[0]})") from None


def signature_problem(manifest: bytes, signature: Signature, trusted: set[str]) -> str | None:
    """What is wrong with a signature of ``manifest`` (None: valid, by a trusted key)."""
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(signature.public_key))
        public.verify(base64.b64decode(signature.signature), manifest)
    except (binascii.Error, ValueError, InvalidSignature):
        return "the signature does not match manifest.json: it was changed after signing"
    if signature.public_key not in trusted:
        return (
            f"signed by key {fingerprint(signature.public_key)}, which is not trusted here "
            f"(neither this machine's key, nor the history's, nor in {TRUSTED_ENV})"
        )
    return None
