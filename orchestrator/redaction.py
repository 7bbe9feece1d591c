"""Masks secrets wherever they appear: by key name, by shape, and by known value.

Used by the log pipeline, by intake before a raw body is stored, and by every
renderer that leaves the process (timeline, Slack, email). Three rules, because no
single one is enough: values under secret-sounding keys, token-shaped substrings
(``Bearer ...``, ``access_token=...``, TikTok ``act.``/``rft.``/``clt.`` tokens, JWTs),
and any exact value registered as a secret (the configured client secret, intake
token, signing secrets), wherever it hides.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "REDACTED",
    "is_secret_key",
    "redact",
    "redact_text",
    "register_secret",
    "registered_secrets",
]

REDACTED = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"(^|[_\-.\s])(token|secret|password|passwd|pwd|authorization|auth|api[_\-]?key|apikey|"
    r"signature|cookie|credentials?|private[_\-]?key|session[_\-]?id|x-api-key)s?($|[_\-.\s])"
    r"|^(access_token|refresh_token|client_secret|signing_secret|bearer|code)$",
    re.IGNORECASE,
)
# Keys that merely mention a secret but hold a harmless value.
_SAFE_KEYS = frozenset(
    {"token_fingerprint", "fingerprint", "token_count", "tokens", "secret_kind", "token_type"}
)

_SECRET_SYMBOLS = frozenset("0123456789._~+/=!")
_EXPLICIT_KEYS = re.compile(
    r"(?i)access_token|refresh_token|client_secret|password|passwd|api[_-]?key|apikey"
)
_PROSE_VALUE = re.compile(
    r"\d+(?:[.,]\d+)*"  # a count or a measure: 2000, 11.2
    r"|\d{1,2}:\d{2}(?::\d{2})?"  # a clock time: 14:02
    r"|\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?"  # ISO
)
_CONSONANT_RUN = re.compile(r"[bcdfghjklmnpqrstvwxz]{3,}")
_DOUBLED = re.compile(r"(.)\1")


def _looks_secret(value: str, *, min_len: int) -> bool:
    """A value shaped like a credential, not a word: digits or symbols, case changing inside it,
    or too long for a word. "Disabled the token refresher" keeps its English, and so do numbers,
    clock times and dates ("Token: 2000 revoked", "token: 14:02 UTC", "sig: 2026-12-06")."""
    core = value.rstrip(".,;:!?)-")
    return (
        len(core) >= min_len
        and not _PROSE_VALUE.fullmatch(core)
        and (
            len(core) >= 24
            or any(c in _SECRET_SYMBOLS for c in core)
            or (any(c.isupper() for c in core[1:]) and any(c.islower() for c in core))
        )
    )


def _reads_as_a_word(value: str) -> bool:
    """Plain lower-case letters a person could pronounce ("authentication", "password"): no
    doubled-letter-free run of three consonants, which letter soup such as "abcdefghijkl" has.
    A full stop or exclamation mark may end the sentence ("we enforce Bearer authentication.")."""
    value = value.rstrip(".!")
    return (
        value.isascii()
        and value.isalpha()
        and value.islower()
        and not _CONSONANT_RUN.search(_DOUBLED.sub(r"\1", value))
    )


def _scheme(match: re.Match[str]) -> str:
    """``Bearer``/``Basic`` introduce a credential unless a word follows ("Basic authentication
    disabled"); ``token`` only when what follows looks like one (people write "token revocation")."""
    scheme, value = match.group(1), match.group(2)
    if scheme.lower() == "token":
        if not _looks_secret(value, min_len=8):
            return match.group(0)
    elif _reads_as_a_word(value):
        return match.group(0)
    return f"{scheme} {REDACTED}"


def _pair(match: re.Match[str]) -> str:
    """``key=value`` is masked whatever the value; ``key: value`` in prose only when the key is
    unmistakable or the value looks like a credential ("Token status: finished" stays)."""
    key, value = match.group(1), match.group(2)
    if "=" in key or _EXPLICIT_KEYS.match(key) or _looks_secret(value, min_len=4):
        return key + REDACTED
    return match.group(0)


_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # Authorization headers and their kin.
    (re.compile(r"(?i)\b(bearer|basic|token)\s+([A-Za-z0-9._~+/=\-!]{8,})"), _scheme),
    # key=value and key: value pairs with a secret-sounding key (query strings, command lines).
    (
        re.compile(
            r"(?i)((?:access_token|refresh_token|client_secret|secret|token|password|passwd|"
            r"api[_-]?key|apikey|signature|sig)[\"']?\s*[=:]\s*[\"']?)([^\s&\"',;}]{4,})"
        ),
        _pair,
    ),
    # TikTok access, refresh and client tokens (act./rft./clt. prefixes).
    (re.compile(r"\b(?:act|rft|clt)\.[A-Za-z0-9._\-!*]{8,}"), REDACTED),
    # JSON Web Tokens.
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{4,}"), REDACTED),
    # Slack tokens and webhook secrets.
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{8,}"), REDACTED),
    # AWS access key ids.
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), REDACTED),
)

_MAY_HOLD_A_TOKEN = re.compile(
    r"bearer|basic|token|secret|passw|api[_-]?key|sig|act\.|rft\.|clt\.|eyj|xox|akia"
)
"""Found in the case-folded text wherever any of ``_PATTERNS`` could match (each needs one of
these words; folding also catches what ``re.IGNORECASE`` equates, such as the long s (U+017F) with "s"): most
text holds none, and one search costs a tenth of running every pattern (the intake redacts every
title and raw body string)."""

_lock = threading.Lock()
_known: set[str] = set()
_known_pattern: re.Pattern[str] | None = None


def register_secret(value: str | None) -> None:
    """Remember an exact secret value so it is masked wherever it appears later."""
    global _known_pattern
    if not value or len(value) < 6:
        return
    with _lock:
        if value in _known:
            return
        _known.add(value)
        ordered = sorted(_known, key=len, reverse=True)
        _known_pattern = re.compile("|".join(re.escape(v) for v in ordered))


def registered_secrets() -> frozenset[str]:
    """The exact values registered so far (for tests that plant secrets)."""
    with _lock:
        return frozenset(_known)


def is_secret_key(key: str) -> bool:
    """True when a mapping key names something secret (``client_secret``, ``X-Api-Key``...)."""
    return key.lower() not in _SAFE_KEYS and bool(_SECRET_KEY.search(key))


def redact_text(text: str) -> str:
    """Mask every token-shaped or registered secret inside free text."""
    pattern = _known_pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    if _MAY_HOLD_A_TOKEN.search(text.casefold()):
        for regex, replacement in _PATTERNS:
            text = regex.sub(replacement, text)
    return text


def redact(value: Any, *, _depth: int = 0) -> Any:
    """Return a copy of ``value`` with secrets masked, walking dicts, lists and tuples."""
    if _depth > 32:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and isinstance(item, str) and item and is_secret_key(key):
                out[key] = REDACTED
            else:
                out[key] = redact(item, _depth=_depth + 1)
        return out
    if isinstance(value, list | tuple):
        items: Iterable[Any] = (redact(v, _depth=_depth + 1) for v in value)
        return type(value)(items) if isinstance(value, tuple) else list(items)
    return value
