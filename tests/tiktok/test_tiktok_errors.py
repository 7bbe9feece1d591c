"""Every known TikTok code maps to the class (and result) the callers rely on."""

from __future__ import annotations

import pytest

from orchestrator.errors import TikTokError
from orchestrator.tiktok.errors import (
    BUSINESS_CODES,
    OAUTH_CODES,
    CredentialsRejected,
    GrantLost,
    RequestRejected,
    TikTokApiError,
    TikTokThrottled,
    TikTokUnavailable,
    TokenAlreadyDead,
    error_class_for_business_code,
    error_class_for_code,
    error_for,
)
from orchestrator.tokens.provider import RevokeOutcome, RevokeResult

EXPECTED_OAUTH = {
    "access_token_invalid": RevokeResult.ALREADY_DEAD,
    "invalid_token": RevokeResult.ALREADY_DEAD,
    "token_expired": RevokeResult.ALREADY_DEAD,
    "access_token_expired": RevokeResult.ALREADY_DEAD,
    "token_revoked": RevokeResult.ALREADY_DEAD,
    "rate_limit_exceeded": RevokeResult.RETRYABLE,
    "internal_error": RevokeResult.RETRYABLE,
    "server_error": RevokeResult.RETRYABLE,
    "temporarily_unavailable": RevokeResult.RETRYABLE,
    "invalid_client": RevokeResult.FATAL,
    "unauthorized_client": RevokeResult.FATAL,
    "access_denied": RevokeResult.FATAL,
    "invalid_request": RevokeResult.FATAL,
    "invalid_params": RevokeResult.FATAL,
    "invalid_scope": RevokeResult.FATAL,
    "unsupported_grant_type": RevokeResult.FATAL,
    "unsupported_response_type": RevokeResult.FATAL,
    "scope_not_authorized": RevokeResult.FATAL,
    "scope_permission_missed": RevokeResult.FATAL,
    "invalid_grant": RevokeResult.GRANT_LOST,
}

EXPECTED_BUSINESS = {
    40001: RevokeResult.FATAL,
    40002: RevokeResult.FATAL,
    40100: RevokeResult.RETRYABLE,
    40102: RevokeResult.ALREADY_DEAD,
    40104: RevokeResult.FATAL,
    40105: RevokeResult.ALREADY_DEAD,
    50000: RevokeResult.RETRYABLE,
    50002: RevokeResult.RETRYABLE,
}


def test_every_oauth_code_has_the_expected_result() -> None:
    assert {code: error_class_for_code(code).result for code in OAUTH_CODES} == EXPECTED_OAUTH


def test_every_business_code_has_the_expected_result() -> None:
    assert {code: error_class_for_business_code(code).result for code in BUSINESS_CODES} == EXPECTED_BUSINESS


def test_every_class_in_the_tables_is_a_tiktok_error() -> None:
    for cls in [*OAUTH_CODES.values(), *BUSINESS_CODES.values()]:
        assert issubclass(cls, TikTokApiError)
        assert issubclass(cls, TikTokError)


def test_unknown_codes_are_fatal_never_guessed_dead() -> None:
    assert error_class_for_code("brand_new_code") is RequestRejected
    assert error_class_for_business_code(49999) is RequestRejected


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("The access token is invalid, expired or revoked.", TokenAlreadyDead),
        ("Token not found", TokenAlreadyDead),
        ("Missing required parameter: token.", RequestRejected),
        ("client_key is malformed", RequestRejected),
    ],
)
def test_invalid_request_means_dead_only_when_it_says_the_token_is_dead(
    description: str, expected: type[TikTokApiError]
) -> None:
    assert error_class_for_code("invalid_request", description) is expected


@pytest.mark.parametrize(
    ("outcome", "cls"),
    [
        (RevokeOutcome(RevokeResult.ALREADY_DEAD, "access_token_invalid"), TokenAlreadyDead),
        (RevokeOutcome(RevokeResult.RETRYABLE, "rate_limit_exceeded"), TikTokThrottled),
        (RevokeOutcome(RevokeResult.RETRYABLE, "timeout"), TikTokUnavailable),
        (RevokeOutcome(RevokeResult.FATAL, "invalid_client"), CredentialsRejected),
        (RevokeOutcome(RevokeResult.GRANT_LOST, "invalid_grant"), GrantLost),
    ],
)
def test_outcome_turns_into_the_matching_exception(outcome: RevokeOutcome, cls: type[TikTokApiError]) -> None:
    error = error_for(RevokeOutcome(outcome.result, outcome.error_code, "why", "LOG123", 400, None))
    assert type(error) is cls
    assert (error.code, error.log_id, error.http_status) == (outcome.error_code, "LOG123", 400)
    assert "LOG123" in str(error)
