"""Detectors that emit compromise events in-process: the ``Emitter`` API, canary tokens, log rules."""

from __future__ import annotations

from orchestrator.detectors.base import Emitter
from orchestrator.detectors.canary import Canary, CanaryDetector, load_canaries, new_canary_token
from orchestrator.detectors.logrule import FileFollower, LogRule, LogRuleDetector, load_rules
from orchestrator.detectors.runner import DetectorRunner

__all__ = [
    "Canary",
    "CanaryDetector",
    "DetectorRunner",
    "Emitter",
    "FileFollower",
    "LogRule",
    "LogRuleDetector",
    "load_canaries",
    "load_rules",
    "new_canary_token",
]
