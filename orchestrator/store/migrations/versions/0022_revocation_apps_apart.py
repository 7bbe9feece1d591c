"""each app of a revocation goes on or stops on its own, and a revocation takes in apps its
incident learns of

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 13:00:00.000000

Issue 27: ``revocations.alarms`` holds, per app, why its revocation stopped (its credentials
refused), so the other apps' batches go on; ``alarm`` keeps the text of them all, which the
previous release reads. ``revocations.follows_incident`` marks a revocation of the apps its
incident concerns, which takes in an app the incident extends to before it finishes;
``revocations.planned_apps`` lists the apps whose inventories were planned in full, so planning
an added app does not end before the others were. The previous release writes none of them
(null, false) and reads ``plan_done`` alone: additive.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None
additive = True


def upgrade() -> None:
    # Plain ADD COLUMNs: SQLite's batch mode would copy the table, which the ledger's foreign keys name.
    op.add_column("revocations", sa.Column("alarms", sa.JSON(), nullable=True))
    op.add_column(
        "revocations", sa.Column("follows_incident", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("revocations", sa.Column("planned_apps", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("revocations", schema=None) as batch_op:
        batch_op.drop_column("planned_apps")
        batch_op.drop_column("follows_incident")
        batch_op.drop_column("alarms")
