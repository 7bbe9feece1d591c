"""The Slack Web API port: a slack-sdk ``WebClient`` wrapper with Slack error codes mapped to classes.

Every method raises a ``SlackError`` subclass chosen from ``ERRORS`` (Slack's documented
``error`` strings); ``retryable`` tells a caller whether another attempt may succeed. A 429 is
retried inside the client after ``Retry-After`` (capped by the project's retry policy), so a
rate-limited message is delayed, never dropped; a dropped connection is retried twice, waiting
as that policy says. slack-sdk runs the retry loop; the waits are ``retry.py``'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from orchestrator import retry
from orchestrator.config import Settings
from orchestrator.errors import OrchestratorError

__all__ = [
    "ERRORS",
    "SlackAlreadyDone",
    "SlackAuthError",
    "SlackChannel",
    "SlackClient",
    "SlackError",
    "SlackInvalidRequest",
    "SlackNameTaken",
    "SlackNotConfigured",
    "SlackNotFound",
    "SlackPermissionError",
    "SlackRateLimited",
    "SlackUnavailable",
    "client_for",
    "error_for",
]


@dataclass(frozen=True)
class SlackChannel:
    """A channel as ``conversations.list`` shows it: enough to tell whose room it is."""

    id: str
    name: str
    topic: str


class SlackError(OrchestratorError):
    """Slack refused a call; ``code`` is Slack's ``error`` string."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, code: str = "unknown") -> None:
        super().__init__(message)
        self.code = code


class SlackNotConfigured(SlackError):
    """No bot token is set: Slack is off."""


class SlackAuthError(SlackError):
    """The bot token is missing, wrong, revoked or expired: fix ORCH_SLACK_BOT_TOKEN."""


class SlackPermissionError(SlackError):
    """The app lacks a scope or the workspace forbids the action."""


class SlackNotFound(SlackError):
    """A channel, user, message or user group does not exist (or the bot cannot see it)."""


class SlackNameTaken(SlackError):
    """A channel with that name exists already."""


class SlackAlreadyDone(SlackError):
    """The effect is already there (already in channel, already pinned): safe to ignore."""


class SlackInvalidRequest(SlackError):
    """The request itself is wrong (bad blocks, bad name, too long): retrying will not help."""


class SlackRateLimited(SlackError):
    """Still rate limited after the client's retries."""

    retryable: ClassVar[bool] = True


class SlackUnavailable(SlackError):
    """Slack or the network failed for now."""

    retryable: ClassVar[bool] = True


ERRORS: dict[str, type[SlackError]] = {
    "not_authed": SlackAuthError,
    "invalid_auth": SlackAuthError,
    "account_inactive": SlackAuthError,
    "token_revoked": SlackAuthError,
    "token_expired": SlackAuthError,
    "no_permission": SlackPermissionError,
    "missing_scope": SlackPermissionError,
    "restricted_action": SlackPermissionError,
    "not_allowed_token_type": SlackPermissionError,
    "ekm_access_denied": SlackPermissionError,
    "channel_not_found": SlackNotFound,
    "user_not_found": SlackNotFound,
    "users_not_found": SlackNotFound,
    "message_not_found": SlackNotFound,
    "no_such_subteam": SlackNotFound,
    "subteam_not_found": SlackNotFound,
    "not_in_channel": SlackNotFound,
    "is_archived": SlackNotFound,
    "name_taken": SlackNameTaken,
    "already_in_channel": SlackAlreadyDone,
    "already_pinned": SlackAlreadyDone,
    "cant_invite_self": SlackAlreadyDone,
    "invalid_name": SlackInvalidRequest,
    "invalid_name_specials": SlackInvalidRequest,
    "invalid_name_maxlength": SlackInvalidRequest,
    "invalid_name_required": SlackInvalidRequest,
    "invalid_blocks": SlackInvalidRequest,
    "invalid_arguments": SlackInvalidRequest,
    "invalid_arg_name": SlackInvalidRequest,
    "msg_too_long": SlackInvalidRequest,
    "too_long": SlackInvalidRequest,
    "no_text": SlackInvalidRequest,
    "too_many_attachments": SlackInvalidRequest,
    "cant_update_message": SlackInvalidRequest,
    "edit_window_closed": SlackInvalidRequest,
    "expired_trigger_id": SlackInvalidRequest,
    "invalid_trigger_id": SlackInvalidRequest,
    "exchanged_trigger_id": SlackInvalidRequest,
    "view_too_large": SlackInvalidRequest,
    "ratelimited": SlackRateLimited,
    "rate_limited": SlackRateLimited,
    "internal_error": SlackUnavailable,
    "fatal_error": SlackUnavailable,
    "service_unavailable": SlackUnavailable,
    "request_timeout": SlackUnavailable,
    "team_added_to_org": SlackUnavailable,
}


def error_for(code: str, method: str) -> SlackError:
    """The exception for Slack's ``error`` string ``code`` from ``method`` (SlackError if unknown)."""
    cls = ERRORS.get(code, SlackError)
    return cls(f"Slack {method} failed: {code}", code=code)


class PolicyIntervals(RetryIntervalCalculator):
    """slack-sdk's waits between retries of a dropped connection, from the project's retry
    policy (full jitter, capped) instead of slack-sdk's own backoff."""

    def __init__(self, policy: retry.RetryPolicy) -> None:
        self._policy = policy

    def calculate_sleep_duration(self, current_attempt: int) -> float:
        return retry.backoff_delay(current_attempt + 1, self._policy)  # slack-sdk counts from 0


