"""The TikTok simulator's memory: grants, tokens, rate windows and counters, thread-safe, O(1).

Tokens are not stored: each is computed from (seed, grant index, generation) and carries its
grant index in the ``!<digits>`` part, so checking one is a parse and a hash, and seeding a
million grants costs a few compact arrays (about 20 bytes per grant) instead of a dict of
strings. A refresh bumps the grant's generation, which kills the older tokens (rotation).
"""

from __future__ import annotations

import dataclasses
import random
import threading
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Literal, NamedTuple

from orchestrator import clock

__all__ = ["GrantState", "RateWindow", "SimulatorOptions", "SimulatorState", "TokenRecord"]

_MASK = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class SimulatorOptions:
    """How the simulated TikTok behaves; the runtime-changeable ones are in ``RUNTIME``.

    ``dead_token_behaviour``: what revoke answers for a token that is not live. ``"empty"``:
    ``200 {}`` and, like a lenient server, the grant behind the token is revoked too.
    ``"error"``: ``dead_token_error`` (``access_token_invalid`` or ``invalid_request``) with
    HTTP 400 (or 200 when ``errors_with_200``), and the grant is left as it was.
    ``errors_with_200`` applies to the OAuth endpoints (revoke, token), where TikTok has
    been seen doing it; user-info keeps its documented 401/429 statuses.
    ``rate_limit_per_minute`` is a sliding one-minute window per endpoint (0 = unlimited)
    on revoke, user-info and the Marketing API revoke; TikTok publishes none for the OAuth
    endpoints, so the production-like setting is 600 to match its v2 default.
    ``retry_after_seconds`` goes into ``Retry-After`` on 429s (``None``: no header, which is
    what TikTok documents).
    ``revoke_lie_rate``: the chance that the FIRST revoke of a live token answers ``200 {}``
    but leaves the grant alive (a lie a probe must catch; a second revoke always works).
    ``webhook_url``: after each grant it revokes, the simulator POSTs TikTok's signed
    ``authorization.removed`` webhook (reason 5) there, as TikTok does.
    """

    client_key: str = "sim-client-key"
    client_secret: str = field(default="sim-client-secret-0000", repr=False)
    business_app_id: str = "sim-business-app"
    business_secret: str = field(default="sim-business-secret-0000", repr=False)
    rate_limit_per_minute: int = 0
    latency_ms: float = 0.0
    error_rate: float = 0.0
    inject_429_rate: float = 0.0
    retry_after_seconds: float | None = 1.0
    access_ttl_seconds: float = 86_400.0
    refresh_ttl_seconds: float = 31_536_000.0
    dead_token_behaviour: Literal["empty", "error"] = "error"
    dead_token_error: Literal["access_token_invalid", "invalid_request"] = "access_token_invalid"
    errors_with_200: bool = False
    seed: int = 0
    revoke_lie_rate: float = 0.0
    webhook_url: str | None = None

    RUNTIME = frozenset(
        {
            "rate_limit_per_minute",
            "latency_ms",
            "error_rate",
            "inject_429_rate",
            "retry_after_seconds",
            "dead_token_behaviour",
            "dead_token_error",
            "errors_with_200",
            "access_ttl_seconds",
            "revoke_lie_rate",
            "webhook_url",
        }
    )

    def __post_init__(self) -> None:
        for name in self.RUNTIME:
            _check_option(name, getattr(self, name))

    def public(self) -> dict[str, Any]:
        """The options without credentials, for the control endpoint."""
        return {name: getattr(self, name) for name in sorted(self.RUNTIME)}


_DEFAULTS: dict[str, object] = {f.name: f.default for f in dataclasses.fields(SimulatorOptions)}


class TokenRecord(NamedTuple):
    """One seeded authorisation, as an application would hold it (tokens hidden from repr).

    A named tuple rather than a dataclass because seeding a million of them must be cheap.
    """

    open_id: str
    access_token: str
    refresh_token: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"TokenRecord(open_id={self.open_id!r}, expires_at={self.expires_at!r})"

    def as_json(self) -> dict[str, str]:
        return {
            "open_id": self.open_id,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at.isoformat(),
        }


class GrantState(Enum):
    """What a presented token is, from the server's point of view."""

    LIVE = "live"
    EXPIRED = "expired"  # the grant lives, this token's time is up (refresh still works)
    DEAD = "dead"  # revoked grant, rotated-out token, or not a token of ours at all


