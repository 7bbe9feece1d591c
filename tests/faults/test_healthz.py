"""``GET /healthz`` answers 503 naming the part that is down, for a real store or broker outage,
and 200 again once it is back: what a load balancer or an orchestrator's probe relies on."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from orchestrator.api.app import create_app
from orchestrator.config import load_settings
from tests.support.brokers import RedisServer, rabbitmq_vhost
from tests.support.faults import TcpProxy
from tests.support.kills import SENDER
from tests.support.processes import free_port, wait_for
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN, make_runtime
from tests.support.server import serve_app
from tests.support.services import AMQP_URL, postgres_database


def _serve(stack: ExitStack, tmp_path: Path, **overrides: Any) -> str:
    settings = load_settings(
        overrides={"data_dir": tmp_path / "data", "intake_token": INTAKE_TOKEN, "api_token": API_TOKEN}
        | overrides
    )
    runtime = make_runtime(settings)
    stack.callback(runtime.close)
    return stack.enter_context(serve_app(create_app(runtime)))


HEALTHY = {"status": "ok", "store": "ok", "broker": "ok"}


def _health(base_url: str) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(f"{base_url}/healthz", timeout=30)
    return answer.status_code, answer.json()


def _assert_503_while_down(
    base_url: str, part: str, cut: Callable[[], None], back: Callable[[], None]
) -> None:
    """Healthy, then 503 naming ``part`` (the other part still "ok") while it is cut, then healthy."""
    assert _health(base_url) == (200, HEALTHY)
    cut()
    status, body = _health(base_url)
    assert body[part].startswith(f"{part} unreachable: ")
    assert (status, body | {part: "down"}) == (503, HEALTHY | {"status": "degraded", part: "down"})
    back()
    assert _health(base_url) == (200, HEALTHY)


def test_healthz_is_503_while_the_folder_broker_is_broken(tmp_path: Path) -> None:
    """The embedded default (SQLite, the folder broker): the broker's staging folder made a file,
    as test_process_kills.py breaks it, takes no message; /healthz says the broker is down until
    the folder is repaired, and a message published then lands in the queue."""
    with ExitStack() as stack:
        base_url = _serve(stack, tmp_path)
        queue = tmp_path / "data" / "broker" / "queue"
        staging = queue / ".staging"

        def cut() -> None:
            shutil.rmtree(staging, ignore_errors=True)
            staging.write_text("not a folder: the broker cannot take a message")

        _assert_503_while_down(base_url, "broker", cut, staging.unlink)
        event = {"title": "after the repair", "kind": "host.compromise", "severity": "low", "dedup_key": "k"}
        assert httpx.post(f"{base_url}/v1/events", json=event, headers=SENDER, timeout=10).status_code == 202
        wait_for(lambda: any(queue.glob("*.msg")), timeout=10, what="the event's message in the queue")


@pytest.fixture
def postgres_behind_proxy(tmp_path: Path) -> Iterator[tuple[str, TcpProxy]]:
    """The API on a real PostgreSQL database reached through a proxy that can cut it off."""
    with ExitStack() as stack:
        url = stack.enter_context(postgres_database())
        where = urlsplit(url)
        proxy = stack.enter_context(TcpProxy(where.hostname or "127.0.0.1", where.port or 5432))
        yield _serve(stack, tmp_path, database_url=proxy.url(url)), proxy


@pytest.mark.services
def test_healthz_is_503_while_postgresql_is_unreachable(postgres_behind_proxy: tuple[str, TcpProxy]) -> None:
    base_url, proxy = postgres_behind_proxy
    _assert_503_while_down(base_url, "store", proxy.cut, proxy.restore)


@pytest.mark.services
def test_healthz_is_503_while_redis_is_down(tmp_path: Path) -> None:
    redis = RedisServer(free_port(), tmp_path)
    redis.start()
    with ExitStack() as stack:
        stack.callback(redis.kill)
        base_url = _serve(stack, tmp_path, broker_url=redis.url)
        _assert_503_while_down(base_url, "broker", redis.kill, redis.start)


@pytest.mark.services
def test_healthz_is_503_while_rabbitmq_is_unreachable(tmp_path: Path) -> None:
    with ExitStack() as stack:
        url = stack.enter_context(rabbitmq_vhost(AMQP_URL)).url
        where = urlsplit(url)
        proxy = stack.enter_context(TcpProxy(where.hostname or "127.0.0.1", where.port or 5672))
        base_url = _serve(stack, tmp_path, broker_url=proxy.url(url))
        _assert_503_while_down(base_url, "broker", proxy.cut, proxy.restore)
