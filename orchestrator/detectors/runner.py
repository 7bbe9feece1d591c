"""Runs the built-in detectors over followed log files: every new line through every rule and
canary, every match emitted."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

from orchestrator.detectors.base import Emitter
from orchestrator.detectors.canary import CanaryDetector
from orchestrator.detectors.logrule import FileFollower, LogRuleDetector
from orchestrator.errors import StoreError, ValidationFailed
from orchestrator.logging import get_logger

__all__ = ["DetectorRunner"]

log = get_logger(__name__)


class DetectorRunner:
    """Polls followers; canary sightings go out as source ``canary``, rule matches as ``logrule``."""

    def __init__(
        self,
        *,
        canary_emitter: Emitter,
        rule_emitter: Emitter,
        followers: Sequence[FileFollower],
        rules: LogRuleDetector | None = None,
        canaries: CanaryDetector | None = None,
    ) -> None:
        self._canary_emitter = canary_emitter
        self._rule_emitter = rule_emitter
        self._followers = list(followers)
        self._rules = rules
        self._canaries = canaries
        self._backlog: deque[tuple[str, str]] = deque()

    def poll_once(self) -> int:
        """Read what was appended to every file and emit what matches; return the count.

        On a store outage (``StoreError``) the lines not yet handled are kept for the next
        call, so nothing read is lost; an event a rule builds badly is logged and skipped.
        """
        for follower in self._followers:
            self._backlog.extend((str(follower.path), line) for line in follower.read_lines())
        emitted = 0
        while self._backlog:
            where, line = self._backlog[0]
            found = []
            if self._canaries is not None:
                found += [(self._canary_emitter, e) for e in self._canaries.scan(line, seen_in=where)]
            if self._rules is not None:
                found += [(self._rule_emitter, e) for e in self._rules.check_line(line, where=where)]
            for emitter, event in found:
                try:
                    emitter.emit(event)
                except ValidationFailed as exc:
                    log.warning("detector built an invalid event; skipped", error=str(exc))
                    continue
                emitted += 1
            self._backlog.popleft()
        return emitted

    def run(self, stop: threading.Event, *, interval: float = 0.25) -> None:
        """Poll until ``stop`` is set; a store outage is retried after a pause, never fatal."""
        log.info("detectors running", files=[str(f.path) for f in self._followers])
        while not stop.is_set():
            try:
                self.poll_once()
            except StoreError as exc:
                log.error("store unavailable; detector events wait", error=str(exc))
                stop.wait(5)
            stop.wait(interval)
        for follower in self._followers:
            follower.close()
