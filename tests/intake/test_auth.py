"""Intake authentication: each kind accepts the right secret and rejects wrong, missing,
replayed and stale ones, always with the same message."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from orchestrator.errors import AuthenticationFailed
from orchestrator.inbound.replay import InMemoryReplayGuard
from orchestrator.inbound.signatures import signed_key
from orchestrator.intake.auth import SourceAuth, strip_secret_params, verify
from orchestrator.redaction import redact_text

NOW = datetime(2026, 11, 26, 16, 0, 0, tzinfo=UTC)
BODY = b'{"alerts":[{"status":"firing","fingerprint":"f1"}]}'
SECRET = "hook-secret-0123456789"
OLD_SECRET = "hook-secret-old-987654"


def check(
    auth: SourceAuth,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    raw: bytes = BODY,
    now: datetime = NOW,
    guard: InMemoryReplayGuard | None = None,
) -> Any:
    return verify(
        auth,
        raw=raw,
        headers=headers or {},
        query=query or {},
        now=now,
        replay=guard or InMemoryReplayGuard(),
    )


def rejected(auth: SourceAuth, **kwargs: Any) -> str:
    with pytest.raises(AuthenticationFailed) as caught:
        check(auth, **kwargs)
    return str(caught.value)


def hex_hmac(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


BEARER = SourceAuth(kind="bearer", secret=SecretStr(SECRET), secrets=(SecretStr(OLD_SECRET),))


@pytest.mark.parametrize("value", [f"Bearer {SECRET}", f"bearer {OLD_SECRET}", f"BEARER  {SECRET} "])
def test_bearer_accepts_current_and_rotated_secret(value: str) -> None:
    assert check(BEARER, headers={"Authorization": value}).kind == "bearer"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": SECRET},
        {"Authorization": f"Basic {SECRET}"},
        {"Authorization": f"Bearer {SECRET}x"},
        {"Authorization": "Bearer " + "x" * 10_000},
    ],
)
def test_bearer_rejects_wrong_or_missing_with_one_message(headers: dict[str, str]) -> None:
    assert rejected(BEARER, headers=headers) == "authentication failed"


def test_intake_token_is_a_bearer_with_the_global_token() -> None:
    auth = SourceAuth(kind="intake_token", secret=SecretStr("global-intake-token"))
    check(auth, headers={"authorization": "Bearer global-intake-token"})
    rejected(auth, headers={"authorization": "Bearer other"})


BASIC = SourceAuth(kind="basic", username="grafana", secret=SecretStr(SECRET))


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_accepts_the_right_pair() -> None:
    check(BASIC, headers=basic("grafana", SECRET))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("grafana", "wrong"),
        basic("other", SECRET),
        {"Authorization": "Basic !!notbase64"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"Authorization": f"Bearer {SECRET}"},
    ],
)
def test_basic_rejects_wrong_or_missing(headers: dict[str, str]) -> None:
    assert rejected(BASIC, headers=headers) == "authentication failed"


QUERY = SourceAuth(kind="query_token", secret=SecretStr(SECRET))


def test_query_token_accepts_the_right_token_and_rejects_others() -> None:
    check(QUERY, query={"token": SECRET})
    assert rejected(QUERY, query={"token": "nope"}) == "authentication failed"
    assert rejected(QUERY, query={}) == "authentication failed"
    assert rejected(QUERY, headers={"Authorization": f"Bearer {SECRET}"}) == "authentication failed"


def test_query_token_is_stripped_from_urls_before_they_are_stored() -> None:
    url = f"https://orch.example/v1/events/splunk?token={SECRET}&tenant=a"
    assert strip_secret_params(url) == "https://orch.example/v1/events/splunk?tenant=a"
    assert SECRET not in strip_secret_params(f"/v1/events/splunk?TOKEN={SECRET}")
    assert SECRET not in redact_text(f"GET /v1/events/splunk?token={SECRET}")


GRAFANA = SourceAuth(kind="hmac_timestamped", secret=SecretStr(SECRET))


def grafana_headers(stamp: int, secret: str = SECRET, raw: bytes = BODY) -> dict[str, str]:
    return {
        "X-Grafana-Alerting-Signature": hex_hmac(secret, f"{stamp}:".encode() + raw),
        "X-Grafana-Alerting-Signature-Timestamp": str(stamp),
    }


def test_grafana_timestamped_hmac_accepts_a_fresh_signature() -> None:
    stamp = int(NOW.timestamp()) - 30
    verified = check(GRAFANA, headers=grafana_headers(stamp))
    assert verified.replay_key is not None


@pytest.mark.parametrize(
    "headers",
    [
        {},
        grafana_headers(int(NOW.timestamp()), secret="wrong-secret"),
        grafana_headers(int(NOW.timestamp()), raw=b'{"other":1}'),
        {"X-Grafana-Alerting-Signature": hex_hmac(SECRET, BODY)},
        grafana_headers(int((NOW - timedelta(minutes=6)).timestamp())),
        grafana_headers(int((NOW + timedelta(minutes=6)).timestamp())),
        {**grafana_headers(int(NOW.timestamp())), "X-Grafana-Alerting-Signature-Timestamp": "-1"},
    ],
    ids=["missing", "wrong-secret", "other-body", "no-timestamp", "stale", "future", "bad-stamp"],
)
def test_grafana_timestamped_hmac_rejects_wrong_missing_and_stale(headers: dict[str, str]) -> None:
    assert rejected(GRAFANA, headers=headers) == "authentication failed"


def test_grafana_replayed_signature_is_rejected_until_forgotten() -> None:
    guard = InMemoryReplayGuard()
    headers = grafana_headers(int(NOW.timestamp()))
    verified = check(GRAFANA, headers=headers, guard=guard)
    assert rejected(GRAFANA, headers=headers, guard=guard) == "authentication failed"
    guard.forget(verified.replay_key)  # the delivery was not made durable: let the retry in
    check(GRAFANA, headers=headers, guard=guard)


def test_grafana_header_names_are_configurable_and_body_only_signing_works() -> None:
    auth = SourceAuth(kind="hmac_timestamped", secret=SecretStr(SECRET), header="X-Sig", timestamp_header="")
    check(auth, headers={"x-sig": hex_hmac(SECRET, BODY)})
    rejected(auth, headers={"x-sig": hex_hmac(SECRET, b"{}")})


PAGERDUTY = SourceAuth(kind="hmac_body", secret=SecretStr(SECRET), secrets=(SecretStr(OLD_SECRET),))


def pd_headers(*secrets: str, webhook_id: str = "wh-1", raw: bytes = BODY) -> dict[str, str]:
    return {
        "X-PagerDuty-Signature": ",".join(f"v1={hex_hmac(s, raw)}" for s in secrets),
        "X-Webhook-Id": webhook_id,
    }


@pytest.mark.parametrize(
    "headers",
    [
        pd_headers(SECRET),
        pd_headers("unknown-secret-1", SECRET),
        pd_headers(OLD_SECRET),
        {**pd_headers(SECRET), "X-PagerDuty-Signature": "v1=" + hex_hmac(SECRET, BODY).upper()},
    ],
)
def test_pagerduty_body_hmac_accepts_any_matching_signature(headers: dict[str, str]) -> None:
    assert check(PAGERDUTY, headers=headers).replay_key == signed_key("hmac_body", BODY)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        pd_headers("wrong-secret"),
        pd_headers(SECRET, raw=b"{}"),
        {"X-Webhook-Id": "wh-1"},
        {"X-PagerDuty-Signature": pd_headers(SECRET)["X-PagerDuty-Signature"]},
        {**pd_headers(SECRET), "X-PagerDuty-Signature": "v0=" + hex_hmac(SECRET, BODY)},
    ],
    ids=["missing", "wrong", "other-body", "no-signature", "no-webhook-id", "other-version"],
)
def test_pagerduty_body_hmac_rejects_wrong_and_missing(headers: dict[str, str]) -> None:
    assert rejected(PAGERDUTY, headers=headers) == "authentication failed"


def test_pagerduty_replayed_body_is_rejected_within_the_window_only_whatever_its_id() -> None:
    moments = iter([0.0, 10.0, 90_000.0])
    guard = InMemoryReplayGuard(now=lambda: next(moments))
    check(PAGERDUTY, headers=pd_headers(SECRET), guard=guard)
    resent = pd_headers(SECRET, webhook_id="wh-2")
    assert rejected(PAGERDUTY, headers=resent, guard=guard) == "authentication failed"
    check(PAGERDUTY, headers=resent, guard=guard)  # a day later the body has expired


def test_replay_guard_memory_is_bounded() -> None:
    guard = InMemoryReplayGuard(max_keys=3)
    for key in "abcd":
        assert not guard.seen_before(key, 60)
    assert not guard.seen_before("a", 60)  # the oldest was dropped
    assert guard.seen_before("d", 60)


@pytest.mark.parametrize(
    "config",
    [
        {"kind": "bearer"},
        {"kind": "basic", "secret": "x"},
        {"kind": "bearer", "secret": ""},
        {"kind": "magic", "secret": "x"},
        {"kind": "bearer", "secret": "x", "extra": 1},
    ],
)
def test_source_auth_config_is_validated(config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SourceAuth.model_validate(config)


def test_configured_secrets_are_registered_for_redaction_and_hidden_in_repr() -> None:
    auth = SourceAuth(kind="bearer", secret=SecretStr("never-log-this-value-42"))
    assert "never-log-this-value-42" not in repr(auth)
    assert redact_text("x never-log-this-value-42 y") == "x [REDACTED] y"
