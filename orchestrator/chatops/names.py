"""People by name wherever Slack shows them: ``users.info`` through the Slack client, cached.

The timeline keeps ``slack:<user id>`` (ids do not change, names do); what Slack shows a person
reads the name instead. A name Slack cannot give (user gone, Slack down, scope missing) falls
back to the id, and the miss is remembered briefly so a page of entries does not ask again.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Final

from orchestrator import retry
from orchestrator.chatops.client import SlackClient, SlackError
from orchestrator.config import Settings

__all__ = ["Names", "names_for"]

_USER_ID: Final = re.compile(r"[UW][A-Z0-9]{2,}")
_SLACK_ACTOR: Final = re.compile(r"\bslack:([UW][A-Z0-9]{2,})\b")
_KNOWN_SECONDS: Final = 3600.0
_MISS_SECONDS: Final = 60.0


class Names:
    """User id to the name Slack shows, cached an hour (a miss a minute); ``lookup`` None: ids only."""

    def __init__(
        self, lookup: Callable[[str], str] | None, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._lookup = lookup
        self._now = now
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, str]] = {}

    def name(self, user_id: str) -> str:
        """The person's name, or ``user_id`` when Slack cannot say (or it is no user id: a group,
        a login)."""
        if not _USER_ID.fullmatch(user_id):
            return user_id
        with self._lock:
            cached = self._cache.get(user_id)
            if cached is not None and cached[0] > self._now():
                return cached[1]
        if self._lookup is None:
            return user_id
        try:
            found, keep = self._lookup(user_id), _KNOWN_SECONDS
        except SlackError:
            found, keep = user_id, _MISS_SECONDS
        with self._lock:
            self._cache[user_id] = (self._now() + keep, found)
        return found

    def cached_only(self) -> Names:
        """The same cache, asking Slack nothing: for a message that must not wait on lookups
        (a room's first card; its next refresh names everyone)."""
        view = Names(None, self._now)
        view._cache, view._lock = self._cache, self._lock
        return view

    def text(self, text: str) -> str:
        """``text`` with every ``slack:U…`` read as the person's name (unchanged when unknown);
        other actors (``cli:alice``, ``system``) stay as they are."""

        def named(match: re.Match[str]) -> str:
            found = self.name(match.group(1))
            return match.group(0) if found == match.group(1) else found

        return _SLACK_ACTOR.sub(named, text)

    def listed(self, user_ids: Iterable[str], limit: int = 8) -> str:
        """``Alice, Bob and 3 more``: at most ``limit`` names looked up."""
        ids = list(dict.fromkeys(user_ids))
        shown = [self.name(u) for u in ids[:limit]]
        more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
        return ", ".join(shown) + more


_shared_lock = threading.Lock()
_shared: dict[str, Names] = {}


def names_for(settings: Settings) -> Names:
    """The process's cache for this workspace (ids only while Slack is off). One lookup is one
    try with a short timeout: a name is never worth waiting out a rate limit for."""
    if settings.slack_bot_token is None:
        return Names(None)
    token = settings.slack_bot_token.get_secret_value()
    key = settings.slack_api_url + "|" + hashlib.sha256(token.encode()).hexdigest()
    with _shared_lock:
        if key not in _shared:
            client = SlackClient(
                token, base_url=settings.slack_api_url, policy=retry.RetryPolicy(max_attempts=1), timeout=3
            )
            _shared[key] = Names(client.user_name)
        return _shared[key]
