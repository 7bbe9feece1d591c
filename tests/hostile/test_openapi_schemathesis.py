"""schemathesis against the API's own OpenAPI document: no 5xx, and documented responses fit it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from orchestrator.api.app import create_app
from orchestrator.config import load_settings
from orchestrator.worker.runtime import Runtime
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN, make_runtime
from tests.support.server import serve_app

EXAMPLES = 15
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def fuzz(operation: Any, *, token: str | None, checks: list[Any]) -> None:
    """Generate cases for one operation and send each to the running API."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy())
    def run(case: Any) -> None:
        headers = dict(case.headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        case.call_and_validate(headers=headers, timeout=10, checks=checks)

    run()


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime with TikTok and Slack secrets set, so their endpoints verify rather than refuse."""
    settings = load_settings(
        overrides={
            "data_dir": tmp_path / "data",
            "intake_token": INTAKE_TOKEN,
            "api_token": API_TOKEN,
            "tiktok_client_secret": "schemathesis-client-secret-0001",
            "slack_signing_secret": "schemathesis-signing-secret-0002",
        }
    )
    runtime = make_runtime(settings)
    yield runtime
    runtime.close()


def test_no_server_error_and_responses_fit_the_schema(configured: Runtime) -> None:
    with serve_app(create_app(configured)) as base_url:
        operator = {"Authorization": f"Bearer {API_TOKEN}"}
        schema: Any = schemathesis.openapi.from_url(f"{base_url}/openapi.json", headers=operator)
        found = [result.ok() for result in schema.get_all_operations()]
        assert len(found) >= 10, "the document lists the API's operations"
        for operation in found:
            if operation.path == "/readyz":  # with no worker or scheduler running, 503 is its answer
                fuzz(operation, token=None, checks=[response_schema_conformance, content_type_conformance])
                continue
            fuzz(operation, token=API_TOKEN, checks=CHECKS)
            fuzz(operation, token=None, checks=[not_a_server_error])
