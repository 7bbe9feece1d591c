"""POST /v1/events[/{source}]: authenticate, bound, parse, make durable, answer 202."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from orchestrator import clock
from orchestrator.errors import MalformedInput, NotFound, StoreError, ValidationFailed
from orchestrator.events.schemas import Severity
from orchestrator.intake import access
from orchestrator.intake import service as intake
from orchestrator.intake.sources import SourceContext, parse_body, source_names
from orchestrator.logging import get_logger
from orchestrator.worker.app import publisher
from orchestrator.worker.runtime import Runtime

__all__ = ["router"]

log = get_logger(__name__)
router = APIRouter()
_JSON_TYPES = ("application/json", "text/json")


async def _read_limited(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise HTTPException(413, detail=f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, detail=f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_content_type(request: Request) -> None:
    ctype = request.headers.get("content-type")
    if ctype is None:
        return
    media = ctype.split(";", 1)[0].strip().lower()
    if media not in _JSON_TYPES and not media.endswith("+json"):
        raise HTTPException(415, detail=f"content type {media!r} is not JSON; send application/json")


def _context(runtime: Runtime, source: str) -> SourceContext:
    configured = runtime.settings.sources.get(source)
    default = Severity(configured.default_severity) if configured else Severity.MEDIUM
    return SourceContext(source=source, received_at=clock.utcnow(), default_severity=default)


async def _accept(request: Request, background: BackgroundTasks, source: str) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    if source not in source_names():
        raise HTTPException(404, detail=f"unknown event source {source[:40]!r}")
    access.require_sender(request, runtime.settings)
    _check_content_type(request)
    configured = runtime.settings.sources.get(source)
    limit = (configured.max_body_bytes if configured else None) or runtime.settings.max_body_bytes
    raw = await _read_limited(request, limit)
    try:
        events = parse_body(source, raw, _context(runtime, source))
    except MalformedInput as exc:
        raise HTTPException(400, detail=str(exc)) from None
    except NotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except ValidationFailed as exc:
        return JSONResponse({"error": str(exc), "field": exc.field}, status_code=422)
    now = clock.utcnow()
    try:
        outbox_ids = await run_in_threadpool(intake.accept_events, runtime.store, events, now=now)
    except StoreError:
        log.error("store unavailable; event refused", source=source)
        raise HTTPException(503, detail="store unavailable; retry later") from None
    background.add_task(intake.dispatch_now, runtime.store, publisher(runtime.celery), outbox_ids, now=now)
    log.info("events accepted", source=source, count=len(events))
    body: dict[str, Any] = {"accepted": len(events), "event_ids": [e.id for e in events]}
    if len(events) == 1:
        body["event_id"] = events[0].id
    return JSONResponse(body, status_code=202)


@router.post("/v1/events", status_code=202, summary="Post a compromise event (generic schema)")
async def post_event(request: Request, background: BackgroundTasks) -> JSONResponse:
    return await _accept(request, background, "generic")


@router.post("/v1/events/{source}", status_code=202, summary="Post a tool's native webhook body")
async def post_source_event(source: str, request: Request, background: BackgroundTasks) -> JSONResponse:
    return await _accept(request, background, source)
