"""``GET /healthz`` on the deployed combinations (PostgreSQL with Redis, PostgreSQL with RabbitMQ)
when a server is really killed, not cut behind a proxy: 503 naming the part (store or broker)
within a second of the kill, 200 within a second of the server listening again. Each server is a
private one the test starts (tests/support/private_servers.py), never the machine's."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Literal

import pytest

from tests.faults.test_healthz import HEALTHY, _health, _serve
from tests.support.brokers import RedisServer
from tests.support.figures import record_figure
from tests.support.private_servers import PostgresServer, RabbitServer
from tests.support.processes import free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.services]

Broker = Literal["redis", "rabbitmq"]
COMBINATION = {"redis": "PostgreSQL + Redis", "rabbitmq": "PostgreSQL + RabbitMQ"}


def _broker(stack: ExitStack, tmp_path: Path, broker: Broker) -> RedisServer | RabbitServer:
    server = RedisServer(free_port(), tmp_path) if broker == "redis" else RabbitServer()
    stack.callback(server.kill if isinstance(server, RedisServer) else server.close)
    server.start()
    return server


def _seconds_until(status: int, part: str, base_url: str) -> float:
    """Seconds until /healthz answers ``status`` (503 naming ``part`` down, or 200 all ok)."""
    started = time.monotonic()

    def seen() -> bool:
        code, body = _health(base_url)
        return (code, body) == (200, HEALTHY) if status == 200 else code == 503 and body[part] != "ok"

    wait_for(seen, timeout=30, what=f"/healthz {status}")
    return time.monotonic() - started


def _kill_and_return(
    base_url: str, part: str, server: PostgresServer | RedisServer | RabbitServer, broker: Broker
) -> None:
    assert _health(base_url) == (200, HEALTHY)
    server.kill()
    down_s = _seconds_until(503, part, base_url)
    code, body = _health(base_url)
    other = "broker" if part == "store" else "store"
    assert code == 503 and body["status"] == "degraded" and body[other] == "ok"
    assert body[part].startswith(f"{part} unreachable: ")
    server.start()
    up_s = _seconds_until(200, part, base_url)
    record_figure(
        f"/healthz after the {part} server was killed: 503 after", round(down_s, 2), "s", COMBINATION[broker]
    )
    record_figure(
        f"/healthz after the {part} server returned: 200 after", round(up_s, 2), "s", COMBINATION[broker]
    )
    assert down_s <= 1.0 and up_s <= 1.0


@pytest.mark.parametrize("part", ["store", "broker"])
@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_healthz_names_the_part_whose_server_is_killed(tmp_path: Path, broker: Broker, part: str) -> None:
    """PostgreSQL (the store) or the broker SIGKILLed, then started again on the same data."""
    with ExitStack() as stack:
        postgres = PostgresServer()
        stack.callback(postgres.close)
        postgres.start()
        queue = _broker(stack, tmp_path, broker)
        base_url = _serve(stack, tmp_path, database_url=postgres.url, broker_url=queue.url)
        _kill_and_return(base_url, part, postgres if part == "store" else queue, broker)
