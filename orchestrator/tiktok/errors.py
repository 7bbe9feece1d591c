"""TikTok's error codes mapped to our exception classes and results, as tables in one place.

Every answer from TikTok is classified by its body, never by its HTTP status alone (TikTok
has answered errors with HTTP 200). A code names an exception class; the class carries the
:class:`~orchestrator.tokens.provider.RevokeResult` the callers act on:

    TikTokError (orchestrator.errors)
    └── TikTokApiError          an answer we classified; carries code, log_id, status
        ├── TokenAlreadyDead    ALREADY_DEAD: the token is invalid, expired or revoked
        ├── TikTokThrottled     RETRYABLE: rate limited (429, rate_limit_exceeded, 40100)
        ├── TikTokUnavailable   RETRYABLE: 5xx, timeout, connection failure
        ├── CredentialsRejected FATAL: our client key/secret or app id/secret are wrong
        ├── RequestRejected     FATAL: TikTok refused the request's shape (our bug) or an
        │                       unknown code: a person must look, guessing is unsafe
        └── GrantLost           GRANT_LOST: refresh answered invalid_grant; the API can
                                no longer revoke that authorisation, escalate to a person

Marketing API (TikTok for Business) numeric codes: ``0`` and ``40100`` are documented in
the design notes; the others (``40001``, ``40002``, ``40102``, ``40104``, ``40105``,
``50000``, ``50002``) follow the shape of TikTok's published return-code list as best we
could verify offline; keep the table the single place to correct them.
"""

from __future__ import annotations

import re
from typing import ClassVar, Final

from orchestrator.errors import TikTokError
from orchestrator.tokens.provider import RevokeOutcome, RevokeResult

__all__ = [
    "BUSINESS_CODES",
    "CONNECTION_ERROR",
    "OAUTH_CODES",
    "TIMEOUT",
    "UNEXPECTED_ANSWER",
    "CredentialsRejected",
    "GrantLost",
    "RequestRejected",
    "TikTokApiError",
    "TikTokThrottled",
    "TikTokUnavailable",
    "TokenAlreadyDead",
    "error_class_for_business_code",
    "error_class_for_code",
    "error_for",
]


# Pseudo codes for failures that never produced a TikTok body.
TIMEOUT: Final = "timeout"
CONNECTION_ERROR: Final = "connection_error"
UNEXPECTED_ANSWER: Final = "unexpected_answer"


class TikTokApiError(TikTokError):
    """A classified TikTok failure; ``result`` tells the caller what to do next."""

    result: ClassVar[RevokeResult] = RevokeResult.FATAL

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        log_id: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.log_id = log_id
        self.http_status = http_status
        self.retry_after = retry_after


class TokenAlreadyDead(TikTokApiError):
    """The token was already invalid, expired or revoked (quote ``log_id`` as evidence)."""

    result = RevokeResult.ALREADY_DEAD


class TikTokThrottled(TikTokApiError):
    """TikTok rate-limited us: wait ``retry_after`` seconds (or back off) and retry."""

    result = RevokeResult.RETRYABLE


class TikTokUnavailable(TikTokApiError):
    """TikTok failed or could not be reached: retry with backoff."""

    result = RevokeResult.RETRYABLE


class CredentialsRejected(TikTokApiError):
    """Our client key/secret (or app id/secret) were refused: check the configured
    credentials; if the secret was rotated after a compromise, load the new one."""

    result = RevokeResult.FATAL


class RequestRejected(TikTokApiError):
    """TikTok refused the request itself or answered a code we do not know: a person
    must read ``code``/``log_id``; retrying or assuming the token dead would be a guess."""

    result = RevokeResult.FATAL


class GrantLost(TikTokApiError):
    """Refresh answered ``invalid_grant``: our refresh token is dead (maybe used by an
    attacker) so the API cannot revoke this authorisation; escalate to a person."""

    result = RevokeResult.GRANT_LOST


