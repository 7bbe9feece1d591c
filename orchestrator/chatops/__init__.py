"""ChatOps: Slack signature checks, the Web API client, cards, `/ir` commands and interactions."""

from __future__ import annotations

__all__: list[str] = []
