"""Several critical incidents at once against real orchestrator processes and the TikTok simulator.

``deployment`` starts the embedded default (``orchestrator up``) or the layout operators run
(``serve``, N ``worker`` processes and the ``scheduler`` on PostgreSQL with Redis or RabbitMQ),
with a JSON-lines inventory of simulated grants; ``Incidents`` posts critical events with
distinct identities over HTTP and reads what became of them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy import func, select

from orchestrator.incidents.models import IncidentRow
from orchestrator.revocation.models import LedgerRow
from orchestrator.routing import QUEUES
from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator
from tests.support.brokers import RedisServer, rabbitmq_vhost
from tests.support.faults import TcpProxy
from tests.support.kills import Site
from tests.support.processes import free_port, wait_for
from tests.support.services import AMQP_URL, postgres_database, terminate_sessions

Setup = Literal["embedded", "redis", "rabbitmq"]


@dataclass
class Cut:
    """How a test restarts a service of the deployment: ``cut`` takes it away, ``restore`` brings
    it back. The private Redis is SIGKILLed and started again empty. RabbitMQ and PostgreSQL are
    the machine's, behind a :class:`TcpProxy` that resets every connection and refuses new ones;
    behind the cut the queues of RabbitMQ's vhost are deleted (every message gone), and every
    session of PostgreSQL's database is terminated as it is cut, as their restarts would. ``lost``:
    what each cut threw away (messages the broker held, sessions of the database)."""

    away: Callable[[], int]  # takes the service away; what it lost
    restore: Callable[[], None]
    lost: list[int] = field(default_factory=list)

    def cut(self) -> None:
        self.lost.append(self.away())


def _proxied(stack: ExitStack, url: str, port: int) -> TcpProxy:
    parts = urlsplit(url)
    return stack.enter_context(TcpProxy(parts.hostname or "127.0.0.1", parts.port or port))


def _restartable_store(stack: ExitStack, direct: str) -> tuple[str, Cut]:
    """The URL the processes reach PostgreSQL's database by (a proxy), and its restart."""
    proxy = _proxied(stack, direct, 5432)

    def away() -> int:
        """As a fast shutdown does: every session told and ended (the processes' pooled connections
        dead when next used), then no connection taken; and any made in between ended too."""
        ended = terminate_sessions(direct)
        proxy.cut()
        return ended + terminate_sessions(direct)

    return proxy.url(direct), Cut(away, proxy.restore)


def _broker(stack: ExitStack, tmp: Path, setup: Setup, cuttable: bool) -> tuple[str, Cut | None]:
    """The broker URL the processes use, and its restart (RabbitMQ's only when ``cuttable``)."""
    if setup == "redis":
        redis = RedisServer(free_port(), tmp)
        redis.start()
        stack.callback(redis.kill)

        def kill() -> int:
            held = redis.messages()
            redis.kill()
            return held

        return redis.url, Cut(kill, redis.start)
    vhost = stack.enter_context(rabbitmq_vhost(AMQP_URL))
    if not cuttable:
        return vhost.url, None
    proxy = _proxied(stack, vhost.url, 5672)

    def empty() -> int:
        proxy.cut()
        return vhost.empty(QUEUES)

    return proxy.url(vhost.url), Cut(empty, proxy.restore)


