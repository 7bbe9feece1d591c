"""POST /v1/events[/{source}]: authenticate, bound, parse, make durable, answer 202.

Order per request: unknown source 404; header-only authentication (the global bearer, or
the source's own bearer, basic or query token); content type 415; body limit 413; signature
checks on the raw bytes (HMAC kinds); the opt-in rate limit 429; parsing (400/422, 413 for more
alerts than ``sources.<name>.max_events``), in the
thread pool for a large body; event and outbox rows in one group commit (intake/writer.py; 503
only when the store is down); 202.
The request URL is never logged: a query-string token must not reach a log line.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from orchestrator import clock, metrics
from orchestrator.config import Settings
from orchestrator.errors import (
    AuthenticationFailed,
    ConfigError,
    MalformedInput,
    NotFound,
    StoreError,
    TooLarge,
    ValidationFailed,
)
from orchestrator.events.schemas import CompromiseEvent, Severity
from orchestrator.inbound import access
from orchestrator.inbound.bodies import read_body
from orchestrator.inbound.replay import StoreReplayGuard
from orchestrator.intake.auth import SourceAuth, Verified, strip_secret_params, verify
from orchestrator.intake.critical import CriticalFirst
from orchestrator.intake.sources import FieldMapping, SourceContext, parse_body, source_names
from orchestrator.intake.writer import IDLE_SECONDS, GroupCommit
from orchestrator.logging import get_logger
from orchestrator.ratelimit import RateLimiter, limiter_for
from orchestrator.store.db import Store
from orchestrator.worker.app import publisher
from orchestrator.worker.runtime import Runtime

__all__ = ["SourcePlan", "group_commit", "router", "source_plan"]

log = get_logger(__name__)
router = APIRouter()
_JSON_TYPES: Final = ("application/json", "text/json")
_HEADER_KINDS: Final = ("bearer", "basic", "query_token", "intake_token")
_AUTH_FAILED: Final = "authentication failed"
_INLINE_PARSE_BYTES: Final = 32 * 1024
_OUTCOMES: Final = {
    400: "malformed",
    401: "unauthorized",
    404: "unknown_source",
    413: "too_large",
    415: "unsupported_type",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}


@dataclass
class SourcePlan:
    """What the intake built once for a source from its settings."""

    name: str
    limit: int
    default_severity: Severity
    default_kind: str
    max_events: int
    auth: SourceAuth | None = None
    mapping: FieldMapping | None = None
    limiter: RateLimiter | None = field(default=None, repr=False)

    @classmethod
    def build(cls, settings: Settings, name: str, store: Store) -> SourcePlan:
        """Validate the source's settings; ``ConfigError`` names the bad key.

        The opt-in rate limit lives in Redis or the store (``ratelimit``), so it holds across
        every API process, not per process."""
        cfg = settings.source(name)
        where = f"sources.{name}"
        try:
            severity = Severity(cfg.default_severity.lower())
            auth = SourceAuth.model_validate(cfg.auth) if cfg.auth else None
        except (ValueError, ValidationError) as exc:
            raise ConfigError(f"{where}: {str(exc).splitlines()[0]}") from None
        mapping = FieldMapping.from_config(cfg.mapping, where=f"{where}.mapping") if cfg.mapping else None
        per_minute = cfg.rate_limit_per_minute
        return cls(
            name=name,
            limit=cfg.max_body_bytes or settings.max_body_bytes,
            default_severity=severity,
            default_kind=cfg.default_kind,
            max_events=cfg.max_events,
            auth=auth,
            mapping=mapping,
            limiter=limiter_for(settings, store, name=f"intake:{name}", rate=per_minute / 60)
            if per_minute
            else None,
        )


_plans_lock = threading.Lock()


def _plan(request: Request, runtime: Runtime, source: str) -> SourcePlan:
    return source_plan(request.app.state, runtime, source)


def source_plan(state: Any, runtime: Runtime, source: str) -> SourcePlan:
    """The plan of ``source`` in the app's ``state``, built on first use (``HTTPException`` 500
    when the source is misconfigured)."""
    plans: dict[str, SourcePlan] | None = getattr(state, "intake_plans", None)
    if plans is None:
        with _plans_lock:
            plans = getattr(state, "intake_plans", None)
            if plans is None:
                plans = state.intake_plans = {}
    plan = plans.get(source)
    if plan is None:
        try:
            plan = plans[source] = SourcePlan.build(runtime.settings, source, runtime.store)
        except ConfigError as exc:
            log.error("source misconfigured; deliveries refused", source=source, error=str(exc))
            raise HTTPException(500, detail=f"source {source} is misconfigured; see the server log") from None
    return plan


def _group_commit(request: Request, runtime: Runtime) -> GroupCommit:
    return group_commit(request.app.state, runtime)


def group_commit(state: Any, runtime: Runtime, *, idle_seconds: float | None = IDLE_SECONDS) -> GroupCommit:
    """The app's one writer (``state`` is ``app.state``), built on first use."""
    writer: GroupCommit | None = getattr(state, "intake_writer", None)
    if writer is None:
        connect = partial(publisher, runtime.celery, fail_fast=True)
        state.intake_critical = critical = CriticalFirst(runtime.settings, runtime.playbooks)
        writer = state.intake_writer = GroupCommit(
            runtime.store, connect, before_commit=critical, urgent=critical.urgent, idle_seconds=idle_seconds
        )
    return writer