# OAuth v2 (flat ``{"error": ...}``) and API v2 (nested ``{"error": {"code": ...}}``) codes.
OAUTH_CODES: Final[dict[str, type[TikTokApiError]]] = {
    "access_token_invalid": TokenAlreadyDead,
    "invalid_token": TokenAlreadyDead,
    "token_expired": TokenAlreadyDead,
    "access_token_expired": TokenAlreadyDead,
    "token_revoked": TokenAlreadyDead,
    "rate_limit_exceeded": TikTokThrottled,
    "internal_error": TikTokUnavailable,
    "server_error": TikTokUnavailable,
    "temporarily_unavailable": TikTokUnavailable,
    "invalid_client": CredentialsRejected,
    "unauthorized_client": CredentialsRejected,
    "access_denied": CredentialsRejected,
    "invalid_request": RequestRejected,
    "invalid_params": RequestRejected,
    "invalid_scope": RequestRejected,
    "unsupported_grant_type": RequestRejected,
    "unsupported_response_type": RequestRejected,
    "scope_not_authorized": RequestRejected,
    "scope_permission_missed": RequestRejected,
    "invalid_grant": GrantLost,
}

# Marketing API numeric ``code`` values (the answer is HTTP 200 either way).
BUSINESS_CODES: Final[dict[int, type[TikTokApiError]]] = {
    40001: CredentialsRejected,  # app not authorised / app credentials refused
    40002: RequestRejected,  # parameter error
    40100: TikTokThrottled,  # requests made too frequently: retry after the current second
    40102: TokenAlreadyDead,  # access token expired
    40104: RequestRejected,  # access token empty: our request was malformed
    40105: TokenAlreadyDead,  # access token invalid, revoked or unknown
    50000: TikTokUnavailable,  # system error
    50002: TikTokUnavailable,  # service temporarily unavailable
}

# ``invalid_request`` is generic, but a revoke answering it for a dead token is plausible
# (TikTok documents nothing). Only the description decides, and only for these words.
_DEAD_TOKEN_WORDS = re.compile(
    r"\btoken\b.*\b(invalid|expired|revoked|not found|does not exist)\b", re.IGNORECASE
)


def error_class_for_code(code: str, description: str = "") -> type[TikTokApiError]:
    """The exception class for an OAuth/v2 error code; unknown codes are FATAL."""
    found = OAUTH_CODES.get(code, RequestRejected)
    if code == "invalid_request" and _DEAD_TOKEN_WORDS.search(description):
        return TokenAlreadyDead
    return found


def error_class_for_business_code(code: int) -> type[TikTokApiError]:
    """The exception class for a non-zero Marketing API code; unknown codes are FATAL."""
    return BUSINESS_CODES.get(code, RequestRejected)


_RESULT_ERRORS: Final[dict[RevokeResult, type[TikTokApiError]]] = {
    RevokeResult.REVOKED: TikTokApiError,
    RevokeResult.ALREADY_DEAD: TokenAlreadyDead,
    RevokeResult.RETRYABLE: TikTokUnavailable,
    RevokeResult.FATAL: RequestRejected,
    RevokeResult.GRANT_LOST: GrantLost,
}


def error_for(outcome: RevokeOutcome) -> TikTokApiError:
    """The exception matching ``outcome``, for callers that ``raise error_for(outcome)``."""
    cls = _RESULT_ERRORS[outcome.result]
    if outcome.error_code is not None and outcome.error_code in OAUTH_CODES:
        cls = error_class_for_code(outcome.error_code, outcome.description)
    message = f"TikTok answered {outcome.error_code or outcome.result.value}"
    if outcome.description:
        message += f": {outcome.description}"
    if outcome.log_id:
        message += f" (log_id {outcome.log_id})"
    return cls(
        message,
        code=outcome.error_code,
        log_id=outcome.log_id,
        http_status=outcome.http_status,
        retry_after=outcome.retry_after,
    )
