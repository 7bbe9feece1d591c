"""GET /v1/switch: the kill switch's state, for operators and for the application's guard.

The operators' API token sees everything (engaged, who, when, why, version). The guard token
(``ORCH_GUARD_TOKEN``), which the application's guard holds, sees only what a mirror carries
(``engaged``, ``version``, ``changed_at``): enough to refuse TikTok calls, nothing about the
incident, and it opens nothing else. Any other caller, the intake token included, gets 401.
The answer is never cached by intermediaries.

Without ``app`` the answer is the all-apps switch with every configured app's under ``apps``;
``?app=NAME`` answers for that app: ``engaged`` while its switch or the all-apps switch is
(operators also see both switches); an app not configured is 404.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from orchestrator.inbound import access
from orchestrator.ports import Ports
from orchestrator.switch import flows

__all__ = ["router"]

router = APIRouter()


@router.get("/v1/switch", summary="Kill switches' state: engaged, and for operators who, when and why")
async def get_switch(
    request: Request, app: str | None = Query(None, description="One app's view (configured name).")
) -> JSONResponse:
    runtime: Ports = request.app.state.runtime
    operator = access.holds(request, runtime.settings, "api_token")
    if not operator:
        access.require(request, runtime.settings, "guard_token", what="guard or operator token")
    if app is not None and app not in runtime.settings.app_names:
        raise HTTPException(404, detail=f"no TikTok app {app!r}")
    board = await run_in_threadpool(flows.switch_status, runtime.store, runtime.settings)
    if app is not None:
        body = board.app_dict(app, operator=operator)
    else:
        body = board.as_dict() if operator else board.mirror_dict()
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
