"""The guard itself: reads the switch from its sources, caches the reading, refuses while engaged.

A fallback source (any but the first) that says "released" counts only when its ``version``
is at least the newest this guard has seen: a mirror left behind by an outage must not
release a switch the guard already saw engaged again. When no source answers, the state is
unknown, and by default (``fail_closed``) unknown counts as engaged: an attacker who can cut
the application off from its switch must not thereby reconnect it.

A guard reads its app's switch (``app``, ``ORCH_GUARD_APP``, default ``default``) and the
all-apps switch: engaged when either is. A state that lists apps (``apps``) but not this one is
no answer (the orchestrator does not know the app: fail closed); one without ``apps`` (from a
release before several apps) is the one switch every app obeys.
"""

from __future__ import annotations

import importlib.util
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator import clock
from orchestrator.errors import OrchestratorError
from orchestrator.guard.sources import DEFAULT_FILE_MAX_AGE, FileSource, HttpSource, RedisSource, Source

__all__ = ["DEFAULT_TIKTOK_HOSTS", "Disconnected", "Guard", "Reading", "SwitchUnknown", "is_tiktok_host"]

DEFAULT_APP = "default"  # the app the single-app settings define (settings_apps.DEFAULT_APP)
DEFAULT_TIKTOK_HOSTS = ("open.tiktokapis.com", "business-api.tiktok.com", "*.tiktokapis.com", "*.tiktok.com")
_TRUE = {"1", "true", "yes", "on"}


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """``env[name]`` as seconds; ValueError naming the variable (never a bare float() error)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}: {raw!r} is not a finite number of seconds, 0 or more") from None
    if not math.isfinite(value) or value < 0:  # "nan" would compare false: never stale, never expired
        raise ValueError(f"{name}: {raw!r} is not a finite number of seconds, 0 or more")
    return value


class Disconnected(OrchestratorError):
    """The kill switch is engaged: no TikTok call may leave the application."""


class SwitchUnknown(Disconnected):
    """No source could tell the switch state and the guard fails closed."""


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


def engaged_for(state: Mapping[str, Any], app: str) -> bool | None:
    """Whether ``app`` is disconnected by ``state`` (a mirror's JSON); None when it cannot tell."""
    flag = state.get("engaged")
    apps = state.get("apps")
    if not isinstance(flag, bool):
        return None
    if apps is None:
        return flag
    mine = apps.get(app) if isinstance(apps, dict) else None
    if not isinstance(mine, dict) or not isinstance(mine.get("engaged"), bool):
        return None
    return flag or mine["engaged"]


class Guard:
    """Reads the switch from its sources, caches the reading, and refuses while engaged."""

    def __init__(
        self,
        sources: Sequence[Source],
        *,
        app: str = DEFAULT_APP,
        cache_seconds: float = 1.0,
        fail_closed: bool = True,
        tiktok_hosts: Sequence[str] = DEFAULT_TIKTOK_HOSTS,
        monotonic: Callable[[], float] = clock.monotonic,
    ) -> None:
        self.sources = list(sources)
        self.app = app
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
                max_age = _seconds(env, "ORCH_GUARD_FILE_MAX_AGE_SECONDS", DEFAULT_FILE_MAX_AGE)
                sources.append(FileSource(env.get("ORCH_GUARD_FILE") or default, max_age=max_age))
            elif name == "http" and env.get("ORCH_GUARD_URL"):
                sources.append(HttpSource(env["ORCH_GUARD_URL"], token=env.get("ORCH_GUARD_TOKEN")))
            elif name and name not in ("redis", "file", "http"):
                raise ValueError(f"ORCH_GUARD_SOURCES: unknown source {name!r} (redis, file or http)")
        hosts = [h.strip() for h in env.get("ORCH_GUARD_TIKTOK_HOSTS", "").split(",") if h.strip()]
        return cls(
            sources,
            app=env.get("ORCH_GUARD_APP", "").strip() or DEFAULT_APP,
            cache_seconds=_seconds(env, "ORCH_GUARD_CACHE_SECONDS", 1.0),
            fail_closed=env.get("ORCH_GUARD_FAIL_CLOSED", "true").strip().lower() in _TRUE,
            tiktok_hosts=hosts or DEFAULT_TIKTOK_HOSTS,
        )

    @classmethod
    def from_settings(
        cls, settings: Any, *, app: str = DEFAULT_APP, api_url: str | None = None, token: str | None = None
    ) -> Guard:
        """A guard of ``app`` for a process that has the orchestrator's ``Settings`` (the same mirrors
        it writes; the ``http`` source with ``token``, else the settings' ``guard_token``)."""
        sources: list[Source] = []
        broker = str(getattr(settings, "broker_url", ""))
        if broker.startswith(("redis://", "rediss://")) and importlib.util.find_spec("redis"):
            sources.append(RedisSource(broker))
        file = Path(settings.data_dir) / "kill_switch.json"
        sources.append(FileSource(file, max_age=float(settings.guard_file_max_age_seconds)))
        if api_url:
            configured = getattr(settings, "guard_token", None)
            token = token or (configured.get_secret_value() if configured is not None else None)
            sources.append(HttpSource(api_url, token=token))
        return cls(
            sources,
            app=app,
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
            engaged = None if value is None else engaged_for(value, self.app)
            if value is None or engaged is None:
                continue
            version = value.get("version")
            version = version if isinstance(version, int) and not isinstance(version, bool) else None
            if rank > 0 and not engaged and (version is None or version < self._newest):
                continue  # an older answer than one already seen: it cannot release
            self._newest = max(self._newest, version or 0)
            return Reading(
                engaged=engaged,
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
