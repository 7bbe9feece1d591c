"""Prove a revocation took: probe a sample of the revoked tokens; a survivor is revoked again and escalated.

A dead token answers ``GET /v2/user/info/?fields=open_id`` with 401 ``access_token_invalid``.
Each probe spends TikTok's user-info budget (600 per minute by default), so only a sample is
probed, through a limiter of its own (``tiktok_userinfo``, at ``tiktok_userinfo_rate``). The
sample is stored before the first probe and each result is committed as it comes, so a step
redone after a crash probes only what is left. Tokens appear only as fingerprints.

Each TikTok app of the revocation is sampled on its own (its revoked tokens, its sample) and
probed with its own client and limiters (TikTok counts limits per client key); the result gives
each app's figures under ``apps``. A Marketing API (business) app has no user-info probe: its
tokens are not sampled.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from enum import StrEnum
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.config import Settings
from orchestrator.logging import get_logger
from orchestrator.ports import Ports
from orchestrator.proof import verification
from orchestrator.proof.models import ProofRow, VerificationRow
from orchestrator.proof.verification import Verification
from orchestrator.ratelimit import (
    REVOKE_LIMITER,
    RateLimiter,
    RedisRateLimiter,
    StoreRateLimiter,
    app_limiter,
)
from orchestrator.retry import RetryPolicy, call_with_retry, next_delay
from orchestrator.revocation.batch import STATUS_FOR
from orchestrator.revocation.members import ledger_rows_of
from orchestrator.revocation.models import LedgerRow, RevocationRow
from orchestrator.settings_apps import DEFAULT_APP
from orchestrator.store.db import Store
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline
from orchestrator.tokens.fingerprint import fingerprint
from orchestrator.tokens.inventory import Scope, TokenInventory, TokenRecord
from orchestrator.tokens.provider import ProbeResult, ProbingProvider, RevokeResult

__all__ = [
    "USERINFO_LIMITER",
    "AppTools",
    "Verdict",
    "Verification",
    "limiter_with_rate",
    "probe_token",
    "sample_size",
    "verify_revocation",
]

log = get_logger(__name__)

USERINFO_LIMITER = "tiktok_userinfo"
PROBE_POLICY = RetryPolicy(max_attempts=4, base_delay=0.2, max_delay=5.0, max_retry_after=60.0)


class Verdict(StrEnum):
    """What a probe proved about one token."""

    DEAD = "dead"
    ALIVE = "alive"
    UNKNOWN = "unknown"  # 429/5xx through every attempt, or an answer that proves nothing


_VERDICTS = {ProbeResult.DEAD: Verdict.DEAD, ProbeResult.ALIVE: Verdict.ALIVE}


class AppTools(NamedTuple):
    """What probing one app's tokens takes: its client (None: a Marketing API app, which has no
    user-info probe) and its inventory (where the tokens are read from), with its client key."""

    client_key: str | None
    client: ProbingProvider | None
    inventory: TokenInventory | None


def sample_size(revoked: int, *, percent: float, minimum: int, maximum: int) -> int:
    """``percent`` of ``revoked``, at least ``minimum``, at most ``maximum``, never more than there are."""
    wanted = max(math.ceil(revoked * percent / 100), minimum)
    return max(0, min(wanted, maximum, revoked))


def limiter_with_rate(settings: Settings, store: Store, *, name: str, rate: float) -> RateLimiter:
    """A shared limiter called ``name`` at ``rate`` per second (Redis with a Redis broker, else the store)."""
    if settings.broker_url.startswith(("redis://", "rediss://")):
        return RedisRateLimiter(settings.broker_url, rate=rate, name=name)
    return StoreRateLimiter(store, rate=rate, name=name)


def probe_token(
    client: ProbingProvider,
    limiter: RateLimiter,
    token: str,
    *,
    policy: RetryPolicy = PROBE_POLICY,
    sleep: Callable[[float], None] = time.sleep,
) -> Verdict:
    """Probe one token within the budget; 429/5xx back off (and slow every prober), then UNKNOWN."""

    def attempt() -> ProbeResult:
        if limiter.rate > 0:
            limiter.acquire()
        return client.probe(token)

    result = call_with_retry(
        attempt,
        should_retry=lambda r: r is ProbeResult.RETRYABLE,
        # TikTok is straining: every prober waits a little
        on_retryable=lambda _r: limiter.penalise(next_delay(1, policy)),
        policy=policy,
        sleep=sleep,
    )
    return _VERDICTS.get(result, Verdict.UNKNOWN)


def _find_revocation(runtime: Ports, *, revocation_id: str | None, run_id: str, chain: str) -> str | None:
    with runtime.store.unit_of_work() as session:
        if revocation_id:
            return revocation_id if session.get(RevocationRow, revocation_id) is not None else None
        for column, value in ((RevocationRow.run_id, run_id), (RevocationRow.incident_id, chain)):
            found = session.scalar(
                select(RevocationRow.id)
                .where(column == value, RevocationRow.status == "finished")
                .order_by(RevocationRow.created_at.desc())
                .limit(1)
            )
            if found is not None:
                return str(found)
    return None


def _start(
    runtime: Ports,
    *,
    key: str,
    chain: str,
    revocation_id: str,
    wanted: Callable[[int], int],
    probed: Callable[[str], bool],
) -> int:
    """The verification row of ``key`` with its sample stored (created once): each app's own
    sample of its revoked tokens, for the apps ``probed`` says can be probed; returns its id."""
    with runtime.store.unit_of_work() as session:
        row = session.scalars(select(VerificationRow).where(VerificationRow.key == key)).first()
        if row is not None:
            return row.id
        revoked = LedgerRow.status == "revoked"
        row = VerificationRow(
            key=key, chain=chain, revocation_id=revocation_id, sample_size=0, created_at=clock.utcnow()
        )
        session.add(row)
        session.flush()
        now = clock.utcnow()
        for app, count in _revoked_by_app(session, revocation_id).items():
            if not probed(app):
                continue
            n = wanted(count)
            row.sample_size += n
            picked = session.execute(
                ledger_rows_of([revocation_id], LedgerRow.fingerprint, LedgerRow.open_id)
                .where(revoked, LedgerRow.app == app)
                .order_by(func.random())
                .limit(n)
            )
            for fp, open_id in picked:
                session.add(
                    ProofRow(
                        revocation_id=revocation_id,
                        verification_id=row.id,
                        app=app,
                        fingerprint=fp,
                        open_id=open_id,
                        source="probe",
                        result="pending",
                        at=now,
                    )
                )
        return row.id


def _revoked_by_app(session: Session, revocation_id: str) -> dict[str, int]:
    """How many of the revocation's tokens are revoked, by app."""
    rows = session.execute(
        ledger_rows_of([revocation_id], LedgerRow.app, func.count())
        .where(LedgerRow.status == "revoked")
        .group_by(LedgerRow.app)
    )
    return {str(app): int(n) for app, n in rows}


