"""The store-backed replay guard: one winner per key across processes, expiry, forget, sweep."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.inbound.replay import StoreReplayGuard, purge_expired
from orchestrator.store import migrate
from orchestrator.store.db import Store
from tests.support import services

T0 = datetime(2026, 11, 26, 17, 0, 0, tzinfo=UTC)


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        db = Store(f"sqlite:///{tmp_path / 'replay.sqlite'}")
        migrate.upgrade(db)
        yield db
        db.dispose()
        return
    with services.postgres_database() as url:
        db = Store(url)
        migrate.upgrade(db)
        yield db
        db.dispose()


def test_a_key_is_new_once_then_seen_until_it_expires(store: Store) -> None:
    clock = _Clock()
    guard = StoreReplayGuard(store, now=clock)
    assert [guard.seen_before("hmac_body:d1", 60), guard.seen_before("hmac_body:d1", 60)] == [False, True]
    clock.now = T0 + timedelta(seconds=59)
    assert guard.seen_before("hmac_body:d1", 60) is True
    clock.now = T0 + timedelta(seconds=61)
    assert [guard.seen_before("hmac_body:d1", 60), guard.seen_before("hmac_body:d1", 60)] == [False, True]


def test_forget_lets_the_retry_of_a_refused_delivery_in(store: Store) -> None:
    guard = StoreReplayGuard(store, now=_Clock())
    assert guard.seen_before("k", 300) is False
    guard.forget("k")
    assert guard.remembered("k") is None
    assert guard.seen_before("k", 300) is False


def test_long_keys_are_hashed_and_still_distinct(store: Store) -> None:
    guard = StoreReplayGuard(store, now=_Clock())
    first, second = "x" * 5000 + "a", "x" * 5000 + "b"
    assert [guard.seen_before(first, 60), guard.seen_before(second, 60)] == [False, False]
    assert [guard.seen_before(first, 60), guard.seen_before(second, 60)] == [True, True]


def test_racing_threads_admit_exactly_one(store: Store) -> None:
    guard = StoreReplayGuard(store)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: guard.seen_before("race", 60), range(64)))
    assert answers.count(False) == 1


_RACER = """
import sys
from orchestrator.inbound.replay import StoreReplayGuard
from orchestrator.store.db import Store
db = Store(sys.argv[1])
sys.stdin.read()  # start together
print(StoreReplayGuard(db).seen_before("cross-process", 60))
"""


def test_racing_processes_admit_exactly_one(store: Store) -> None:
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, store.url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[2],
        )
        for _ in range(4)
    ]
    for racer in racers:  # every racer has connected; release them together
        assert racer.stdin is not None
        racer.stdin.close()
    answers = []
    for racer in racers:
        assert racer.stdout is not None
        with racer.stdout:
            answers.append(racer.stdout.read().strip())
        assert racer.wait(30) == 0
    assert sorted(answers) == ["False", "True", "True", "True"]


def test_sweep_deletes_only_expired_keys(store: Store) -> None:
    clock = _Clock()
    guard = StoreReplayGuard(store, now=clock)
    guard.seen_before("short", 10)
    guard.seen_before("long", 1000)
    assert purge_expired(store, now=T0 + timedelta(seconds=11)) == 1
    assert (guard.remembered("short"), guard.remembered("long")) == (None, T0 + timedelta(seconds=1000))