@dataclass
class Incidents:
    """The site, its simulator and its grants (JSON records), and the incidents posted."""

    site: Site
    sim: TikTokSimulator
    grants: list[dict[str, str]]
    broker: Cut | None = None
    store: Cut | None = None

    def post_critical(self, n: int, *, named: int = 2, prefix: str = "detector") -> float:
        """``n`` critical events with distinct identities, all at once (each naming ``named``
        grants, taken from the end of the inventory); returns when the first was sent."""

        def send(i: int) -> int:
            named_ids = [g["open_id"] for g in self.grants[-(i + 1) * named :][:named]]
            return self.site.post(
                {
                    "title": f"{prefix} {i}: TikTok tokens used from a new country",
                    "kind": "credential.leak",
                    "severity": "critical",
                    "dedup_key": f"{prefix}-{i}",
                    "entities": {"open_ids": named_ids},
                }
            )

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=n) as pool:
            assert sorted(pool.map(send, range(n))) == [202] * n
        return started

    def revoked_at_all(self, n: int, *, timeout: float) -> list[IncidentRow]:
        """Wait until ``n`` incidents exist and each has ``revoked_at``; a timeout says how many did."""

        def done() -> list[IncidentRow] | None:
            rows = self.site.read(lambda s: list(s.scalars(select(IncidentRow))))
            revoked = [r for r in rows if r.revoked_at is not None]
            if len(rows) >= n and len(revoked) == len(rows):
                return rows
            raise AssertionError(f"{len(revoked)} of {len(rows)} incidents revoked, {self.settled()} tokens")

        return wait_for(done, timeout=timeout, what=f"{n} incidents to reach revoked_at")

    def settled(self) -> int:
        query = (
            select(func.count())
            .select_from(LedgerRow)
            .where(LedgerRow.status.in_(("revoked", "already_dead")))
        )
        return int(self.site.read(lambda s: s.scalar(query)) or 0)

    def repeats(self) -> int:
        """Revoke requests beyond the first for each grant, as the simulator counted them."""
        return sum(max(0, self.sim.revoke_calls(g["access_token"]) - 1) for g in self.grants)

    def all_revoked(self) -> bool:
        """Whether the simulator holds every grant of the inventory revoked."""
        return all(self.sim.is_grant_revoked(g["access_token"]) for g in self.grants)


@contextmanager
def deployment(
    tmp: Path,
    setup: Setup,
    *,
    tokens: int,
    rate: float,
    workers: int = 1,
    worker_args: tuple[str, ...] = (),
    labels: dict[int, dict[str, str]] | None = None,
    cuttable: bool = False,
    store_cuttable: bool = False,
    **settings: str,
) -> Iterator[Incidents]:
    """The orchestrator as ``setup`` deploys it, revoking at ``rate`` per second against a
    simulator that refuses more than that over a minute; ``labels`` by grant index. ``cuttable``
    puts RabbitMQ behind a :class:`TcpProxy` so ``Incidents.broker`` can restart it (Redis is a
    private server, always restartable); ``store_cuttable`` puts PostgreSQL behind one for
    ``Incidents.store`` (the test reads the database directly, through any cut: a terminated
    session of its own is replaced when next used)."""
    with ExitStack() as stack:
        sim = stack.enter_context(
            TikTokSimulator(SimulatorOptions(rate_limit_per_minute=int(rate * 60), latency_ms=2, seed=5))
        )
        grants = [r.as_json() for r in sim.iter_issue_tokens(tokens)]
        inventory = tmp / "tokens.jsonl"
        with inventory.open("w") as out:
            for i, grant in enumerate(grants):
                out.write(json.dumps({**grant, "labels": (labels or {}).get(i, {})}) + "\n")
        wired = {
            "tiktok_api_base": sim.base_url,
            "tiktok_client_key": sim.options.client_key,
            "tiktok_client_secret": sim.options.client_secret,
            "token_inventory": str(inventory),
            "tiktok_revoke_rate": f"{rate:g}",
            **settings,
        }
        broker: Cut | None = None
        store: Cut | None = None
        direct: str | None = None
        if setup != "embedded":
            wired["database_url"] = direct = stack.enter_context(postgres_database())
            if store_cuttable:
                wired["database_url"], store = _restartable_store(stack, direct)
            wired["broker_url"], broker = _broker(stack, tmp, setup, cuttable)
        site = Site(tmp, observe_url=direct, **wired)
        stack.callback(site.close)
        if setup == "embedded":
            site.start("up")
        else:
            site.start("serve")
            for _ in range(workers):
                site.start("worker", *worker_args)
            site.start("scheduler")
        site.healthy()
        wait_for(  # the first event after start is issue 25's to speed up; this one measures revocation
            lambda: (
                sum(p.log.read_text(errors="replace").count(" ready.") for p in site.procs if p.log.exists())
                >= (1 if setup == "embedded" else workers)
            ),
            timeout=60,
            what="the workers to consume",
        )
        yield Incidents(site, sim, grants, broker, store)
