"""Revoke one batch on a worker: claim tokens in the ledger, call TikTok, record outcomes.

A batch holds the tokens of one TikTok app, sent with that app's credentials and under its own
rate limiter (TikTok counts limits per client key): the provider, the inventory and the limiter
are one per process and app, so the apps of a revocation revoke in parallel, each at its rate.

A token is claimed (``sending``) in the ledger before its request leaves, and its
outcome is committed right after, so a token once revoked is never sent again. The batch
row is leased to one worker at a time (store/lease.py); a claim left by a worker whose
lease ran out is settled by probing the token (dead: revoked, no second revoke) rather
than by sending it again. Retryable answers (429, 5xx, timeouts)
back off with jitter and slow every worker down through the shared limiter; a token still
failing after the attempts of one pass stays pending and the batch is sent again later by
the relay.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from queue import SimpleQueue

from sqlalchemy import select, update

from orchestrator import clock, ids
from orchestrator.logging import get_logger
from orchestrator.ports import Ports
from orchestrator.ratelimit import REVOKE_LIMITER, RateLimiter, app_limiter, limiter_for
from orchestrator.retry import RetryPolicy, call_with_retry
from orchestrator.revocation import alarms, flows, ledger, progress
from orchestrator.revocation.ledger import Claimed, Outcome
from orchestrator.revocation.models import BatchRow, LedgerRow, RevocationRow
from orchestrator.store import outbox
from orchestrator.store.lease import Lease, lease_seconds
from orchestrator.tokens.fingerprint import fingerprint
from orchestrator.tokens.inventory import Scope, TokenRecord
from orchestrator.tokens.provider import (
    ProbeResult,
    ProbingProvider,
    RevocationProvider,
    RevokeOutcome,
    RevokeResult,
)

__all__ = ["STATUS_FOR", "revoke_batch"]

log = get_logger(__name__)

STATUS_FOR = {
    RevokeResult.REVOKED: "revoked",
    RevokeResult.ALREADY_DEAD: "already_dead",
    RevokeResult.GRANT_LOST: "grant_lost",
    RevokeResult.FATAL: "failed",
}
_POLICY = RetryPolicy(max_attempts=6, base_delay=0.2, max_delay=5.0, max_retry_after=60.0)
_ALARM_CODES = frozenset({"invalid_client", "40001"})
_STOCK_EVERY_S = 1.0


def _revoke_one(provider: RevocationProvider, limiter: RateLimiter, record: TokenRecord) -> RevokeOutcome:
    shared = limiter.rate > 0  # rate 0 (simulators, benchmarks): no client-side limit at all
    ambiguous = False  # an earlier attempt may have reached TikTok (timeout, dropped connection, 5xx)

    def attempt() -> RevokeOutcome:
        nonlocal ambiguous
        if shared:
            limiter.acquire()
        outcome = provider.revoke_grant(record.access_token, record.refresh_token)
        if outcome.result is RevokeResult.GRANT_LOST and ambiguous:
            # Our own earlier attempt most likely revoked it: "dead" then "refresh refused" is that.
            return dataclasses.replace(
                outcome,
                result=RevokeResult.REVOKED,
                description="revoked by an earlier attempt whose answer was lost",
            )
        if outcome.result is RevokeResult.RETRYABLE:
            ambiguous = ambiguous or outcome.http_status is None or outcome.http_status >= 500
        return outcome

    def penalise(outcome: RevokeOutcome) -> None:
        if shared and (outcome.http_status == 429 or outcome.error_code == "rate_limit_exceeded"):
            limiter.penalise(outcome.retry_after or 1.0)  # slow every worker down, not just this one

    return call_with_retry(
        attempt,
        should_retry=lambda o: o.result is RevokeResult.RETRYABLE,
        retry_after=lambda o: o.retry_after,
        on_retryable=penalise,
        policy=_POLICY,
    )


class _Batch:
    def __init__(
        self,
        runtime: Ports,
        batch_id: int,
        revocation_id: str,
        app_name: str,
        open_ids: Sequence[str],
    ) -> None:
        self.runtime, self.batch_id, self.revocation_id = runtime, batch_id, revocation_id
        self._stock_at = time.monotonic()
        settings = runtime.settings
        app = settings.app(app_name)
        self.app, self.client_key = app.name, app.client_key
        self.provider = runtime.revocation_provider(app.name)
        # One limiter per process and app: a store limiter hands out slots in windows, and a
        # limiter per batch dropped each window's unused tail (threads of other batches could not
        # take it). The app ``default`` keeps the limiter name of single-app releases.
        limiter = app_limiter(REVOKE_LIMITER, app.name)
        self.limiter = runtime.shared(
            f"tiktok.revoke_limiter:{app.name}",
            lambda: limiter_for(settings, runtime.store, name=limiter, rate=app.revoke_rate),
        )
        self.worker_id = ids.random_hex()
        self._halt_checked = 0.0
        self._refused: str | None = None  # the code TikTok refused this app's credentials with
        self.inventory = runtime.token_inventory(app.name)
        self.records: dict[str, TokenRecord] = {}
        self.load(open_ids)

    def load(self, open_ids: Sequence[str]) -> None:
        """Read the tokens of ``open_ids`` from the inventory (a batch's own, or named rows it took)."""
        size = self.runtime.settings.revocation_batch_size
        for chunk in self.inventory.stream(Scope.of_open_ids(list(open_ids)), size):
            for record in chunk:
                self.records[fingerprint(record.access_token)] = record

    def rows(self, status: str) -> list[tuple[int, str]]:
        with self.runtime.store.unit_of_work() as session:
            return [
                (row_id, fp)
                for row_id, fp in session.execute(
                    select(LedgerRow.id, LedgerRow.fingerprint).where(
                        LedgerRow.batch_id == self.batch_id, LedgerRow.status == status
                    )
                )
            ]

    def exchange(self, outcomes: list[Outcome], ids: list[int]) -> list[Claimed]:
        """Record the outcomes and claim the next rows in one commit: named rows waiting in any
        batch first (as many as ``ids``), then those of ``ids`` still pending."""
        with self.runtime.store.unit_of_work() as session:
            connection = session.connection()
            ledger.record(connection, outcomes, self.worker_id)
            named = (
                ledger.claim_first(
                    connection,
                    len(ids),
                    self.worker_id,
                    batch_id=self.batch_id,
                    revocation_id=self.revocation_id,
                    app=self.app,
                )
                if ids
                else []
            )
            claimed = named + ledger.claim(connection, ids, self.worker_id)
        missing = [item.open_id for item in named if item.fingerprint not in self.records]
        if missing:
            self.load(missing)
        if outcomes:
            self.take_stock()
        return claimed

    def take_stock(self) -> None:
        """The tallies just changed: the progress notes due (TikTok failing, 10 % milestones) and
        a revocation's end are written now, not when this batch ends, at most once a second."""
        if time.monotonic() - self._stock_at < _STOCK_EVERY_S:
            return
        self._stock_at = time.monotonic()
        with self.runtime.transaction() as session:
            due = flows.take_stock(session, settings=self.runtime.settings)
        progress.note_progress(self.runtime, due)

    def settle_stale(self) -> None:
        """Claims left in the batch belong to a worker whose lease ran out (it died): a token it
        may have sent is probed, and sent again only if it still works."""
        with self.runtime.store.unit_of_work() as session:
            stale = list(
                session.execute(
                    select(LedgerRow.id, LedgerRow.fingerprint, LedgerRow.open_id).where(
                        LedgerRow.batch_id == self.batch_id, LedgerRow.status == "sending"
                    )
                )
            )
            missing = [open_id for _, fp, open_id in stale if fp not in self.records]
            if missing:  # named rows this batch took from others
                self.load(missing)
            for row_id, fp, _open_id in stale:
                status, error = "pending", None
                record = self.records.get(fp)
                if record is None:
                    status, error = "gone", "no longer in the inventory"
                elif (
                    isinstance(self.provider, ProbingProvider)
                    and self.provider.probe(record.access_token) is ProbeResult.DEAD
                ):
                    status, error = "revoked", "in flight when a worker died; probe confirms it is dead"
                session.execute(
                    update(LedgerRow)
                    .where(LedgerRow.id == row_id, LedgerRow.status == "sending")
                    .values(status=status, error=error, claimed_by=None, updated_at=clock.utcnow())
                )

    def run(self) -> bool:
        """Revoke every pending token of the batch; True when none is left pending or in flight.

        Requests stay ``revocation_concurrency`` deep: a slow or retried token holds back only
        its own thread, and outcomes are committed in groups as they arrive.
        """
        self.settle_stale()
        pending = [row_id for row_id, _ in self.rows("pending")]
        width = self.runtime.settings.revocation_concurrency
        outcomes: list[Outcome] = []
        # Finished requests arrive on a queue: waiting on the set of futures in flight cost
        # this thread a lock on every one of them for every token.
        finished: SimpleQueue[Future[Outcome]] = SimpleQueue()
        in_flight = 0
        with ThreadPoolExecutor(max_workers=width, thread_name_prefix="revoke") as pool:
            for start in range(0, len(pending), width):
                if self.halted() or self.runtime.draining.is_set():
                    break
                for item in self.exchange(outcomes, pending[start : start + width]):
                    pool.submit(self.revoke, item).add_done_callback(finished.put)
                    in_flight += 1
                outcomes = []
                while in_flight >= 2 * width:
                    outcomes.append(finished.get().result())
                    in_flight -= 1
            while in_flight:
                outcomes.append(finished.get().result())
                in_flight -= 1
                if len(outcomes) >= 2 * width:
                    self.exchange(outcomes, [])
                    outcomes = []
        self.exchange(outcomes, [])
        if self.halted(fresh=True):
            self.fail_refused()
        return not self.rows("pending") and not self.rows("sending")

    def revoke(self, item: Claimed) -> Outcome:
        row_id, fp, _open_id = item
        record = self.records.get(fp)
        if record is None:
            return row_id, "gone", "no longer in the inventory", None
        if self.halted():
            return row_id, "pending", "revocation halted by an alarm", None
        if self.runtime.draining.is_set():  # queued behind the pool: hand it back unsent
            return row_id, "pending", "handed back: the worker is stopping", None
        outcome = _revoke_one(self.provider, self.limiter, record)
        refused = outcome.result is RevokeResult.FATAL and (outcome.error_code or "") in _ALARM_CODES
        if refused and self._refused is None:
            self.raise_alarm(outcome)
        status = STATUS_FOR.get(outcome.result, "pending")
        error = (
            None if status in ("revoked", "already_dead") else (outcome.error_code or outcome.result.value)
        )
        return row_id, status, error, outcome.log_id

    def halted(self, *, fresh: bool = False) -> bool:
        """True once TikTok refused this batch's app's credentials in this revocation (read from
        the store at most twice a second): its other apps go on."""
        now = time.monotonic()
        if fresh or now - self._halt_checked >= 0.5:
            self._halt_checked = now
            with self.runtime.store.unit_of_work() as session:
                found = session.scalar(
                    select(RevocationRow.alarms).where(RevocationRow.id == self.revocation_id)
                )
            self._refused = alarms.refused(found, self.app)
        return self._refused is not None

    def fail_refused(self) -> None:
        """Settle the tokens of the app left pending (planned or handed back after the refusal)
        as failed: the revocation can then finish once its other apps' are settled."""
        with self.runtime.transaction() as session:
            alarms.fail_pending(
                session.connection(),
                revocation_id=self.revocation_id,
                app=self.app,
                error=self._refused or "refused",
            )

    def raise_alarm(self, outcome: RevokeOutcome) -> None:
        """TikTok refused this app's credentials: its tokens stop here, the other apps' go on."""
        with self.runtime.transaction() as session:
            if alarms.refuse_app(
                session,
                self.revocation_id,
                app=self.app,
                client_key=self.client_key,
                error_code=outcome.error_code or "refused",
                log_id=outcome.log_id,
            ):
                log.error(
                    "revocation of an app halted: credentials refused",
                    error_code=outcome.error_code,
                    app=self.app,
                    client_key=self.client_key,
                )
        self._halt_checked, self._refused = time.monotonic(), outcome.error_code or "refused"


def revoke_batch(runtime: Ports, *, outbox_id: int) -> None:
    """Worker entry for ``revocation.batch``: revoke a batch; the row completes when it is done.

    The commit that ends a pass also takes stock of the revocations (``flows.take_stock``): the
    one that settles a revocation's last token finishes it, and the incidents whose timelines
    changed are owed fresher cards in that commit (a notifications worker talks to Slack, so
    a slow Slack never holds a revoking thread).
    """
    with runtime.transaction() as session:
        row = outbox.claim(session, outbox_id)
        if row is None:
            return
        batch = session.get(BatchRow, int(row.ref_id))
        revocation = session.get(RevocationRow, batch.revocation_id) if batch else None
        now = clock.utcnow()
        if batch is None or revocation is None or batch.done or revocation.status == "finished":
            outbox.complete(row, now)
            return
        if batch.lease_until is not None and batch.lease_until > now:
            # Another worker holds it: this send goes uncounted, but the count is not reset (a
            # holder that died leaves its lease to run out, and each death must count, or a
            # batch that kills every worker taking it would be sent for ever).
            outbox.resend_later(session, row.id, now, progress=False)
            return
        lease = lease_seconds(runtime.settings.redeliver_after_seconds)
        batch.lease_until = now + timedelta(seconds=lease)
        batch_id, revocation_id, app, open_ids = batch.id, revocation.id, batch.app, list(batch.open_ids)
    renewal = Lease(runtime.store, BatchRow, lease, BatchRow.id == batch_id)
    with renewal:
        work = _Batch(runtime, batch_id, revocation_id, app, open_ids)  # reads the inventory outside any lock
        finished = work.run()
    with runtime.transaction() as session:
        if finished:
            row = outbox.claim(session, outbox_id)
            session.execute(
                update(BatchRow).where(BatchRow.id == batch_id).values(done=True, lease_until=None)
            )
            if row is not None:
                outbox.complete(row, clock.utcnow())
        elif runtime.draining.is_set():  # handed back: the relay gives it to another worker at once
            session.execute(update(BatchRow).where(BatchRow.id == batch_id).values(lease_until=None))
            outbox.mark_unsent(session, [outbox_id])
        else:  # tokens left pending: free the batch; the relay sends it again soon
            session.execute(update(BatchRow).where(BatchRow.id == batch_id).values(lease_until=None))
            outbox.resend_later(session, outbox_id, clock.utcnow())
        # Revocation rows are locked before timelines, in every transaction: the other order
        # deadlocked against a worker taking stock at the same moment.
        due = flows.take_stock(session, settings=runtime.settings)
        if not finished and runtime.draining.is_set():
            progress.note_paused(session, revocation_id, handed_back=len(work.rows("pending")))
    progress.note_progress(runtime, due)
