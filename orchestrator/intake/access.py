"""Who may call what: the intake token only posts events; the API token opens every /v1/."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from orchestrator.config import Settings

__all__ = ["bearer", "require_operator", "require_sender"]


def bearer(request: Request) -> str | None:
    """The bearer token of a request, or None."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _matches(given: str | None, *expected: str | None) -> bool:
    if given is None:
        return False
    ok = False
    for candidate in expected:
        if candidate is not None:
            ok |= hmac.compare_digest(given.encode(), candidate.encode())
    return ok


def _secret(settings: Settings, name: str) -> str | None:
    value = getattr(settings, name)
    return value.get_secret_value() if value is not None else None


def require_sender(request: Request, settings: Settings) -> None:
    """Allow the intake token or the operators' token; 401 otherwise."""
    if not _matches(bearer(request), _secret(settings, "intake_token"), _secret(settings, "api_token")):
        raise HTTPException(
            401, detail="missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"}
        )


def require_operator(request: Request, settings: Settings) -> None:
    """Allow only the operators' API token; 401 otherwise (the intake token is not enough)."""
    if not _matches(bearer(request), _secret(settings, "api_token")):
        raise HTTPException(
            401, detail="missing or invalid operator token", headers={"WWW-Authenticate": "Bearer"}
        )
