"""The in-process detector API: ``Emitter.emit(event)`` makes an event durable like the intake does.

A detector builds a generic-schema dict (or a ``CompromiseEvent``) and emits it; the event and
its outbox row commit together through ``events.accept.accept_events``, then the row is
published at once (the scheduler's relay publishes it later if the broker is down).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from orchestrator import clock
from orchestrator.events import accept as intake
from orchestrator.events.schemas import CompromiseEvent, Severity
from orchestrator.intake.sources import SourceContext, parse_body
from orchestrator.logging import get_logger
from orchestrator.store.db import Store
from orchestrator.store.outbox import Publisher

__all__ = ["Emitter"]

log = get_logger(__name__)


class Emitter:
    """Emits events for one detector (``source``) into a store; ``publish`` is optional
    (without it the scheduler's relay delivers the event)."""

    def __init__(self, store: Store, *, source: str = "detector", publish: Publisher | None = None) -> None:
        self.store = store
        self.source = source
        self._publish = publish

    def normalise(self, event: CompromiseEvent | Mapping[str, Any]) -> CompromiseEvent:
        """A dict in the generic schema becomes a clean event (``ValidationFailed`` names the
        bad field); an event is taken as it is."""
        if isinstance(event, CompromiseEvent):
            return event
        ctx = SourceContext(source=self.source, received_at=clock.utcnow(), default_severity=Severity.HIGH)
        raw = json.dumps(dict(event), default=str).encode("utf-8")
        [parsed] = parse_body("generic", raw, ctx)
        return parsed

    def emit(self, event: CompromiseEvent | Mapping[str, Any]) -> str:
        """Make one event durable and hand it on; return its id. ``StoreError`` if the store
        is down (the event is then not accepted: the caller may retry)."""
        parsed = self.normalise(event)
        now = clock.utcnow()
        ids = intake.accept_events(self.store, [parsed], now=now)
        if self._publish is not None:
            intake.dispatch_now(self.store, self._publish, ids, now=now)
        log.info("detector emitted an event", source=parsed.source, kind=parsed.kind, event_id=parsed.id)
        return parsed.id
