"""Redaction: by key, by token shape and by registered value, anywhere in nested data."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import redaction
from orchestrator.redaction import REDACTED, redact, redact_text, register_secret
from tests.support.prose import PROSE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abcdefghijklmnop", "Authorization: Bearer [REDACTED]"),
        ("GET /hook?token=s3cr3tvalue&x=1", "GET /hook?token=[REDACTED]&x=1"),
        ("client_secret=abcdef123456 rest", "client_secret=[REDACTED] rest"),
        ("used act.AbCdEf0123456789!4567.va from 1.2.3.4", "used [REDACTED] from 1.2.3.4"),
        ("refresh rft.ZZZZZZZZZZZZZ!1.va", "refresh [REDACTED]"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "jwt [REDACTED]"),
        ("slack xoxb-1234-5678-abcdefgh", "slack [REDACTED]"),
        ("nothing secret here: host web-1", "nothing secret here: host web-1"),
    ],
)
def test_token_shapes_are_masked(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_secret_keys_are_masked_at_any_depth() -> None:
    data = {
        "headers": {"Authorization": "Basic dXNlcjpwYXNz", "X-Api-Key": "k-123456"},
        "items": [{"client_secret": "cs-1234567", "open_id": "user-1"}],
        "revoked_tokens": 5,
        "token_fingerprint": "ab12",
    }
    assert redact(data) == {
        "headers": {"Authorization": REDACTED, "X-Api-Key": REDACTED},
        "items": [{"client_secret": REDACTED, "open_id": "user-1"}],
        "revoked_tokens": 5,
        "token_fingerprint": "ab12",
    }


def test_registered_value_is_masked_inside_any_text() -> None:
    register_secret("plant-Q9x7-secret")
    assert redact({"cmd": "curl -u admin:plant-Q9x7-secret https://x"}) == {
        "cmd": f"curl -u admin:{REDACTED} https://x"
    }


_WORDS = st.sampled_from(
    ["Bearer", "BASIC", "toKen", "\u017fecret", "PASSWD", "Api-Key", "apikey", "SIG", "act.", "RFT.",
     "clt.", "eyJ", "EYJ", "xoxb-", "AKIA", "\u212aey", "host", ""]
)  # fmt: skip
_SEPARATORS = st.sampled_from(["=", ": ", " ", "", "'", "&", "."])
_VALUES = st.text(alphabet="AKIabcdefghijkxyz0123456789._-!/+=", min_size=0, max_size=24)
_TEXT = st.lists(st.tuples(_WORDS, _SEPARATORS, _VALUES).map("".join), max_size=6).map(" ".join)


@settings(max_examples=400)
@given(_TEXT)
def test_text_skipped_by_the_quick_check_is_text_no_pattern_would_change(text: str) -> None:
    """Most text holds no token-shaped word and is only searched once; that shortcut must never
    let through what running every pattern would mask (case variants included)."""
    expected = text
    for regex, replacement in redaction._PATTERNS:
        expected = regex.sub(replacement, expected)
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", PROSE)
def test_ordinary_incident_prose_is_never_rewritten(text: str) -> None:
    """Issue 29: the permanent record kept "[REDACTED]" where people wrote English."""
    assert redact_text(text) == text
    assert redact({"message": text, "note": [text]}) == {"message": text, "note": [text]}


@pytest.mark.parametrize(
    "secret",
    [
        "token sk_live_51HxQ2eZvKYlo2C",
        "token AbCdEfGhIjKlMnOp",
        "Bearer abcdefghijklmnop",
        "Basic dXNlcjpwYXNz",
        "token: Zm9vYmFyYmF6",
        "password: correcthorse",
        "secret=plainwordsecret",
        "token=20261206",
        "sig=2026-12-06T14:02",
        "api_key: abcd",
        "act.AbCdEf0123456789!4567.va",
    ],
)
def test_planted_secrets_inside_prose_are_masked(secret: str) -> None:
    text = f"On-call pasted {secret} into the note, then rotated it."
    masked = redact_text(text)
    assert REDACTED in masked
    value = secret.split("=")[-1].split(" ")[-1]
    assert value not in masked
