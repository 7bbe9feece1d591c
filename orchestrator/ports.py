"""Ports: what a process builds once in its composition root and hands down to the code it calls.

Each process (API, worker, scheduler, a CLI command) builds one ``worker.runtime.Runtime`` at
start; flows, views, adapters and actions receive it typed as ``Ports``, so no module below the
entry points imports the worker, and a test can hand down a runtime of its own. The domain
reaches TikTok and the token inventories only through the ports it defines (``tokens/``): the
runtime builds the adapters that fill them (``revocation_provider``, ``token_inventory``), or
an action opens them and hands them down.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol, TypeVar

from sqlalchemy.orm import Session

if TYPE_CHECKING:  # annotations only: these rooms sit above the kernel
    from orchestrator.config import Settings
    from orchestrator.evidence.keys import EvidenceKey
    from orchestrator.playbooks.action import ActionRegistry
    from orchestrator.playbooks.schemas import Playbook
    from orchestrator.store.db import Store
    from orchestrator.tokens.inventory import TokenInventory
    from orchestrator.tokens.provider import RevocationProvider

__all__ = ["Ports"]

T = TypeVar("T")


class Ports(Protocol):
    """Settings, the store, the loaded playbooks and actions, and the clients a process shares."""

    settings: Settings
    store: Store
    registry: ActionRegistry
    playbooks: dict[str, Playbook]
    draining: threading.Event
    """Set when the process was asked to stop: long work hands back what it holds."""

    def transaction(self) -> AbstractContextManager[Session]:
        """A unit of work whose new outbox rows are published as soon as it commits."""
        ...

    def shared(self, key: str, build: Callable[[], T]) -> T:
        """One ``build()`` per process and ``key`` (a connection pool, an HTTP client)."""
        ...

    def evidence_key(self) -> EvidenceKey:
        """The key that signs checkpoints and evidence bundles."""
        ...

    def revocation_provider(self, app: str) -> RevocationProvider:
        """The TikTok app ``app``'s revocation client, one per process; ConfigError names a missing
        credential."""
        ...

    def token_inventory(self, app: str) -> TokenInventory:
        """Where the app ``app``'s tokens are kept, opened once per process; ConfigError when it has
        none."""
        ...
