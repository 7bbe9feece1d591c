"""GET /v1/incidents, /v1/incidents/{id} and /v1/incidents/{id}/timeline (operators only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from orchestrator.errors import NotFound
from orchestrator.inbound import access
from orchestrator.incidents import service as incidents
from orchestrator.ports import Ports
from orchestrator.timeline import service as timeline

__all__ = ["router"]

router = APIRouter()


def _runtime(request: Request) -> Ports:
    runtime: Ports = request.app.state.runtime
    access.require_operator(request, runtime.settings)
    return runtime


@router.get("/v1/incidents", summary="List incidents, newest first")
async def list_incidents(request: Request, status: str | None = None, limit: int = 100) -> dict[str, Any]:
    runtime = _runtime(request)

    def load() -> list[dict[str, Any]]:
        with runtime.store.unit_of_work() as session:
            rows = incidents.list_incidents(session, status=status, limit=max(1, min(limit, 1000)))
            return [row.as_dict() for row in rows]

    return {"incidents": await run_in_threadpool(load)}


@router.get("/v1/incidents/{incident_id}", summary="One incident")
async def get_incident(incident_id: str, request: Request) -> dict[str, Any]:
    runtime = _runtime(request)

    def load() -> dict[str, Any]:
        with runtime.store.unit_of_work() as session:
            return incidents.get_incident(session, incident_id=incident_id).as_dict()

    try:
        return await run_in_threadpool(load)
    except NotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None


@router.get("/v1/incidents/{incident_id}/timeline", summary="An incident's timeline, oldest first")
async def get_timeline(incident_id: str, request: Request) -> dict[str, Any]:
    runtime = _runtime(request)

    def load() -> dict[str, Any]:
        with runtime.store.unit_of_work() as session:
            incident = incidents.get_incident(session, incident_id=incident_id)
            rows = timeline.entries(session, incident.id)
            return {"incident_id": incident.id, "entries": [row.as_dict() for row in rows]}

    try:
        return await run_in_threadpool(load)
    except NotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
