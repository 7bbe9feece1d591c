"""`/ir update TEXT`: a stakeholder update, posted to the incident's room and to the configured
announcements channel, and kept on the timeline (the postmortem lists every update).

The entry is written before anything is posted: an update Slack refuses is still on the record,
with the channels that refused it, and the caller is told.
"""

from __future__ import annotations

import structlog
from sqlalchemy import select

from orchestrator import redaction
from orchestrator.chatops import targets
from orchestrator.chatops.client import SlackError, client_for
from orchestrator.chatops.models import SlackRoomRow
from orchestrator.errors import ValidationFailed
from orchestrator.incidents import service as incidents
from orchestrator.ports import Ports
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline

__all__ = ["MAX_UPDATE_CHARS", "post_update"]

MAX_UPDATE_CHARS = 3000
_log = structlog.get_logger(__name__)


def post_update(
    runtime: Ports, *, actor: str, user_id: str, channel_id: str | None, raw: str
) -> tuple[str, str, list[str]]:
    """Record and post the update; (incident id, the update as posted, channels Slack refused)."""
    incident_id, given = targets.incident_and_rest(runtime, channel_id, raw)
    if incident_id is None or not given:
        raise ValidationFailed(
            "`/ir update INCIDENT TEXT` (in the incident's room: `/ir update TEXT`), e.g. "
            "`/ir update inc-1a2b3c TikTok disconnected, tokens revoked, report filed`"
        )
    text = redaction.redact_text(given)[:MAX_UPDATE_CHARS]
    with runtime.transaction() as session:
        title = incidents.get_incident(session, incident_id=incident_id).title
        room = session.scalar(select(SlackRoomRow.channel_id).where(SlackRoomRow.incident_id == incident_id))
        destinations = [
            c for c in (room, runtime.settings.slack_announcements_channel) if c and c != channel_id
        ]
        timeline.append_entry(
            session,
            chain=incident_id,
            actor=actor,
            kind=kinds.STATUS_UPDATE,
            message=text,
            data={"posted_to": destinations, "slack_user": user_id},
        )
    message = redaction.redact_text(f"📣 *Update on {incident_id}* ({title[:80]}) from <@{user_id}>: {text}")
    refused: list[str] = []
    for channel in destinations:
        try:
            client_for(runtime.settings).post(channel, text=message)
        except SlackError as exc:
            _log.warning("slack_update_post_failed", channel=channel, error=exc.code)
            refused.append(channel)
    return incident_id, text, refused
