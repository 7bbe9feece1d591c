"""The application's kill-switch check: ``guard.check()`` raises ``Disconnected`` while engaged.

Import cost is the standard library only; ``redis``, ``httpx`` and ``requests`` are imported
lazily by the source or adapter that needs them. A reading is cached for ``cache_seconds``
(default 1 s), so a check costs well under a microsecond between refreshes.

Where the state comes from, tried in order (``ORCH_GUARD_SOURCES``, default ``redis,file,http``;
a source that is not configured is skipped, one that fails or has no value passes to the next):

- ``redis``: the key ``orchestrator:kill_switch`` at ``ORCH_GUARD_REDIS_URL`` (or a
  ``redis://`` ``ORCH_BROKER_URL``), when the ``redis`` package is importable;
- ``file``: ``ORCH_GUARD_FILE`` (default ``$ORCH_DATA_DIR/kill_switch.json``);
- ``http``: ``GET $ORCH_GUARD_URL/v1/switch`` with the bearer ``ORCH_GUARD_TOKEN``.

A reading that a source cannot read unambiguously (not JSON, a duplicate key, no boolean
``engaged``) counts as no answer. A fallback source (any but the first) that says "released"
counts only when its ``version`` is at least the newest this guard has seen: a mirror left
behind by an outage must not release a switch the guard already saw engaged again.

When no source answers, the state is unknown. By default the guard **fails closed**
(``ORCH_GUARD_FAIL_CLOSED=true``): unknown counts as engaged and ``check()`` raises
``SwitchUnknown`` (a ``Disconnected``), because an attacker who can cut the application off
from its switch must not thereby reconnect it. Set it to ``false`` to prefer availability.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from orchestrator import clock
from orchestrator.errors import OrchestratorError

if TYPE_CHECKING:
    import httpx
    from requests.adapters import HTTPAdapter

__all__ = [
    "DEFAULT_TIKTOK_HOSTS",
    "Disconnected",
    "FileSource",
    "Guard",
    "HttpSource",
    "Reading",
    "RedisSource",
    "SwitchUnknown",
    "check",
    "configure",
    "engaged",
    "httpx_async_transport",
    "httpx_transport",
    "is_tiktok_host",
    "requests_adapter",
]

DEFAULT_TIKTOK_HOSTS = ("open.tiktokapis.com", "business-api.tiktok.com", "*.tiktokapis.com", "*.tiktok.com")
REDIS_KEY = "orchestrator:kill_switch"
_TRUE = {"1", "true", "yes", "on"}


def _loads(raw: str | bytes) -> dict[str, Any]:
    """A JSON object; ``ValueError`` for anything else, a duplicate key included (a reader that
    kept the last ``engaged`` could be told "released" by whoever appends one)."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found = dict(pairs)
        if len(found) != len(pairs):
            raise ValueError("duplicate key in the switch state")
        return found

    value = json.loads(raw, object_pairs_hook=unique)
    if not isinstance(value, dict):
        raise ValueError("the switch state is not a JSON object")
    return value


class Disconnected(OrchestratorError):
    """The kill switch is engaged: no TikTok call may leave the application."""


class SwitchUnknown(Disconnected):
    """No source could tell the switch state and the guard fails closed."""


class Source(Protocol):
    """Where a reading comes from; ``read`` returns the mirror's JSON or None when it has none."""

    name: str

    def read(self) -> Mapping[str, Any] | None: ...


class RedisSource:
    """The Redis key the orchestrator publishes when its broker is Redis."""

    name = "redis"

    def __init__(self, url: str, *, key: str = REDIS_KEY, timeout: float = 0.25) -> None:
        self._url, self._key, self._timeout = url, key, timeout
        self._client: Any = None

    def read(self) -> Mapping[str, Any] | None:
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(
                self._url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
            )
        raw = self._client.get(self._key)
        return None if raw is None else _loads(raw)


class FileSource:
    """The JSON file the orchestrator keeps in its data directory."""

    name = "file"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self) -> Mapping[str, Any] | None:
        try:
            with open(self.path, encoding="utf-8") as handle:
                return _loads(handle.read())
        except FileNotFoundError:
            return None


class HttpSource:
    """``GET /v1/switch`` on the orchestrator's API (needs the intake or the API token)."""

    name = "http"

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 1.0) -> None:
        self._url = base_url.rstrip("/") + "/v1/switch"
        self._token, self._timeout = token, timeout

    def read(self) -> Mapping[str, Any] | None:
        request = urllib.request.Request(self._url, headers={"Accept": "application/json"})
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        with urllib.request.urlopen(request, timeout=self._timeout) as response:
            return _loads(response.read())

    def __repr__(self) -> str:
        return f"HttpSource({self._url!r})"  # never the token


