"""TikTok for Business (Marketing API) token revocation, as a `tokens.provider.RevocationProvider`.

The Marketing API answers HTTP 200 for almost everything and puts the verdict in a numeric
``code`` (0 = success), so classification reads only the body. ``40100`` ("too frequent")
means retry after the current second, hence ``retry_after=1.0``. Marketing API access tokens
are long-lived and have no refresh step, so ``revoke_grant`` ignores the refresh token.
"""

from __future__ import annotations

from typing import Self

from orchestrator.logging import get_logger
from orchestrator.redaction import register_secret
from orchestrator.tiktok.client import clean_text, json_object, token_fingerprint, transport_outcome
from orchestrator.tiktok.errors import UNEXPECTED_ANSWER, error_class_for_business_code
from orchestrator.tiktok.http import Answer, TransportError, make_http_client, send
from orchestrator.tokens.provider import RevokeOutcome, RevokeResult

__all__ = ["BUSINESS_REVOKE_PATH", "BusinessClient"]

BUSINESS_REVOKE_PATH = "/open_api/v1.3/oauth2/revoke_token/"
_TOO_FREQUENT = 40100
_TOO_FREQUENT_PAUSE = 1.0  # documented: retry after the current second

_log = get_logger(__name__)


class BusinessClient:
    """Revokes Marketing API access tokens for one app (``app_id`` + ``secret``). Thread-safe."""

    def __init__(
        self,
        base_url: str,
        app_id: str,
        secret: str,
        *,
        timeout: float = 10.0,
    ) -> None:
        register_secret(secret)
        self._base = base_url.rstrip("/")
        self._app_id = app_id
        self._secret = secret
        self._http = make_http_client()
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"BusinessClient(base_url={self._base!r}, app_id={self._app_id!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.clear()

    def revoke(self, access_token: str) -> RevokeOutcome:
        """ONE revoke attempt, classified by the body's numeric ``code``."""
        payload = {"app_id": self._app_id, "secret": self._secret, "access_token": access_token}
        try:
            url = self._base + BUSINESS_REVOKE_PATH
            response = send(self._http, "POST", url, json_body=payload, timeout=self._timeout)
        except TransportError as exc:
            outcome = transport_outcome(exc)
        else:
            outcome = _classify(response, (access_token, self._secret))
        if outcome.result is RevokeResult.FATAL:  # routine results are the caller's to log
            _log.warning(
                "tiktok.business_revoke_refused",
                error_code=outcome.error_code,
                log_id=outcome.log_id,
                token_fingerprint=token_fingerprint(access_token),
            )
        return outcome

    def revoke_grant(self, access_token: str, refresh_token: str | None = None) -> RevokeOutcome:
        """Revoke the token (the `tokens.provider.RevocationProvider` seam); no refresh step exists."""
        return self.revoke(access_token)


def _classify(response: Answer, sent: tuple[str, ...]) -> RevokeOutcome:
    status = response.status_code
    body = json_object(response)
    code = body.get("code") if body is not None else None
    if body is None or not isinstance(code, int) or isinstance(code, bool):
        transient = status == 429 or status >= 500
        return RevokeOutcome(
            RevokeResult.RETRYABLE if transient else RevokeResult.FATAL,
            error_code=UNEXPECTED_ANSWER,
            description=f"HTTP {status} without a numeric code",
            http_status=status,
        )
    request_id = body.get("request_id")
    log_id = clean_text(request_id, sent) if request_id else None
    if code == 0:
        return RevokeOutcome(RevokeResult.REVOKED, log_id=log_id, http_status=status)
    result = error_class_for_business_code(code).result
    return RevokeOutcome(
        result,
        error_code=str(code),
        description=clean_text(body.get("message"), sent),
        log_id=log_id,
        http_status=status,
        retry_after=_TOO_FREQUENT_PAUSE if code == _TOO_FREQUENT else None,
    )