def _replay_guard(request: Request, runtime: Runtime) -> StoreReplayGuard:
    guard: StoreReplayGuard | None = getattr(request.app.state, "intake_replay", None)
    if guard is None:
        guard = request.app.state.intake_replay = StoreReplayGuard(runtime.store)
    return guard


def _check_content_type(request: Request) -> None:
    ctype = request.headers.get("content-type")
    if ctype is None:
        return
    media = ctype.split(";", 1)[0].strip().lower()
    if media not in _JSON_TYPES and not media.endswith("+json"):
        raise HTTPException(415, detail=f"content type {media[:60]!r} is not JSON; send application/json")


def _authenticate(plan: SourcePlan, request: Request, raw: bytes, guard: StoreReplayGuard) -> Verified:
    assert plan.auth is not None
    try:
        return verify(
            plan.auth,
            raw=raw,
            headers=dict(request.headers),
            query=dict(request.query_params),
            now=clock.utcnow(),
            replay=guard,
        )
    except AuthenticationFailed:
        raise HTTPException(401, detail=_AUTH_FAILED) from None


def _strip_refs(events: list[CompromiseEvent], plan: SourcePlan) -> list[CompromiseEvent]:
    if plan.auth is None or plan.auth.kind != "query_token":
        return events
    names = ("token", plan.auth.query_param)
    return [
        e.model_copy(update={"source_ref": strip_secret_params(e.source_ref, names)}) if e.source_ref else e
        for e in events
    ]


async def _accept(request: Request, source: str) -> JSONResponse:
    """Answer one delivery and count it in ``orchestrator_events_total`` (events, or the refusal)."""
    counted = source if source in source_names() else "unknown"
    try:
        response, accepted = await _deliver(request, source)
    except HTTPException as exc:
        metrics.observe_event(counted, _OUTCOMES.get(exc.status_code, "rejected"))
        raise
    if response.status_code == 202:
        metrics.observe_event(counted, "accepted", accepted)
    else:
        metrics.observe_event(counted, _OUTCOMES.get(response.status_code, "rejected"))
    return response