@dataclass(frozen=True, slots=True)
class Reading:
    """One look at the switch: ``engaged`` is None when no source answered."""

    engaged: bool | None
    source: str | None
    version: int | None
    expires: float


def is_tiktok_host(host: str, patterns: Sequence[str] = DEFAULT_TIKTOK_HOSTS) -> bool:
    """True when ``host`` is one of ``patterns``; ``*.example.com`` also matches ``example.com``."""
    name = host.lower().rstrip(".")
    for pattern in patterns:
        wanted = pattern.lower().rstrip(".")
        if wanted.startswith("*."):
            suffix = wanted[2:]
            if name == suffix or name.endswith("." + suffix):
                return True
        elif name == wanted:
            return True
    return False


class Guard:
    """Reads the switch from its sources, caches the reading, and refuses while engaged."""

    def __init__(
        self,
        sources: Sequence[Source],
        *,
        cache_seconds: float = 1.0,
        fail_closed: bool = True,
        tiktok_hosts: Sequence[str] = DEFAULT_TIKTOK_HOSTS,
        monotonic: Callable[[], float] = clock.monotonic,
    ) -> None:
        self.sources = list(sources)
        self.cache_seconds = cache_seconds
        self.fail_closed = fail_closed
        self.tiktok_hosts = tuple(tiktok_hosts)
        self._monotonic = monotonic
        self._reading: Reading | None = None
        self._newest = 0  # the highest switch version any source has shown this guard
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Guard:
        """A guard configured from ``ORCH_GUARD_*`` (and ``ORCH_DATA_DIR``/``ORCH_BROKER_URL``)."""
        env = os.environ if environ is None else environ
        sources: list[Source] = []
        for name in env.get("ORCH_GUARD_SOURCES", "redis,file,http").split(","):
            name = name.strip().lower()
            if name == "redis":
                url = env.get("ORCH_GUARD_REDIS_URL") or env.get("ORCH_BROKER_URL", "")
                if url.startswith(("redis://", "rediss://")) and importlib.util.find_spec("redis"):
                    sources.append(RedisSource(url))
            elif name == "file":
                default = Path(env.get("ORCH_DATA_DIR", ".orchestrator")) / "kill_switch.json"
                sources.append(FileSource(env.get("ORCH_GUARD_FILE") or default))
            elif name == "http" and env.get("ORCH_GUARD_URL"):
                sources.append(HttpSource(env["ORCH_GUARD_URL"], token=env.get("ORCH_GUARD_TOKEN")))
            elif name and name not in ("redis", "file", "http"):
                raise ValueError(f"ORCH_GUARD_SOURCES: unknown source {name!r} (redis, file or http)")
        hosts = [h.strip() for h in env.get("ORCH_GUARD_TIKTOK_HOSTS", "").split(",") if h.strip()]
        return cls(
            sources,
            cache_seconds=float(env.get("ORCH_GUARD_CACHE_SECONDS", "1.0")),
            fail_closed=env.get("ORCH_GUARD_FAIL_CLOSED", "true").strip().lower() in _TRUE,
            tiktok_hosts=hosts or DEFAULT_TIKTOK_HOSTS,
        )

    @classmethod
    def from_settings(cls, settings: Any, *, api_url: str | None = None, token: str | None = None) -> Guard:
        """A guard for a process that has the orchestrator's ``Settings`` (the same mirrors it writes;
        the ``http`` source with ``token``, else the settings' ``guard_token``)."""
        sources: list[Source] = []
        broker = str(getattr(settings, "broker_url", ""))
        if broker.startswith(("redis://", "rediss://")) and importlib.util.find_spec("redis"):
            sources.append(RedisSource(broker))
        sources.append(FileSource(Path(settings.data_dir) / "kill_switch.json"))
        if api_url:
            configured = getattr(settings, "guard_token", None)
            token = token or (configured.get_secret_value() if configured is not None else None)
            sources.append(HttpSource(api_url, token=token))
        return cls(
            sources,
            cache_seconds=float(settings.guard_cache_seconds),
            fail_closed=bool(settings.guard_fail_closed),
        )

    def reading(self) -> Reading:
        """The cached reading, refreshed from the sources once it is older than ``cache_seconds``."""
        cached = self._reading
        if cached is not None and self._monotonic() < cached.expires:
            return cached
        with self._lock:
            cached = self._reading
            if cached is not None and self._monotonic() < cached.expires:
                return cached
            self._reading = self._read_sources()
            return self._reading

    def _read_sources(self) -> Reading:
        for rank, source in enumerate(self.sources):
            try:
                value = source.read()
            except Exception:  # any failure of one source means: ask the next one
                continue
            if value is None or not isinstance(value.get("engaged"), bool):
                continue
            version = value.get("version")
            version = version if isinstance(version, int) and not isinstance(version, bool) else None
            if rank > 0 and not value["engaged"] and (version is None or version < self._newest):
                continue  # an older answer than one already seen: it cannot release
            self._newest = max(self._newest, version or 0)
            return Reading(
                engaged=value["engaged"],
                source=source.name,
                version=version,
                expires=self._monotonic() + self.cache_seconds,
            )
        return Reading(
            engaged=None, source=None, version=None, expires=self._monotonic() + self.cache_seconds
        )

    def invalidate(self) -> None:
        """Forget the cached reading; the next check asks the sources."""
        self._reading = None

    def engaged(self) -> bool:
        """True while TikTok calls are forbidden (an unknown state counts when failing closed)."""
        known = self.reading().engaged
        return self.fail_closed if known is None else known

    def check(self) -> None:
        """Return quietly while released; raise ``Disconnected`` (or ``SwitchUnknown``) otherwise."""
        known = self.reading().engaged
        if known is None:
            if self.fail_closed:
                raise SwitchUnknown(
                    "kill switch state unknown and the guard fails closed: do not call TikTok"
                )
            return
        if known:
            raise Disconnected("kill switch engaged: no TikTok call may leave the application")

    def check_host(self, host: str) -> None:
        """``check()`` when ``host`` is a TikTok host; nothing otherwise."""
        if is_tiktok_host(host, self.tiktok_hosts):
            self.check()


