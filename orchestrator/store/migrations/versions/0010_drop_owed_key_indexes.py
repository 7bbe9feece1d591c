"""drop the indexes of the per-key look-up of owed events, which correlation no longer makes

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 06:35:00.000000

A correlating worker now takes the owed rows after its message by a range of the outbox's
primary key (incidents/flows.py), not a dedup key's owed events through ``ix_events_dedup_key``
and ``ix_outbox_ref`` (0008). Nothing else reads them; every accepted event paid to maintain
both.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_ref")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_dedup_key")


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_dedup_key", ["dedup_key", "incident_id"], unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_ref", ["ref_id"], unique=False)
