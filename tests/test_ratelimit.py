"""One limit for every worker: the combined rate holds, and a 429 pauses everyone."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from orchestrator.config import Settings
from orchestrator.ratelimit import RateLimiter, RedisRateLimiter, StoreRateLimiter, limiter_for
from orchestrator.store import migrate
from orchestrator.store.db import Store
from tests.support.services import REDIS_URL, flush_redis, postgres_database, require

RATE = 40.0
PER_WORKER = 25
Factory = Callable[[float], RateLimiter]


@pytest.fixture(
    params=[
        "store",
        pytest.param("store-postgresql", marks=pytest.mark.services),
        pytest.param("redis", marks=pytest.mark.services),
    ]
)
def make_limiter(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """Each call is a separate limiter instance (its own connection), as in separate workers."""
    stores: list[Store] = []
    if request.param == "redis":
        require(REDIS_URL, "Redis")
        flush_redis()

        def redis_limiter(rate: float) -> RateLimiter:
            return RedisRateLimiter(REDIS_URL, rate=rate, name="test")

        yield redis_limiter
        return
    with ExitStack() as stack:
        if request.param == "store-postgresql":
            url = stack.enter_context(postgres_database())
        else:
            url = f"sqlite:///{tmp_path / 'store.sqlite'}"
        schema = Store(url)
        migrate.upgrade(schema)
        schema.dispose()
        stack.callback(_dispose, stores)  # before the database is dropped
        yield _store_limiters(url, stores)


def _dispose(stores: list[Store]) -> None:
    for store in stores:
        store.dispose()


def _store_limiters(url: str, stores: list[Store]) -> Factory:
    def store_limiter(rate: float) -> RateLimiter:
        store = Store(url)
        stores.append(store)
        return StoreRateLimiter(store, rate=rate, name="test")

    return store_limiter


def _run_workers(limiters: list[RateLimiter], per_worker: int) -> list[float]:
    stamps: list[float] = []
    lock = threading.Lock()

    def work(limiter: RateLimiter) -> None:
        for _ in range(per_worker):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=work, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return sorted(stamps)


def test_two_workers_together_stay_within_the_shared_rate(make_limiter: Factory) -> None:
    stamps = _run_workers([make_limiter(RATE), make_limiter(RATE)], PER_WORKER)
    total = 2 * PER_WORKER
    assert len(stamps) == total
    elapsed = stamps[-1] - stamps[0]
    ideal = (total - 1) / RATE  # evenly spaced slots: 1.225 s
    assert ideal * 0.9 <= elapsed <= ideal * 1.5
    # No half-second window holds more than its share plus one for timing jitter.
    window = [b - a for a, b in zip(stamps, stamps[int(RATE / 2) + 1 :], strict=False)]
    assert min(window) >= 0.5 * 0.9


def test_penalise_from_one_worker_pauses_another(make_limiter: Factory) -> None:
    first, second = make_limiter(RATE), make_limiter(RATE)
    second.acquire()
    second.acquire()  # it has just read the pause: it notices a new one within 0.1 s
    first.penalise(0.4)
    time.sleep(0.1)
    started = time.monotonic()
    second.acquire()
    assert 0.25 <= time.monotonic() - started <= 0.7


def test_many_threads_in_two_workers_get_the_whole_rate_and_never_more(make_limiter: Factory) -> None:
    """32 requests in flight across two workers, as a mass revocation runs: the limit itself
    must not be what slows them (a locked store transaction per request could not keep up)."""
    rate, per_thread = 400.0, 25
    first, second = make_limiter(rate), make_limiter(rate)
    stamps = _run_workers([first] * 16 + [second] * 16, per_thread)
    total = 32 * per_thread
    assert len(stamps) == total
    ideal = (total - 1) / rate  # 2 s
    assert ideal * 0.9 <= stamps[-1] - stamps[0] <= ideal * 1.5
    window = [b - a for a, b in zip(stamps, stamps[int(rate / 4) + 1 :], strict=False)]
    assert min(window) >= 0.25 * 0.8  # no burst beyond thread-scheduling jitter


class _FakeClock:
    """Unix time at today's magnitude that moves only when the limiter sleeps or a test says."""

    def __init__(self) -> None:
        self.now = 1_796_600_000.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clocked(tmp_path: Path) -> Iterator[tuple[StoreRateLimiter, _FakeClock]]:
    """A store limiter at 200/s (5 ms slots, 50 ms windows) on a fake clock."""
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    migrate.upgrade(store)
    clock = _FakeClock()
    try:
        limiter = StoreRateLimiter(store, rate=200.0, name="test", sleep=clock.sleep, now=lambda: clock.now)
        yield limiter, clock
    finally:
        store.dispose()


