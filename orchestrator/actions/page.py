"""The ``page.oncall`` action: page the on-call through PagerDuty and Opsgenie, when configured."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from orchestrator.errors import ActionError
from orchestrator.paging import flows
from orchestrator.paging.providers import PagingFailed
from orchestrator.playbooks.action import Action, ActionContext, ActionParams

__all__ = ["PageOncallAction", "PageOncallParams"]

NOT_CONFIGURED = "paging not configured"


class PageOncallParams(ActionParams):
    """``summary`` replaces the page's title (default: severity, incident title and id)."""

    summary: str | None = Field(default=None, min_length=1, max_length=1024)


class PageOncallAction(Action):
    """Pages every configured service once per incident; resolving the incident resolves them.

    Unconfigured (no ``paging.pagerduty_routing_key`` nor ``paging.opsgenie_api_key``) it sends
    nothing and succeeds. A service that fails is retried by the step's ``retry`` (5xx, 429 and
    connection errors only); the services already paged are not paged again.
    """

    name: ClassVar[str] = "page.oncall"
    params: ClassVar[type[PageOncallParams]] = PageOncallParams
    has_effects: ClassVar[bool] = True

    def run(self, ctx: ActionContext, params: PageOncallParams) -> dict[str, Any]:
        runtime = ctx.ports(self.name)
        paging = runtime.settings.paging
        if paging.pagerduty_routing_key is None and paging.opsgenie_api_key is None:
            return {"skipped": NOT_CONFIGURED}
        if ctx.incident_id is None:
            raise ActionError("page.oncall needs an incident (start the run for one)")
        try:
            pages = flows.trigger_pages(
                runtime, incident_id=ctx.incident_id, actor=ctx.actor, summary=params.summary
            )
        except PagingFailed as exc:
            raise ActionError(str(exc), retryable=exc.retryable) from None
        return {"pages": pages}
