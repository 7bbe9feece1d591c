"""The timeline's entry kinds: one name per fact, shared by writers, exports and reports.

Each constant's comment lists the ``data`` keys writers put in the entry, so exports,
the postmortem and the compliance report can read them without guessing.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "APPROVAL_DECIDED",
    "APPROVAL_REQUESTED",
    "CENSUS",
    "EVENT_RECEIVED",
    "EVENT_RESOLVED",
    "INCIDENT_CLOSED",
    "INCIDENT_ESCALATED",
    "INCIDENT_EXTENDED",
    "INCIDENT_OPENED",
    "INCIDENT_RESOLVED",
    "MANUAL_COMPLETED",
    "MANUAL_REMINDER",
    "MANUAL_REQUESTED",
    "NOTE",
    "OUTBOX_DEAD",
    "OUTBOX_RETRIED",
    "PURGE_FINISHED",
    "REPORT_DELIVERED",
    "REPORT_FAILED",
    "REVOCATION_ALARM",
    "REVOCATION_FINISHED",
    "REVOCATION_PROGRESS",
    "REVOCATION_STARTED",
    "REVOCATION_VERIFIED",
    "RUN_FINISHED",
    "RUN_STARTED",
    "STATUS_UPDATE",
    "STEP_FAILED",
    "STEP_RETRY",
    "STEP_SKIPPED",
    "STEP_STARTED",
    "STEP_SUCCEEDED",
    "SWITCH_ENGAGED",
    "SWITCH_RELEASED",
    "TIKTOK_RECEIPT",
    "TOKEN_STILL_ALIVE",
]

INCIDENT_OPENED: Final = "incident.opened"  # severity, kind, dedup_key, aware_at
EVENT_RECEIVED: Final = (
    "event.received"  # event_id, source, kind, severity, observed_at, received_at, entities
)
EVENT_RESOLVED: Final = "event.resolved"  # same as event.received
INCIDENT_ESCALATED: Final = "incident.escalated"  # from, to, event_id
INCIDENT_EXTENDED: Final = "incident.extended"  # apps (names, or "all"), client_keys, event_id
INCIDENT_RESOLVED: Final = "incident.resolved"  # summary
INCIDENT_CLOSED: Final = "incident.closed"  # summary

RUN_STARTED: Final = "run.started"  # run_id, playbook, playbook_hash, dry_run, inputs
RUN_FINISHED: Final = "run.finished"  # run_id, playbook, status, duration_ms
STEP_STARTED: Final = "step.started"  # run_id, step, action, attempt
STEP_SUCCEEDED: Final = "step.succeeded"  # run_id, step, action, attempt, duration_ms, output
STEP_FAILED: Final = "step.failed"  # run_id, step, action, attempt, duration_ms, error, retryable
STEP_RETRY: Final = "step.retry"  # run_id, step, attempt, at
STEP_SKIPPED: Final = "step.skipped"  # run_id, step
APPROVAL_REQUESTED: Final = "approval.requested"  # run_id, step, approvers, timeout_s
APPROVAL_DECIDED: Final = "approval.decided"  # run_id, step, decision, by, waited_ms
NOTE: Final = "note"  # free data
STATUS_UPDATE: Final = "status.update"  # text, posted_to (channels), failed (channels Slack refused)
MANUAL_REQUESTED: Final = "manual.requested"  # run_id, step, title, instructions, assignees, input
MANUAL_REMINDER: Final = "manual.reminder"  # run_id, step, title, waiting_s
MANUAL_COMPLETED: Final = "manual.completed"  # run_id, step, by, input, evidence, evidence_value

SWITCH_ENGAGED: Final = "switch.engaged"  # by, reason, already_engaged, version, engaged_at (engaged before)
SWITCH_RELEASED: Final = "switch.released"  # by, reason, approved_by
REVOCATION_STARTED: Final = "revocation.started"  # revocation_id, scope, total (or null), rate_per_s
REVOCATION_PROGRESS: Final = (
    "revocation.progress"  # revocation_id, done, total, revoked, already_dead, failed, eta_s
)
REVOCATION_FINISHED: Final = (
    "revocation.finished"  # revocation_id, revoked, already_dead, failed, failures{reason:n}, duration_ms
)
REVOCATION_ALARM: Final = "revocation.alarm"  # revocation_id, reason (e.g. invalid_client, grant_lost), count
PURGE_FINISHED: Final = "purge.finished"  # tokens_deleted, records_deleted{table:n}
REPORT_DELIVERED: Final = "report.delivered"  # channel, to, message_id, sent_at
REPORT_FAILED: Final = "report.failed"  # channel, error, attempt
# Proof of revocation (orchestrator/proof); tokens appear only as fingerprints.
# revocation_id, sample_size, dead, alive, gone, unknown, results[{fingerprint, open_id, result}]
REVOCATION_VERIFIED: Final = "revocation.verified"
# revocation_id, fingerprint, open_id, revoked_again, dead_now, escalate
TOKEN_STILL_ALIVE: Final = "token.still_alive"
# revocation_id, open_id, fingerprints, event, reason, reason_text, confirms, create_time
TIKTOK_RECEIPT: Final = "tiktok.receipt"
# phase, connected, revoked, already_dead, failed, gone, pending, confirmed_dead, still_live, purged,
# exposed_at_awareness, still_exposed, escalate
CENSUS: Final = "census"
# Work the relay stopped sending (store/outbox.py's attempt cap), and its retry by hand.
OUTBOX_DEAD: Final = "outbox.dead"  # outbox_id, topic, ref_id, attempts, last_error
OUTBOX_RETRIED: Final = "outbox.retried"  # outbox_id, topic, ref_id
