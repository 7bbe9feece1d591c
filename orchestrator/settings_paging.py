"""``paging.*``: who is paged when a critical incident opens (PagerDuty, Opsgenie, a room mention).

Nothing is paged until a routing key or an API key is set; the base URLs are settings so a test
or a region (Opsgenie's EU instance) points them elsewhere.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["PagingSettings"]


class PagingSettings(BaseModel):
    """PagerDuty Events API v2, Opsgenie's Alert API and the on-call mention in the room."""

    model_config = ConfigDict(extra="forbid")

    pagerduty_routing_key: SecretStr | None = Field(
        None, description="Events API v2 integration (routing) key; none: PagerDuty is not paged."
    )
    pagerduty_url: str = Field(
        "https://events.pagerduty.com", pattern=r"^https?://\S+$", description="Events API v2 base URL."
    )
    opsgenie_api_key: SecretStr | None = Field(
        None, description="API integration key (sent as 'GenieKey ...'); none: Opsgenie is not paged."
    )
    opsgenie_url: str = Field(
        "https://api.opsgenie.com",
        pattern=r"^https?://\S+$",
        description="Alert API base URL (https://api.eu.opsgenie.com for EU accounts).",
    )
    slack_mention: str = Field(
        "off",
        pattern=r"^(off|here|channel|S[A-Z0-9]{2,})$",
        description="Called into a paged incident's room: here, channel, a user group id (S...) or off.",
    )
    timeout_seconds: float = Field(10.0, gt=0, le=60, description="Each request to a paging service.")

    @property
    def mention(self) -> str | None:
        """The room's mention in Slack's markup (``<!here>``, ``<!subteam^S...>``), or None when off."""
        if self.slack_mention == "off":
            return None
        if self.slack_mention in ("here", "channel"):
            return f"<!{self.slack_mention}>"
        return f"<!subteam^{self.slack_mention}>"
