"""a kill switch per TikTok app beside the all-apps switch

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 05:00:00.000000

Issue 27: each configured TikTok app has a switch of its own. ``kill_switch.app`` names the app
of a row; the seeded row 1 keeps ``app`` null and stays the all-apps switch, so the previous
release (which reads and writes row 1 only) runs on as before. A Slack release request names
the app whose switch it releases (``slack_release_requests.app``; null: the all-apps switch).
No index: an app's row is made under the lock of row 1, so there is one per app, and the table
holds a handful of rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None
additive = True


def upgrade() -> None:
    with op.batch_alter_table("kill_switch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("app", sa.String(length=64), nullable=True))
    with op.batch_alter_table("slack_release_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("app", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("slack_release_requests", schema=None) as batch_op:
        batch_op.drop_column("app")
    with op.batch_alter_table("kill_switch", schema=None) as batch_op:
        batch_op.drop_column("app")
