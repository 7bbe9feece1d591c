"""Durations written as ``30s``, ``5m``, ``1h``, ``250ms`` or ``7d``: one parser for settings,
playbooks and commands, at the bottom layer so that none of them imports another for it."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as ``"30s"``, ``"5m"``, ``"1h"``, ``"250ms"``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '30s' or '5m'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (found := _DURATION.match(value)):
        seconds = float(found.group(1)) * _UNIT_SECONDS[found.group(2) or "s"]
    else:
        raise ValueError(f"invalid duration {value!r}: use seconds or a string like '30s' or '5m'")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds
