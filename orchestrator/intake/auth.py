"""Intake authentication, as each tool can do it: pure checks on raw bytes, headers and query.

``verify(auth, raw=..., headers=..., query=..., now=..., replay=...)`` accepts or raises
``AuthenticationFailed`` with one message that never says which part failed. Kinds:
``bearer`` and ``intake_token`` (``Authorization: Bearer``), ``basic``, ``query_token``
(``?token=``, for Splunk, which cannot send headers), ``hmac_timestamped`` (Grafana 12+: hex
HMAC-SHA256 of ``"<unix seconds>:<raw body>"``, with a replay window) and ``hmac_body``
(PagerDuty: ``v1=<hex>`` signatures over the raw body, comma-separated during a rotation).
The signed kinds are checked by ``inbound/signatures.verify_signed``, as every signed
webhook is: replay memory keyed by the digest of exactly what the signature covers, never by a
part the sender may change unsigned (PagerDuty's ``X-Webhook-Id``). Every comparison is
constant time; several secrets may be valid at once so a secret can be rotated without
downtime.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from orchestrator.errors import AuthenticationFailed
from orchestrator.inbound.replay import ReplayGuard
from orchestrator.inbound.signatures import Delivery, verify_signed
from orchestrator.redaction import REDACTED, redact_text, register_secret

__all__ = [
    "AuthKind",
    "SourceAuth",
    "Verified",
    "strip_secret_params",
    "verify",
]

AuthKind = Literal["bearer", "basic", "query_token", "hmac_timestamped", "hmac_body", "intake_token"]

_FAILED: Final = "authentication failed"
_DEFAULT_WINDOWS: Final = {"hmac_timestamped": 300.0, "hmac_body": 86_400.0}
_MAX_HEADER: Final = 8192


class SourceAuth(BaseModel):
    """How one source proves itself. Secrets are ``SecretStr`` and registered for redaction.

    ``secrets`` are accepted as well as ``secret`` (rotation). Header names are compared
    case-insensitively. ``window_seconds`` is the replay window: the allowed clock skew of a
    timestamped signature, or how long a signed body is remembered (defaults: 300 s and 24 h).
    An empty ``timestamp_header`` means Grafana signs the body alone (no timestamp); the
    signature itself is then remembered for the window.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: AuthKind
    secret: SecretStr | None = None
    secrets: tuple[SecretStr, ...] = ()
    username: str | None = None
    header: str | None = None
    timestamp_header: str = "X-Grafana-Alerting-Signature-Timestamp"
    id_header: str = "X-Webhook-Id"
    signature_prefix: str = "v1="
    query_param: str = "token"
    window_seconds: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> SourceAuth:
        if not self.all_secrets():
            raise ValueError(f"auth kind {self.kind} needs a secret")
        if self.kind == "basic" and not self.username:
            raise ValueError("auth kind basic needs a username")
        for value in self.all_secrets():
            register_secret(value)
        return self

    def all_secrets(self) -> list[str]:
        """Every accepted secret value, non-empty."""
        values = [self.secret, *self.secrets]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]

    @property
    def signature_header(self) -> str:
        default = "X-PagerDuty-Signature" if self.kind == "hmac_body" else "X-Grafana-Alerting-Signature"
        return self.header or default

    @property
    def window(self) -> float:
        return self.window_seconds or _DEFAULT_WINDOWS.get(self.kind, 300.0)


@dataclass(frozen=True)
class Verified:
    """A passed check; ``replay_key`` is what the guard now remembers (give it back to
    ``ReplayGuard.forget`` if the delivery could not be made durable)."""

    kind: AuthKind
    replay_key: str | None = None


def verify(
    auth: SourceAuth,
    *,
    raw: bytes,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    now: datetime,
    replay: ReplayGuard,
) -> Verified:
    """Accept the request or raise ``AuthenticationFailed`` (same message whatever failed)."""
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    secrets = [s.encode("utf-8") for s in auth.all_secrets()]
    if auth.kind in ("bearer", "intake_token"):
        _require(_any_equal(_scheme_value(lower, "bearer"), secrets))
        return Verified(auth.kind)
    if auth.kind == "basic":
        _require(_basic_ok(lower, (auth.username or "").encode("utf-8"), secrets))
        return Verified(auth.kind)
    if auth.kind == "query_token":
        _require(_any_equal(_bounded(query.get(auth.query_param)), secrets))
        return Verified(auth.kind)
    if auth.kind == "hmac_timestamped":
        return _verify_timestamped(auth, raw, lower, now, replay, secrets)
    return _verify_body(auth, raw, lower, now, replay, secrets)


