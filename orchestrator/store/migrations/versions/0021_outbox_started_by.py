"""the worker process running an outbox row

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 09:40:00.000000

Issue 24: a worker marks the rows it starts with its heartbeat identity (``outbox.started_by``,
host:pid) and clears the mark when it stops. A worker that finds the mark of a process whose
heartbeat went stale knows that process died running the row (SIGKILL, out of memory): it writes
so to ``last_error``, and the relay's attempt cap dead-letters a row that kills every worker
that runs it. Null is what the previous release's workers leave, and they never read it: additive.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None
additive = True


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("started_by", sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("started_by")
