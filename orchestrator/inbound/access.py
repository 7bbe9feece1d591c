"""Who may call what, by bearer token.

The intake token only posts events; the guard token only reads the switch; the metrics
token only scrapes ``/metrics``; the API token opens every route. A token of one role never
stands in for another's (the intake token can post a critical event, so a guard holding it
could set off a disconnect).
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from orchestrator.config import Settings

__all__ = ["bearer", "holds", "require", "require_operator", "require_sender"]


def bearer(request: Request) -> str | None:
    """The bearer token of a request, or None."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _secret(settings: Settings, name: str) -> str | None:
    value = getattr(settings, name)
    return value.get_secret_value() if value is not None else None


def holds(request: Request, settings: Settings, *names: str) -> bool:
    """True when the request's bearer is one of the named settings' tokens (constant time)."""
    given = bearer(request)
    if given is None:
        return False
    ok = False
    for name in names:
        candidate = _secret(settings, name)
        if candidate is not None:
            ok |= hmac.compare_digest(given.encode(), candidate.encode())
    return ok


def require(request: Request, settings: Settings, *names: str, what: str = "bearer token") -> None:
    """Allow a bearer holding one of the named tokens; 401 otherwise."""
    if not holds(request, settings, *names):
        raise HTTPException(401, detail=f"missing or invalid {what}", headers={"WWW-Authenticate": "Bearer"})


def require_sender(request: Request, settings: Settings) -> None:
    """Allow the intake token or the operators' token; 401 otherwise."""
    require(request, settings, "intake_token", "api_token")


def require_operator(request: Request, settings: Settings) -> None:
    """Allow only the operators' API token; 401 otherwise (the intake token is not enough)."""
    require(request, settings, "api_token", what="operator token")
