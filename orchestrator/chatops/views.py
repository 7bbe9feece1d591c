"""HTTP endpoints ``POST /slack/commands`` and ``POST /slack/interactions``: verify, ack, finish later.

The signature is checked on the raw body before anything is parsed; a bad, missing, stale or
replayed one gets 401 and touches nothing else. Slack off (no bot token): 404; no signing
secret: 503 saying which variable to set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from orchestrator.chatops.access import Access
from orchestrator.chatops.client import client_for
from orchestrator.chatops.interactions import (
    Outcome,
    command_outcome,
    deliver,
    interaction_outcome,
    parse_payload,
)
from orchestrator.chatops.verify import SlackVerifier
from orchestrator.errors import AuthenticationFailed, StoreError, ValidationFailed
from orchestrator.inbound.bodies import read_body
from orchestrator.inbound.replay import StoreReplayGuard
from orchestrator.ports import Ports

__all__ = ["SlackEndpoints", "endpoints_for", "router"]

router = APIRouter(prefix="/slack", tags=["slack"])
_MAX_BODY: Final = 64 * 1024


@dataclass
class SlackEndpoints:
    """What the endpoints need, built once per app: the verifier and the access rules."""

    verifier: SlackVerifier
    access: Access


def endpoints_for(runtime: Ports) -> SlackEndpoints:
    """Build the verifier (store-backed replay memory, shared by every API process) and access rules."""
    settings = runtime.settings
    if settings.slack_bot_token is None:
        raise HTTPException(404, "Slack not configured: set ORCH_SLACK_BOT_TOKEN")
    if settings.slack_signing_secret is None:
        raise HTTPException(503, "Slack requests cannot be verified: set ORCH_SLACK_SIGNING_SECRET")
    client = client_for(settings)
    return SlackEndpoints(
        verifier=SlackVerifier(
            settings.slack_signing_secret.get_secret_value(), replay=StoreReplayGuard(runtime.store)
        ),
        access=Access(settings, members=client.usergroup_members),
    )


async def _verified(request: Request) -> tuple[Ports, SlackEndpoints, dict[str, str]]:
    runtime: Ports = request.app.state.runtime
    endpoints: SlackEndpoints | None = getattr(request.app.state, "slack_endpoints", None)
    if endpoints is None:
        endpoints = endpoints_for(runtime)
        request.app.state.slack_endpoints = endpoints
    body = await read_body(request, _MAX_BODY)
    try:
        await run_in_threadpool(endpoints.verifier.verify, body, dict(request.headers))
    except AuthenticationFailed:
        raise HTTPException(401, "invalid Slack signature") from None
    except StoreError:
        raise HTTPException(503, "the store is down; Slack will retry") from None
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return runtime, endpoints, form


def _answer(outcome: Outcome) -> Response:
    task = BackgroundTask(deliver, outcome) if outcome.later is not None else None
    if outcome.ack is None:
        return Response(status_code=200, background=task)
    return JSONResponse(outcome.ack, background=task)


@router.post("/commands", summary="Slack slash command `/ir`")
async def slack_commands(request: Request) -> Response:
    runtime, endpoints, form = await _verified(request)
    outcome = await run_in_threadpool(command_outcome, runtime, form, endpoints.access)
    return _answer(outcome)


@router.post("/interactions", summary="Slack buttons and modals")
async def slack_interactions(request: Request) -> Response:
    runtime, endpoints, form = await _verified(request)
    try:
        payload: dict[str, Any] = parse_payload(form)
    except ValidationFailed as exc:
        raise HTTPException(400, str(exc)) from None
    outcome = await run_in_threadpool(interaction_outcome, runtime, payload, endpoints.access)
    return _answer(outcome)
