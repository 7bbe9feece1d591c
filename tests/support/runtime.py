"""Known test tokens and a migrated runtime on given settings."""

from __future__ import annotations

from orchestrator.config import Settings
from orchestrator.store import migrate
from orchestrator.worker.runtime import Runtime

INTAKE_TOKEN = "intake-token-for-tests-0001"
API_TOKEN = "api-token-for-tests-0002"
GUARD_TOKEN = "guard-token-for-tests-0004"


def make_runtime(settings: Settings) -> Runtime:
    """A runtime on ``settings``, its store brought to the current schema."""
    runtime = Runtime(settings)
    migrate.upgrade(runtime.store)
    return runtime
