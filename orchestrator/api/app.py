"""The ASGI app: routes, health and error shapes; no domain logic lives here."""

from __future__ import annotations

import json
from contextlib import suppress

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.telemetry import TelemetryConfig

from orchestrator import clock, metrics
from orchestrator.api.redirects import RelativeRedirects
from orchestrator.chatops import views as slack_views
from orchestrator.events import accept
from orchestrator.events.schemas import Severity
from orchestrator.incidents import views as incident_views
from orchestrator.intake import health
from orchestrator.intake import routes as intake_routes
from orchestrator.intake.critical import Rehearsed
from orchestrator.intake.sources import SourceContext, import_parsers, parse_body, source_names
from orchestrator.logging import get_logger
from orchestrator.proof import receipt as tiktok_receipt
from orchestrator.switch import views as switch_views
from orchestrator.timeline import pages as timeline_pages
from orchestrator.worker.runtime import Runtime

__all__ = ["NO_TELEMETRY", "create_app", "prepare"]

log = get_logger(__name__)

NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}
"""FastAPI's native OpenTelemetry, off whatever the process configures. Its spans carry request
URLs, and Splunk's webhook sends its secret in the query string (FastAPI masks only a few
cloud signature parameters); the API's own figures are at /metrics. Off, it also spares each
request three provider look-ups, about 2 % of the API's samples in a py-spy profile under load."""


def create_app(runtime: Runtime) -> FastAPI:
    """Build the API around a runtime (settings, store, Celery app)."""
    app = FastAPI(
        title="TikTok incident response orchestrator",
        version="0.1.0",
        description="Intake of compromise events, incidents and their timelines.",
        telemetry=NO_TELEMETRY,
        openapi_url=None,  # served below, to operators only: the schema maps every route
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.add_middleware(RelativeRedirects)
    app.include_router(intake_routes.router)
    app.include_router(incident_views.router)
    app.include_router(slack_views.router)
    app.include_router(switch_views.router)
    app.include_router(tiktok_receipt.router)
    app.include_router(timeline_pages.router)
    app.include_router(metrics.router)
    app.include_router(health.router)

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        timeline_pages.signed_in(request)
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        timeline_pages.signed_in(request)
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title}: API")

    return app


def prepare(app: FastAPI) -> None:
    """Connect and warm up at start-up instead of on the first event (``serve``): every source's
    parser imported and its plan built, the intake's writer thread and its broker connection,
    kept for good (no idle end), and a critical event parsed as the generic source parses one,
    whose commit is rehearsed on a store connection, the switch engaged as the writer engages it,
    and rolled back (``CriticalFirst.rehearse``). The first event after start-up or an idle hour
    then waits for none of it."""
    runtime: Runtime = app.state.runtime
    failed = import_parsers()
    if failed:
        log.error("source parsers failed to import; their deliveries will fail", sources=failed)
    for source in source_names():
        with suppress(HTTPException):  # misconfigured: logged, and refused on each delivery
            intake_routes.source_plan(app.state, runtime, source)
    intake_routes.group_commit(app.state, runtime, idle_seconds=None).start()
    now = clock.utcnow()
    body = {"title": "start-up rehearsal", "kind": "host.compromise", "severity": "critical",
            "dedup_key": "start-up-rehearsal"}  # fmt: skip
    context = SourceContext(source="generic", received_at=now, default_severity=Severity.CRITICAL)
    probe = parse_body("generic", json.dumps(body).encode(), context)
    with runtime.store.ahead(), suppress(Rehearsed):  # rolled back: nothing of it stays
        accept.accept_events(runtime.store, probe, now=now, before_commit=app.state.intake_critical.rehearse)
