"""The ``http.post`` action: a generic JSON webhook whose header values never leave it."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from pydantic import Field

from orchestrator import redaction
from orchestrator.errors import ActionError
from orchestrator.playbooks.action import Action, ActionContext, ActionParams

__all__ = ["HttpPostAction", "HttpPostParams"]

_RETRYABLE_STATUS = frozenset({408, 425, 429})


class HttpPostParams(ActionParams):
    """``url``, a ``json`` body, ``headers`` (kept secret) and a ``timeout`` in seconds."""

    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2048)
    body: Any = Field(default=None, alias="json")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=10.0, gt=0, le=120)


class HttpPostAction(Action):
    """POSTs JSON with an ``Idempotency-Key`` header; 5xx, 408, 425, 429 and connection
    errors are retryable, other non-2xx answers are not; output omits headers."""

    name: ClassVar[str] = "http.post"
    params: ClassVar[type[HttpPostParams]] = HttpPostParams
    has_effects: ClassVar[bool] = True

    def __init__(self, transport: httpx.BaseTransport | None = None) -> None:
        self._transport = transport

    def run(self, ctx: ActionContext, params: HttpPostParams) -> dict[str, Any]:
        shown_url = redaction.redact_text(params.url)
        headers = {"Idempotency-Key": ctx.idempotency_key, **params.headers}
        if ctx.dry_run:
            return {"dry_run": True, "url": shown_url}
        try:
            with httpx.Client(
                timeout=params.timeout, follow_redirects=False, transport=self._transport
            ) as client:
                response = client.post(params.url, json=params.body, headers=headers)
        except httpx.HTTPError as exc:
            raise ActionError(f"POST {shown_url} failed: {type(exc).__name__}", retryable=True) from None
        size = len(response.content)
        if not response.is_success:
            code = response.status_code
            retryable = code >= 500 or code in _RETRYABLE_STATUS
            raise ActionError(f"POST {shown_url} answered HTTP {code}", retryable=retryable)
        return {"status_code": response.status_code, "response_bytes": size, "url": shown_url}
