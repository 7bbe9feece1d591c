"""http.post against a real local receiver: body, idempotency, retryable classes, no headers."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from orchestrator.actions import ActionContext, execute
from orchestrator.actions.http_post import HttpPostAction
from orchestrator.errors import ActionError
from tests.actions.fakes import Receiver

SECRET = "s3cr3t-header-value"


def test_posts_json_with_idempotency_key_and_reports_no_headers(
    ctx: ActionContext, receiver: Receiver
) -> None:
    output = execute(
        HttpPostAction(),
        ctx,
        {"url": receiver.url + "/hook", "json": {"a": [1, 2]}, "headers": {"X-Token": SECRET}},
    )
    assert output == {"status_code": 200, "response_bytes": 12, "url": receiver.url + "/hook"}
    [request] = receiver.requests
    assert (request.path, request.body) == ("/hook", {"a": [1, 2]})
    assert request.headers["Idempotency-Key"] == "run-1:step-1:1"
    assert request.headers["X-Token"] == SECRET
    assert SECRET not in repr(output)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (429, True), (400, False), (404, False), (302, False)],
)
def test_non_2xx_is_an_action_error_retryable_for_5xx_and_429_only(
    ctx: ActionContext, receiver: Receiver, status: int, retryable: bool
) -> None:
    params = {"url": f"{receiver.url}/status/{status}", "headers": {"Authorization": SECRET}}
    with pytest.raises(ActionError) as caught:
        execute(HttpPostAction(), ctx, params)
    assert caught.value.retryable is retryable
    assert str(caught.value) == f"POST {receiver.url}/status/{status} answered HTTP {status}"
    assert SECRET not in str(caught.value)


def test_connection_refused_is_retryable(ctx: ActionContext) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ActionError) as caught:
        execute(HttpPostAction(), ctx, {"url": f"http://127.0.0.1:{port}/x", "timeout": 2})
    assert caught.value.retryable is True
    assert str(caught.value) == f"POST http://127.0.0.1:{port}/x failed: ConnectError"


def test_dry_run_sends_nothing(ctx: ActionContext, receiver: Receiver) -> None:
    dry = dataclasses.replace(ctx, dry_run=True)
    output = execute(HttpPostAction(), dry, {"url": receiver.url + "/hook"})
    assert output == {"dry_run": True, "action": "http.post", "would_run": True}
    assert receiver.requests == []


def test_invalid_params_are_not_retryable(ctx: ActionContext) -> None:
    with pytest.raises(ActionError) as caught:
        execute(HttpPostAction(), ctx, {"url": "ftp://example.com", "timeout": 0})
    assert caught.value.retryable is False
    assert str(caught.value).startswith("action 'http.post': invalid params: url: ")
