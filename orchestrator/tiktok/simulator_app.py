"""The TikTok simulator's HTTP routes (a Starlette app over :class:`SimulatorState`).

Error shapes follow TikTok's docs: OAuth endpoints answer flat
``{"error", "error_description", "log_id"}``; API v2 endpoints nest
``{"data": {}, "error": {"code", "message", "log_id"}}``; the Marketing API answers HTTP 200
with a numeric ``code``. Every route does O(1) work; only seeding streams O(n) lines.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from orchestrator import clock
from orchestrator.tiktok import simulator_webhook
from orchestrator.tiktok.simulator_state import GrantState, SimulatorState

__all__ = ["build_app"]

Flavour = Literal["oauth", "v2", "business"]
_SCOPE = "user.info.basic"


def _json(body: dict[str, Any], status: int, log_id: str, **headers: str) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers={"x-tt-logid": log_id, **headers},
    )


def build_app(state: SimulatorState) -> Starlette:
    """The simulator's routes bound to ``state``."""

    def oauth_error(code: str, description: str, status: int, log_id: str) -> Response:
        body = {"error": code, "error_description": description, "log_id": log_id}
        return _json(body, 200 if state.options.errors_with_200 else status, log_id)

    def v2_error(code: str, message: str, status: int, log_id: str) -> Response:
        body = {"data": {}, "error": {"code": code, "message": message, "log_id": log_id}}
        return _json(body, status, log_id)

    def business(code: int, message: str, log_id: str, status: int = 200) -> Response:
        body = {"code": code, "message": message, "request_id": log_id, "data": {}}
        return _json(body, status, log_id)

    async def guard(endpoint: str, flavour: Flavour, limited: bool) -> tuple[Response | None, str]:
        """Count, delay, then maybe fail on purpose (5xx, random 429, rate window)."""
        with state.lock:
            state.count_request(endpoint)
            log_id = state.next_log_id()
        opts = state.options
        if opts.latency_ms > 0:
            await asyncio.sleep(opts.latency_ms / 1000.0)
        rng = state.rng
        if opts.error_rate > 0 and rng.random() < opts.error_rate:
            with state.lock:
                state.counters["answered_5xx"] += 1
            if rng.random() < 0.5:  # some outages answer HTML, not JSON
                return Response("Service Unavailable", 503, media_type="text/html"), log_id
            if flavour == "business":
                return business(50000, "System error", log_id, status=500), log_id
            if flavour == "v2":
                return v2_error("internal_error", "Internal error", 500, log_id), log_id
            failure = {"error": "internal_error", "error_description": "Internal error"}
            return _json({**failure, "log_id": log_id}, 500, log_id), log_id
        throttled = opts.inject_429_rate > 0 and rng.random() < opts.inject_429_rate
        if not throttled and limited and opts.rate_limit_per_minute > 0:
            with state.lock:
                admitted = state.window(endpoint).admit(int(opts.rate_limit_per_minute), clock.monotonic())
            throttled = not admitted
        if not throttled:
            return None, log_id
        with state.lock:
            state.counters["answered_429"] += 1
        if flavour == "business":
            return business(40100, "Requests made too frequently", log_id), log_id
        extra: dict[str, str] = {}
        if opts.retry_after_seconds is not None:
            extra["Retry-After"] = f"{opts.retry_after_seconds:g}"
        message = "The API rate limit was exceeded. Please try again later."
        if flavour == "v2":
            nested = {"code": "rate_limit_exceeded", "message": message, "log_id": log_id}
            return _json({"data": {}, "error": nested}, 429, log_id, **extra), log_id
        status = 200 if opts.errors_with_200 else 429
        body = {"error": "rate_limit_exceeded", "error_description": message, "log_id": log_id}
        return _json(body, status, log_id, **extra), log_id

    async def form_of(request: Request) -> dict[str, str]:
        return dict(parse_qsl((await request.body()).decode("utf-8", "replace")))

    def client_ok(form: dict[str, str]) -> bool:
        opts = state.options
        return form.get("client_key") == opts.client_key and form.get("client_secret") == opts.client_secret

    def lies(parsed: tuple[int, int]) -> bool:
        """Whether this revoke lies (``revoke_lie_rate``; only a token's first revoke). Lock held."""
        rate = state.options.revoke_lie_rate
        if rate <= 0 or state.revoke_calls(*parsed) != 1 or state.rng.random() >= rate:
            return False
        state.counters["revoke_lies"] += 1
        return True

    def notify(url: str, open_id: str) -> None:
        """TikTok's receipt for a developer revoke: ``authorization.removed``, reason 5 (in a thread)."""
        opts = state.options
        body = simulator_webhook.authorization_removed(opts.client_key, open_id, 5)
        status = 0
        for attempt in range(4):  # like TikTok, a failed delivery is retried with a growing pause
            status = simulator_webhook.deliver(url, opts.client_secret, body)
            if status == 200:
                break
            time.sleep(0.25 * 2**attempt)
        with state.lock:
            state.counters["webhooks_sent" if status == 200 else "webhooks_failed"] += 1

    async def note_5xx(request: Request) -> None:
        """Remember which token an injected 5xx refused (``revoke_5xx``): resent after it is fine."""
        parsed = state.parse((await form_of(request)).get("token", ""), "act")
        if parsed is not None:
            with state.lock:
                state.count_revoke_5xx(*parsed)

    async def revoke(request: Request) -> Response:
        failed, log_id = await guard("revoke", "oauth", limited=True)
        if failed is not None:
            if failed.status_code >= 500:
                await note_5xx(request)
            return failed
        form = await form_of(request)
        if not client_ok(form):
            return oauth_error("invalid_client", "Client key or secret is invalid.", 401, log_id)
        token = form.get("token", "")
        if not token:
            return oauth_error("invalid_request", "Missing required parameter: token.", 400, log_id)
        parsed = state.parse(token, "act")
        opts = state.options
        with state.lock:
            state.counters["revoke_requests"] += 1
            grant = GrantState.DEAD
            if parsed is not None:
                state.count_revoke_call(*parsed)
                grant = state.access_state(*parsed, clock.monotonic())
            if parsed is not None and (grant is GrantState.LIVE or opts.dead_token_behaviour == "empty"):
                if grant is GrantState.LIVE and lies(parsed):
                    return _json({}, 200, log_id)  # says revoked, leaves the grant alive
                fresh = not state.is_revoked(parsed[0])
                state.revoke(parsed[0])
                answer = _json({}, 200, log_id)
                if fresh and opts.webhook_url:
                    answer.background = BackgroundTask(notify, opts.webhook_url, state.open_id(parsed[0]))
                return answer
        if opts.dead_token_behaviour == "empty":
            return _json({}, 200, log_id)
        return oauth_error(
            opts.dead_token_error, "The access token is invalid, expired or revoked.", 400, log_id
        )

    def pair(index: int, generation: int) -> dict[str, Any]:
        opts = state.options
        return {
            "access_token": state.access_token(index, generation),
            "expires_in": int(opts.access_ttl_seconds),
            "open_id": state.open_id(index),
            "refresh_token": state.refresh_token(index, generation),
            "refresh_expires_in": int(opts.refresh_ttl_seconds),
            "scope": _SCOPE,
            "token_type": "Bearer",
        }

    async def token(request: Request) -> Response:
        failed, log_id = await guard("token", "oauth", limited=False)
        if failed is not None:
            return failed
        form = await form_of(request)
        if not client_ok(form):
            return oauth_error("invalid_client", "Client key or secret is invalid.", 401, log_id)
        grant_type = form.get("grant_type", "")
        if grant_type == "refresh_token":
            parsed = state.parse(form.get("refresh_token", ""), "rft")
            with state.lock:
                if parsed is not None and state.refresh_alive(*parsed, clock.monotonic()):
                    generation = state.rotate(parsed[0], clock.monotonic())
                    return _json(pair(parsed[0], generation), 200, log_id)
            return oauth_error("invalid_grant", "Refresh token is invalid or expired.", 400, log_id)
        if grant_type == "authorization_code":
            code = form.get("code", "")
            with state.lock:
                fresh = bool(code) and code not in state.used_codes
                state.used_codes.add(code)
            if not fresh:
                return oauth_error("invalid_grant", "Authorization code is expired or used.", 400, log_id)
            return _json(pair(state.new_grant("sim-code-user-"), 0), 200, log_id)
        if grant_type == "client_credentials":
            with state.lock:
                state.counters["client_tokens"] += 1
                serial = state.counters["client_tokens"]
            body = {
                "access_token": f"clt.{state.rng.getrandbits(64):016x}!{serial}.va",
                "expires_in": 7200,
                "token_type": "Bearer",
            }
            return _json(body, 200, log_id)
        return oauth_error("unsupported_grant_type", "Unsupported grant type.", 400, log_id)

    async def user_info(request: Request) -> Response:
        failed, log_id = await guard("user_info", "v2", limited=True)
        if failed is not None:
            return failed
        auth = request.headers.get("authorization", "")
        parsed = state.parse(auth[7:], "act") if auth[:7].lower() == "bearer " else None
        with state.lock:
            live = parsed is not None and (state.access_state(*parsed, clock.monotonic()) is GrantState.LIVE)
        if parsed is None or not live:
            message = "The access token is invalid or not found in the request."
            return v2_error("access_token_invalid", message, 401, log_id)
        body = {
            "data": {"user": {"open_id": state.open_id(parsed[0])}},
            "error": {"code": "ok", "message": "", "log_id": log_id},
        }
        return _json(body, 200, log_id)

    async def business_revoke(request: Request) -> Response:
        failed, log_id = await guard("business_revoke", "business", limited=True)
        if failed is not None:
            return failed
        try:
            body = json.loads(await request.body())
        except ValueError:
            return business(40002, "Invalid JSON body", log_id)
        if not isinstance(body, dict):
            return business(40002, "Invalid JSON body", log_id)
        opts = state.options
        if body.get("app_id") != opts.business_app_id or body.get("secret") != opts.business_secret:
            return business(40001, "App authentication failed: check app_id and secret", log_id)
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            return business(40104, "Access token is empty", log_id)
        parsed = state.parse(access, "act")
        with state.lock:
            state.counters["revoke_requests"] += 1
            grant = GrantState.DEAD
            if parsed is not None:
                state.count_revoke_call(*parsed)
                grant = state.access_state(*parsed, clock.monotonic())
            if parsed is not None and (grant is GrantState.LIVE or opts.dead_token_behaviour == "empty"):
                state.revoke(parsed[0])
                return business(0, "OK", log_id)
        if opts.dead_token_behaviour == "empty":
            return business(0, "OK", log_id)
        if grant is GrantState.EXPIRED:
            return business(40102, "Access token has expired", log_id)
        return business(40105, "Access token is invalid or revoked", log_id)

    async def control_stats(_request: Request) -> Response:
        return _json(state.snapshot(), 200, state.next_log_id())

    async def control_options(request: Request) -> Response:
        try:
            changes = json.loads(await request.body() or b"{}")
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object of option names to values")
            options = state.update_options(changes)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400, state.next_log_id())
        return _json(options.public(), 200, state.next_log_id())

    async def control_tokens(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            count = int(body.get("count", 1))
            prefix = str(body.get("open_id_prefix", "sim-user-"))
            if count < 0:
                raise ValueError("count must not be negative")
        except (ValueError, TypeError, AttributeError) as exc:
            return _json({"error": str(exc)}, 400, state.next_log_id())
        first, _, _ = state.reserve(count, prefix)

        def lines() -> Iterator[bytes]:  # a sync iterator: Starlette runs it in a thread
            chunk: list[str] = []
            for record in state.iter_records(first, count):
                chunk.append(json.dumps(record.as_json(), separators=(",", ":")))
                if len(chunk) >= 2000:
                    yield ("\n".join(chunk) + "\n").encode()
                    chunk = []
            if chunk:
                yield ("\n".join(chunk) + "\n").encode()

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def control_expire(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            parsed = state.parse(str(body.get("access_token", "")), "act")
        except (ValueError, AttributeError):
            parsed = None
        if parsed is None:
            return _json({"error": "not an access token of this simulator"}, 400, "")
        with state.lock:
            state.expire(parsed[0])
        return _json({"expired": True}, 200, state.next_log_id())

    return Starlette(
        routes=[
            Route("/v2/oauth/revoke/", revoke, methods=["POST"]),
            Route("/v2/oauth/token/", token, methods=["POST"]),
            Route("/v2/user/info/", user_info, methods=["GET"]),
            Route("/open_api/v1.3/oauth2/revoke_token/", business_revoke, methods=["POST"]),
            Route("/_simulator/stats", control_stats, methods=["GET"]),
            Route("/_simulator/options", control_options, methods=["POST"]),
            Route("/_simulator/tokens", control_tokens, methods=["POST"]),
            Route("/_simulator/expire", control_expire, methods=["POST"]),
        ]
    )
