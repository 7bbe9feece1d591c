"""Probes: ``/livez`` (this process answers), ``/healthz`` (it reaches the store and the broker),
``/readyz`` (every role of the deployment is running: the scheduler and a worker per queue).

None needs a token: probes carry none, and the answers hold role names and counts only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from orchestrator import clock, heartbeats
from orchestrator.errors import BrokerError, StoreError
from orchestrator.worker.app import broker_ping
from orchestrator.worker.runtime import Runtime

__all__ = ["router"]

router = APIRouter()


@router.get("/livez", summary="The process answers (for a liveness probe: no dependency asked)")
async def livez() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get(
    "/healthz",
    summary="Store and broker health",
    responses={503: {"description": "The store or the broker is down"}},
)
async def healthz(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    checks: dict[str, Any] = {}
    try:
        await run_in_threadpool(runtime.store.ping)
        checks["store"] = "ok"
    except StoreError as exc:
        checks["store"] = str(exc)
    try:
        await run_in_threadpool(broker_ping, runtime.celery, runtime.settings)
        checks["broker"] = "ok"
    except BrokerError as exc:
        checks["broker"] = str(exc)
    healthy = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", **checks},
        status_code=200 if healthy else 503,
    )


def _readiness(runtime: Runtime) -> heartbeats.Readiness:
    with runtime.store.unit_of_work() as session:
        rows = heartbeats.read_beats(session)
    return heartbeats.readiness(rows, clock.utcnow())


@router.get(
    "/readyz",
    summary="Every role runs: the scheduler and a worker for each queue",
    responses={503: {"description": "A role has no live process (see `missing`), or no store to ask"}},
)
async def readyz(request: Request) -> JSONResponse:
    """503 naming the missing roles when a role has no process whose heartbeat is fresh
    (``heartbeats.STALE_SECONDS``), or when the store cannot be asked."""
    runtime: Runtime = request.app.state.runtime
    try:
        ready = await run_in_threadpool(_readiness, runtime)
    except StoreError as exc:
        return JSONResponse({"status": "not ready", "store": str(exc)}, status_code=503)
    status = "not ready" if ready.missing else "ready"
    body = {"status": status, "missing": ready.missing, "alive": ready.alive}
    return JSONResponse(body, status_code=503 if ready.missing else 200)
