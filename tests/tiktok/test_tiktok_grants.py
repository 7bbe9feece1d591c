"""Refresh rotation, revoke_grant for expired access tokens, grant loss, client token, probe."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from orchestrator.tiktok import CredentialsRejected, TikTokClient, TokenPair
from orchestrator.tiktok.simulator import TikTokSimulator
from orchestrator.tokens.provider import ProbeResult, RevokeOutcome, RevokeResult

MakeSim = Callable[..., TikTokSimulator]
ClientFor = Callable[..., TikTokClient]


def test_refresh_rotates_and_the_old_refresh_token_dies(
    shared_sim: TikTokSimulator, client_for: ClientFor
) -> None:
    record = shared_sim.issue_tokens(1, open_id_prefix="rot-")[0]
    client = client_for(shared_sim)
    pair = client.refresh(record.refresh_token)
    assert isinstance(pair, TokenPair)
    assert pair.open_id == "rot-0"
    assert pair.refresh_token != record.refresh_token
    assert pair.access_token.startswith("act.") and pair.access_token.endswith(".va")
    again = client.refresh(record.refresh_token)
    assert isinstance(again, RevokeOutcome)
    assert (again.result, again.error_code) == (RevokeResult.GRANT_LOST, "invalid_grant")
    assert isinstance(client.refresh(pair.refresh_token), TokenPair)


def test_expired_access_token_is_refreshed_then_revoked(make_sim: MakeSim, client_for: ClientFor) -> None:
    sim = make_sim(dead_token_behaviour="error")
    record = sim.issue_tokens(1)[0]
    sim.expire_access_token(record.access_token)
    outcome = client_for(sim).revoke_grant(record.access_token, record.refresh_token)
    assert outcome.result is RevokeResult.REVOKED
    assert "refreshed the grant" in outcome.description  # the timeline must say so
    assert sim.is_grant_revoked(record.refresh_token)
    stats = sim.stats()
    assert (stats["refreshes"], stats["revoke_requests"]) == (1, 2)
    assert stats["tokens_revoked_more_than_once"] == 0


def test_expired_access_token_without_refresh_token_is_reported_dead(
    make_sim: MakeSim, client_for: ClientFor
) -> None:
    sim = make_sim(dead_token_behaviour="error")
    record = sim.issue_tokens(1)[0]
    sim.expire_access_token(record.access_token)
    outcome = client_for(sim).revoke_grant(record.access_token)
    assert outcome.result is RevokeResult.ALREADY_DEAD
    assert not sim.is_grant_revoked(record.refresh_token)  # why callers must pass the refresh


def test_rotated_away_grant_is_lost(shared_sim: TikTokSimulator, client_for: ClientFor) -> None:
    record = shared_sim.issue_tokens(1)[0]
    client = client_for(shared_sim)
    attacker = client.refresh(record.refresh_token)  # someone else rotated our grant
    assert isinstance(attacker, TokenPair)
    outcome = client.revoke_grant(record.access_token, record.refresh_token)
    assert (outcome.result, outcome.error_code) == (RevokeResult.GRANT_LOST, "invalid_grant")


def test_live_grant_is_revoked_without_refreshing(make_sim: MakeSim, client_for: ClientFor) -> None:
    sim = make_sim()
    record = sim.issue_tokens(1)[0]
    outcome = client_for(sim).revoke_grant(record.access_token, record.refresh_token)
    assert outcome.result is RevokeResult.REVOKED
    assert (sim.stats()["refreshes"], sim.revoke_calls(record.access_token)) == (0, 1)


def test_client_token_and_bad_credentials(shared_sim: TikTokSimulator, client_for: ClientFor) -> None:
    token = client_for(shared_sim).client_token()
    assert token.access_token.startswith("clt.") and token.expires_in == 7200
    with pytest.raises(CredentialsRejected) as caught:
        client_for(shared_sim, client_secret="definitely-wrong-secret").client_token()
    assert caught.value.code == "invalid_client" and caught.value.log_id


def test_probe_tells_alive_from_dead(shared_sim: TikTokSimulator, client_for: ClientFor) -> None:
    record = shared_sim.issue_tokens(1)[0]
    client = client_for(shared_sim)
    assert client.probe(record.access_token) is ProbeResult.ALIVE
    assert client.revoke(record.access_token).result is RevokeResult.REVOKED
    assert client.probe(record.access_token) is ProbeResult.DEAD
    assert client.probe("act.forged0000000000000000!0.va") is ProbeResult.DEAD


def test_probe_is_retryable_when_throttled(make_sim: MakeSim, client_for: ClientFor) -> None:
    sim = make_sim(rate_limit_per_minute=1)
    record = sim.issue_tokens(1)[0]
    client = client_for(sim)
    assert [client.probe(record.access_token) for _ in range(2)] == [
        ProbeResult.ALIVE,
        ProbeResult.RETRYABLE,
    ]


def test_authorization_code_grant_works_once(shared_sim: TikTokSimulator, client_for: ClientFor) -> None:
    form = {
        "client_key": shared_sim.options.client_key,
        "client_secret": shared_sim.options.client_secret,
        "grant_type": "authorization_code",
        "code": "code-once-123",
        "redirect_uri": "https://example.test/cb",
    }
    url = shared_sim.base_url + "/v2/oauth/token/"
    first = httpx.post(url, data=form).json()
    assert set(first) == {
        "access_token",
        "expires_in",
        "open_id",
        "refresh_token",
        "refresh_expires_in",
        "scope",
        "token_type",
    }
    assert first["token_type"] == "Bearer"
    again = httpx.post(url, data=form)
    assert again.json()["error"] == "invalid_grant"
    assert client_for(shared_sim).probe(first["access_token"]) is ProbeResult.ALIVE
