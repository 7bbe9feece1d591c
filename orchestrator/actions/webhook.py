"""The ``webhook.post`` action: a message to another chat or paging tool, over ``http.post``'s code path."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from orchestrator import redaction
from orchestrator.actions.http_post import HttpPostAction, HttpPostParams
from orchestrator.playbooks.action import Action, ActionContext, ActionParams

__all__ = ["WebhookPostAction", "WebhookPostParams"]


class WebhookPostParams(ActionParams):
    """``url`` and either ``text`` (sent as ``{"text": ...}``, the shape most chat tools take) or a
    ``json`` body; ``headers`` stay secret."""

    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2048)
    text: str | None = Field(default=None, max_length=40_000)
    body: Any = Field(default=None, alias="json")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _one_body(self) -> WebhookPostParams:
        if (self.text is None) == (self.body is None):
            raise ValueError("give exactly one of 'text' or 'json'")
        return self


class WebhookPostAction(Action):
    """Posts redacted text (or a redacted JSON body) with the same retry rules as ``http.post``."""

    name: ClassVar[str] = "webhook.post"
    params: ClassVar[type[WebhookPostParams]] = WebhookPostParams
    has_effects: ClassVar[bool] = True

    def __init__(self, http: HttpPostAction | None = None) -> None:
        self._http = http or HttpPostAction()

    def run(self, ctx: ActionContext, params: WebhookPostParams) -> dict[str, Any]:
        if params.text is not None:
            body: Any = {"text": redaction.redact_text(params.text), "incident_id": ctx.incident_id}
        else:
            body = redaction.redact(params.body)
        inner = HttpPostParams.model_validate(
            {"url": params.url, "json": body, "headers": params.headers, "timeout": params.timeout}
        )
        return self._http.run(ctx, inner)
