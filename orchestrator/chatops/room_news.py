"""Tells an incident's Slack room its news: the chat side of the outbox topic ``incident.news``.

The domain writes the news with the fact (``incidents/news.py``); a worker posts it here after
that commit, reading the run and the step as they are now. Slack off, no room, or a channel Slack
refuses: the row is done with nothing posted (never retried: the fact is on the timeline). Slack
down or rate limited past the client's retries: the task fails and the relay sends the row again.

Each post is recorded (``slack_posts``) under a key before its row is done, so a redelivery posts
nothing twice (only a worker killed between Slack's answer and that commit can, or a post
slower than ``redeliver_after_seconds``, which the relay sends again meanwhile). The ask of a step
waiting for a person is recorded under the step's key, so its decision, however it came (button,
command, CLI, deadline), replaces the ask's buttons with who decided and when (``chat.update``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from orchestrator import clock, redaction
from orchestrator.chatops import card_sync, cards
from orchestrator.chatops import news_messages as say
from orchestrator.chatops.client import SlackError, client_for
from orchestrator.chatops.models import SlackPostRow, SlackRoomRow
from orchestrator.incidents import news
from orchestrator.logging import get_logger
from orchestrator.playbooks import manual
from orchestrator.playbooks import service as runs
from orchestrator.playbooks.models import RunRow, StepRunRow
from orchestrator.ports import Ports
from orchestrator.store import outbox
from orchestrator.store.outbox import OutboxRow

__all__ = ["post_news", "repeat_in_room"]

_log = get_logger(__name__)


@dataclass(frozen=True)
class _Post:
    """One call to Slack: post under ``key``, or update the message ``replace`` (its ts)."""

    channel: str
    message: say.Message
    key: str
    replace: str | None = None


def post_news(runtime: Ports, *, outbox_id: int) -> None:
    """Post (or update) what the news row ``outbox_id`` tells, then mark it done; a redelivery of
    a done row does nothing. Raises a retryable ``SlackError`` for the relay to try again."""
    with runtime.store.unit_of_work() as session:
        row = outbox.claim(session, outbox_id)
        if row is None:
            return
        incident_id, stale = row.ref_id, _card_shows(session, row)
        post = _plan(session, row) if runtime.settings.slack_bot_token is not None else None
        if post is None:
            outbox.complete(row, clock.utcnow())
    if post is not None:
        _post(runtime, outbox_id, post)
    if stale:
        card_sync.refresh_card(runtime, incident_id, only_if_dirty=True)


def _card_shows(session: Session, row: OutboxRow) -> bool:
    """Whether the card shows what ``row`` tells (a run's step asked, decided or done; a run's
    end); if so, its card is marked dirty in the claim's commit, so a worker killed before the
    refresh leaves it to the ``flusher``."""
    if (row.payload or {}).get("what") == "said":
        return False
    room = session.get(SlackRoomRow, row.ref_id, with_for_update=True)
    if room is None or room.card_ts is None:
        return False
    room.card_dirty = True
    return True


def _post(runtime: Ports, outbox_id: int, post: _Post) -> None:
    ts = _send(runtime, post)
    with runtime.store.unit_of_work() as session:
        if ts is not None and post.replace is None:
            session.merge(
                SlackPostRow(
                    idempotency_key=post.key, channel_id=post.channel, ts=ts, posted_at=clock.utcnow()
                )
            )
        done = outbox.claim(session, outbox_id)
        if done is not None:
            outbox.complete(done, clock.utcnow())


def repeat_in_room(runtime: Ports, *, incident_id: str, text: str, typed_in: str | None) -> None:
    """Owe the incident's room a command's reply typed elsewhere (typed in the room: nothing)."""
    with runtime.transaction() as session:
        said, now = redaction.redact_text(text), clock.utcnow()
        news.tell(session, incident_id=incident_id, what="said", at=now, text=said, typed_in=typed_in)


def _send(runtime: Ports, post: _Post) -> str | None:
    text, blocks = post.message
    client = client_for(runtime.settings)
    try:
        if post.replace is not None:
            client.update(post.channel, post.replace, text=text, blocks=blocks or [])
            return post.replace
        return client.post(post.channel, text=text, blocks=blocks)
    except SlackError as exc:
        if exc.retryable:
            raise
        _log.warning("slack_news_refused", channel=post.channel, error=exc.code)
        return None


def _ask_key(run_id: str, step_id: str, asked_at: datetime | None) -> str:
    """The key of the message asking for a step's decision (a rerun asks anew)."""
    return f"ask:{run_id}:{step_id}:{asked_at.isoformat() if asked_at else '-'}"[:255]


