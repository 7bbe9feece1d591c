"""revocation per TikTok app: the ledger keyed by app and fingerprint

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 09:00:00.000000

Issue 27: each app's tokens are revoked with its own credentials. ``revocation_ledger.app`` and
``revocation_batches.app`` name the app a token and a batch belong to, defaulting to 'default':
the rows of a single-app store are the app ``default``'s, and the previous release, which
writes no app, writes that app's rows. The ledger's unique key becomes (app, fingerprint),
built ``CONCURRENTLY`` before the fingerprint-only one is dropped, so a token is still sent once
per app throughout. ``revocations.apps`` lists the apps a revocation covers (null: 'default');
``proof_results.app`` the app of a probed token (probed with that app's client).
Additive: the previous release runs on it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from orchestrator.store.migrate import create_index_concurrently, drop_index_concurrently

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None
additive = True

_APP_COLUMNS = ("revocation_ledger", "revocation_batches", "proof_results")


def _app_column() -> sa.Column[str]:
    return sa.Column("app", sa.String(length=64), nullable=False, server_default="default")


def upgrade() -> None:
    # The concurrent index build commits what came before it: each step here can run again
    # (a lock timeout retries the whole migration), so the columns are added "if not exists".
    if op.get_bind().dialect.name == "postgresql":
        for table in _APP_COLUMNS:
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS app VARCHAR(64) NOT NULL DEFAULT 'default'"
            )
        op.execute("ALTER TABLE revocations ADD COLUMN IF NOT EXISTS apps JSON")
    else:
        with op.batch_alter_table("revocation_ledger", schema=None) as batch_op:
            batch_op.add_column(_app_column())
        with op.batch_alter_table("revocation_batches", schema=None) as batch_op:
            batch_op.add_column(_app_column())
        with op.batch_alter_table("proof_results", schema=None) as batch_op:
            batch_op.add_column(_app_column())
        with op.batch_alter_table("revocations", schema=None) as batch_op:
            batch_op.add_column(sa.Column("apps", sa.JSON(), nullable=True))
    create_index_concurrently(
        "uq_ledger_app_fingerprint", "revocation_ledger", ["app", "fingerprint"], unique=True
    )
    drop_index_concurrently("uq_ledger_fingerprint", "revocation_ledger")


def downgrade() -> None:
    with op.batch_alter_table("revocation_ledger", schema=None) as batch_op:
        batch_op.create_index("uq_ledger_fingerprint", ["fingerprint"], unique=True)
        batch_op.drop_index("uq_ledger_app_fingerprint")
        batch_op.drop_column("app")
    with op.batch_alter_table("revocation_batches", schema=None) as batch_op:
        batch_op.drop_column("app")
    with op.batch_alter_table("proof_results", schema=None) as batch_op:
        batch_op.drop_column("app")
    with op.batch_alter_table("revocations", schema=None) as batch_op:
        batch_op.drop_column("apps")
