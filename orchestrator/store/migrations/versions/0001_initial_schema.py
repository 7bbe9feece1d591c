"""initial schema: events, incidents, correlation keys, an append-only timeline, the outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-26 16:35:20.117040
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orchestrator.store.db

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION timeline_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'timeline entries are append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql
"""
APPEND_ONLY_TRIGGER = """
CREATE TRIGGER timeline_append_only BEFORE UPDATE OR DELETE ON timeline_entries
FOR EACH ROW EXECUTE FUNCTION timeline_refuse_change()
"""


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("dedup_key", sa.String(length=512), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=128), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("resolved_signals", sa.Integer(), nullable=False),
        sa.Column("is_drill", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("aware_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_event_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("disconnected_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reported_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incidents_dedup_key"), ["dedup_key"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("ref_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("done_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_pending", ["done_at", "dispatched_at"], unique=False)

    op.create_table(
        "timeline_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain", "seq", name="uq_timeline_chain_seq"),
    )
    op.create_table(
        "correlation_keys",
        sa.Column("dedup_key", sa.String(length=512), nullable=False),
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("last_seen_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
        ),
        sa.PrimaryKeyConstraint("dedup_key"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=128), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("dedup_key", sa.String(length=512), nullable=False),
        sa.Column("observed_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("source_ref", sa.Text(), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=True),
        sa.Column("incident_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_dedup_key", ["dedup_key"], unique=False)
        batch_op.create_index("ix_events_incident", ["incident_id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # The timeline is evidence: the database itself refuses to change or delete it.
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(APPEND_ONLY_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS timeline_append_only ON timeline_entries")
        op.execute("DROP FUNCTION IF EXISTS timeline_refuse_change()")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_incident")
        batch_op.drop_index("ix_events_dedup_key")

    op.drop_table("events")
    op.drop_table("correlation_keys")
    op.drop_table("timeline_entries")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")

    op.drop_table("outbox")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incidents_dedup_key"))

    op.drop_table("incidents")
