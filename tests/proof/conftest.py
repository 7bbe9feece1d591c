"""A whole orchestrator against the TikTok simulator: JSONL inventory, HTTP app, worker and scheduler."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.simulated import Simulated, simulated

SECRET = "sim-client-secret-planted-proof-0077"
Harness = Simulated


@pytest.fixture
def harness(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Harness]:
    """``request.param``: {"tokens": N, "sim": {...options}, "settings": {...overrides}}."""
    for name in [n for n in os.environ if n.startswith("ORCH_")]:
        monkeypatch.delenv(name)
    wanted: dict[str, Any] = getattr(request, "param", {})
    with simulated(
        tmp_path,
        secret=SECRET,
        tokens=wanted.get("tokens", 200),
        sim={"seed": 5, **wanted.get("sim", {})},
        serve=True,
        **wanted.get("settings", {}),
    ) as running:
        yield running
