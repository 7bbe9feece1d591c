"""A full, realistic incident: one entry of every kind in kinds.py, written through the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.incidents import lifecycle
from orchestrator.incidents.models import IncidentRow
from orchestrator.store.db import Store
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline

T0 = datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC)
"""Awareness: the first event was received."""

DISCONNECT_AFTER = timedelta(minutes=2)  # within a 60-minute target
REPORT_AFTER = timedelta(hours=26)  # 120 minutes over a 1440-minute target
ALL_KINDS = {getattr(kinds, name) for name in kinds.__all__}
ENTRIES = 36
"""How many entries ``build_incident`` writes on its incident's chain (one more with each new kind)."""

_RUN = "run-7f3a"
_STEPS: list[tuple[timedelta, str, str, str, dict[str, Any]]] = [
    # (after T0, actor, kind, message, data)
    (
        timedelta(0),
        "source:splunk",
        kinds.EVENT_RECEIVED,
        "Event received from splunk: client secret leaked",
        {
            "event_id": "evt-1",
            "source": "splunk",
            "kind": "credential.leak",
            "severity": "high",
            "observed_at": T0.isoformat(),
            "received_at": T0.isoformat(),
            "entities": {"hosts": ["ci-7"]},
        },
    ),
    (
        timedelta(seconds=2),
        "source:splunk",
        kinds.INCIDENT_OPENED,
        "Incident opened: client secret leaked on ci-7",
        {
            "severity": "high",
            "kind": "credential.leak",
            "dedup_key": "splunk:leak:ci-7",
            "aware_at": T0.isoformat(),
        },
    ),
    (
        timedelta(seconds=30),
        "source:splunk",
        kinds.INCIDENT_ESCALATED,
        "Severity raised from high to critical",
        {"from": "high", "to": "critical", "event_id": "evt-2"},
    ),
    (
        timedelta(seconds=35),
        "source:splunk",
        kinds.INCIDENT_EXTENDED,
        "Incident extends to app ads",
        {"apps": ["ads"], "client_keys": ["ads-client-key"], "event_id": "evt-2"},
    ),
    (
        timedelta(seconds=40),
        "source:splunk",
        kinds.EVENT_RESOLVED,
        "Source reports resolved: leak alert",
        {
            "event_id": "evt-3",
            "source": "splunk",
            "kind": "credential.leak",
            "severity": "high",
            "observed_at": T0.isoformat(),
            "received_at": T0.isoformat(),
            "entities": {},
        },
    ),
    (
        timedelta(seconds=60),
        "system",
        kinds.RUN_STARTED,
        "Playbook tiktok-compromise started",
        {
            "run_id": _RUN,
            "playbook": "tiktok-compromise",
            "playbook_hash": "ab" * 32,
            "dry_run": False,
            "inputs": {},
        },
    ),
    (
        timedelta(seconds=61),
        "system",
        kinds.STEP_STARTED,
        "Step disconnect started",
        {"run_id": _RUN, "step": "disconnect", "action": "switch.engage", "attempt": 1},
    ),
    (
        DISCONNECT_AFTER,
        "system",
        kinds.SWITCH_ENGAGED,
        "Kill switch engaged: no TikTok call may leave",
        {"by": "playbook:tiktok-compromise", "reason": "credential.leak on ci-7"},
    ),
    (
        DISCONNECT_AFTER,
        "system",
        kinds.STEP_SUCCEEDED,
        "Step disconnect succeeded",
        {
            "run_id": _RUN,
            "step": "disconnect",
            "action": "switch.engage",
            "attempt": 1,
            "duration_ms": 58000,
            "output": {},
        },
    ),
    (
        timedelta(minutes=3),
        "system",
        kinds.APPROVAL_REQUESTED,
        "Approval requested for revoke-all",
        {"run_id": _RUN, "step": "revoke-all", "approvers": ["@secops"], "timeout_s": 900},
    ),
    (
        timedelta(minutes=5),
        "slack:U042ALICE",
        kinds.APPROVAL_DECIDED,
        "alice approved revoke-all",
        {
            "run_id": _RUN,
            "step": "revoke-all",
            "decision": "approved",
            "by": "slack:U042ALICE",
            "waited_ms": 120000,
        },
    ),
    (
        timedelta(minutes=6),
        "revocation",
        kinds.REVOCATION_STARTED,
        "Revoking every token: 1,200 at 10/s",
        {"revocation_id": "rev-1", "scope": "all", "total": 1200, "rate_per_s": 10},
    ),
    (
        timedelta(minutes=7),
        "revocation",
        kinds.REVOCATION_PROGRESS,
        "600 of 1,200 tokens",
        {
            "revocation_id": "rev-1",
            "done": 600,
            "total": 1200,
            "revoked": 560,
            "already_dead": 30,
            "failed": 10,
            "eta_s": 60,
        },
    ),
    (
        timedelta(minutes=7, seconds=30),
        "revocation",
        kinds.REVOCATION_ALARM,
        "2 grants lost to refresh",
        {"revocation_id": "rev-1", "reason": "grant_lost", "count": 2},
    ),
    (
        timedelta(minutes=8),
        "revocation",
        kinds.REVOCATION_FINISHED,
        "1,100 revoked, 80 already dead, 20 failed",
        {
            "revocation_id": "rev-1",
            "revoked": 1100,
            "already_dead": 80,
            "failed": 20,
            "failures": {"server_error": 20},
            "duration_ms": 120000,
        },
    ),
    (
        timedelta(minutes=8, seconds=10),
        "system",
        kinds.TOKEN_STILL_ALIVE,
        "ALARM: a revoked token of u-77 still worked; revoked again (revoked), now dead; escalated",
        {
            "revocation_id": "rev-1",
            "fingerprint": "9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f",
            "open_id": "u-77",
            "revoked_again": "revoked",
            "dead_now": True,
            "escalate": True,
        },
    ),
    (
        timedelta(minutes=8, seconds=20),
        "system",
        kinds.REVOCATION_VERIFIED,
        "Revocation verified by probing 11 of 1,100 revoked tokens: 10 dead, 1 still alive",
        {
            "revocation_id": "rev-1",
            "sample_size": 11,
            "dead": 10,
            "alive": 1,
            "gone": 0,
            "unknown": 0,
            "results": [
                {
                    "fingerprint": "9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f",
                    "open_id": "u-77",
                    "result": "alive",
                }
            ],
        },
    ),
    (
        timedelta(minutes=8, seconds=30),
        "tiktok:webhook",
        kinds.TIKTOK_RECEIPT,
        "TikTok confirms u-12 is disconnected: the developer revoked the authorization",
        {
            "revocation_id": "rev-1",
            "open_id": "u-12",
            "fingerprints": ["0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a"],
            "event": "authorization.removed",
            "reason": 5,
            "reason_text": "the developer revoked the authorization",
            "confirms": True,
            "create_time": 1764150000,
        },
    ),
    (
        timedelta(minutes=8, seconds=40),
        "system",
        kinds.CENSUS,
        "Census after verify: exposed at awareness: 1200; still exposed now: 20",
        {
            "phase": "verify",
            "connected": 1200,
            "revoked": 1100,
            "already_dead": 80,
            "failed": 20,
            "gone": 0,
            "pending": 0,
            "confirmed_dead": 11,
            "still_live": 0,
            "purged": 0,
            "exposed_at_awareness": 1200,
            "still_exposed": 20,
            "escalate": True,
        },
    ),
    (
        timedelta(minutes=8),
        "system",
        kinds.OUTBOX_DEAD,
        "step.execute.notifications 41 stopped after 10 sends: ConnectionError: SMTP down",
        {
            "outbox_id": 311,
            "topic": "step.execute.notifications",
            "ref_id": "41",
            "attempts": 10,
            "last_error": "ConnectionError: SMTP down",
        },
    ),
    (
        timedelta(minutes=8),
        "cli:alice",
        kinds.OUTBOX_RETRIED,
        "step.execute.notifications 41 sent again by hand after 10 sends",
        {"outbox_id": 311, "topic": "step.execute.notifications", "ref_id": "41"},
    ),
    (
        timedelta(minutes=8),
        "system",
        kinds.STEP_RETRY,
        "Step notify will retry",
        {"run_id": _RUN, "step": "notify", "attempt": 2, "at": (T0 + timedelta(minutes=9)).isoformat()},
    ),
    (
        timedelta(minutes=9),
        "system",
        kinds.STEP_FAILED,
        "Step notify failed: SMTP refused",
        {
            "run_id": _RUN,
            "step": "notify",
            "action": "email.send",
            "attempt": 2,
            "duration_ms": 300,
            "error": "SMTP 554",
            "retryable": False,
        },
    ),
    (
        timedelta(minutes=9),
        "system",
        kinds.STEP_SKIPPED,
        "Step page-ceo skipped",
        {"run_id": _RUN, "step": "page-ceo"},
    ),
    (
        timedelta(minutes=10),
        "system",
        kinds.PURGE_FINISHED,
        "Purged 1,200 tokens and cached videos",
        {"tokens_deleted": 1200, "records_deleted": {"tiktok_videos": 30, "tiktok_profiles": 12}},
    ),
    (
        timedelta(minutes=11),
        "system",
        kinds.REPORT_FAILED,
        "Report to TikTok by email failed",
        {"channel": "email", "error": "connection refused", "attempt": 1},
    ),
    (
        timedelta(minutes=12),
        "playbook:tiktok-compromise",
        kinds.MANUAL_REQUESTED,
        "Manual step rotate-secret waits for a person: rotate the client secret",
        {
            "run_id": _RUN,
            "step": "rotate-secret",
            "title": "rotate the client secret",
            "instructions": "",
            "assignees": ["any"],
            "input": None,
        },
    ),
    (
        timedelta(minutes=27),
        "system",
        kinds.MANUAL_REMINDER,
        "Reminder: rotate the client secret is still to do (step rotate-secret)",
        {"run_id": _RUN, "step": "rotate-secret", "title": "rotate the client secret", "waiting_s": 900.0},
    ),
    (
        timedelta(minutes=40),
        "cli:bob",
        kinds.MANUAL_COMPLETED,
        "bob rotated the client secret in the portal",
        {"run_id": _RUN, "step": "rotate-secret", "by": "cli:bob", "input": {"ticket": "DEV-123"}},
    ),
    (
        REPORT_AFTER,
        "slack:U042ALICE",
        kinds.REPORT_DELIVERED,
        "Report delivered to TikTok developer support",
        {
            "channel": "portal",
            "to": "developer support",
            "message_id": "TT-998877",
            "sent_at": (T0 + REPORT_AFTER).isoformat(),
        },
    ),
    (
        REPORT_AFTER + timedelta(minutes=1),
        "system",
        kinds.RUN_FINISHED,
        "Playbook tiktok-compromise finished",
        {"run_id": _RUN, "playbook": "tiktok-compromise", "status": "succeeded", "duration_ms": 93660000},
    ),
    (
        REPORT_AFTER + timedelta(minutes=2),
        "slack:U042ALICE",
        kinds.NOTE,
        "Pipe | in a note | stays one cell",
        {"text": "attacker IP 203.0.113.9"},
    ),
    (
        REPORT_AFTER + timedelta(minutes=2, seconds=30),
        "slack:U042ALICE",
        kinds.STATUS_UPDATE,
        "TikTok disconnected, tokens revoked, report filed",
        {"posted_to": ["C0ANNOUNCE"], "slack_user": "U042ALICE"},
    ),
    (
        REPORT_AFTER + timedelta(minutes=3),
        "slack:U042ALICE",
        kinds.SWITCH_RELEASED,
        "Kill switch released",
        {"by": "slack:U042ALICE", "reason": "new secret loaded", "approved_by": "slack:U077CAROL"},
    ),
]


