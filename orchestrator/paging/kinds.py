"""Timeline entry kinds written by paging (candidates for ``timeline/kinds.py``, as Slack's are)."""

from __future__ import annotations

from typing import Final

from orchestrator.incidents.lifecycle import PAGED_KIND

__all__ = ["PAGE_RESOLVED", "PAGE_SENT"]

PAGE_SENT: Final = PAGED_KIND  # provider, key, status_code, answer (the service's reply)
PAGE_RESOLVED: Final = "page.resolved"  # provider, key, status_code, answer
