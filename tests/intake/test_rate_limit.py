"""The opt-in per-source rate limit: 429 with Retry-After, only where configured, one limit for
every API process (it lives in the store, or in Redis with a Redis broker), and never a lost alert
when the limit itself cannot be asked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.worker.runtime import Runtime
from tests.intake.test_routes_sources import BEARER, JSON, pagerduty_headers, running, sample, stored
from tests.support.services import REDIS_URL, flush_redis, require


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Runtime, httpx.Client]]:
    with running(tmp_path) as pair:
        yield pair


def post_pagerduty(client: httpx.Client, n: int) -> httpx.Response:
    """A triggered incident of its own per call, as a new delivery (its own X-Webhook-Id)."""
    body = sample("pagerduty_triggered.json").replace(b"PGR0VU2", f"PGR{n:04d}".encode())
    return client.post("/v1/events/pagerduty", content=body, headers=pagerduty_headers(body, f"r{n}"))


def test_the_opt_in_rate_limit_answers_429_with_retry_after(live: tuple[Runtime, httpx.Client]) -> None:
    _, client = live
    codes, retry_after = [], None
    for n in range(5):
        answer = post_pagerduty(client, n)
        codes.append(answer.status_code)
        retry_after = answer.headers.get("retry-after", retry_after)
    assert codes == [202, 202, 202, 429, 429]
    assert retry_after is not None and int(retry_after) >= 1


def test_other_sources_never_answer_429_however_many_arrive(live: tuple[Runtime, httpx.Client]) -> None:
    _, client = live
    body = sample("alertmanager_grouped.json")
    codes = {
        client.post("/v1/events/alertmanager", content=body, headers=BEARER | JSON).status_code
        for _ in range(50)
    }
    assert codes == {202}


@pytest.fixture(params=["store", pytest.param("redis", marks=pytest.mark.services)])
def broker(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        require(REDIS_URL, "Redis")
        flush_redis()
        return REDIS_URL
    return "embedded"


def test_two_api_processes_share_one_limit(tmp_path: Path, broker: str) -> None:
    """Two apps on one store and broker, as `serve --processes 2` runs them: 3 a minute in all."""
    with (
        running(tmp_path, broker_url=broker) as (runtime, first),
        running(tmp_path, broker_url=broker) as (
            _,
            second,
        ),
    ):
        codes = [post_pagerduty(client, n).status_code for n, client in enumerate([first, second] * 3)]
        assert codes == [202, 202, 202, 429, 429, 429]
        assert stored(runtime) == 3


def test_an_unreachable_limit_lets_the_delivery_through(tmp_path: Path) -> None:
    """Redis down (the broker and the limit): the alert is still accepted, the outbox relays it later."""
    with running(tmp_path, broker_url="redis://127.0.0.1:1/0") as (runtime, client):
        assert [post_pagerduty(client, n).status_code for n in range(2)] == [202, 202]
        assert stored(runtime) == 2
