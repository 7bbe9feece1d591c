"""Every playbook shipped in playbooks/ loads with the full action registry."""

from __future__ import annotations

from orchestrator.actions.registry import default_registry
from orchestrator.playbooks.catalog import SHIPPED_DIR
from orchestrator.playbooks.loader import load_playbooks


def test_every_shipped_playbook_is_valid() -> None:
    books = load_playbooks([SHIPPED_DIR], registry=default_registry())
    assert books, f"no playbook found in {SHIPPED_DIR}"
    assert all(book.steps for book in books.values())
