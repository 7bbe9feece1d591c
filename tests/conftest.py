"""Shared fixtures: settings on a fresh store, and a runtime with an in-process worker."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.config import Settings, load_settings
from orchestrator.logging import configure_logging
from orchestrator.worker.runtime import Runtime
from tests.support.runtime import API_TOKEN, GUARD_TOKEN, INTAKE_TOKEN, make_runtime
from tests.support.services import postgres_database


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Embedded defaults in a temporary data dir, with known tokens."""
    for name in [n for n in os.environ if n.startswith("ORCH_")]:
        monkeypatch.delenv(name)
    return load_settings(
        overrides={
            "data_dir": tmp_path / "data",
            "intake_token": INTAKE_TOKEN,
            "api_token": API_TOKEN,
            "guard_token": GUARD_TOKEN,
        }
    )


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Everything the process logs during the test, as JSON lines."""
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    yield stream
    configure_logging("warning", "json")


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = make_runtime(settings)
    yield rt
    rt.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def either_store(request: pytest.FixtureRequest, runtime: Runtime, tmp_path: Path) -> Iterator[Runtime]:
    """The embedded store, or a fresh PostgreSQL database with the same test tokens."""
    if request.param == "sqlite":
        yield runtime
        return
    with postgres_database() as url:
        overrides = {"data_dir": tmp_path / "pg", "database_url": url, "intake_token": INTAKE_TOKEN}
        other = make_runtime(load_settings(overrides=overrides))
        yield other
        other.close()


@pytest.fixture(autouse=True)
def _secrets_registered_by_one_test_stay_in_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading settings registers their secrets for redaction for the life of the process, as it
    should; in one pytest process a test's secret ("secret" from compose's placeholders) would
    then mask that word in every later test's output."""
    from orchestrator import redaction

    monkeypatch.setattr(redaction, "_known", set(redaction._known))
    monkeypatch.setattr(redaction, "_known_pattern", redaction._known_pattern)
