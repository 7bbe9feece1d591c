"""Real services on 127.0.0.1: skip with a reason outside CI when absent, fail in CI."""

from __future__ import annotations

import gc
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, text

POSTGRES_ADMIN_URL = os.environ.get(
    "ORCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("ORCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
AMQP_URL = os.environ.get("ORCH_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=2):
            return True
    except OSError:
        return False


_TRUTHY = frozenset({"1", "true", "yes", "on"})


def in_ci() -> bool:
    """Whether ``CI`` is set to a truthy value in any usual spelling (``true``, ``True``, ``1``,
    ``yes``, ``on``): CI providers differ, and a missed spelling would let a test skip silently."""
    return os.environ.get("CI", "").strip().lower() in _TRUTHY


def unavailable(message: str) -> NoReturn:
    """Skip with ``message`` outside CI; fail in CI, where every test must run."""
    if in_ci():
        pytest.fail(f"{message}; CI needs it (see .ci/run)")
    pytest.skip(message)


def require(url: str, name: str) -> None:
    """Skip (or fail in CI) when the service behind ``url`` does not answer."""
    if not _reachable(url):
        unavailable(f"{name} is not reachable at {urlsplit(url).netloc}; start it to run this test")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    require(POSTGRES_ADMIN_URL, "PostgreSQL")
    name = f"orch_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    parts = urlsplit(POSTGRES_ADMIN_URL)
    try:
        yield parts._replace(path=f"/{name}").geturl()
    finally:
        # A connection the test left open is reported now, against this test, not against
        # whichever test runs when the garbage collector happens to find it.
        gc.collect()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def terminate_sessions(database_url: str) -> int:
    """Terminate every session of ``database_url``'s database, from an admin connection of its
    own (what a PostgreSQL restart does to them: open transactions roll back, a pooled
    connection is dead when next used); how many there were."""
    name = urlsplit(database_url).path.lstrip("/")
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            found = conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
    finally:
        admin.dispose()
    return int(found or 0)


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def purge_rabbitmq(queues: tuple[str, ...]) -> None:
    from kombu.connection import Connection

    with Connection(AMQP_URL, connect_timeout=3) as conn:
        channel = conn.channel()
        for queue in queues:
            try:
                channel.queue_purge(queue)
            except Exception:
                channel = conn.channel()  # the queue does not exist yet; nothing to purge
