"""HTML pages for people: ``/incidents`` and ``/incidents/{id}``, behind the operators' token.

``signed_in`` is the one check for every page a person opens in a browser (these, and the
API's ``/docs`` with its ``/openapi.json``).

A request is let in by ``Authorization: Bearer <api token>`` or by the page cookie that
``POST /incidents/login`` sets after checking the same token, typed into a form (never put
in a URL). The cookie holds an expiry and an HMAC keyed by the API token, not the token:
it opens those read-only pages only (no other route reads it), dies with its expiry or a
token rotation, and is ``HttpOnly``, ``SameSite=Lax`` and ``Secure`` behind HTTPS.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from orchestrator import clock
from orchestrator.errors import NotFound
from orchestrator.inbound import access
from orchestrator.inbound.bodies import read_body
from orchestrator.incidents import service as incidents
from orchestrator.ports import Ports
from orchestrator.timeline import charts, export
from orchestrator.timeline.figures import load_record

__all__ = ["COOKIE", "COOKIE_HOURS", "router", "signed_in"]

router = APIRouter(include_in_schema=False)

COOKIE = "orch_pages"
COOKIE_HOURS = 12
_MAX_LOGIN_BODY = 8 * 1024
_PAGES = ("/incidents", "/docs")


def _api_token(runtime: Ports) -> str | None:
    token = runtime.settings.api_token
    return token.get_secret_value() if token is not None else None


def _cookie_value(api_token: str, expires: int) -> str:
    mac = hmac.new(api_token.encode(), f"timeline-pages:{expires}".encode(), hashlib.sha256).hexdigest()
    return f"{expires}.{mac}"


def _cookie_ok(request: Request, api_token: str) -> bool:
    value = request.cookies.get(COOKIE, "")
    expires_text, _, _mac = value.partition(".")
    if not expires_text.isdigit() or int(expires_text) < time.time():
        return False
    return hmac.compare_digest(value.encode(), _cookie_value(api_token, int(expires_text)).encode())


def signed_in(request: Request) -> Ports:
    """The runtime when the caller is an operator; else 401, or a redirect to the login form."""
    runtime: Ports = request.app.state.runtime
    token = _api_token(runtime)
    if token is not None and _cookie_ok(request, token):
        return runtime
    if access.bearer(request) is not None or "text/html" not in request.headers.get("accept", ""):
        access.require_operator(request, runtime.settings)
        return runtime
    target = quote(request.url.path, safe="/")
    raise HTTPException(303, detail="sign in first", headers={"Location": f"/incidents/login?next={target}"})


def _page(html: str, nonce: str = "", status: int = 200) -> HTMLResponse:
    script = f"'nonce-{nonce}'" if nonce else "'none'"
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            "Content-Security-Policy": (
                f"default-src 'none'; style-src 'unsafe-inline'; script-src {script}; "
                "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


def _safe_next(value: str | None) -> str:
    if value and value.startswith(_PAGES) and "//" not in value and "\\" not in value:
        return value
    return "/incidents"


@router.get("/incidents/login")
async def login_form(next: str | None = None) -> HTMLResponse:
    template = export.templates().get_template("login.html")
    return _page(template.render(next=_safe_next(next), error="", hours=COOKIE_HOURS))


@router.post("/incidents/login")
async def login(request: Request) -> Response:
    runtime: Ports = request.app.state.runtime
    form = parse_qs((await read_body(request, _MAX_LOGIN_BODY)).decode("utf-8", "replace"))
    given = (form.get("token") or [""])[0].strip()
    target = _safe_next((form.get("next") or [""])[0])
    token = _api_token(runtime)
    if token is None or not hmac.compare_digest(given.encode(), token.encode()):
        template = export.templates().get_template("login.html")
        html = template.render(next=target, error="That is not the operators' token.", hours=COOKIE_HOURS)
        return _page(html, status=401)
    expires = int(time.time()) + COOKIE_HOURS * 3600
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        _cookie_value(token, expires),
        max_age=COOKIE_HOURS * 3600,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/incidents")
async def index(request: Request, status: str | None = None) -> HTMLResponse:
    runtime = signed_in(request)

    def load() -> list[dict[str, Any]]:
        with runtime.store.unit_of_work() as session:
            return [row.as_dict() for row in incidents.list_incidents(session, status=status, limit=500)]

    rows = await run_in_threadpool(load)
    return _page(export.templates().get_template("index.html").render(incidents=rows))


@router.get("/incidents/{incident_id}")
async def incident_page(incident_id: str, request: Request) -> HTMLResponse:
    runtime = signed_in(request)

    def render(nonce: str) -> str:
        with runtime.store.unit_of_work() as session:
            record = load_record(session, incident_id=incident_id)
            settings = runtime.settings
            targets = charts.clause_targets(
                disconnect_minutes=settings.compliance_disconnect_target_minutes,
                report_minutes=settings.compliance_report_target_minutes,
            )
            context = export.page_context(record, generated_at=clock.utcnow(), targets=targets)
        return export.templates().get_template("incident.html").render(**context, nonce=nonce)

    nonce = secrets.token_urlsafe(16)
    try:
        return _page(await run_in_threadpool(render, nonce), nonce)
    except NotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
