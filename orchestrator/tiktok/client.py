"""TikTok OAuth v2 client: revoke, refresh, client token and the user-info probe, classified.

Every method makes ONE attempt and returns a classified value instead of raising, because the
revocation fan-out must record every answer (with TikTok's ``log_id``) and decide itself
whether to retry (through :mod:`orchestrator.retry`), mark a token dead, or raise the alarm.
Answers are classified by their body, not their HTTP status. The client secret is registered
with :mod:`orchestrator.redaction` and neither it nor any token ever reaches an exception,
a ``repr``, a description or a log line; logs carry a token fingerprint instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Self

from orchestrator.logging import get_logger
from orchestrator.redaction import REDACTED, redact_text, register_secret
from orchestrator.retry import RetryPolicy, call_with_retry, parse_retry_after
from orchestrator.tiktok.errors import (
    CONNECTION_ERROR,
    OAUTH_CODES,
    TIMEOUT,
    UNEXPECTED_ANSWER,
    error_class_for_code,
    error_for,
)
from orchestrator.tiktok.http import Answer, TransportError, make_http_client, send
from orchestrator.tokens.provider import ProbeResult, RevokeOutcome, RevokeResult

__all__ = [
    "ClientToken",
    "TikTokClient",
    "TokenPair",
    "token_fingerprint",
]

_log = get_logger(__name__)

REVOKE_PATH = "/v2/oauth/revoke/"
TOKEN_PATH = "/v2/oauth/token/"
USER_INFO_PATH = "/v2/user/info/"
_MAX_DESCRIPTION = 300


@dataclass(frozen=True, slots=True)
class TokenPair:
    """A fresh user token pair from ``/v2/oauth/token/``; tokens are hidden from ``repr``."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    open_id: str
    expires_in: int
    refresh_expires_in: int
    scope: str


@dataclass(frozen=True, slots=True)
class ClientToken:
    """A client access token (``client_credentials``); hidden from ``repr``."""

    access_token: str = field(repr=False)
    expires_in: int


def token_fingerprint(token: str) -> str:
    """A short stable id for a token that is safe to log and store (SHA-256 prefix)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def json_object(response: Answer) -> dict[str, Any] | None:
    """The body as a JSON object, or ``None`` when it is not one (HTML error pages...)."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def clean_text(text: object, sent: tuple[str, ...]) -> str:
    """Vendor text made safe to keep: bounded, sent tokens and known secrets masked."""
    out = str(text)[:_MAX_DESCRIPTION] if text is not None else ""
    for value in sent:
        if value:
            out = out.replace(value, REDACTED)
    return redact_text(out)


def transport_outcome(exc: TransportError) -> RevokeOutcome:
    """A transport failure as RETRYABLE (its text never carries the URL, a token or the secret)."""
    code = TIMEOUT if exc.timeout else CONNECTION_ERROR
    return RevokeOutcome(RevokeResult.RETRYABLE, error_code=code, description=str(exc))


def _error_fields(body: dict[str, Any]) -> tuple[str | None, object, object]:
    """(code, description, log_id) from either TikTok error shape; code None means success."""
    error = body.get("error")
    if isinstance(error, dict):  # API v2: {"data": ..., "error": {"code", "message", "log_id"}}
        code = error.get("code")
        if code in (None, "", "ok"):
            return None, "", error.get("log_id")
        return str(code), error.get("message"), error.get("log_id")
    if isinstance(error, str) and error:  # OAuth: {"error", "error_description", "log_id"}
        return error, body.get("error_description"), body.get("log_id")
    return None, "", body.get("log_id")


