"""The ``slack.open_channel`` and ``slack.post`` actions: an incident room with its card, and messages."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import Field
from sqlalchemy.exc import IntegrityError

from orchestrator import clock, redaction
from orchestrator.chatops import card_sync, cards, naming, participants
from orchestrator.chatops import kinds as slack_kinds
from orchestrator.chatops.client import SlackClient, SlackError, SlackNameTaken, client_for
from orchestrator.chatops.models import SlackPostRow, SlackRoomRow
from orchestrator.chatops.names import names_for
from orchestrator.config import Settings
from orchestrator.errors import ActionError
from orchestrator.incidents.models import IncidentRow
from orchestrator.playbooks.action import Action, ActionContext, ActionParams
from orchestrator.ports import Ports

__all__ = [
    "SlackOpenChannelAction",
    "SlackOpenChannelParams",
    "SlackPostAction",
    "SlackPostParams",
]

ClientFactory = Callable[[Settings], SlackClient]
NOT_CONFIGURED = "Slack not configured"
_UNMARKED_LOOKS = 8
_UNMARKED_WAIT = 0.25
"""A taken channel without a topic is looked at this often, this many seconds apart (``_holder``)."""


def _skipped(ctx: ActionContext, action: str) -> dict[str, Any]:
    ctx.timeline.append(
        slack_kinds.SLACK_SKIPPED,
        f"{action}: {NOT_CONFIGURED}",
        {"action": action, "reason": NOT_CONFIGURED, "idempotency_key": ctx.idempotency_key},
        ctx.actor,
    )
    return {"skipped": NOT_CONFIGURED}


def _failed(exc: SlackError) -> ActionError:
    return ActionError(str(exc), retryable=exc.retryable)


class SlackOpenChannelParams(ActionParams):
    """``name`` overrides the channel pattern; ``invite`` adds people; ``usergroup`` the on-call
    group; ``mention`` calls ``paging.slack_mention`` (``@here`` or a user group) into the room."""

    name: str | None = Field(default=None, max_length=80)
    invite: list[str] = Field(default_factory=list)
    usergroup: str | None = None
    mention: bool = False


class SlackOpenChannelAction(Action):
    """Create the incident channel, invite on-call and named people, post and pin the card.

    Each stage is stored as it completes (channel, invitations, card, pin), so a redone step
    resumes where it stopped and a finished one does nothing.
    """

    name: ClassVar[str] = "slack.open_channel"
    params: ClassVar[type[SlackOpenChannelParams]] = SlackOpenChannelParams
    has_effects: ClassVar[bool] = True

    def __init__(self, client_factory: ClientFactory = client_for) -> None:
        self._client_factory = client_factory

    def run(self, ctx: ActionContext, params: SlackOpenChannelParams) -> dict[str, Any]:
        runtime = ctx.ports(self.name)
        settings = runtime.settings
        if settings.slack_bot_token is None:
            return _skipped(ctx, self.name)
        if ctx.incident_id is None:
            raise ActionError("slack.open_channel needs an incident (start the run for one)")
        try:
            return self._open(ctx, runtime, self._client_factory(settings), params, ctx.incident_id)
        except SlackError as exc:
            raise _failed(exc) from exc

    def _room(self, runtime: Ports, incident_id: str) -> SlackRoomRow | None:
        with runtime.store.unit_of_work() as session:
            room = session.get(SlackRoomRow, incident_id)
            if room is not None:
                session.expunge(room)
            return room

    def _save(self, runtime: Ports, incident_id: str, **values: Any) -> None:
        with runtime.store.unit_of_work() as session:
            room = session.get(SlackRoomRow, incident_id, with_for_update=True)
            assert room is not None
            for key, value in values.items():
                setattr(room, key, value)

    def _create(
        self, runtime: Ports, client: SlackClient, wanted: str, incident_id: str, topic: str
    ) -> tuple[SlackRoomRow, bool]:
        """Create the room under the first free name, set its topic, store it; (room, topic set).

        A taken name is this incident's own room when its name or topic names the incident (a
        create redone after a crash); else another incident's namesake, and the next name is tried.
        """
        topic_set = False
        for name in naming.candidates(wanted):
            try:
                channel = client.create_channel(name)
            except SlackNameTaken:
                holder = self._holder(runtime, client, name, incident_id)
                if holder is None:
                    continue
                if isinstance(holder, SlackRoomRow):
                    return holder, True  # another step for this incident opened it: its topic too
                channel = holder
            else:  # the topic first: it marks the room ours if this process dies before storing it
                try:
                    client.set_topic(channel, topic)
                    topic_set = True
                except SlackError:
                    pass  # set again once the room is stored
            break
        else:
            raise ActionError(f"no free channel name: #{wanted} and its {naming.MAX_SUFFIXES - 1} suffixes")
        try:
            with runtime.store.unit_of_work() as session:
                session.add(
                    SlackRoomRow(
                        incident_id=incident_id,
                        channel_id=channel,
                        channel_name=name,
                        invited=False,
                        pinned=False,
                        card_dirty=False,
                        created_at=clock.utcnow(),
                    )
                )
        except IntegrityError:
            pass  # another worker stored the same room first
        room = self._room(runtime, incident_id)
        assert room is not None
        return room, topic_set

    def _holder(
        self, runtime: Ports, client: SlackClient, name: str, incident_id: str
    ) -> SlackRoomRow | str | None:
        """Whose is the taken channel ``name``: this incident's stored room, this incident's channel
        id (its name or topic names the incident), or None (a namesake's). Two playbooks may open
        one incident's room at once: a channel with no topic yet may be the other's, which sets it
        next, so it is looked at again for a moment before it counts as a namesake's."""
        for _ in range(_UNMARKED_LOOKS):
            stored = self._room(runtime, incident_id)
            if stored is not None:
                return stored
            found = client.find_channel(name)
            if found is None:
                raise ActionError(f"channel #{name} exists but the bot cannot see it")
            if naming.is_own_room(name=name, topic=found.topic, incident_id=incident_id):
                return found.id
            if found.topic:
                return None
            time.sleep(_UNMARKED_WAIT)
        return None

    @staticmethod
    def _set_topic(client: SlackClient, channel: str, topic: str) -> str | None:
        """Set the topic; Slack's refusal code when it refused (a topic must not cost the room its
        card). Slack down raises: the step's retry sets it later."""
        try:
            client.set_topic(channel, topic)
        except SlackError as exc:
            if exc.retryable:
                raise
            return exc.code
        return None

    def _open(
        self,
        ctx: ActionContext,
        runtime: Ports,
        client: SlackClient,
        params: SlackOpenChannelParams,
        incident_id: str,
    ) -> dict[str, Any]:
        settings = runtime.settings
        with runtime.store.unit_of_work() as session:
            incident = session.get(IncidentRow, incident_id)
            if incident is None:
                raise ActionError(f"no incident {incident_id}")
            wanted = naming.channel_name(
                params.name or settings.slack_channel_pattern,
                incident_id=incident_id,
                title=incident.title,
                aware_at=incident.aware_at,
            )
            topic = naming.room_topic(
                incident_id=incident_id, severity=incident.severity, title=incident.title, kind=incident.kind
            )
        room = self._room(runtime, incident_id)
        topic_error: str | None = None
        if room is None:
            room, topic_set = self._create(runtime, client, wanted, incident_id, topic)
        else:
            topic_set = room.pinned  # set before the card was pinned, or set again now
        if not topic_set:
            topic_error = self._set_topic(client, room.channel_id, topic)
        invited: list[str] = []
        invite_error: str | None = None
        if not room.invited:
            people = {*settings.slack_invite_users, *params.invite}
            group = params.usergroup or settings.slack_oncall_usergroup
            try:
                if group:
                    people.update(client.usergroup_members(group))
                invited = sorted(people)
                client.invite(room.channel_id, invited)
            except SlackError as exc:
                if exc.retryable:
                    raise
                invite_error = exc.code  # a wrong group or user id must not cost the room its card
            if invite_error is None:  # the people in the room may act in it (chatops/roles.py)
                with runtime.store.unit_of_work() as session:
                    participants.add(
                        session,
                        incident_id=incident_id,
                        user_ids=invited,
                        joined=participants.INVITED,
                        now=clock.utcnow(),
                    )
            self._save(runtime, incident_id, invited=True)
        card_ts = room.card_ts
        if card_ts is None:
            with runtime.store.unit_of_work() as session:
                state = card_sync.card_state(session, incident_id, app_names=settings.app_names)
            # An on-call group's names could hold the room's first card back a second: only those
            # already known; the refresh when this step finishes names everyone.
            text, blocks = cards.incident_card(state, names_for(settings).cached_only())
            card_ts = client.post(room.channel_id, text=text, blocks=blocks)
            self._save(runtime, incident_id, card_ts=card_ts, card_updated_at=clock.utcnow())
        if not room.pinned:
            client.pin(room.channel_id, card_ts)
            self._save(runtime, incident_id, pinned=True)
        if params.mention and settings.paging.mention:
            self._mention(ctx, runtime, client, room.channel_id, incident_id, settings.paging.mention)
        ctx.timeline.append(
            slack_kinds.SLACK_CHANNEL_OPENED,
            f"Slack channel #{room.channel_name} opened with the incident card",
            {
                "channel_id": room.channel_id,
                "channel_name": room.channel_name,
                "card_ts": card_ts,
                "invited": invited,
                "invite_error": invite_error,
                "topic_error": topic_error,
                "idempotency_key": ctx.idempotency_key,
            },
            ctx.actor,
        )
        return {"channel_id": room.channel_id, "channel_name": room.channel_name, "card_ts": card_ts}

    def _mention(
        self,
        ctx: ActionContext,
        runtime: Ports,
        client: SlackClient,
        channel: str,
        incident_id: str,
        who: str,
    ) -> None:
        """Call the on-call into the room with ``who`` (Slack's markup), once per step."""
        key = f"{ctx.idempotency_key}:mention"
        with runtime.store.unit_of_work() as session:
            if session.get(SlackPostRow, key) is not None:
                return
            incident = session.get(IncidentRow, incident_id)
            about = (
                f"{incident.severity} incident: {incident.title}" if incident else f"incident {incident_id}"
            )
        tag = f"<!{who}>" if who in ("here", "channel") else f"<!subteam^{who}>"
        text = (
            f"{tag} you are paged for this {redaction.redact_text(about)}. The pinned card says what is done."
        )
        ts = client.post(channel, text=text)
        with runtime.store.unit_of_work() as session:
            session.merge(
                SlackPostRow(idempotency_key=key, channel_id=channel, ts=ts, posted_at=clock.utcnow())
            )
        ctx.timeline.append(
            slack_kinds.SLACK_POSTED,
            f"Posted to Slack: {text[:200]}",
            {"channel_id": channel, "ts": ts, "mention": who, "idempotency_key": key},
            ctx.actor,
        )


class SlackPostParams(ActionParams):
    """``text``; ``thread`` (default true) replies to the incident card; ``channel`` overrides the room."""

    text: str = Field(min_length=1, max_length=3000)
    thread: bool = True
    channel: str | None = None


class SlackPostAction(Action):
    """Post a (redacted) message to the incident room or a thread of its card, once per step."""

    name: ClassVar[str] = "slack.post"
    params: ClassVar[type[SlackPostParams]] = SlackPostParams
    has_effects: ClassVar[bool] = True

    def __init__(self, client_factory: ClientFactory = client_for) -> None:
        self._client_factory = client_factory

    def run(self, ctx: ActionContext, params: SlackPostParams) -> dict[str, Any]:
        runtime = ctx.ports(self.name)
        if runtime.settings.slack_bot_token is None:
            return _skipped(ctx, self.name)
        with runtime.store.unit_of_work() as session:
            done = session.get(SlackPostRow, ctx.idempotency_key)
            if done is not None:
                return {"channel_id": done.channel_id, "ts": done.ts, "already_posted": True}
            room = session.get(SlackRoomRow, ctx.incident_id) if ctx.incident_id else None
            channel = params.channel or (room.channel_id if room else None)
            thread_ts = room.card_ts if room is not None and params.thread and not params.channel else None
        if channel is None:
            raise ActionError(
                "no Slack room for this incident: run slack.open_channel first or give 'channel'"
            )
        text = redaction.redact_text(params.text)
        try:
            ts = self._client_factory(runtime.settings).post(channel, text=text, thread_ts=thread_ts)
        except SlackError as exc:
            raise _failed(exc) from exc
        with runtime.store.unit_of_work() as session:
            session.merge(
                SlackPostRow(
                    idempotency_key=ctx.idempotency_key, channel_id=channel, ts=ts, posted_at=clock.utcnow()
                )
            )
        ctx.timeline.append(
            slack_kinds.SLACK_POSTED,
            f"Posted to Slack: {text[:200]}",
            {"channel_id": channel, "ts": ts, "thread_ts": thread_ts, "idempotency_key": ctx.idempotency_key},
            ctx.actor,
        )
        return {"channel_id": channel, "ts": ts, "thread_ts": thread_ts}
