"""Two-person release of the kill switch from Slack: one person asks with a reason, another approves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from orchestrator import clock, ids, redaction
from orchestrator.chatops import kinds as slack_kinds
from orchestrator.chatops.models import ReleaseRequestRow
from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.ports import Ports
from orchestrator.switch import flows as switch_flows
from orchestrator.switch import service as switch
from orchestrator.timeline import service as timeline
from orchestrator.timeline.models import SYSTEM_CHAIN

__all__ = ["REQUEST_TTL", "ReleaseDecision", "decide_release", "request_release"]

REQUEST_TTL: Final = timedelta(hours=1)


@dataclass(frozen=True)
class ReleaseDecision:
    """What a decision did: ``released`` true when the switch was released now."""

    request_id: str
    approved: bool
    released: bool
    requested_by: str
    incident_id: str | None
    app: str | None = None  # the app whose switch it releases; None: the all-apps switch


def request_release(
    runtime: Ports, *, user_id: str, reason: str, incident_id: str | None = None, app: str | None = None
) -> str:
    """Record a release request of ``app``'s switch (None: the all-apps switch; it stays engaged);
    its id. ValidationFailed if nothing to do, NotFound for an app not configured."""
    why = redaction.redact_text(reason.strip())[:2000]
    if len(why) < 3:
        raise ValidationFailed("give a reason, e.g. `/ir release host rebuilt and secrets rotated`")
    switch_flows.require_app(runtime.settings, app)
    switch_name = "kill switch" if app is None else f"kill switch of app {app}"
    now = clock.utcnow()
    with runtime.transaction() as session:
        state = switch.status(session, app=app)
        if not state.engaged:
            raise ValidationFailed(f"the {switch_name} is not engaged: there is nothing to release")
        chain_incident = incident_id or state.incident_id
        request_id = "rel-" + ids.random_hex(10)
        session.add(
            ReleaseRequestRow(
                id=request_id,
                requested_by=user_id,
                reason=why,
                incident_id=chain_incident,
                status="pending",
                switch_version=state.version,
                app=app,
                created_at=now,
            )
        )
        timeline.append_entry(
            session,
            chain=chain_incident or SYSTEM_CHAIN,
            actor=f"slack:{user_id}",
            kind=slack_kinds.RELEASE_REQUESTED,
            message=f"slack:{user_id} asked to release the {switch_name}: {why}",
            data={
                "request_id": request_id,
                "by": f"slack:{user_id}",
                "slack_user": user_id,
                "reason": why,
                **({"app": app} if app else {}),
            },
            at=now,
        )
    return request_id


def decide_release(runtime: Ports, *, request_id: str, user_id: str, approve: bool) -> ReleaseDecision:
    """Approve (releases the switch) or deny a pending request; the approver must be someone else.

    The request is bound to the switch version it was asked at: if the switch has changed
    since (released, engaged again for another compromise), the request is void, recorded as
    such, and ``ValidationFailed`` says to ask again. The check and the release share one
    transaction with the switch row locked, so nothing can slip in between."""
    now = clock.utcnow()
    with runtime.transaction() as session:
        row = session.get(ReleaseRequestRow, request_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no release request {request_id}")
        if row.status != "pending":
            raise ValidationFailed(f"release request {request_id} is already {row.status}")
        if approve and row.requested_by == user_id:
            raise ValidationFailed(
                "a second person must approve a release: ask another responder to click Approve release"
            )
        if now - row.created_at > REQUEST_TTL:
            raise ValidationFailed(
                f"release request {request_id} expired: ask again with `/ir release REASON`"
            )
        current = switch.status(session, app=row.app, lock=True).version
        voided = row.switch_version != current
        row.status = "void" if voided else "approved" if approve else "denied"
        row.decided_by, row.decided_at = user_id, now
        requested_by, reason, incident_id, app = row.requested_by, row.reason, row.incident_id, row.app
        chain, actor = incident_id or SYSTEM_CHAIN, f"slack:{user_id}"
        asked_by = f"slack:{requested_by}"
        data: dict[str, object] = {"request_id": request_id, "by": actor, "requested_by": asked_by}
        if voided:
            data |= {"asked_at_version": row.switch_version, "switch_version": current}
            kind, message = slack_kinds.RELEASE_VOIDED, f"release {request_id} is void: the switch changed"
        else:
            kind, message = slack_kinds.RELEASE_DENIED, f"{actor} denied the release asked by {asked_by}"
        if voided or not approve:
            timeline.append_entry(
                session, chain=chain, actor=actor, kind=kind, message=message, data=data, at=now
            )
        released = False
        if approve and not voided:
            change = switch_flows.release_in(
                session,
                runtime.settings,
                by=f"slack:{requested_by}",
                reason=reason,
                app=app,
                approved_by=actor,
                incident_id=incident_id,
            )
            released = change.changed
    if voided:
        raise ValidationFailed(
            f"release request {request_id} is void: the kill switch changed since it was asked "
            "(released or engaged again); ask again with `/ir release REASON`"
        )
    return ReleaseDecision(request_id, approve, released, requested_by, incident_id, app)
