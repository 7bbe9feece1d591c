"""``orchestrator db upgrade|current``: schema migrations of the store."""

from __future__ import annotations

import click

from orchestrator.cli.common import State, pass_state
from orchestrator.store import migrate
from orchestrator.store.db import Store

__all__ = ["db"]


@click.group()
def db() -> None:
    """Manage the store's schema (SQLite by default, PostgreSQL by ORCH_DATABASE_URL)."""


@db.command("upgrade")
@pass_state
def upgrade(state: State) -> None:
    """Migrate the store to this version's schema. Safe to run twice; never drops data."""
    store = Store.for_settings(state.settings())
    status = migrate.schema_status(store)
    if status.newer:  # a rolling upgrade's later release migrated it already
        status.require_runnable()
        click.echo(f"store schema: {status.describe()}; nothing to do")
        return
    migrate.upgrade(store)
    after = migrate.current_revision(store)
    click.echo(f"store schema: {status.store or 'empty'} -> {after}")


@db.command("current")
@pass_state
def current(state: State) -> None:
    """Print the store's schema revision against this release's, and whether this release runs on it."""
    status = migrate.schema_status(Store.for_settings(state.settings()))
    click.echo(f"store: {status.store or 'empty'}; this release: {status.head}; {status.describe()}")