class RateWindow:
    """A sliding one-minute window: ``admit()`` is False once ``limit`` calls fell in it."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def admit(self, limit: int, now: float) -> bool:
        if limit <= 0:
            return True
        times = self._times
        while times and times[0] <= now - 60.0:
            times.popleft()
        if len(times) >= limit:
            return False
        times.append(now)
        return True


def _mix(index: int, generation: int, salt: int) -> int:
    """A cheap deterministic 64-bit scramble: forgery-resistant enough for a simulator."""
    z = (index * 0x9E3779B97F4A7C15 + generation * 0xD1B54A32D192ED03 + salt) & _MASK
    z = ((z ^ (z >> 31)) * 0xBF58476D1CE4E5B9) & _MASK
    return z ^ (z >> 29)


class SimulatorState:
    """Grants and counters behind one lock. Every method is O(1) except seeding (O(n))."""

    def __init__(self, options: SimulatorOptions) -> None:
        self.lock = threading.Lock()
        self.options = options
        self._salt_access = _mix(options.seed, 1, 0x5A17)
        self._salt_refresh = _mix(options.seed, 2, 0x5A17)
        self._generation = array("H")
        self._revoked = bytearray()
        self._access_expiry = array("d")
        self._refresh_expiry = array("d")
        self._revoke_calls = array("H")  # per grant, for its generation-0 access token
        self._revoke_calls_later: dict[tuple[int, int], int] = {}
        # (grant, generation) -> revokes answered 5xx: only tokens an outage refused are kept,
        # so a test can tell a legitimate resend (after a 5xx) from a duplicate (after a 200).
        self._revoke_5xx: dict[tuple[int, int], int] = {}
        # open_ids: one slot per reserve() (first index, prefix, number of its first grant);
        # numbers continue per prefix, so seeding "acme-" twice never repeats an open_id.
        self._prefix_starts: list[int] = []
        self._prefixes: list[str] = []
        self._prefix_numbers: list[int] = []
        self._issued_per_prefix: dict[str, int] = {}
        self.windows: dict[str, RateWindow] = {}
        self.used_codes: set[str] = set()
        self.counters: dict[str, int] = {
            "requests_total": 0,
            "answered_429": 0,
            "answered_5xx": 0,
            "revoke_answered_5xx": 0,
            "revoke_requests": 0,
            "revoked_grants": 0,
            "tokens_revoked_more_than_once": 0,
            "refreshes": 0,
            "client_tokens": 0,
            "grants_issued": 0,
            "revoke_lies": 0,
            "webhooks_sent": 0,
            "webhooks_failed": 0,
        }
        self.by_endpoint: dict[str, int] = {}
        self.rng = random.Random(options.seed)  # used only on the server's event loop
        self._log_salt = self.rng.getrandbits(64) << 16
        self._log_seq = 0

    # -- tokens -----------------------------------------------------------------------------

    def access_token(self, index: int, generation: int) -> str:
        return f"act.{_mix(index, generation, self._salt_access):016x}{generation:04x}!{index}.va"

    def refresh_token(self, index: int, generation: int) -> str:
        return f"rft.{_mix(index, generation, self._salt_refresh):016x}{generation:04x}!{index}.va"

    def parse(self, token: str, kind: Literal["act", "rft"]) -> tuple[int, int] | None:
        """(grant index, generation) when ``token`` is one we minted, else ``None``."""
        if len(token) < 27 or not token.startswith(kind + ".") or not token.endswith(".va"):
            return None
        body, bang, digits = token[4:-3].partition("!")
        if not bang or len(body) != 20 or not digits.isdigit() or len(digits) > 12:
            return None
        try:
            check, generation = int(body[:16], 16), int(body[16:], 16)
        except ValueError:
            return None
        index = int(digits)
        if index >= len(self._revoked):
            return None
        salt = self._salt_access if kind == "act" else self._salt_refresh
        return (index, generation) if _mix(index, generation, salt) == check else None

    def open_id(self, index: int) -> str:
        slot = bisect_right(self._prefix_starts, index) - 1
        number = self._prefix_numbers[slot] + index - self._prefix_starts[slot]
        return f"{self._prefixes[slot]}{number}"

    def reserve(self, count: int, open_id_prefix: str) -> tuple[int, float, float]:
        """Allocate ``count`` live grants; returns (first index, access and refresh expiry)."""
        now = clock.monotonic()
        opts = self.options
        access_at, refresh_at = now + opts.access_ttl_seconds, now + opts.refresh_ttl_seconds
        with self.lock:
            first = len(self._revoked)
            self._generation.extend(array("H", bytes(2 * count)))
            self._revoked.extend(bytes(count))
            self._access_expiry.extend(array("d", [access_at]) * count)
            self._refresh_expiry.extend(array("d", [refresh_at]) * count)
            self._revoke_calls.extend(array("H", bytes(2 * count)))
            issued = self._issued_per_prefix.get(open_id_prefix, 0)
            self._issued_per_prefix[open_id_prefix] = issued + count
            self._prefix_starts.append(first)
            self._prefixes.append(open_id_prefix)
            self._prefix_numbers.append(issued)
            self.counters["grants_issued"] += count
        return first, access_at, refresh_at

    def iter_records(self, first: int, count: int) -> Iterator[TokenRecord]:
        """Token records of grants ``first .. first+count-1`` (made lazily, gen 0)."""
        expires_at = clock.utcnow() + timedelta(seconds=self.options.access_ttl_seconds)
        slot = bisect_right(self._prefix_starts, first) - 1  # one reserve() = one prefix
        prefix = self._prefixes[slot]
        base = self._prefix_starts[slot] - self._prefix_numbers[slot]
        access, refresh = self._salt_access, self._salt_refresh
        for index in range(first, first + count):
            yield TokenRecord(
                f"{prefix}{index - base}",
                f"act.{_mix(index, 0, access):016x}0000!{index}.va",
                f"rft.{_mix(index, 0, refresh):016x}0000!{index}.va",
                expires_at,
            )

    # -- grant lifecycle (call with ``lock`` held) --------------------------------------------

    def access_state(self, index: int, generation: int, now: float) -> GrantState:
        if self._revoked[index] or generation != self._generation[index]:
            return GrantState.DEAD
        return GrantState.LIVE if self._access_expiry[index] > now else GrantState.EXPIRED

    def refresh_alive(self, index: int, generation: int, now: float) -> bool:
        return (
            not self._revoked[index]
            and generation == self._generation[index]
            and self._refresh_expiry[index] > now
        )

    def rotate(self, index: int, now: float) -> int:
        """Refresh: bump the generation (old tokens die), renew the access expiry."""
        generation = (self._generation[index] + 1) & 0xFFFF
        self._generation[index] = generation
        self._access_expiry[index] = now + self.options.access_ttl_seconds
        self.counters["refreshes"] += 1
        return generation

    def revoke(self, index: int) -> None:
        if not self._revoked[index]:
            self._revoked[index] = 1
            self.counters["revoked_grants"] += 1

    def new_grant(self, open_id_prefix: str) -> int:
        """One more grant (the authorization_code flow); the lock must NOT be held."""
        first, _, _ = self.reserve(1, open_id_prefix)
        return first

    def is_revoked(self, index: int) -> bool:
        return bool(self._revoked[index])

    def expire(self, index: int) -> None:
        self._access_expiry[index] = 0.0

    def count_revoke_call(self, index: int, generation: int) -> int:
        """Count one revoke request naming this token; returns its call count so far."""
        if generation == 0:
            calls = min(self._revoke_calls[index] + 1, 0xFFFF)
            self._revoke_calls[index] = calls
        else:
            calls = self._revoke_calls_later.get((index, generation), 0) + 1
            self._revoke_calls_later[(index, generation)] = calls
        if calls == 2:
            self.counters["tokens_revoked_more_than_once"] += 1
        return calls

    def revoke_calls(self, index: int, generation: int) -> int:
        if generation == 0:
            return int(self._revoke_calls[index])
        return self._revoke_calls_later.get((index, generation), 0)

    def count_revoke_5xx(self, index: int, generation: int) -> None:
        """Count one revoke request naming this token that an injected 5xx refused."""
        key = (index, generation)
        self._revoke_5xx[key] = self._revoke_5xx.get(key, 0) + 1
        self.counters["revoke_answered_5xx"] += 1

    def revoke_5xx(self, index: int, generation: int) -> int:
        return self._revoke_5xx.get((index, generation), 0)

    def window(self, name: str) -> RateWindow:
        found = self.windows.get(name)
        if found is None:
            found = self.windows[name] = RateWindow()
        return found

    def count_request(self, endpoint: str) -> None:
        self.counters["requests_total"] += 1
        self.by_endpoint[endpoint] = self.by_endpoint.get(endpoint, 0) + 1

    def next_log_id(self) -> str:
        """A TikTok-looking log id: UTC timestamp + 20 hex digits, unique per process."""
        self._log_seq += 1
        return f"{clock.utcnow():%Y%m%d%H%M%S}{self._log_salt ^ self._log_seq:020X}"

    def update_options(self, changes: dict[str, Any]) -> SimulatorOptions:
        """Apply runtime option changes after checking names and types (control endpoint)."""
        unknown = set(changes) - SimulatorOptions.RUNTIME
        if unknown:
            raise ValueError(f"not runtime options: {', '.join(sorted(unknown))}")
        for name, value in changes.items():
            _check_option(name, value)
        with self.lock:
            self.options = dataclasses.replace(self.options, **changes)
            return self.options

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            out: dict[str, Any] = dict(self.counters)
            out["requests_by_endpoint"] = dict(self.by_endpoint)
            out["tokens_answered_5xx"] = len(self._revoke_5xx)
            return out


_CHOICES: dict[str, frozenset[object]] = {
    "dead_token_behaviour": frozenset({"empty", "error"}),
    "dead_token_error": frozenset({"access_token_invalid", "invalid_request"}),
}


def _check_option(name: str, value: object) -> None:
    """Reject a runtime option value of the wrong type or outside its choices."""
    default = _DEFAULTS[name]
    if name in _CHOICES:
        if value not in _CHOICES[name]:
            raise ValueError(f"{name} must be one of {sorted(map(str, _CHOICES[name]))}")
        return
    if name in ("retry_after_seconds", "webhook_url") and value is None:
        return
    if name == "webhook_url":
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            raise ValueError("webhook_url must be an http(s) URL or null")
        return
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a number >= 0")
    if name in ("error_rate", "inject_429_rate", "revoke_lie_rate") and value > 1:
        raise ValueError(f"{name} is a probability between 0 and 1")
