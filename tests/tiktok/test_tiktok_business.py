"""The Marketing API provider: HTTP 200 always, the numeric code decides."""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.tiktok import BusinessClient, TikTokClient
from orchestrator.tiktok.simulator import TikTokSimulator
from orchestrator.tokens.provider import RevocationProvider, RevokeResult

MakeSim = Callable[..., TikTokSimulator]
BusinessFor = Callable[..., BusinessClient]


def test_revoke_then_already_dead(shared_sim: TikTokSimulator, business_for: BusinessFor) -> None:
    record = shared_sim.issue_tokens(1)[0]
    client = business_for(shared_sim)
    first = client.revoke_grant(record.access_token, record.refresh_token)
    assert (first.result, first.http_status, first.error_code) == (RevokeResult.REVOKED, 200, None)
    second = client.revoke(record.access_token)
    assert (second.result, second.http_status, second.error_code) == (
        RevokeResult.ALREADY_DEAD,
        200,
        "40105",
    )


def test_expired_token_is_already_dead(make_sim: MakeSim, business_for: BusinessFor) -> None:
    sim = make_sim()
    record = sim.issue_tokens(1)[0]
    sim.expire_access_token(record.access_token)
    outcome = business_for(sim).revoke(record.access_token)
    assert (outcome.result, outcome.error_code) == (RevokeResult.ALREADY_DEAD, "40102")


def test_empty_mode_answers_ok_for_dead_tokens(make_sim: MakeSim, business_for: BusinessFor) -> None:
    sim = make_sim(dead_token_behaviour="empty")
    assert business_for(sim).revoke("act.unknown-token-value!9.va").result is RevokeResult.REVOKED


def test_wrong_app_secret_is_fatal(shared_sim: TikTokSimulator, business_for: BusinessFor) -> None:
    outcome = business_for(shared_sim, secret="wrong-business-secret").revoke(
        shared_sim.issue_tokens(1)[0].access_token
    )
    assert (outcome.result, outcome.error_code, outcome.http_status) == (
        RevokeResult.FATAL,
        "40001",
        200,
    )


def test_too_frequent_retries_after_one_second(make_sim: MakeSim, business_for: BusinessFor) -> None:
    sim = make_sim(inject_429_rate=1.0)
    outcome = business_for(sim).revoke(sim.issue_tokens(1)[0].access_token)
    assert (outcome.result, outcome.error_code, outcome.retry_after, outcome.http_status) == (
        RevokeResult.RETRYABLE,
        "40100",
        1.0,
        200,
    )


def test_server_errors_are_retryable(make_sim: MakeSim, business_for: BusinessFor) -> None:
    sim = make_sim(error_rate=1.0, seed=3)
    client = business_for(sim)
    token = sim.issue_tokens(1)[0].access_token
    assert {client.revoke(token).result for _ in range(8)} == {RevokeResult.RETRYABLE}


def test_both_clients_are_revocation_providers(
    shared_sim: TikTokSimulator, business_for: BusinessFor
) -> None:
    records = shared_sim.issue_tokens(2)
    oauth = TikTokClient(shared_sim.base_url, shared_sim.options.client_key, shared_sim.options.client_secret)
    providers: list[RevocationProvider] = [oauth, business_for(shared_sim)]
    with oauth:
        results = [
            p.revoke_grant(r.access_token, r.refresh_token).result
            for p, r in zip(providers, records, strict=True)
        ]
    assert results == [RevokeResult.REVOKED, RevokeResult.REVOKED]
