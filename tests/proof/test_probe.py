"""The user-info probe against the simulator: 401 access_token_invalid is dead, 200 is alive,
429 and 5xx are retried and end as unknown; probes keep to the user-info budget."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from orchestrator.proof.verify import USERINFO_LIMITER, Verdict, limiter_with_rate, probe_token, sample_size
from orchestrator.ratelimit import RateLimiter
from orchestrator.retry import RetryPolicy
from orchestrator.tiktok.client import TikTokClient
from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator
from orchestrator.tokens.provider import ProbeResult
from orchestrator.worker.runtime import Runtime

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002)


@pytest.fixture
def sim() -> Iterator[TikTokSimulator]:
    with TikTokSimulator(SimulatorOptions(seed=11)) as simulator:
        yield simulator


@pytest.fixture
def client(sim: TikTokSimulator) -> Iterator[TikTokClient]:
    with TikTokClient(sim.base_url, sim.options.client_key, sim.options.client_secret) as tiktok:
        yield tiktok


@pytest.fixture
def unlimited(runtime: Runtime) -> RateLimiter:
    return limiter_with_rate(runtime.settings, runtime.store, name=USERINFO_LIMITER, rate=0)


def test_a_revoked_token_answers_401_access_token_invalid_and_is_dead(
    sim: TikTokSimulator, client: TikTokClient, unlimited: RateLimiter
) -> None:
    token = sim.issue_tokens(1)[0].access_token
    client.revoke(token)
    raw = httpx.get(
        sim.base_url + "/v2/user/info/",
        params={"fields": "open_id"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert (raw.status_code, raw.json()["error"]["code"]) == (401, "access_token_invalid")
    assert (client.probe(token), probe_token(client, unlimited, token, policy=FAST)) == (
        ProbeResult.DEAD,
        Verdict.DEAD,
    )


def test_a_live_token_answers_200_and_is_still_alive(
    sim: TikTokSimulator, client: TikTokClient, unlimited: RateLimiter
) -> None:
    token = sim.issue_tokens(1)[0].access_token
    assert (client.probe(token), probe_token(client, unlimited, token, policy=FAST)) == (
        ProbeResult.ALIVE,
        Verdict.ALIVE,
    )


@pytest.mark.parametrize(
    ("option", "counter"), [("inject_429_rate", "answered_429"), ("error_rate", "answered_5xx")]
)
def test_429_and_5xx_are_retried_then_unknown_never_dead(
    sim: TikTokSimulator, client: TikTokClient, unlimited: RateLimiter, option: str, counter: str
) -> None:
    token = sim.issue_tokens(1)[0].access_token
    sim.update_options(**{option: 1.0})
    assert client.probe(token) is ProbeResult.RETRYABLE
    before = sim.stats()[counter]
    assert probe_token(client, unlimited, token, policy=FAST) is Verdict.UNKNOWN
    assert sim.stats()[counter] - before == FAST.max_attempts


def test_a_transient_failure_is_retried_until_the_answer_is_clear(
    sim: TikTokSimulator, client: TikTokClient, unlimited: RateLimiter
) -> None:
    records = sim.issue_tokens(20)
    for record in records[:10]:
        client.revoke(record.access_token)
    sim.update_options(inject_429_rate=0.3, error_rate=0.2)
    patient = RetryPolicy(max_attempts=30, base_delay=0.001, max_delay=0.002)
    verdicts = [probe_token(client, unlimited, r.access_token, policy=patient) for r in records]
    assert verdicts == [Verdict.DEAD] * 10 + [Verdict.ALIVE] * 10
    assert sim.stats()["answered_429"] > 0 and sim.stats()["answered_5xx"] > 0


def test_probes_keep_to_the_user_info_budget(
    sim: TikTokSimulator, client: TikTokClient, runtime: Runtime
) -> None:
    limiter = limiter_with_rate(runtime.settings, runtime.store, name=USERINFO_LIMITER, rate=20.0)
    tokens = [r.access_token for r in sim.issue_tokens(11)]
    started = time.monotonic()
    for token in tokens:
        probe_token(client, limiter, token, policy=FAST)
    assert time.monotonic() - started >= 0.45  # 11 probes at 20/s: 10 intervals of 50 ms


@pytest.mark.parametrize(
    ("revoked", "expected"),
    [(0, 0), (3, 3), (500, 10), (1_000, 10), (5_000, 50), (20_000, 200), (1_000_000, 200)],
)
def test_sample_is_one_percent_at_least_ten_at_most_two_hundred(revoked: int, expected: int) -> None:
    assert sample_size(revoked, percent=1.0, minimum=10, maximum=200) == expected
