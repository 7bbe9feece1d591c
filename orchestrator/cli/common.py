"""What every command shares: settings from --config, the runtime, one-line errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from orchestrator.config import Settings, load_settings
from orchestrator.credentials import with_tokens
from orchestrator.logging import configure_logging, get_logger
from orchestrator.store import migrate
from orchestrator.store.db import Store
from orchestrator.worker.runtime import Runtime

__all__ = ["State", "ensure_schema", "fail", "pass_state"]

log = get_logger(__name__)


@dataclass
class State:
    """Per-invocation state: the config path and what has been built from it."""

    config_path: Path | None = None
    _settings: Settings | None = field(default=None, init=False)

    def settings(self, **overrides: Any) -> Settings:
        if self._settings is None or overrides:
            self._settings = load_settings(self.config_path, overrides=overrides or None)
        return self._settings

    def runtime(self, *, require_schema: bool = True, tokens: bool = True, **overrides: Any) -> Runtime:
        """Build the runtime, this command's composition root; refuse a store whose schema is behind."""
        settings = self.settings(**overrides)
        if tokens:
            settings = with_tokens(settings)
        configure_logging(settings.log_level, settings.log_format)
        runtime = Runtime(settings)
        if require_schema:
            ensure_schema(runtime.store, upgrade_if_empty=True)
        return runtime


def ensure_schema(store: Store, *, upgrade_if_empty: bool) -> None:
    """Upgrade an empty store; run on a newer schema that is additive since this release (a
    rolling upgrade); refuse one that is behind, or newer and not additive, saying what is true."""
    status = migrate.schema_status(store)
    if status.store is None and upgrade_if_empty:
        migrate.upgrade(store)
        return
    if status.newer and status.runnable:
        log.info("running on a newer schema", schema=status.store, release_schema=status.head)
        return
    status.require_runnable()


pass_state = click.make_pass_decorator(State, ensure=True)


def fail(message: str) -> None:
    """Exit with one clear line on stderr."""
    raise click.ClickException(message)
