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
    before = migrate.current_revision(store)
    migrate.upgrade(store)
    after = migrate.current_revision(store)
    click.echo(f"store schema: {before or 'empty'} -> {after}")


@db.command("current")
@pass_state
def current(state: State) -> None:
    """Print the store's schema revision and the one this version needs."""
    store = Store.for_settings(state.settings())
    click.echo(f"store: {migrate.current_revision(store) or 'empty'}; needed: {migrate.head_revision()}")