def test_a_store_limit_hands_out_every_slot_at_todays_unix_times(
    clocked: tuple[StoreRateLimiter, _FakeClock],
) -> None:
    """Issue 21: the embedded deployment sustained 0.87 of the limit. Each window's last slot
    was lost to rounding (sums of 5 ms at 1.8e9 s round by 2.4e-7 s each), 1 slot in 10.
    On a clock that moves only when the limiter sleeps, 1,000 requests at 200/s take 999 slots."""
    limiter, clock = clocked
    started = clock.now
    for _ in range(1000):
        limiter.acquire()
    took = clock.now - started
    assert took == pytest.approx(999 / 200, abs=0.001), f"{1000 / 200 / took:.3f} of the limit"


def test_a_store_limit_hands_a_late_caller_the_slots_its_window_still_owes(
    clocked: tuple[StoreRateLimiter, _FakeClock],
) -> None:
    """Issue 21: with RabbitMQ two workers shared a store limit at 0.86 of it. A window's slots
    went to waste whenever every thread of its process was still busy with a request when a
    slot came due: a thread coming back took the next slot from *now*, and the window's
    missed slots were lost. Callers coming back 30 ms into a 50 ms window (rate 200/s) take the
    slots they missed at once, up to one window late, and the limit over time stays the rate."""
    limiter, clock = clocked
    started = clock.now
    for _ in range(100):  # a hundred windows: the first slot of each, then the callers come back late
        limiter.acquire()
        clock.now += 0.030
        for _ in range(9):
            limiter.acquire()
    took = clock.now - started
    # 1,000 slots at 200/s need 5 s; dropping each window's 5 missed slots took 9.5 s.
    assert took == pytest.approx(100 * 0.050, abs=0.01), f"{1000 / 200 / took:.3f} of the limit"


def test_rate_zero_is_unlimited_but_still_honours_a_pause(make_limiter: Factory) -> None:
    unlimited = make_limiter(0)
    started = time.monotonic()
    for _ in range(200):
        unlimited.acquire()
    assert time.monotonic() - started < 1.0
    make_limiter(0).penalise(0.3)
    time.sleep(0.11)  # an unlimited limiter looks for pauses every 0.1 s
    started = time.monotonic()
    unlimited.acquire()
    assert time.monotonic() - started >= 0.1


def test_admit_lets_a_burst_through_across_instances_then_refuses_until_a_slot_opens(
    make_limiter: Factory,
) -> None:
    """Two API processes share an intake limit of 60 a minute with a burst of 3."""
    first, second = make_limiter(1.0), make_limiter(1.0)
    assert [first.admit(3), second.admit(3), first.admit(3)] == [0.0, 0.0, 0.0]
    wait = second.admit(3)
    assert 0.5 < wait <= 1.0  # the next slot opens a second after the first request
    assert first.admit(3) > 0  # a refusal takes no slot: it does not push the wait further
    time.sleep(wait + 0.05)
    assert second.admit(3) == 0.0
    assert first.admit(3) > 0


def test_admit_at_rate_zero_lets_everything_through(make_limiter: Factory) -> None:
    unlimited = make_limiter(0)
    assert {unlimited.admit(1) for _ in range(50)} == {0.0}


def test_a_negative_rate_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rate"):
        StoreRateLimiter(Store(f"sqlite:///{tmp_path / 's.sqlite'}"), rate=-1)


def test_settings_choose_redis_for_a_redis_broker_and_the_store_otherwise(settings: Settings) -> None:
    store = Store(settings.store_url)
    embedded = limiter_for(settings, store)
    assert isinstance(embedded, StoreRateLimiter) and embedded.rate == 10.0
    redis_settings = settings.model_copy(update={"broker_url": REDIS_URL, "tiktok_revoke_rate": 2.5})
    shared = limiter_for(redis_settings, store)
    assert isinstance(shared, RedisRateLimiter) and shared.rate == 2.5
    store.dispose()


WORKER_SCRIPT = """
import sys, time
from orchestrator.ratelimit import StoreRateLimiter
from orchestrator.store.db import Store
limiter = StoreRateLimiter(Store(sys.argv[1]), rate=float(sys.argv[2]), name="test")
limiter.acquire()  # warm up: the first slot is shared with the other process
print(time.time(), flush=True)
for _ in range(int(sys.argv[3])):
    limiter.acquire()
    print(time.time(), flush=True)
"""


def test_two_processes_share_the_store_backed_limit_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = Store(url)
    migrate.upgrade(store)
    store.dispose()
    root = Path(__file__).parents[1]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, url, str(RATE), "15"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=root,
        )
        for _ in range(2)
    ]
    stamps = sorted(float(line) for worker in workers for line in worker.communicate(timeout=30)[0].split())
    assert all(worker.returncode == 0 for worker in workers)
    # Ignore each process's warm-up start: measure the steady part where both compete.
    steady = stamps[2:]
    window = [b - a for a, b in zip(steady, steady[int(RATE / 2) + 1 :], strict=False)]
    assert min(window) >= 0.5 * 0.9
    assert len(steady) == 2 * 15
