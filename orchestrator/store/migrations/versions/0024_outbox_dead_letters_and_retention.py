"""outbox dead letters, and the index the retention sweep finds old raw event bodies by

Revision ID: 0024
Revises: 0014
Create Date: 2026-12-06 22:30:00.000000

A row the relay sent ``outbox_max_attempts`` times without a worker finishing it gets
``dead_at``: the relay stops sending it until a person retries it. The retention sweep empties
the raw bodies of events older than ``retention_days``; a partial index on the events that
still hold one keeps each of its batches a range of that index, not a scan of every event
ever received (the events already emptied leave it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orchestrator.store.db

revision = "0024"
down_revision = "0014"
branch_labels = None
depends_on = None

_RAW_KEPT = sa.text("raw IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dead_at", orchestrator.store.db.UTCDateTime(), nullable=True))
    op.create_index(
        "ix_events_raw_kept",
        "events",
        ["received_at"],
        unique=False,
        sqlite_where=_RAW_KEPT,
        postgresql_where=_RAW_KEPT,
    )


def downgrade() -> None:
    op.drop_index("ix_events_raw_kept", table_name="events")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("dead_at")
