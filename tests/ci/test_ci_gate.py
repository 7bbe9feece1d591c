"""A missing service fails the run under every usual spelling of ``CI``, and only skips outside CI."""

from __future__ import annotations

import pytest

from tests.support.processes import free_port
from tests.support.services import require


@pytest.mark.parametrize("value", ["true", "True", "TRUE", "1", "yes", "on", " true "])
def test_a_missing_service_fails_when_ci_is_truthy(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match=r"Redis is not reachable.*CI needs it"):
        require(f"redis://127.0.0.1:{free_port()}/0", "Redis")


@pytest.mark.parametrize("value", [None, "", "false", "0", "no"])
def test_a_missing_service_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="Redis is not reachable"):
        require(f"redis://127.0.0.1:{free_port()}/0", "Redis")
