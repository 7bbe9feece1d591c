"""Timeline entry kinds written by the Slack parts (candidates for ``timeline/kinds.py``)."""

from __future__ import annotations

from typing import Final

__all__ = [
    "EMAIL_SENT",
    "RELEASE_DENIED",
    "RELEASE_REQUESTED",
    "RELEASE_VOIDED",
    "SLACK_CHANNEL_OPENED",
    "SLACK_COMMAND",
    "SLACK_POSTED",
    "SLACK_REFUSED",
    "SLACK_SKIPPED",
]

SLACK_CHANNEL_OPENED: Final = "slack.channel_opened"  # channel_id, channel_name, card_ts, invited
SLACK_POSTED: Final = "slack.posted"  # channel_id, ts, thread_ts
SLACK_SKIPPED: Final = "slack.skipped"  # action, reason ("Slack not configured")
SLACK_COMMAND: Final = "slack.command"  # slack_user, command, args, outcome
SLACK_REFUSED: Final = "slack.refused"  # slack_user, command, reason
RELEASE_REQUESTED: Final = "switch.release_requested"  # request_id, by, reason
RELEASE_DENIED: Final = "switch.release_denied"  # request_id, by, requested_by
RELEASE_VOIDED: Final = "switch.release_voided"  # request_id, by, asked_at_version, switch_version
EMAIL_SENT: Final = "email.sent"  # to, message_id, sent_at
