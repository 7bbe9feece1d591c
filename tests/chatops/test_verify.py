"""Slack's v0 request signatures: valid once, and never when bad, missing, stale or replayed."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from orchestrator.chatops.verify import SlackVerifier, sign
from orchestrator.errors import AuthenticationFailed
from orchestrator.inbound.replay import InMemoryReplayGuard

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BODY = b"token=x&team_id=T1&user_id=U1&command=%2Fir&text=status"
NOW = 1_700_000_000.0


def _slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _headers(timestamp: str, signature: str) -> dict[str, str]:
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


def _verifier(now: float = NOW) -> SlackVerifier:
    return SlackVerifier(SECRET, replay=InMemoryReplayGuard(), now=lambda: now)


def test_a_request_signed_as_slack_signs_passes_once() -> None:
    verifier = _verifier()
    headers = _headers(str(int(NOW)), _slack_signature(SECRET, str(int(NOW)), BODY))
    verifier.verify(BODY, headers)
    with pytest.raises(AuthenticationFailed):
        verifier.verify(BODY, headers)  # the same request again: a replay


def test_project_signing_helper_matches_slack() -> None:
    assert sign(SECRET, "1531420618", BODY) == _slack_signature(SECRET, "1531420618", BODY)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Request-Timestamp": str(int(NOW))},
        {"X-Slack-Signature": _slack_signature(SECRET, str(int(NOW)), BODY)},
        _headers(str(int(NOW)), _slack_signature("another-secret", str(int(NOW)), BODY)),
        _headers(str(int(NOW)), _slack_signature(SECRET, str(int(NOW)), BODY + b"&x=1")),
        _headers(str(int(NOW) - 301), _slack_signature(SECRET, str(int(NOW) - 301), BODY)),
        _headers(str(int(NOW) + 301), _slack_signature(SECRET, str(int(NOW) + 301), BODY)),
        _headers("not-a-number", _slack_signature(SECRET, "not-a-number", BODY)),
        _headers(str(int(NOW)), "v1=" + "0" * 64),
    ],
    ids=[
        "none",
        "no-signature",
        "no-timestamp",
        "wrong-secret",
        "body-changed",
        "stale",
        "future",
        "bad-ts",
        "v1",
    ],
)
def test_bad_missing_and_stale_signatures_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(AuthenticationFailed):
        _verifier().verify(BODY, headers)


def test_a_signature_at_the_edge_of_the_window_passes() -> None:
    stamp = str(int(NOW) - 300)
    _verifier().verify(BODY, _headers(stamp, _slack_signature(SECRET, stamp, BODY)))


def test_header_names_are_case_insensitive() -> None:
    stamp = str(int(NOW))
    headers = {"x-slack-request-timestamp": stamp, "x-slack-signature": _slack_signature(SECRET, stamp, BODY)}
    _verifier().verify(BODY, headers)
