"""GET /v1/switch over real HTTP: operators and the guard token may read it, nobody else."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from orchestrator.api.app import create_app
from orchestrator.switch import flows
from orchestrator.worker.runtime import Runtime
from tests.support.runtime import API_TOKEN, GUARD_TOKEN, INTAKE_TOKEN
from tests.support.server import serve_app

NEVER_CHANGED = {
    "engaged": False,
    "by": None,
    "reason": None,
    "approved_by": None,
    "incident_id": None,
    "changed_at": None,
    "version": 0,
}


@pytest.fixture
def client(runtime: Runtime) -> Iterator[httpx.Client]:
    with serve_app(create_app(runtime)) as base_url, httpx.Client(base_url=base_url, timeout=10) as http:
        yield http


def test_operators_see_who_when_and_why(client: httpx.Client, runtime: Runtime) -> None:
    change = flows.engage_switch(runtime.store, runtime.settings, by="alice", reason="secret leaked")
    assert change.state.changed_at is not None
    answer = client.get("/v1/switch", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {
        "engaged": True,
        "by": "alice",
        "reason": "secret leaked",
        "approved_by": None,
        "incident_id": None,
        "changed_at": change.state.changed_at.isoformat(),
        "version": 1,
        "apps": {"default": {"app": "default", **NEVER_CHANGED}},
    }


def test_the_guard_token_sees_only_the_flag(client: httpx.Client, runtime: Runtime) -> None:
    change = flows.engage_switch(runtime.store, runtime.settings, by="alice", reason="secret leaked")
    assert change.state.changed_at is not None
    answer = client.get("/v1/switch", headers={"Authorization": f"Bearer {GUARD_TOKEN}"})
    assert answer.status_code == 200
    assert answer.json() == {
        "engaged": True,
        "version": 1,
        "changed_at": change.state.changed_at.isoformat(),
        "apps": {"default": {"engaged": False, "version": 0, "changed_at": None}},
    }


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {INTAKE_TOKEN}"}],
    ids=["none", "wrong", "intake-token"],
)
def test_switch_state_needs_the_guard_or_operator_token(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    answer = client.get("/v1/switch", headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"error": "missing or invalid guard or operator token"}
