"""The client secret and tokens never reach an outcome, an exception, a repr or a log line."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
import structlog

from orchestrator.tiktok import BusinessClient, TikTokClient, TokenPair
from orchestrator.tiktok.client import classify_oauth, json_object
from orchestrator.tiktok.errors import error_for
from orchestrator.tiktok.http import Answer
from orchestrator.tiktok.simulator import TikTokSimulator
from orchestrator.tokens.provider import RevokeOutcome

MakeSim = Callable[..., TikTokSimulator]

PLANTED_SECRET = "planted-client-secret-7c1e9a"
WRONG_SECRET = "planted-wrong-secret-51bd0f"
BUSINESS_SECRET = "planted-business-secret-93aa"


def _texts(outcome: RevokeOutcome) -> list[str]:
    return [repr(outcome), outcome.description, str(error_for(outcome)), repr(error_for(outcome))]


def test_secrets_and_tokens_stay_out_of_outcomes_and_logs(
    make_sim: MakeSim, capsys: pytest.CaptureFixture[str], log_stream: io.StringIO
) -> None:
    sim = make_sim(client_secret=PLANTED_SECRET, business_secret=BUSINESS_SECRET)
    records = sim.issue_tokens(3)
    secrets = {PLANTED_SECRET, WRONG_SECRET, BUSINESS_SECRET}
    for record in records:
        secrets |= {record.access_token, record.refresh_token}
    seen: list[str] = []
    with structlog.testing.capture_logs() as logs:
        good = TikTokClient(sim.base_url, sim.options.client_key, PLANTED_SECRET)
        bad = TikTokClient(sim.base_url, sim.options.client_key, WRONG_SECRET)
        business = BusinessClient(sim.base_url, "wrong-app", BUSINESS_SECRET)
        with good, bad, business:
            outcomes = [
                good.revoke(records[0].access_token),
                good.revoke(records[0].access_token),
                bad.revoke(records[1].access_token),
                business.revoke(records[1].access_token),
                good.revoke_grant(records[0].access_token, records[0].refresh_token),
            ]
            pair = good.refresh(records[2].refresh_token)
            stale = good.refresh(records[2].refresh_token)
            assert isinstance(pair, TokenPair) and isinstance(stale, RevokeOutcome)
            secrets |= {pair.access_token, pair.refresh_token}
            outcomes.append(stale)
            seen += [repr(good), repr(bad), repr(business), repr(pair), repr(records[0])]
    for outcome in outcomes:
        seen += _texts(outcome)
    assert [o.result.value for o in outcomes] == [
        "revoked",
        "already_dead",
        "fatal",
        "fatal",
        "grant_lost",
        "grant_lost",
    ]
    assert len(logs) >= 3  # refused credentials and lost grants are logged...
    seen += [repr(entry) for entry in logs]
    with TikTokClient(sim.base_url, sim.options.client_key, WRONG_SECRET) as bad:
        bad.revoke(records[2].access_token)  # logged through the project's real pipeline too
    rendered = log_stream.getvalue()
    assert "tiktok.revoke_refused" in rendered
    captured = capsys.readouterr()
    seen += [captured.out, captured.err, rendered]
    leaks = [s for s in secrets if any(s in text for text in seen)]
    assert leaks == []  # ...without a single secret or token


def test_a_description_echoing_the_token_or_secret_is_masked() -> None:
    token = "act.echoedtokenvalue0000!3.va"
    TikTokClient("http://127.0.0.1:9", "key", PLANTED_SECRET).close()  # registers the secret
    body = {
        "error": "invalid_request",
        "error_description": f"bad token {token} for secret {PLANTED_SECRET}",
        "log_id": "L1",
    }
    response = Answer(400, {}, json.dumps(body).encode())
    outcome = classify_oauth(response, json_object(response), (token,))
    assert token not in outcome.description and PLANTED_SECRET not in outcome.description
    assert "[REDACTED]" in outcome.description