def classify_oauth(response: Answer, body: dict[str, Any] | None, sent: tuple[str, ...]) -> RevokeOutcome:
    """Classify a TikTok OAuth/v2 answer. Success is HTTP 200 with no error in the body."""
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    header_log_id = response.headers.get("x-tt-logid")
    transient = status == 429 or status >= 500
    if body is None:
        result = RevokeResult.RETRYABLE if transient else RevokeResult.FATAL
        return RevokeOutcome(
            result,
            error_code="rate_limit_exceeded" if status == 429 else UNEXPECTED_ANSWER,
            description=f"HTTP {status} without a JSON body",
            log_id=header_log_id,
            http_status=status,
            retry_after=retry_after,
        )
    code, raw_description, raw_log_id = _error_fields(body)
    log_id: str | None = clean_text(raw_log_id, sent) if raw_log_id else header_log_id
    if code is None:
        if status == 200:
            return RevokeOutcome(RevokeResult.REVOKED, log_id=log_id, http_status=status)
        result = RevokeResult.RETRYABLE if transient else RevokeResult.FATAL
        return RevokeOutcome(
            result,
            error_code=UNEXPECTED_ANSWER,
            description=f"HTTP {status} without an error code",
            log_id=log_id,
            http_status=status,
            retry_after=retry_after,
        )
    description = clean_text(raw_description, sent)
    result = error_class_for_code(code, description).result
    if result is RevokeResult.FATAL and transient and code not in OAUTH_CODES:
        result = RevokeResult.RETRYABLE  # an unknown code on a 429/5xx is a transient failure
    return RevokeOutcome(
        result,
        error_code=clean_text(code, sent),
        description=description,
        log_id=log_id,
        http_status=status,
        retry_after=retry_after if result is RevokeResult.RETRYABLE else None,
    )


