"""Every secret the settings hold, found in one walk: to register for redaction, and to mask.

A secret is not only a ``SecretStr`` field. It is also the password inside a URL (the SMTP,
store, broker or SQL inventory URL, a purge table's URL), a source's own credential
(``sources.<name>.auth.secret`` / ``secrets``: Splunk's query token, the Grafana and
PagerDuty HMAC secrets, Datadog's basic password), and a secret setting of the drill's own
stage (``drill.env``). ``load_settings`` registers all of them before any input is read, in
every process, so none can be written into the hash-chained timeline, where it could never be
removed; ``orchestrator config show`` prints the same walk with each of them masked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from orchestrator import redaction

if TYPE_CHECKING:
    from orchestrator.config import Settings

__all__ = ["MASK", "Scrubbed", "scrub", "scrub_url"]

MASK: Final = "********"
KeyRule = Callable[[str], bool]
"""Whether a mapping key names a secret, in the part of the settings being walked."""


@dataclass
class Scrubbed:
    """The settings as plain data with secrets masked, and the secret values found."""

    masked: dict[str, Any]
    secrets: list[str] = field(default_factory=list)


def scrub(settings: Settings, secret_fields: frozenset[str]) -> Scrubbed:
    """Walk the settings once; ``secret_fields`` names the settings that are secrets."""
    found: list[str] = []
    data = settings.model_dump(mode="python")
    masked: dict[str, Any] = {}
    for name, value in data.items():
        if name == "sources":
            masked[name] = {
                source: {**cfg, "auth": _walk(cfg.get("auth"), found, redaction.is_secret_key)}
                for source, cfg in (value or {}).items()
            }
        elif name == "drill":
            env_key = _env_key(secret_fields)
            masked[name] = {**value, "env": _walk(value.get("env"), found, env_key)}
        else:
            masked[name] = _walk(value, found, lambda _key: False)
    return Scrubbed(masked, found)


def _env_key(secret_fields: frozenset[str]) -> KeyRule:
    """``drill.env`` holds ``ORCH_*`` variables: a secret when it names a secret setting."""

    def is_secret(key: str) -> bool:
        return key.upper().startswith("ORCH_") and key[5:].lower() in secret_fields

    return is_secret


def _walk(value: Any, found: list[str], secret_key: KeyRule, *, secret: bool = False) -> Any:
    if isinstance(value, SecretStr):
        return _walk(value.get_secret_value(), found, secret_key, secret=True)
    if isinstance(value, str):
        if secret and value:
            found.append(value)
            _url_password(value, found)
            return MASK
        return _url_password(value, found)
    if isinstance(value, dict):
        return {
            key: _walk(item, found, secret_key, secret=isinstance(key, str) and secret_key(key))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_walk(item, found, secret_key, secret=secret) for item in value]
    return value


def scrub_url(url: str) -> str:
    """``url`` with its password, if any, masked."""
    return _url_password(url, [])


def _url_password(url: str, found: list[str]) -> str:
    """``url`` with its password masked (the password goes to ``found``); anything else as is."""
    if "://" not in url or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    found.append(password)
    netloc = parts.netloc.replace(f":{password}@", f":{MASK}@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
