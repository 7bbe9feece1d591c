"""The story's incident, written through the store and read back as exports read it."""

from __future__ import annotations

import pytest

from orchestrator.timeline.figures import Record, load_record
from orchestrator.worker.runtime import Runtime
from tests.timeline.story import build_incident


@pytest.fixture
def record(runtime: Runtime) -> Record:
    incident_id = build_incident(runtime.store)
    with runtime.store.unit_of_work() as session:
        return load_record(session, incident_id=incident_id)