def _records(inventory: TokenInventory, open_ids: list[str], batch_size: int) -> dict[str, TokenRecord]:
    found: dict[str, TokenRecord] = {}
    if open_ids:
        for chunk in inventory.stream(Scope.of_open_ids(open_ids), batch_size):
            for record in chunk:
                found[fingerprint(record.access_token)] = record
    return found


class _Prober:
    """Probes the pending proofs of one verification with their app's client, committing each result."""

    def __init__(self, runtime: Ports, app: str, tools: AppTools, *, chain: str, actor: str) -> None:
        settings = runtime.settings
        assert tools.client is not None  # only apps that can be probed are sampled
        self.runtime, self.client, self.chain, self.actor = runtime, tools.client, chain, actor
        self.userinfo = limiter_with_rate(
            settings,
            runtime.store,
            name=app_limiter(USERINFO_LIMITER, app),
            rate=settings.tiktok_userinfo_rate,
        )
        self.revoke_limiter = limiter_with_rate(
            settings,
            runtime.store,
            name=app_limiter(REVOKE_LIMITER, app),
            rate=settings.app(app).revoke_rate,
        )

    def probe(self, proof_id: int, record: TokenRecord | None) -> None:
        detail: str | None = None
        if record is None:
            verdict, detail = "gone", "no longer in the inventory"
        else:
            verdict = probe_token(self.client, self.userinfo, record.access_token).value
        with self.runtime.store.unit_of_work() as session:
            proof = session.get(ProofRow, proof_id)
            if proof is None or proof.result != "pending":
                return
            proof.result, proof.detail, proof.at = verdict, detail, clock.utcnow()
            revocation_id, fp, open_id = proof.revocation_id, proof.fingerprint, proof.open_id
        if verdict == Verdict.ALIVE.value and record is not None:
            self.survivor(revocation_id, proof_id, fp, open_id, record)

    def survivor(self, revocation_id: str, proof_id: int, fp: str, open_id: str, record: TokenRecord) -> None:
        """A revoked token still works: alarm, revoke it again, probe again, escalate to a person."""
        log.error("proof.token_still_alive", token_fingerprint=fp[:16], revocation_id=revocation_id)
        if self.revoke_limiter.rate > 0:
            self.revoke_limiter.acquire()
        outcome = self.client.revoke_grant(record.access_token, record.refresh_token)
        again = STATUS_FOR.get(
            outcome.result, "failed" if outcome.result is RevokeResult.FATAL else "pending"
        )
        after = probe_token(self.client, self.userinfo, record.access_token)
        with self.runtime.store.unit_of_work() as session:
            proof = session.get(ProofRow, proof_id)
            session.add(
                ProofRow(
                    revocation_id=revocation_id,
                    verification_id=proof.verification_id if proof else None,
                    fingerprint=fp,
                    open_id=open_id,
                    source="probe",
                    result=after.value,
                    detail=f"after revoking again: {again}",
                    at=clock.utcnow(),
                )
            )
            verification = session.get(VerificationRow, proof.verification_id) if proof else None
            if verification is not None:
                verification.escalate = True
            data = {
                "revocation_id": revocation_id,
                "fingerprint": fp,
                "open_id": open_id,
                "revoked_again": again,
                "log_id": outcome.log_id,
                "dead_now": after is Verdict.DEAD,
                "escalate": True,
            }
            timeline.append_entry(
                session,
                chain=self.chain,
                actor=self.actor,
                kind=kinds.TOKEN_STILL_ALIVE,
                message=(
                    f"ALARM: a revoked token of {open_id} (fingerprint {fp[:16]}) still worked; revoked "
                    f"again ({again}), {'now dead' if after is Verdict.DEAD else 'STILL NOT PROVEN DEAD'}"
                    "; escalated to a person"
                ),
                data=data,
            )
            timeline.append_entry(
                session,
                chain=self.chain,
                actor=self.actor,
                kind=kinds.REVOCATION_ALARM,
                message="Escalate to a person: a token survived its revocation (TikTok answered success)",
                data={"revocation_id": revocation_id, "reason": "token_survived_revocation", "count": 1},
            )


