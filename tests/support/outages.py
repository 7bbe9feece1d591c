"""Take a service away for a few seconds while work goes on, then bring it back."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.support.faults import Burst

OUTAGE = 5.0  # seconds a service stays away


def outage(cut: Callable[[], None], restore: Callable[[], None], burst: Burst | None = None) -> float:
    """Take the service away for ``OUTAGE`` seconds (the sender's middle third goes out meanwhile);
    returns the monotonic time it was back."""
    cut()
    if burst is not None:
        burst.cut.set()
    time.sleep(OUTAGE)
    restore()
    if burst is not None:
        burst.restored.set()
    return time.monotonic()


# A provider stays away longer than one pass of a token's in-task retries (6 attempts, at most ~6 s)
PROVIDER_OUTAGE = 8.0