def _verify_timestamped(
    auth: SourceAuth,
    raw: bytes,
    headers: Mapping[str, str],
    now: datetime,
    replay: ReplayGuard,
    secrets: list[bytes],
) -> Verified:
    signature = _bounded(headers.get(auth.signature_header.lower())) or ""
    stamp, signed = None, raw
    if auth.timestamp_header:
        stamp = _bounded(headers.get(auth.timestamp_header.lower())) or ""
        signed = stamp.encode("ascii", "replace") + b":" + raw
    delivery = Delivery(signed, [signature], stamp)
    key = verify_signed(
        "hmac_timestamped", delivery, secrets=secrets, now=now.timestamp(), window=auth.window,
        remember_for=auth.window * 2, replay=replay, failure=_FAILED,
    )  # fmt: skip
    return Verified(auth.kind, key)


def _verify_body(
    auth: SourceAuth,
    raw: bytes,
    headers: Mapping[str, str],
    now: datetime,
    replay: ReplayGuard,
    secrets: list[bytes],
) -> Verified:
    header = _bounded(headers.get(auth.signature_header.lower())) or ""
    prefix = auth.signature_prefix.lower()
    parts = [part.strip() for part in header.split(",")[:10]]
    offered = [part[len(prefix) :] for part in parts if part.lower().startswith(prefix)]
    delivery_id = _bounded(headers.get(auth.id_header.lower()))
    _require(bool(delivery_id) and len(delivery_id or "") <= 200)
    # The id is not signed: a resend may carry any id, so the replay key is the body's digest.
    key = verify_signed(
        "hmac_body", Delivery(raw, offered), secrets=secrets, now=now.timestamp(), window=auth.window,
        remember_for=auth.window, replay=replay, failure=_FAILED,
    )  # fmt: skip
    return Verified(auth.kind, key)


def _require(condition: bool) -> None:
    if not condition:
        raise AuthenticationFailed(_FAILED)


def _bounded(value: str | None) -> str | None:
    return value if value is not None and len(value) <= _MAX_HEADER else None


def _scheme_value(headers: Mapping[str, str], scheme: str) -> str | None:
    value = _bounded(headers.get("authorization"))
    if not value:
        return None
    given, _, credentials = value.strip().partition(" ")
    return credentials.strip() if given.lower() == scheme else None


def _any_equal(given: str | None, secrets: Iterable[bytes]) -> bool:
    """Constant-time comparison of ``given`` against every secret (no early exit)."""
    data = (given or "").encode("utf-8", "replace")
    result = False
    for secret in secrets:
        result |= hmac.compare_digest(data, secret)
    return result and given is not None


def _basic_ok(headers: Mapping[str, str], username: bytes, secrets: list[bytes]) -> bool:
    encoded = _scheme_value(headers, "basic")
    try:
        decoded = base64.b64decode((encoded or "").encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        decoded = b""
    user, sep, password = decoded.partition(b":")
    user_ok = hmac.compare_digest(user, username)
    password_ok = False
    for secret in secrets:
        password_ok |= hmac.compare_digest(password, secret)
    return bool(sep) and user_ok and password_ok and encoded is not None


def strip_secret_params(url: str, names: Iterable[str] = ("token",)) -> str:
    """``url`` with the named query parameters (and anything secret-shaped) masked, fit to
    store or log: ``/v1/events/splunk?token=abc&x=1`` -> ``/v1/events/splunk?x=1``."""
    drop = {n.lower() for n in names}
    try:
        parts = urlsplit(url)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return REDACTED
    kept = [(k, v) for k, v in pairs if k.lower() not in drop]
    cleaned = urlunsplit(parts._replace(query=urlencode(kept)))
    return redact_text(cleaned)