def verify_revocation(
    runtime: Ports,
    *,
    key: str,
    chain: str,
    actor: str,
    run_id: str,
    tools: Callable[[str], AppTools],
    percent: float,
    minimum: int,
    maximum: int,
    revocation_id: str | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Verification:
    """Probe a sample of each app's tokens of a finished revocation (the run's latest unless
    named), each with ``tools(app)``; idempotent by ``key``."""
    found = _find_revocation(runtime, revocation_id=revocation_id, run_id=run_id, chain=chain)
    if found is None:
        return Verification(revocation_id=None, skipped="no finished revocation to verify")
    with runtime.store.unit_of_work() as session:
        apps = session.scalar(select(RevocationRow.apps).where(RevocationRow.id == found)) or [DEFAULT_APP]
    if all(tools(app).client is None for app in apps):
        return Verification(revocation_id=None, skipped="the Marketing API has no user-info probe")

    def wanted(revoked: int) -> int:
        return sample_size(revoked, percent=percent, minimum=minimum, maximum=maximum)

    probed = {app for app in apps if tools(app).client is not None}
    verification_id = _start(
        runtime, key=key, chain=chain, revocation_id=found, wanted=wanted, probed=probed.__contains__
    )
    with runtime.store.unit_of_work() as session:
        pending = list(
            session.execute(
                select(ProofRow.id, ProofRow.app, ProofRow.fingerprint, ProofRow.open_id).where(
                    ProofRow.verification_id == verification_id, ProofRow.result == "pending"
                )
            )
        )
        revoked = _revoked_by_app(session, found)
    for app in sorted({app for _, app, _, _ in pending}):
        inventory = tools(app).inventory
        assert inventory is not None
        mine = [(proof_id, fp, open_id) for proof_id, of, fp, open_id in pending if of == app]
        records = _records(inventory, sorted({open_id for _, _, open_id in mine}), 500)
        prober = _Prober(runtime, app, tools(app), chain=chain, actor=actor)
        for proof_id, fp, _open_id in mine:
            if cancelled():
                break
            prober.probe(proof_id, records.get(fp))
    by_app, results, survivors = verification.results(runtime.store, verification_id)
    counts: dict[str, int] = {}
    for verdicts in by_app.values():
        for verdict, n in verdicts.items():
            counts[verdict] = counts.get(verdict, 0) + n
    figures = {
        app: {
            "client_key": tools(app).client_key,
            "revoked": revoked.get(app, 0),
            "sample_size": sum(by_app.get(app, {}).values()),
            **{k: by_app.get(app, {}).get(k, 0) for k in verification.VERDICT_KEYS},
            **({} if app in probed else {"skipped": "the Marketing API has no user-info probe"}),
        }
        for app in apps
    }
    result = Verification(
        revocation_id=found,
        revoked=sum(revoked.values()),
        sample_size=sum(counts.values()),
        counts=counts,
        survivors=survivors,
        apps=figures,
    )
    verification.finish(
        runtime.store, verification_id, result, results, chain=chain, actor=actor, now=clock.utcnow()
    )
    return result