class TikTokClient:
    """TikTok OAuth v2 for one app (client key + secret). Thread-safe; share one instance.

    The client owns a connection pool (:mod:`orchestrator.tiktok.http`), closed by
    :meth:`close` or the ``with`` block.
    ``refreshed_revoke_policy`` bounds the retries of the one revoke that must not be left
    to the caller: after a refresh rotated the grant, only this call holds the new token.
    """

    def __init__(
        self,
        base_url: str,
        client_key: str,
        client_secret: str,
        *,
        timeout: float = 10.0,
        refreshed_revoke_policy: RetryPolicy | None = None,
    ) -> None:
        register_secret(client_secret)
        self._base = base_url.rstrip("/")
        self._client_key = client_key
        self._secret = client_secret
        self._http = make_http_client()
        self._timeout = timeout
        self._refreshed_policy = refreshed_revoke_policy or RetryPolicy(max_attempts=4, max_retry_after=30.0)

    def __repr__(self) -> str:
        return f"TikTokClient(base_url={self._base!r}, client_key={self._client_key!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.clear()

    def _post_form(self, path: str, form: dict[str, str]) -> Answer:
        return send(
            self._http,
            "POST",
            self._base + path,
            form=form,
            headers={"Cache-Control": "no-cache"},
            timeout=self._timeout,
        )

    def revoke(self, token: str) -> RevokeOutcome:
        """Revoke one access token: ONE attempt, classified by the body.

        REVOKED for ``200 {}``; ALREADY_DEAD only when the body says the token is invalid,
        expired or revoked; RETRYABLE for 429/5xx/timeouts/refused connections (with
        ``retry_after`` when the server sent one); FATAL when our credentials are refused.
        """
        form = {"client_key": self._client_key, "client_secret": self._secret, "token": token}
        try:
            response = self._post_form(REVOKE_PATH, form)
        except TransportError as exc:
            outcome = transport_outcome(exc)
        else:
            outcome = classify_oauth(response, json_object(response), (token, self._secret))
        if outcome.result is RevokeResult.FATAL:  # routine results are the caller's to log
            _log.warning(
                "tiktok.revoke_refused",
                error_code=outcome.error_code,
                http_status=outcome.http_status,
                log_id=outcome.log_id,
                token_fingerprint=token_fingerprint(token),
            )
        return outcome

    def refresh(self, refresh_token: str) -> TokenPair | RevokeOutcome:
        """Rotate a grant: a new pair on success (the old refresh token dies), else an outcome.

        ``invalid_grant`` gives GRANT_LOST: our copy is dead, possibly used by an attacker.
        """
        form = {
            "client_key": self._client_key,
            "client_secret": self._secret,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        }
        sent = (refresh_token, self._secret)
        try:
            response = self._post_form(TOKEN_PATH, form)
        except TransportError as exc:
            return transport_outcome(exc)
        body = json_object(response)
        pair = _token_pair(body) if response.status_code == 200 else None
        if pair is not None:
            return pair
        outcome = classify_oauth(response, body, sent)
        if outcome.result is RevokeResult.REVOKED:  # 200 without tokens: not a refresh at all
            return RevokeOutcome(
                RevokeResult.FATAL,
                error_code=UNEXPECTED_ANSWER,
                description="token answer without tokens",
                log_id=outcome.log_id,
                http_status=outcome.http_status,
            )
        _log.warning(
            "tiktok.refresh_failed",
            result=outcome.result.value,
            error_code=outcome.error_code,
            log_id=outcome.log_id,
            token_fingerprint=token_fingerprint(refresh_token),
        )
        return outcome

    def revoke_grant(self, access_token: str, refresh_token: str | None = None) -> RevokeOutcome:
        """Kill the authorisation behind a token pair, even when the access token expired.

        If revoking the access token says ALREADY_DEAD and we hold a refresh token, the grant
        may still be alive: refresh it, then revoke the NEW access token (retried here with
        backoff, because after the rotation nobody else holds it). GRANT_LOST when the
        refresh answers ``invalid_grant``; the refresh's own outcome for other failures.
        """
        first = self.revoke(access_token)
        if first.result is not RevokeResult.ALREADY_DEAD or not refresh_token:
            return first
        rotated = self.refresh(refresh_token)
        if isinstance(rotated, RevokeOutcome):
            return rotated
        outcome = call_with_retry(
            lambda: self.revoke(rotated.access_token),
            should_retry=lambda o: o.result is RevokeResult.RETRYABLE,
            retry_after=lambda o: o.retry_after,
            policy=self._refreshed_policy,
        )
        # Say what happened: a timeline reader must know the grant was rotated by us first.
        note = "access token had expired; refreshed the grant, then revoked the new token"
        if outcome.result is not RevokeResult.REVOKED:
            note = "access token had expired; refreshed the grant, but revoking the new token "
            note += f"failed ({outcome.description or outcome.error_code}); the old refresh "
            note += "token is now rotated away, so a retry will report grant_lost"
        return dataclasses.replace(outcome, description=note)

    def client_token(self) -> ClientToken:
        """A client access token (``client_credentials``); raises a classified TikTokApiError."""
        form = {
            "client_key": self._client_key,
            "client_secret": self._secret,
            "grant_type": "client_credentials",
        }
        try:
            response = self._post_form(TOKEN_PATH, form)
        except TransportError as exc:
            raise error_for(transport_outcome(exc)) from exc
        body = json_object(response)
        if response.status_code == 200 and body is not None:
            token, expires_in = body.get("access_token"), body.get("expires_in")
            if isinstance(token, str) and token and isinstance(expires_in, int):
                return ClientToken(access_token=token, expires_in=expires_in)
        outcome = classify_oauth(response, body, (self._secret,))
        if outcome.result is RevokeResult.REVOKED:
            outcome = RevokeOutcome(
                RevokeResult.FATAL, UNEXPECTED_ANSWER, "answer without a token", outcome.log_id
            )
        raise error_for(outcome)

    def probe(self, token: str) -> ProbeResult:
        """Ask ``/v2/user/info/`` whether a token still works: the proof a revoke took.

        Spends the 600/min user-info budget: sample tokens, never probe them all.
        """
        try:
            response = send(
                self._http,
                "GET",
                self._base + USER_INFO_PATH,
                params={"fields": "open_id"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=self._timeout,
            )
        except TransportError:
            return ProbeResult.RETRYABLE
        outcome = classify_oauth(response, json_object(response), (token, self._secret))
        return _PROBE_RESULTS[outcome.result]


_PROBE_RESULTS = {
    RevokeResult.REVOKED: ProbeResult.ALIVE,  # 200 with error code "ok": the token works
    RevokeResult.ALREADY_DEAD: ProbeResult.DEAD,
    RevokeResult.RETRYABLE: ProbeResult.RETRYABLE,
    RevokeResult.FATAL: ProbeResult.FATAL,
    RevokeResult.GRANT_LOST: ProbeResult.FATAL,
}


def _token_pair(body: dict[str, Any] | None) -> TokenPair | None:
    """A TokenPair when the body is a complete token answer, else ``None``."""
    if body is None:
        return None
    try:
        access, refresh = body["access_token"], body["refresh_token"]
        if not isinstance(access, str) or not isinstance(refresh, str) or not access:
            return None
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            open_id=str(body.get("open_id", "")),
            expires_in=int(body.get("expires_in", 0)),
            refresh_expires_in=int(body.get("refresh_expires_in", 0)),
            scope=str(body.get("scope", "")),
        )
    except (KeyError, TypeError, ValueError):
        return None
