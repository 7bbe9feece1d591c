"""The Ed25519 key that signs timeline checkpoints and evidence bundles, and checks on its public half.

The private key is made when the scheduler first starts (or on first use) in
``data_dir/evidence-key.pem`` (mode 0600), unless ``evidence_key_file`` names one; it never
leaves that file (never logged, printed or exported). Auditors get the public key
(``orchestrator evidence key``) and its fingerprint.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from orchestrator import redaction
from orchestrator.config import Settings
from orchestrator.errors import ConfigError, ValidationFailed
from orchestrator.timeline.checkpoints import Checkpoint

__all__ = ["EvidenceKey", "PublicKey", "default_key_path", "load_or_create"]

_DEFAULT_NAME = "evidence-key.pem"


class PublicKey:
    """An Ed25519 public key: verifies signatures; its fingerprint is what auditors compare."""

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key

    @classmethod
    def from_pem(cls, pem: bytes, *, source: str) -> PublicKey:
        """Parse a PEM public key; ``source`` (a file name) is named when it is not one."""
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError:
            raise ValidationFailed(f"{source}: not a PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValidationFailed(f"{source}: not an Ed25519 public key")
        return cls(key)

    @property
    def fingerprint(self) -> str:
        raw = self._key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return "sha256:" + hashlib.sha256(raw).hexdigest()

    def pem(self) -> str:
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def verifies(self, signature: str, message: bytes) -> bool:
        """True when ``signature`` (base64) is this key's signature over ``message``."""
        try:
            self._key.verify(base64.b64decode(signature, validate=True), message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def signed(self, checkpoint: Checkpoint) -> bool:
        """True when this key signed ``checkpoint`` (a forged or foreign one proves nothing)."""
        return checkpoint.key_fingerprint == self.fingerprint and self.verifies(
            checkpoint.signature, checkpoint.message()
        )


class EvidenceKey:
    """The private key: signs; its ``public`` half is handed to auditors."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public = PublicKey(key.public_key())

    @property
    def fingerprint(self) -> str:
        return self.public.fingerprint

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._key.sign(message)).decode("ascii")


def default_key_path(settings: Settings) -> Path:
    return settings.data_dir / _DEFAULT_NAME


def load_or_create(settings: Settings) -> EvidenceKey:
    """The configured key file (which must exist), else the data folder's, made on first use."""
    configured = settings.evidence_key_file
    path = configured or default_key_path(settings)
    if configured is None and not path.exists():
        _create(path)
    try:
        pem = path.read_bytes()
    except OSError as exc:
        # The configured path is kept out of the message: it may name where secrets are mounted.
        where = "evidence_key_file (ORCH_EVIDENCE_KEY_FILE)" if configured else str(path)
        raise ConfigError(f"{where}: cannot read the evidence key: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        where = "evidence_key_file (ORCH_EVIDENCE_KEY_FILE)" if configured else str(path)
        raise ConfigError(f"{where}: not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError("evidence key: must be an Ed25519 private key")
    for line in pem.decode("ascii", "replace").splitlines():
        if not line.startswith("-----"):
            redaction.register_secret(line.strip())
    return EvidenceKey(key)


def _create(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    try:
        os.link(draft, path)  # whole or absent: a process starting alongside reads one key
    except FileExistsError:  # another process made it first: use theirs
        pass
    finally:
        draft.unlink()