class RetryAfterHandler(RateLimitErrorRetryHandler):
    """Retries a 429 after its ``Retry-After`` through the project's retry policy (capped)."""

    def __init__(self, policy: retry.RetryPolicy, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(max_retry_count=policy.max_attempts - 1)
        self._policy = policy
        self._sleep = sleep

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error or SlackUnavailable("Slack did not answer")
        header = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
        value: str | None = header[0] if isinstance(header, list) and header else None
        if isinstance(header, str):
            value = header
        state.next_attempt_requested = True
        attempt = state.current_attempt + 1
        self._sleep(retry.next_delay(attempt, self._policy, retry_after=retry.parse_retry_after(value)))
        state.increment_current_attempt()


class SlackClient:
    """The few Web API calls the orchestrator makes; each raises a ``SlackError`` subclass."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = "https://slack.com/api/",
        policy: retry.RetryPolicy | None = None,
        timeout: int = 10,
    ) -> None:
        chosen = policy or retry.RetryPolicy(max_attempts=8, base_delay=1.0, max_retry_after=120.0)
        handlers: list[RetryHandler] = [
            ConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=PolicyIntervals(chosen)),
            RetryAfterHandler(chosen),
        ]
        base = base_url if base_url.endswith("/") else base_url + "/"
        self.web = WebClient(token=token, base_url=base, timeout=timeout, retry_handlers=handlers)

    def _call(self, method: str, call: Callable[[], Any]) -> dict[str, Any]:
        try:
            response = call()
        except SlackApiError as exc:
            status = int(exc.response.status_code or 0)
            code = str(exc.response.get("error") or f"http_{status}")
            if status >= 500 and code not in ERRORS:
                # Slack down behind its edge: an HTML 5xx page (slack-sdk puts the page in
                # ``error``) or an unknown code is a transient failure, not a refusal.
                failure = SlackUnavailable(f"Slack {method} failed: HTTP {status}", code=f"http_{status}")
                raise failure from exc
            raise error_for(code, method) from exc
        except (SlackClientError, OSError) as exc:
            raise SlackUnavailable(f"Slack {method} failed: {type(exc).__name__}", code="network") from exc
        return dict(response.data) if isinstance(response.data, dict) else {}

    def auth_test(self) -> dict[str, Any]:
        """Who the token is (``team``, ``user``, ``bot_id``): the cheapest proof it works."""
        return self._call("auth.test", self.web.auth_test)

    def create_channel(self, name: str) -> str:
        """Create a public channel; its id."""
        data = self._call("conversations.create", lambda: self.web.conversations_create(name=name))
        return str(data["channel"]["id"])

    def find_channel(self, name: str) -> SlackChannel | None:
        """The channel called ``name`` (for a create that raced, was redone, or met a namesake)."""
        cursor: str | None = None
        while True:

            def page(after: str | None = cursor) -> Any:
                return self.web.conversations_list(cursor=after, limit=200, exclude_archived=True)

            data = self._call("conversations.list", page)
            for channel in data.get("channels", []):
                if channel.get("name") == name:
                    topic = channel.get("topic")
                    value = topic.get("value") if isinstance(topic, dict) else None
                    return SlackChannel(id=str(channel["id"]), name=name, topic=str(value or ""))
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None

    def set_topic(self, channel: str, topic: str) -> None:
        """Set the channel's topic (Slack keeps at most 250 characters)."""
        self._call(
            "conversations.setTopic",
            lambda: self.web.conversations_setTopic(channel=channel, topic=topic[:250]),
        )

    def invite(self, channel: str, users: Sequence[str]) -> None:
        """Invite ``users``; people already there are not an error."""
        if not users:
            return
        try:
            self._call(
                "conversations.invite",
                lambda: self.web.conversations_invite(channel=channel, users=list(users)),
            )
        except SlackAlreadyDone:
            return

    def usergroup_members(self, usergroup: str) -> list[str]:
        data = self._call(
            "usergroups.users.list", lambda: self.web.usergroups_users_list(usergroup=usergroup)
        )
        return [str(u) for u in data.get("users", [])]

    def user_name(self, user: str) -> str:
        """How Slack shows ``user``: the display name, else the real name, else the handle
        (``users.info``, scope ``users:read``)."""
        data = self._call("users.info", lambda: self.web.users_info(user=user))
        found: dict[str, Any] = data.get("user") or {}
        profile: dict[str, Any] = found.get("profile") or {}
        for name in (profile.get("display_name"), profile.get("real_name"), found.get("real_name")):
            if name:
                return str(name)
        return str(found.get("name") or user)

    def post(
        self,
        channel: str,
        *,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """Post a message (or a thread reply); its ``ts``."""
        data = self._call(
            "chat.postMessage",
            lambda: self.web.chat_postMessage(
                channel=channel, text=text, blocks=list(blocks) if blocks else None, thread_ts=thread_ts
            ),
        )
        return str(data["ts"])

    def update(self, channel: str, ts: str, *, text: str, blocks: Sequence[dict[str, Any]]) -> None:
        self._call(
            "chat.update",
            lambda: self.web.chat_update(channel=channel, ts=ts, text=text, blocks=list(blocks)),
        )

    def pin(self, channel: str, ts: str) -> None:
        try:
            self._call("pins.add", lambda: self.web.pins_add(channel=channel, timestamp=ts))
        except SlackAlreadyDone:
            return

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        self._call("views.open", lambda: self.web.views_open(trigger_id=trigger_id, view=view))

    def post_ephemeral(self, channel: str, user: str, *, text: str) -> None:
        self._call(
            "chat.postEphemeral", lambda: self.web.chat_postEphemeral(channel=channel, user=user, text=text)
        )


def client_for(settings: Settings) -> SlackClient:
    """The client for ``settings``; SlackNotConfigured when no bot token is set."""
    if settings.slack_bot_token is None:
        raise SlackNotConfigured("Slack not configured (set ORCH_SLACK_BOT_TOKEN)", code="not_configured")
    return SlackClient(settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url)
