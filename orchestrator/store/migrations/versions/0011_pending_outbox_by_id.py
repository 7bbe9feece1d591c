"""index the outbox's owed rows by id, so a range of owed rows is read without the backlog

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 14:40:00.000000

A correlating worker takes the owed rows in a range of ids after its message
(incidents/flows.py). Both planners chose ``ix_outbox_pending`` (done_at, dispatched_at) for its
``done_at IS NULL`` over the primary key's range: SQLite always (it keeps no statistics),
PostgreSQL whenever its statistics predate a storm's backlog. Either then read and sorted every
owed row for every commit, a cost growing with the backlog: on SQLite a worker behind under
sustained load fell further behind with each commit. On (done_at, id) that range is a range of
the index, in id order, whichever plan is chosen, at a cost that does not grow with the backlog;
the relay's look-up of owed rows in id order and the outbox depth still use it.
"""

from __future__ import annotations

from alembic import op

from orchestrator.store.migrate import create_index_concurrently, drop_index_concurrently

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None
additive = True


def upgrade() -> None:
    # Built CONCURRENTLY on PostgreSQL: a plain rebuild held intake inserts while it ran (issue 30).
    drop_index_concurrently("ix_outbox_pending", "outbox")
    create_index_concurrently("ix_outbox_pending", "outbox", ["done_at", "id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")
        batch_op.create_index("ix_outbox_pending", ["done_at", "dispatched_at"], unique=False)
