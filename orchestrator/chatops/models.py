"""Tables of the chat part: rooms and their people, posts, release requests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.store.db import Base, UTCDateTime

__all__ = [
    "ParticipantRow",
    "ReleaseRequestRow",
    "SlackPostRow",
    "SlackRoomRow",
]


class SlackRoomRow(Base):
    """An incident's Slack channel and its card; ``card_dirty`` marks a throttled, unsent update."""

    __tablename__ = "slack_rooms"

    incident_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    channel_name: Mapped[str] = mapped_column(String(80))
    invited: Mapped[bool] = mapped_column(Boolean, default=False)
    card_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    card_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    card_dirty: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ParticipantRow(Base):
    """A person involved in an incident: invited to its room, named its lead, or acted on it from
    Slack (``joined`` says which came first). ``lead`` marks the incident commander (one at most)."""

    __tablename__ = "incident_participants"

    incident_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    joined: Mapped[str] = mapped_column(String(16))
    lead: Mapped[bool] = mapped_column(Boolean, default=False)
    since: Mapped[datetime] = mapped_column(UTCDateTime())


class SlackPostRow(Base):
    """A message ``slack.post`` sent, keyed by the step's idempotency key: never posted twice."""

    __tablename__ = "slack_posts"

    idempotency_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str] = mapped_column(String(32))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReleaseRequestRow(Base):
    """A request to release the kill switch, waiting for a second person's approval.

    ``switch_version`` is the switch's version when it was asked: any change of the switch
    after that voids the request (status ``void``). ``app`` is the app whose switch it releases
    (none: the all-apps switch)."""

    __tablename__ = "slack_release_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    requested_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    incident_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    switch_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    app: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
