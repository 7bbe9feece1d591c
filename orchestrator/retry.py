"""The project's one retry helper: capped exponential backoff with full jitter, Retry-After aware.

Why full jitter: many workers revoking tokens at once would otherwise retry in lock-step and
hit TikTok in waves after every 429 (Developer Terms III.3(g): no excessive request volume).
Why honour ``Retry-After``: when the server says how long to wait, that beats any guess.

Usage::

    outcome = call_with_retry(
        lambda: client.revoke_grant(access, refresh),
        should_retry=lambda o: o.result is RevokeResult.RETRYABLE,
        retry_after=lambda o: o.retry_after,
        policy=RetryPolicy(max_attempts=5),
    )

``sleep`` and ``rng`` are injectable so tests run instantly and deterministically.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from orchestrator import clock

__all__ = [
    "RetryPolicy",
    "backoff_delay",
    "call_with_retry",
    "next_delay",
    "parse_retry_after",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times to try and how long to wait between tries.

    ``max_attempts`` counts every call, the first included (``1`` means never retry).
    ``base_delay`` doubles per retry up to ``max_delay``; the actual wait is uniform in
    ``[0, that ceiling]`` (full jitter). A server ``Retry-After`` replaces the backoff but
    is capped at ``max_retry_after`` so a hostile or buggy header cannot park a worker.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")


def backoff_delay(attempt: int, policy: RetryPolicy, *, rng: Callable[[], float] = random.random) -> float:
    """Full-jitter delay before retry number ``attempt`` (1 = the first retry).

    Always within ``[0, min(max_delay, base_delay * 2 ** (attempt - 1))]``.
    """
    exponent = min(max(attempt - 1, 0), 62)  # avoid float overflow on absurd attempt counts
    ceiling = min(policy.max_delay, policy.base_delay * (2.0**exponent))
    return rng() * ceiling


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Returns ``None`` when the header is absent or unreadable (the caller then backs off on
    its own), and ``0.0`` for a date already in the past.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if seconds == seconds else None  # NaN is unreadable
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive result means no zone given
        return None
    reference = now if now is not None else clock.utcnow()
    return max((when - reference).total_seconds(), 0.0)


def next_delay(
    attempt: int,
    policy: RetryPolicy,
    *,
    retry_after: float | None = None,
    rng: Callable[[], float] = random.random,
) -> float:
    """The wait before retry ``attempt``: the server's ``Retry-After`` if given, else backoff."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), policy.max_retry_after)
    return backoff_delay(attempt, policy, rng=rng)


def call_with_retry(
    fn: Callable[[], T],
    *,
    should_retry: Callable[[T], bool],
    retry_after: Callable[[T], float | None] = lambda _result: None,
    on_retryable: Callable[[T], None] = lambda _result: None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> T:
    """Call ``fn`` until ``should_retry`` is false or attempts run out; return the last result.

    Works on results, not exceptions: the TikTok clients already turn every failure into a
    classified outcome, and a caller must see the last outcome (with its ``log_id``) to record
    it. Exceptions from ``fn`` propagate at once: they mean a bug, not a transient failure.
    ``on_retryable`` sees every result that asked for a retry, the last one included, before
    the wait: a caller that slows its peers down on a 429 must do so even when it gives up.
    State one attempt hands to the next (was an earlier answer lost?) lives in ``fn``.
    """
    chosen = policy if policy is not None else RetryPolicy()
    attempt = 1
    result = fn()
    while should_retry(result):
        on_retryable(result)
        if attempt == chosen.max_attempts:
            break
        sleep(next_delay(attempt, chosen, retry_after=retry_after(result), rng=rng))
        attempt += 1
        result = fn()
    return result
