"""Operator and intake tokens for a machine with none configured: made once, kept 0600.

A newcomer running ``orchestrator up`` should not have to invent tokens first, and
must never get an open API. When ``ORCH_INTAKE_TOKEN`` or ``ORCH_API_TOKEN`` is unset,
a random one is written to ``data_dir/credentials.json`` and used by the server and
by the CLI on the same machine.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from orchestrator import redaction
from orchestrator.config import Settings

__all__ = ["credentials_path", "where_tokens_are", "with_tokens"]

_GENERATED = ("intake_token", "api_token")


def credentials_path(settings: Settings) -> Path:
    return settings.data_dir / "credentials.json"


def where_tokens_are(configured: Settings) -> str:
    """Where an operator finds the tokens, given the settings as configured (before
    ``with_tokens``): the file only for those it holds."""
    generated = [name for name in _GENERATED if getattr(configured, name) is None]
    if not generated:
        return "tokens as configured"
    return f"{' and '.join(generated)} in {credentials_path(configured)}"


def with_tokens(settings: Settings, *, create: bool = True) -> Settings:
    """Settings whose intake and API tokens are set, from the config or the local file."""
    if settings.intake_token and settings.api_token:
        return settings
    path = credentials_path(settings)
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    for name in _GENERATED:
        if name not in stored:
            stored[name] = secrets.token_urlsafe(32)
            changed = True
    if changed and create:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(stored, handle)
    for value in stored.values():
        redaction.register_secret(value)
    return settings.model_copy(
        update={
            "intake_token": settings.intake_token or SecretStr(stored["intake_token"]),
            "api_token": settings.api_token or SecretStr(stored["api_token"]),
        }
    )
