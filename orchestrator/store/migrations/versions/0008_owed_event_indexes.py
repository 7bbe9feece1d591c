"""indexes that keep a correlation's look-up of owed events of its dedup key off the backlog

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 23:20:00.000000

The query that takes a storm's other owed events (incidents/flows.py) was planned as a scan of
every pending outbox row: with the worker behind, each correlation cost more the more it was
behind. Events not yet correlated (incident_id NULL) of one dedup key, then their outbox rows
by ref_id, is bounded by that key's owed events.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_dedup_key")
        batch_op.create_index("ix_events_dedup_key", ["dedup_key", "incident_id"], unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_ref", ["ref_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_ref")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_dedup_key")
        batch_op.create_index("ix_events_dedup_key", ["dedup_key"], unique=False)
