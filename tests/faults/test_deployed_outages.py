"""Services away and back on the deployed layouts (tests/revocation/concurrent.py ``deployment``:
PostgreSQL with Redis or RabbitMQ, the API, two workers and the scheduler as separate processes).

The broker is restarted empty: the private ``redis-server`` SIGKILLed and started again, or
the queues of RabbitMQ's private vhost deleted behind a :class:`TcpProxy` that resets every
connection, so every message either held is lost and only the outbox relay's resends bring the
work back. PostgreSQL is restarted the same way: every session of the test's database is
terminated from an admin connection (the processes' pooled connections are dead when next used)
and the proxy cuts every connection and refuses new ones. TikTok answers only 5xx for a while, as in
test_provider_outages.py. Each test asserts its fault landed on work in progress, or fails;
repeats are held to ``in_flight_bound``.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlalchemy import select

from orchestrator.incidents.models import IncidentRow
from orchestrator.timeline.models import TimelineEntryRow
from tests.revocation.concurrent import Cut, Incidents, Setup, deployment
from tests.support.faults import Burst, owed_events
from tests.support.figures import COMBINATIONS, record_figures
from tests.support.kills import in_flight_bound, ledger_count
from tests.support.outages import PROVIDER_OUTAGE, outage
from tests.support.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.services]

DEPLOYED: list[Setup] = ["redis", "rabbitmq"]
TOKENS, RATE, EVENTS = 1200, 200.0, 120
BATCH, WIDTH, THREADS = 250, 8, 4  # revocation_batch_size, revocation_concurrency, worker_concurrency


def _deployed(
    tmp: Path, setup: Setup, *, tokens: int = TOKENS, cuttable: bool = False, store_cuttable: bool = False
) -> AbstractContextManager[Incidents]:
    """The layout with two workers, revoking in batches sized like every fault test's."""
    return deployment(
        tmp,
        setup,
        tokens=tokens,
        rate=RATE,
        workers=2,
        cuttable=cuttable,
        store_cuttable=store_cuttable,
        revocation_batch_size=str(BATCH),
        revocation_concurrency=str(WIDTH),
        worker_concurrency=str(THREADS),
    )


