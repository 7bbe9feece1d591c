"""slack rooms, slack posts, release requests, email deliveries and reports to TikTok

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 17:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orchestrator.store.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _ledger_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("claimed_until", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "slack_rooms",
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("channel_name", sa.String(length=80), nullable=False),
        sa.Column("invited", sa.Boolean(), nullable=False),
        sa.Column("card_ts", sa.String(length=32), nullable=True),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("card_updated_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("card_dirty", sa.Boolean(), nullable=False),
        sa.Column("created_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("incident_id"),
    )
    op.create_table(
        "slack_posts",
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.Column("posted_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )
    op.create_table(
        "slack_release_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("incident_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "email_deliveries",
        sa.Column("key", sa.String(length=255), nullable=False),
        *_ledger_columns(),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "tiktok_reports",
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        *_ledger_columns(),
        sa.PrimaryKeyConstraint("incident_id", "channel"),
    )


def downgrade() -> None:
    op.drop_table("tiktok_reports")
    op.drop_table("email_deliveries")
    op.drop_table("slack_release_requests")
    op.drop_table("slack_posts")
    op.drop_table("slack_rooms")