def build_incident(store: Store, *, incident_id: str = "inc-story000001", drill: bool = False) -> str:
    """Write the incident row and its entries; resolve and close it through the lifecycle."""
    with store.unit_of_work() as session:
        session.add(
            IncidentRow(
                id=incident_id,
                dedup_key="splunk:leak:ci-7",
                title="TikTok client secret leaked on ci-7",
                kind="credential.leak",
                severity="critical",
                status="reported",
                source="splunk",
                entities={"hosts": ["ci-7"], "open_ids": ["o-1", "o-2"]},
                event_count=3,
                resolved_signals=1,
                is_drill=drill,
                aware_at=T0,
                last_event_at=T0 + timedelta(seconds=40),
                disconnected_at=T0 + DISCONNECT_AFTER,
                revoked_at=T0 + timedelta(minutes=8),
                reported_at=T0 + REPORT_AFTER,
            )
        )
        session.flush()
        for after, actor, kind, message, data in _STEPS:
            timeline.append_entry(
                session, chain=incident_id, actor=actor, kind=kind, message=message, data=data, at=T0 + after
            )
    end = T0 + REPORT_AFTER + timedelta(hours=1)
    with store.unit_of_work() as session:
        lifecycle.resolve_incident(
            session,
            incident_id=incident_id,
            summary="Secret rotated, every token revoked.",
            actor="cli:bob",
            now=end,
        )
    with store.unit_of_work() as session:
        lifecycle.close_incident(
            session,
            incident_id=incident_id,
            summary="Postmortem held.",
            actor="cli:bob",
            now=end + timedelta(hours=1),
        )
    return incident_id