def _plan(session: Session, row: OutboxRow) -> _Post | None:
    """What to post for ``row``, or None: no room, already posted, nothing to say any more."""
    room = session.get(SlackRoomRow, row.ref_id)
    payload: dict[str, Any] = row.payload or {}
    what, own_key = str(payload.get("what")), f"news:{row.id}"
    if room is None or session.get(SlackPostRow, own_key) is not None:
        return None
    if what == "said":
        if payload.get("typed_in") == room.channel_id:
            return None  # its reply was already shown to the room
        return _Post(room.channel_id, say.said(str(payload.get("text") or "")), own_key)
    run = session.get(RunRow, str(payload.get("run_id")))
    if run is None:
        return None
    if what == "run.finished":
        return _Post(room.channel_id, _finished(session, run), own_key)
    step_row = runs.get_step(session, run_id=run.id, step_id=str(payload.get("step")))
    key = _ask_key(run.id, step_row.step_id, step_row.approval_requested_at)
    asked = session.get(SlackPostRow, key)
    waiting = step_row.status == "waiting_approval" and step_row.approval is None
    at = datetime.fromisoformat(str(payload["at"])) if payload.get("at") else clock.utcnow()
    if what in ("approval.requested", "manual.requested"):
        if asked is not None:
            return None
        message = _asked(run, step_row, at) if waiting else _decided(run, step_row, at)
        return _Post(room.channel_id, message, key)
    if what == "manual.reminder":
        return _Post(room.channel_id, _reminder(run, step_row, at), own_key) if waiting else None
    message = _decided(run, step_row, at)
    if asked is not None:
        return _Post(asked.channel_id, message, own_key, replace=asked.ts)
    return _Post(room.channel_id, message, own_key)


def _finished(session: Session, run: RunRow) -> say.Message:
    failures = [
        (r.step_id, r.error or r.status)
        for r in runs.step_rows(session, run_id=run.id).values()
        if r.status in ("failed", "timed_out")
    ]
    return say.run_finished(
        playbook=run.playbook_name,
        run_id=run.id,
        status=run.status,
        started_by=run.started_by,
        failures=failures,
    )


def _pending(run: RunRow, step_row: StepRunRow) -> tuple[cards.PendingApproval, manual.ManualParams | None]:
    step = runs.snapshot(run).step(step_row.step_id)
    params = manual.manual_params(step) if manual.is_manual(step) else None
    pending = cards.PendingApproval(
        run_id=run.id,
        step_id=step.id,
        playbook=run.playbook_name,
        manual_title=params.title if params else None,
        needs=params.input if params else None,
    )
    return pending, params


def _asked(run: RunRow, step_row: StepRunRow, at: datetime) -> say.Message:
    pending, params = _pending(run, step_row)
    if params is not None:
        return say.manual_asked(pending, instructions=params.instructions, assignees=params.assignees)
    approval = runs.snapshot(run).step(step_row.step_id).approval
    assert approval is not None  # only a step with an approval waits for one
    asked_at = step_row.approval_requested_at or at
    return say.approval_asked(
        pending,
        approvers=approval.approvers,
        asked_at=asked_at,
        deadline=asked_at + timedelta(seconds=approval.timeout),
        on_timeout=approval.on_timeout,
    )


def _decided(run: RunRow, step_row: StepRunRow, at: datetime) -> say.Message:
    pending, params = _pending(run, step_row)
    given = None
    if params is not None and params.input:
        value = ((step_row.output or {}).get("input") or {}).get(params.input)
        given = f"{params.input} {value}" if value else None
    return say.decided(
        playbook=run.playbook_name,
        run_id=run.id,
        step_id=step_row.step_id,
        title=pending.manual_title,
        decision=step_row.approval or step_row.status,
        by=step_row.approval_by,
        at=at,
        given=given,
    )


def _reminder(run: RunRow, step_row: StepRunRow, at: datetime) -> say.Message:
    _, params = _pending(run, step_row)
    asked_at = step_row.approval_requested_at
    return say.reminder(
        title=params.title if params else step_row.step_id,
        step_id=step_row.step_id,
        run_id=run.id,
        waited=(at - asked_at).total_seconds() if asked_at else None,
        needs=params.input if params else None,
    )