async def _deliver(request: Request, source: str) -> tuple[JSONResponse, int]:
    runtime: Runtime = request.app.state.runtime
    if source not in source_names():
        raise HTTPException(404, detail=f"unknown event source {source[:40]!r}")
    plan = _plan(request, runtime, source)
    guard = _replay_guard(request, runtime)
    verified: Verified | None = None
    if plan.auth is None:
        access.require_sender(request, runtime.settings)
    elif plan.auth.kind in _HEADER_KINDS:
        verified = _authenticate(plan, request, b"", guard)
    _check_content_type(request)
    raw = await read_body(request, plan.limit)
    if verified is None and plan.auth is not None:
        try:
            verified = await run_in_threadpool(_authenticate, plan, request, raw, guard)
        except StoreError:
            raise HTTPException(503, detail="store unavailable; retry later") from None
    replay_key = verified.replay_key if verified else None
    try:
        return await _admit(request, runtime, plan, raw)
    except HTTPException as exc:
        if replay_key and exc.status_code >= 429:
            # Not accepted: let the sender's retry of this very delivery in.
            await run_in_threadpool(_forget, guard, replay_key)
        raise


def _forget(guard: StoreReplayGuard, key: str) -> None:
    try:
        guard.forget(key)
    except StoreError:
        log.warning("could not forget a replay key; the retry may be refused")


async def _admit(
    request: Request, runtime: Runtime, plan: SourcePlan, raw: bytes
) -> tuple[JSONResponse, int]:
    """The response and how many events it accepted."""
    if plan.limiter is not None:
        burst = round(plan.limiter.rate * 60)  # a minute's worth back to back, then the rate
        try:
            wait = await run_in_threadpool(plan.limiter.admit, burst)
        except (StoreError, RedisError) as exc:
            # The limit protects; losing the alert would harm: a broker outage changes nothing.
            log.warning(
                "rate limit unavailable; delivery let through", source=plan.name, error=type(exc).__name__
            )
            wait = 0.0
        if wait > 0:
            retry_after = str(max(1, int(wait + 0.999)))
            raise HTTPException(429, detail="rate limit reached", headers={"Retry-After": retry_after})
    ctx = SourceContext(
        source=plan.name,
        received_at=clock.utcnow(),
        default_severity=plan.default_severity,
        default_kind=plan.default_kind,
        mapping=plan.mapping,
        max_events=plan.max_events,
    )
    try:  # a small body parses faster than a hand-over to the thread pool
        small = len(raw) <= _INLINE_PARSE_BYTES
        events = (
            parse_body(plan.name, raw, ctx)
            if small
            else await run_in_threadpool(parse_body, plan.name, raw, ctx)
        )
    except MalformedInput as exc:
        raise HTTPException(400, detail=str(exc)) from None
    except TooLarge as exc:
        raise HTTPException(413, detail=str(exc)) from None
    except NotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except ValidationFailed as exc:
        return JSONResponse({"error": str(exc), "field": exc.field}, status_code=422), 0
    events = _strip_refs(events, plan)
    if events:
        try:
            await _group_commit(request, runtime).accept(events)
        except StoreError:
            log.error("store unavailable; event refused", source=plan.name)
            raise HTTPException(503, detail="store unavailable; retry later") from None
    # The ids are what a person greps for when a SIEM asks "did it arrive?": one line per request
    # (a storm's body holds up to 2,000 events), ``event_id`` when it holds one.
    ids = {"event_id": events[0].id} if len(events) == 1 else {"event_ids": [e.id for e in events]}
    log.info("events accepted", source=plan.name, count=len(events), **ids)
    body: dict[str, Any] = {"accepted": len(events), "event_ids": [e.id for e in events]}
    if len(events) == 1:
        body["event_id"] = events[0].id
    return JSONResponse(body, status_code=202), len(events)


@router.post("/v1/events", status_code=202, summary="Post a compromise event (generic schema)")
async def post_event(request: Request) -> JSONResponse:
    return await _accept(request, "generic")


@router.post("/v1/events/{source}", status_code=202, summary="Post a tool's native webhook body")
async def post_source_event(source: str, request: Request) -> JSONResponse:
    return await _accept(request, source)