_default: Guard | None = None
_default_lock = threading.Lock()


def configure(guard: Guard | None = None, **options: Any) -> Guard:
    """Install the process-wide guard: the one given, or one from the environment plus ``options``."""
    global _default
    chosen = guard
    if chosen is None:
        chosen = Guard.from_env()
        for key, value in options.items():
            setattr(chosen, key, value)
    with _default_lock:
        _default = chosen
    return chosen


def _guard() -> Guard:
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Guard.from_env()
    return _default


def check() -> None:
    """Raise ``Disconnected`` while the switch is engaged (the process-wide guard)."""
    _guard().check()


def engaged() -> bool:
    """Whether TikTok calls are forbidden right now (the process-wide guard)."""
    return _guard().engaged()


def httpx_transport(
    inner: httpx.BaseTransport | None = None, *, guard: Guard | None = None
) -> httpx.BaseTransport:
    """An httpx transport that raises ``Disconnected`` for TikTok hosts while engaged, before any I/O."""
    import httpx

    class GuardedTransport(httpx.BaseTransport):
        def __init__(self, wrapped: httpx.BaseTransport) -> None:
            self.wrapped = wrapped

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            (guard or _guard()).check_host(request.url.host)
            return self.wrapped.handle_request(request)

        def close(self) -> None:
            self.wrapped.close()

    return GuardedTransport(inner if inner is not None else httpx.HTTPTransport())


def httpx_async_transport(
    inner: httpx.AsyncBaseTransport | None = None, *, guard: Guard | None = None
) -> httpx.AsyncBaseTransport:
    """The async twin of ``httpx_transport`` (a refresh may block up to a source's timeout)."""
    import httpx

    class GuardedAsyncTransport(httpx.AsyncBaseTransport):
        def __init__(self, wrapped: httpx.AsyncBaseTransport) -> None:
            self.wrapped = wrapped

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            (guard or _guard()).check_host(request.url.host)
            return await self.wrapped.handle_async_request(request)

        async def aclose(self) -> None:
            await self.wrapped.aclose()

    return GuardedAsyncTransport(inner if inner is not None else httpx.AsyncHTTPTransport())


def requests_adapter(*, guard: Guard | None = None, **adapter_options: Any) -> HTTPAdapter:
    """A requests ``HTTPAdapter`` that raises ``Disconnected`` for TikTok hosts while engaged.

    Mount it for both schemes: ``session.mount("https://", a); session.mount("http://", a)``.
    """
    from requests.adapters import HTTPAdapter

    class GuardedAdapter(HTTPAdapter):
        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            (guard or _guard()).check_host(urlsplit(request.url or "").hostname or "")
            return super().send(request, *args, **kwargs)

    return GuardedAdapter(**adapter_options)
