"""Revoke classification against a real simulator: by the body, never by the status alone."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from orchestrator.tiktok import TikTokClient
from orchestrator.tiktok.simulator import TikTokSimulator
from orchestrator.tokens.provider import RevokeOutcome, RevokeResult

MakeSim = Callable[..., TikTokSimulator]
ClientFor = Callable[..., TikTokClient]


def test_live_token_is_revoked_and_then_dead(shared_sim: TikTokSimulator, client_for: ClientFor) -> None:
    record = shared_sim.issue_tokens(1)[0]
    client = client_for(shared_sim)
    first = client.revoke(record.access_token)
    assert (first.result, first.error_code, first.http_status) == (RevokeResult.REVOKED, None, 200)
    assert first.log_id
    assert shared_sim.is_grant_revoked(record.refresh_token)
    second = client.revoke(record.access_token)
    assert (second.result, second.error_code, second.http_status) == (
        RevokeResult.ALREADY_DEAD,
        "access_token_invalid",
        400,
    )


@pytest.mark.parametrize("errors_with_200", [False, True])
@pytest.mark.parametrize("dead_error", ["access_token_invalid", "invalid_request"])
def test_dead_token_in_error_mode_is_already_dead(
    make_sim: MakeSim, client_for: ClientFor, errors_with_200: bool, dead_error: str
) -> None:
    sim = make_sim(dead_token_behaviour="error", dead_token_error=dead_error, errors_with_200=errors_with_200)
    outcome = client_for(sim).revoke("act.not-a-token-we-know!1.va")
    assert (outcome.result, outcome.error_code, outcome.http_status) == (
        RevokeResult.ALREADY_DEAD,
        dead_error,
        200 if errors_with_200 else 400,
    )


def test_dead_token_in_empty_mode_answers_revoked(make_sim: MakeSim, client_for: ClientFor) -> None:
    sim = make_sim(dead_token_behaviour="empty")
    record = sim.issue_tokens(1)[0]
    sim.expire_access_token(record.access_token)
    outcome = client_for(sim).revoke(record.access_token)
    # A lenient server: {} for an expired token, and the grant behind it is gone too.
    assert outcome.result is RevokeResult.REVOKED
    assert sim.is_grant_revoked(record.refresh_token)


@pytest.mark.parametrize("errors_with_200", [False, True])
def test_wrong_client_secret_is_fatal_even_on_http_200(
    make_sim: MakeSim, client_for: ClientFor, errors_with_200: bool
) -> None:
    sim = make_sim(errors_with_200=errors_with_200)
    record = sim.issue_tokens(1)[0]
    outcome = client_for(sim, client_secret="not-the-secret-42").revoke(record.access_token)
    assert (outcome.result, outcome.error_code, outcome.http_status) == (
        RevokeResult.FATAL,
        "invalid_client",
        200 if errors_with_200 else 401,
    )
    assert not sim.is_grant_revoked(record.access_token)


@pytest.mark.parametrize("errors_with_200", [False, True])
def test_injected_429_is_retryable_with_retry_after(
    make_sim: MakeSim, client_for: ClientFor, errors_with_200: bool
) -> None:
    sim = make_sim(inject_429_rate=1.0, retry_after_seconds=2.5, errors_with_200=errors_with_200)
    outcome = client_for(sim).revoke(sim.issue_tokens(1)[0].access_token)
    assert (outcome.result, outcome.error_code, outcome.retry_after) == (
        RevokeResult.RETRYABLE,
        "rate_limit_exceeded",
        2.5,
    )


def test_429_without_retry_after_leaves_the_wait_to_the_caller(
    make_sim: MakeSim, client_for: ClientFor
) -> None:
    sim = make_sim(inject_429_rate=1.0, retry_after_seconds=None)
    outcome = client_for(sim).revoke(sim.issue_tokens(1)[0].access_token)
    assert (outcome.result, outcome.http_status, outcome.retry_after) == (
        RevokeResult.RETRYABLE,
        429,
        None,
    )


def test_5xx_json_and_html_are_retryable(make_sim: MakeSim, client_for: ClientFor) -> None:
    sim = make_sim(error_rate=1.0, seed=3)
    client = client_for(sim)
    token = sim.issue_tokens(1)[0].access_token
    outcomes = [client.revoke(token) for _ in range(12)]
    assert {o.result for o in outcomes} == {RevokeResult.RETRYABLE}
    assert {o.http_status for o in outcomes} == {500, 503}  # seed 3 draws both shapes
    assert sim.stats()["answered_5xx"] == 12
    assert sim.revoke_calls(token) == 0  # failed requests never reached the token


def test_timeout_is_retryable(make_sim: MakeSim, client_for: ClientFor) -> None:
    sim = make_sim(latency_ms=400)
    outcome = client_for(sim, timeout=0.1).revoke(sim.issue_tokens(1)[0].access_token)
    assert (outcome.result, outcome.error_code, outcome.http_status) == (
        RevokeResult.RETRYABLE,
        "timeout",
        None,
    )


def test_connection_refused_is_retryable(client_for: ClientFor) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = TikTokClient(f"http://127.0.0.1:{port}", "key", "secret-for-refused", timeout=1.0)
    with client:
        outcome = client.revoke("act.whatever-token-value!1.va")
    expected = RevokeOutcome(RevokeResult.RETRYABLE, "connection_error", "could not connect (no answer)")
    assert outcome == expected


def test_rate_limit_window_answers_429_past_the_limit(make_sim: MakeSim, client_for: ClientFor) -> None:
    sim = make_sim(rate_limit_per_minute=3, retry_after_seconds=None)
    client = client_for(sim)
    records = sim.issue_tokens(4)
    results = [client.revoke(r.access_token).result for r in records]
    assert results == [RevokeResult.REVOKED] * 3 + [RevokeResult.RETRYABLE]
    assert (sim.stats()["answered_429"], sim.stats()["revoked_grants"]) == (1, 3)
    assert not sim.is_grant_revoked(records[3].access_token)
