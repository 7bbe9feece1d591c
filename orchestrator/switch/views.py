"""GET /v1/switch: the kill switch's state, for operators and for the application's guard.

The operators' API token sees everything (engaged, who, when, why, version). The intake
token, which the application or its guard may hold, sees only what a mirror carries
(``engaged``, ``version``, ``changed_at``): enough to refuse TikTok calls, nothing about the
incident. Any other caller gets 401. The answer is never cached by intermediaries.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from orchestrator.intake import access
from orchestrator.switch import flows
from orchestrator.worker.runtime import Runtime

__all__ = ["router"]

router = APIRouter()


@router.get("/v1/switch", summary="Kill switch state: engaged, and for operators who, when and why")
async def get_switch(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    try:
        access.require_operator(request, runtime.settings)
        operator = True
    except HTTPException:
        access.require_sender(request, runtime.settings)
        operator = False
    state = await run_in_threadpool(flows.switch_status, runtime.store)
    body = state.as_dict() if operator else state.mirror_dict()
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
