"""``POST /v1/tiktok/webhook``: TikTok's signed webhook events, ``authorization.removed`` as its receipt.

TikTok signs each delivery with ``TikTok-Signature: t=<unix seconds>,s=<hex>``, where ``s`` is
HMAC-SHA256 keyed with the app's client secret over ``"<t>.<raw body>"``; with several TikTok
apps, the app whose secret signed a delivery is the app it concerns, and its receipt is matched
to that app's tokens only. The signature is
checked on the raw bytes before anything is parsed; a timestamp more than five minutes off
(checked first), a wrong signature or one already seen gets one and the same 401. TikTok's body is
``{client_key, event, create_time, user_openid, content}`` with ``content`` a JSON string;
for ``authorization.removed`` it holds ``{"reason": n}`` (5 = the developer revoked it).
Reason 5 is recorded as TikTok's confirmation that the token is dead; any other reason
(user disconnected, account deleted, banned...) marks the token gone in the ledger.
TikTok delivers at least once, so recording is idempotent.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select, update
from starlette.concurrency import run_in_threadpool

from orchestrator import clock
from orchestrator.errors import AuthenticationFailed, OrchestratorError
from orchestrator.inbound.bodies import read_body
from orchestrator.inbound.replay import ReplayGuard, StoreReplayGuard
from orchestrator.inbound.signatures import Delivery, verify_signed
from orchestrator.logging import get_logger
from orchestrator.ports import Ports
from orchestrator.proof.models import ProofRow
from orchestrator.revocation.models import LedgerRow, MemberRow, RevocationRow
from orchestrator.settings_apps import DEFAULT_APP, TikTokApp
from orchestrator.store.db import Store
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline

__all__ = [
    "REASONS",
    "ReceiptRejected",
    "TikTokEvent",
    "parse_event",
    "record_receipt",
    "router",
    "signed_by",
    "verify_signature",
]

log = get_logger(__name__)

router = APIRouter()

TOLERANCE_SECONDS: Final = 300
REJECTED: Final = "invalid TikTok-Signature"
MAX_BODY: Final = 64 * 1024
DEVELOPER_REVOKE: Final = 5
REASONS: Final = {
    0: "unknown",
    1: "the user disconnected from the TikTok app",
    2: "the user's account was deleted",
    3: "the user's age changed",
    4: "the user's account was banned",
    5: "the developer revoked the authorization",
}
"""``authorization.removed`` reasons as TikTok documents them."""


class ReceiptRejected(OrchestratorError):
    """A webhook delivery that must not be trusted: missing, malformed, wrong, stale or replayed."""


def verify_signature(header: str | None, raw: bytes, *, secret: str, now: float, replay: ReplayGuard) -> str:
    """Check ``TikTok-Signature`` over the raw body and take the delivery once; returns its
    replay key. The check is every signed webhook's (``inbound/signatures.py``): the time
    before the signature, and one answer whatever failed, since an answer that told a stale
    delivery from a forged one would confirm that a captured, old delivery is genuine."""
    parts: dict[str, str] = {}
    for element in (header or "").split(",")[:10]:
        prefix, _, value = element.strip().partition("=")
        parts[prefix.strip()] = value.strip()
    stamp = parts.get("t", "")
    delivery = Delivery(stamp.encode("ascii", "replace") + b"." + raw, [parts.get("s", "")], stamp)
    try:
        return verify_signed(
            "tiktok-webhook", delivery, secrets=[secret.encode()], now=now, window=TOLERANCE_SECONDS,
            remember_for=2 * TOLERANCE_SECONDS, replay=replay, failure=REJECTED,
        )  # fmt: skip
    except AuthenticationFailed as exc:
        raise ReceiptRejected(REJECTED) from exc


@dataclass(frozen=True)
class TikTokEvent:
    """One webhook event as TikTok documents it; ``reason`` only for ``authorization.removed``."""

    client_key: str
    event: str
    create_time: int | None
    open_id: str
    reason: int | None


def parse_event(raw: bytes) -> TikTokEvent:
    """The documented body; ValueError when it is not one."""
    body = json.loads(raw)
    if not isinstance(body, dict) or not isinstance(body.get("event"), str):
        raise ValueError("expected a JSON object with an 'event'")
    reason: int | None = None
    content = body.get("content")
    if isinstance(content, str) and content.strip():
        inner = json.loads(content)
        if isinstance(inner, dict) and isinstance(inner.get("reason"), int):
            reason = inner["reason"]
    created = body.get("create_time")
    return TikTokEvent(
        client_key=str(body.get("client_key", "")),
        event=body["event"],
        create_time=created if isinstance(created, int) else None,
        open_id=str(body.get("user_openid", "")),
        reason=reason,
    )


def signed_by(
    apps: Sequence[TikTokApp], header: str | None, raw: bytes, *, now: float, replay: ReplayGuard
) -> str:
    """The app whose client secret signed ``raw`` (the delivery taken once); one and the same
    ReceiptRejected when none did. The replay memory is asked only once a secret matched."""
    for app in apps:
        if app.client_secret is None:
            continue
        try:
            verify_signature(header, raw, secret=app.client_secret.get_secret_value(), now=now, replay=replay)
        except ReceiptRejected:
            continue
        return app.name
    raise ReceiptRejected(REJECTED)


def record_receipt(
    store: Store, event: TikTokEvent, *, app: str = DEFAULT_APP, actor: str = "tiktok:webhook"
) -> dict[str, Any]:
    """Record an ``authorization.removed`` of ``app`` against the latest revocation naming its open_id."""
    if event.event != "authorization.removed" or not event.open_id:
        return {"recorded": False, "why": f"event {event.event!r} needs no action"}
    reason = event.reason if event.reason is not None else 0
    confirms = reason == DEVELOPER_REVOKE
    with store.unit_of_work() as session:
        rows = list(
            session.execute(
                select(
                    LedgerRow.id,
                    LedgerRow.fingerprint,
                    LedgerRow.status,
                    RevocationRow.id,
                    RevocationRow.incident_id,
                    RevocationRow.run_id,
                )
                .join(MemberRow, MemberRow.ledger_id == LedgerRow.id)
                .join(RevocationRow, RevocationRow.id == MemberRow.revocation_id)
                .where(LedgerRow.open_id == event.open_id, LedgerRow.app == app)
                .order_by(RevocationRow.created_at.desc(), LedgerRow.id)
            )
        )
        if not rows:
            log.warning("proof.receipt_unmatched", open_id=event.open_id, reason=reason)
            return {"recorded": False, "why": "no revocation names this open_id"}
        revocation_id, incident_id, run_id = rows[0][3], rows[0][4], rows[0][5]
        mine = [row for row in rows if row[3] == revocation_id]
        now = clock.utcnow()
        for _ledger_id, fp, _status, *_ in mine:
            session.add(
                ProofRow(
                    revocation_id=revocation_id,
                    app=app,
                    fingerprint=fp,
                    open_id=event.open_id,
                    source="receipt",
                    result="dead" if confirms else "gone",
                    detail=f"authorization.removed reason {reason}",
                    at=now,
                )
            )
        if not confirms:  # the user left: nothing to revoke; a claimed (sending) row is its worker's
            session.execute(
                update(LedgerRow)
                .where(
                    LedgerRow.id.in_([row[0] for row in mine]),
                    LedgerRow.status.in_(("pending", "failed", "grant_lost")),
                )
                .values(
                    status="gone", error=f"tiktok: {REASONS.get(reason, 'unknown')}"[:200], updated_at=now
                )
            )
        what = REASONS.get(reason, f"reason {reason}")
        timeline.append_entry(
            session,
            chain=incident_id or run_id or revocation_id,
            actor=actor,
            kind=kinds.TIKTOK_RECEIPT,
            message=(
                f"TikTok confirms {event.open_id} is disconnected: {what}"
                if confirms
                else f"TikTok says {event.open_id} is gone: {what}"
            ),
            data={
                "revocation_id": revocation_id,
                "app": app,
                "client_key": event.client_key,
                "open_id": event.open_id,
                "fingerprints": [row[1] for row in mine],
                "event": event.event,
                "reason": reason,
                "reason_text": what,
                "confirms": confirms,
                "create_time": event.create_time,
            },
        )
    return {"recorded": True, "revocation_id": revocation_id, "confirms": confirms}


@router.post("/v1/tiktok/webhook", summary="TikTok's signed webhook events (authorization.removed)")
async def tiktok_webhook(request: Request) -> JSONResponse:
    runtime: Ports = request.app.state.runtime
    apps = runtime.settings.apps
    if all(app.client_secret is None for app in apps):
        raise HTTPException(503, detail="tiktok_client_secret is not set: cannot verify TikTok's signature")
    raw = await read_body(request, MAX_BODY)
    header, now = request.headers.get("tiktok-signature"), clock.utcnow().timestamp()
    try:
        app = await run_in_threadpool(
            functools.partial(signed_by, apps, header, raw, now=now, replay=StoreReplayGuard(runtime.store))
        )
    except ReceiptRejected as exc:
        raise HTTPException(401, detail=str(exc)) from None
    try:
        event = parse_event(raw)
    except ValueError:
        raise HTTPException(400, detail="not a TikTok webhook event body") from None
    outcome = await run_in_threadpool(functools.partial(record_receipt, runtime.store, event, app=app))
    return JSONResponse({"ok": True, **outcome})