def _a_third_revoked(incidents: Incidents) -> None:
    """Start the revocation a critical event owes, and return once a third of it is settled."""
    incidents.post_critical(1)
    wait_for(lambda: incidents.settled() >= TOKENS // 3, timeout=90, what="a third of the tokens revoked")


def _figure(setup: Setup, scenario: str, **figures: float | int | str) -> None:
    record_figures(scenario, COMBINATIONS[setup], **figures)


@pytest.mark.parametrize("setup", DEPLOYED)
def test_the_broker_restarted_mid_revocation(tmp_path: Path, setup: Setup) -> None:
    """The broker goes for five seconds a third of the way into a revocation and comes back empty
    (every queued or unacknowledged batch message is gone): every grant revoked, repeats within
    the bound."""
    with _deployed(tmp_path, setup, cuttable=True) as incidents:
        broker = incidents.broker
        assert broker is not None
        _a_third_revoked(incidents)
        at_cut: list[int] = []

        def cut(down: Cut = broker) -> None:
            down.cut()
            at_cut.append(incidents.settled())

        cut_at = time.monotonic()
        back = outage(cut, broker.restore)
        incidents.revoked_at_all(1, timeout=180)
        recovered = time.monotonic() - back
        settled, repeats = incidents.settled(), incidents.repeats()
        revoked = incidents.all_revoked()
    bound = in_flight_bound(threads=THREADS, batch=BATCH, width=WIDTH)
    _figure(
        setup,
        "broker restarted mid-revocation",
        tokens=TOKENS,
        settled_at_cut=at_cut[0],
        messages_lost=broker.lost[0],
        in_flight_bound=bound,
        sent_twice=repeats,
        outage_s=f"{back - cut_at:.1f}",
        back_to_revoked_s=f"{recovered:.1f}",
    )
    assert 0 < at_cut[0] < TOKENS  # the cut landed mid-revocation
    assert revoked and settled == TOKENS
    assert repeats <= 2 * bound  # two workers, each with at most the bound in flight


@pytest.mark.parametrize("setup", DEPLOYED)
def test_the_broker_restarted_mid_burst_with_events_queued(tmp_path: Path, setup: Setup) -> None:
    """Eight senders post a burst while both workers are paused, so the first third waits in the
    broker; the broker goes and comes back empty (the queued messages lost), the workers resume,
    the second third is sent during the outage (a 503 retried), the rest once it is back: every
    event answered 202 correlated exactly once."""
    with _deployed(tmp_path, setup, tokens=1, cuttable=True) as incidents:
        site, broker = incidents.site, incidents.broker
        assert broker is not None
        workers = [p for p in site.procs if p.log.name.startswith("worker")]
        for worker in workers:
            worker.pause()
        burst = Burst(site.base_url, setup, EVENTS)
        try:
            assert burst.first_third.wait(60)
            owed_at_cut: list[int] = []

            def cut(down: Cut = broker) -> None:
                down.cut()
                owed_at_cut.append(owed_events(site.store))
                for worker in workers:
                    worker.resume()

            cut_at = time.monotonic()
            back = outage(cut, broker.restore, burst)
            accounted = burst.check(site.store)
        finally:
            for worker in workers:
                worker.resume()
            burst.finish()
        recovered = time.monotonic() - back
    _figure(
        setup,
        "broker restarted mid-burst",
        events_accepted=EVENTS,
        answered_503=sum(burst.retries.values()),
        events_owed_at_cut=owed_at_cut[0],
        messages_lost=broker.lost[0],
        events_accounted=accounted,
        outage_s=f"{back - cut_at:.1f}",
        back_to_correlated_s=f"{recovered:.1f}",
    )
    assert owed_at_cut[0] >= EVENTS // 3  # the accepted first third was queued, not correlated
    assert broker.lost[0] > 0  # and the restart threw queued messages away


# The cut resets connections mid-handshake; a socket a library drops then is reported when the
# garbage collector meets it, in whatever code runs at that moment (as in test_service_restarts.py).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("setup", DEPLOYED)
def test_postgresql_restarted_mid_burst_and_mid_revocation(tmp_path: Path, setup: Setup) -> None:
    """PostgreSQL restarted for five seconds (every connection reset, new ones refused, every
    session of the database terminated: open transactions rolled back, pooled connections dead
    when next used) a third of the way into a revocation, with a burst's accepted events still
    owed: the API answers 503 while it cannot store an event (the senders retry), every event
    answered 202 is correlated exactly once, every grant ends revoked, repeats within the bound."""
    with _deployed(tmp_path, setup, store_cuttable=True) as incidents:
        site, store = incidents.site, incidents.store
        assert store is not None
        _a_third_revoked(incidents)
        burst = Burst(site.base_url, setup, EVENTS)
        at_cut: list[int] = []

        def cut(down: Cut = store) -> None:  # then read directly what the cut left owed
            down.cut()
            sending = site.read(lambda s: ledger_count(s, "sending"))
            at_cut.extend([incidents.settled(), owed_events(site.store), sending])

        try:
            wait_for(lambda: list(burst.statuses.values()).count(202) >= 10, timeout=60, what="ten accepted")
            cut_at = time.monotonic()
            back = outage(cut, store.restore, burst)
            accounted = burst.check(site.store)
        finally:
            burst.finish()
        critical = select(IncidentRow.revoked_at).where(IncidentRow.severity == "critical")
        wait_for(lambda: site.read(lambda s: s.scalar(critical)), timeout=180, what="the revocation done")
        recovered = time.monotonic() - back
        settled, repeats = incidents.settled(), incidents.repeats()
        revoked = incidents.all_revoked()
    refused = sum(burst.retries.values())
    bound = in_flight_bound(threads=THREADS, batch=BATCH, width=WIDTH)
    _figure(
        setup,
        "PostgreSQL restarted mid-burst and mid-revocation",
        tokens=TOKENS,
        settled_at_cut=at_cut[0],
        events_accepted=EVENTS,
        events_owed_at_cut=at_cut[1],
        sending_at_cut=at_cut[2],
        sessions_terminated=store.lost[0],
        answered_503=refused,
        events_accounted=accounted,
        in_flight_bound=bound,
        sent_twice=repeats,
        outage_s=f"{back - cut_at:.1f}",
        back_to_revoked_s=f"{recovered:.1f}",
    )
    assert 0 < at_cut[0] < TOKENS and at_cut[1] > 0  # the cut landed mid-revocation and mid-burst
    assert refused > 0  # the senders met the cut: 503, never a 202 for what could not be kept
    assert revoked and settled == TOKENS
    # no claim commits while the store is away: only tokens in ``sending`` at the cut can be sent
    # twice, and two workers hold at most the bound each
    assert repeats <= at_cut[2] <= 2 * bound


@pytest.mark.parametrize("setup", DEPLOYED)
def test_tiktok_answering_only_5xx_mid_revocation(tmp_path: Path, setup: Setup) -> None:
    """TikTok answers every revoke with a 5xx for eight seconds a third of the way in: the
    revocation slows down (the timeline says so), gives no token up, and ends with every grant
    revoked and none sent again after a 200."""
    with _deployed(tmp_path, setup) as incidents:
        site, sim = incidents.site, incidents.sim
        _a_third_revoked(incidents)
        sim.update_options(error_rate=1.0)
        down_at = time.monotonic()
        settled_down = incidents.settled()
        time.sleep(PROVIDER_OUTAGE)
        given_up = site.read(lambda s: ledger_count(s, "failed", "grant_lost"))
        settled_up = incidents.settled()
        sim.update_options(error_rate=0.0)
        up_at = time.monotonic()
        incidents.revoked_at_all(1, timeout=180)
        recovered = time.monotonic() - up_at
        settled, stats = incidents.settled(), sim.stats()
        revoked = incidents.all_revoked()
        slowed = site.read(
            lambda s: [d for d in s.scalars(select(TimelineEntryRow.data)) if (d or {}).get("retrying")]
        )
    _figure(
        setup,
        "TikTok 5xx mid-revocation",
        tokens=TOKENS,
        settled_at_outage=settled_down,
        answered_5xx=stats["revoke_answered_5xx"],
        tokens_refused_by_5xx=stats["tokens_answered_5xx"],
        sent_twice_after_200=stats["tokens_revoked_more_than_once"],
        outage_s=f"{up_at - down_at:.1f}",
        back_to_revoked_s=f"{recovered:.1f}",
    )
    assert settled_down < TOKENS and settled_up < TOKENS  # the outage landed mid-revocation
    assert stats["revoke_answered_5xx"] > 0 and slowed  # revokes met it; the timeline said so
    assert given_up == 0
    assert revoked and settled == TOKENS
    assert stats["tokens_revoked_more_than_once"] == 0
