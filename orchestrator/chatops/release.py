"""Two-person release of the kill switch from Slack: one person asks with a reason, another approves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from orchestrator import clock, ids, redaction
from orchestrator.chatops import kinds as slack_kinds
from orchestrator.chatops.models import ReleaseRequestRow
from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.switch import flows as switch_flows
from orchestrator.switch import service as switch
from orchestrator.timeline import service as timeline
from orchestrator.timeline.models import SYSTEM_CHAIN
from orchestrator.worker.runtime import Runtime

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


def request_release(runtime: Runtime, *, user_id: str, reason: str, incident_id: str | None = None) -> str:
    """Record a release request (the switch stays engaged); its id. ValidationFailed if nothing to do."""
    why = redaction.redact_text(reason.strip())[:2000]
    if len(why) < 3:
        raise ValidationFailed("give a reason, e.g. `/ir release host rebuilt and secrets rotated`")
    now = clock.utcnow()
    with runtime.transaction() as session:
        state = switch.status(session)
        if not state.engaged:
            raise ValidationFailed("the kill switch is not engaged: there is nothing to release")
        chain_incident = incident_id or state.incident_id
        request_id = "rel-" + ids.random_hex(10)
        session.add(
            ReleaseRequestRow(
                id=request_id,
                requested_by=user_id,
                reason=why,
                incident_id=chain_incident,
                status="pending",
                created_at=now,
            )
        )
        timeline.append_entry(
            session,
            chain=chain_incident or SYSTEM_CHAIN,
            actor=f"slack:{user_id}",
            kind=slack_kinds.RELEASE_REQUESTED,
            message=f"slack:{user_id} asked to release the kill switch: {why}",
            data={"request_id": request_id, "by": f"slack:{user_id}", "slack_user": user_id, "reason": why},
            at=now,
        )
    return request_id


def decide_release(runtime: Runtime, *, request_id: str, user_id: str, approve: bool) -> ReleaseDecision:
    """Approve (releases the switch) or deny a pending request; the approver must be someone else."""
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
        row.status = "approved" if approve else "denied"
        row.decided_by, row.decided_at = user_id, now
        requested_by, reason, incident_id = row.requested_by, row.reason, row.incident_id
        if not approve:
            timeline.append_entry(
                session,
                chain=incident_id or SYSTEM_CHAIN,
                actor=f"slack:{user_id}",
                kind=slack_kinds.RELEASE_DENIED,
                message=f"slack:{user_id} denied the release asked by slack:{requested_by}",
                data={
                    "request_id": request_id,
                    "by": f"slack:{user_id}",
                    "requested_by": f"slack:{requested_by}",
                },
                at=now,
            )
    released = False
    if approve:
        change = switch_flows.release_switch(
            runtime.store,
            runtime.settings,
            by=f"slack:{requested_by}",
            reason=reason,
            approved_by=f"slack:{user_id}",
            incident_id=incident_id,
        )
        released = change.changed
    return ReleaseDecision(request_id, approve, released, requested_by, incident_id)
