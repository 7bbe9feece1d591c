"""The application's kill-switch check: ``guard.check()`` raises ``Disconnected`` while engaged.

Import cost is the standard library only; ``redis``, ``httpx`` and ``requests`` are imported
lazily by the source or adapter that needs them. A reading is cached for ``cache_seconds``
(default 1 s), so a check costs well under a microsecond between refreshes.

Where the state comes from, tried in order (``ORCH_GUARD_SOURCES``, default ``redis,file,http``;
a source that is not configured is skipped, one that fails or has no value passes to the next):

- ``redis``: the key ``orchestrator:kill_switch`` at ``ORCH_GUARD_REDIS_URL`` (or a
  ``redis://`` ``ORCH_BROKER_URL``), when the ``redis`` package is importable;
- ``file``: ``ORCH_GUARD_FILE`` (default ``$ORCH_DATA_DIR/kill_switch.json``), no answer once
  older than ``ORCH_GUARD_FILE_MAX_AGE_SECONDS`` (default 60) by its modification time;
- ``http``: ``GET $ORCH_GUARD_URL/v1/switch`` with the bearer ``ORCH_GUARD_TOKEN``.

Each state carries the all-apps switch and every app's (``apps``); the guard of an app
(``ORCH_GUARD_APP``, default ``default``) refuses while either is engaged, and a state that does
not name its app is no answer.

When no source answers, the state is unknown. By default the guard **fails closed**
(``ORCH_GUARD_FAIL_CLOSED=true``): unknown counts as engaged and ``check()`` raises
``SwitchUnknown`` (a ``Disconnected``). Set it to ``false`` to prefer availability.

The parts: ``sources`` (where a reading comes from), ``checker`` (the ``Guard``: caching,
versions, failing closed), ``process`` (the process-wide guard) and ``transports`` (httpx and
requests adapters).
"""

from orchestrator.guard.checker import (
    DEFAULT_TIKTOK_HOSTS,
    Disconnected,
    Guard,
    Reading,
    SwitchUnknown,
    is_tiktok_host,
)
from orchestrator.guard.process import check, configure, engaged
from orchestrator.guard.sources import FileSource, HttpSource, RedisSource, Source
from orchestrator.guard.transports import httpx_async_transport, httpx_transport, requests_adapter

__all__ = [
    "DEFAULT_TIKTOK_HOSTS",
    "Disconnected",
    "FileSource",
    "Guard",
    "HttpSource",
    "Reading",
    "RedisSource",
    "Source",
    "SwitchUnknown",
    "check",
    "configure",
    "engaged",
    "httpx_async_transport",
    "httpx_transport",
    "is_tiktok_host",
    "requests_adapter",
]
