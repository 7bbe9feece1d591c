"""Whether a person is among the people a step names (its approvers, a manual step's assignees).

Steps name people as they know them: a Slack user id (``U024BE7LH``), a Slack user group id
(``S0ONCALL``), a login, or ``any``. Actors are recorded with where they acted from
(``slack:U024BE7LH``, ``cli:alice``), so the name is matched with and without that prefix;
groups are resolved by the caller (Slack membership), since the domain cannot ask Slack.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["is_named"]


def is_named(actor: str, names: Iterable[str], groups: frozenset[str] = frozenset()) -> bool:
    """True when ``names`` holds ``any``, the actor (with or without its ``slack:``/``cli:``
    prefix) or one of the ``groups`` the actor belongs to."""
    wanted = set(names)
    bare = actor.split(":", 1)[1] if ":" in actor else actor
    return "any" in wanted or actor in wanted or bare in wanted or bool(groups & wanted)
