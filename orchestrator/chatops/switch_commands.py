"""`/ir disconnect` and `/ir release`: the kill switch from Slack.

Engaging is one person's call and immediate; releasing is only ever a request that a second
person approves (``release``), so a stolen Slack session cannot reconnect the app alone.
Both work on the all-apps switch unless an app is named first (``app=NAME``, see
``targets.app_and_rest``): `/ir disconnect [INCIDENT] [app=NAME] [REASON]`,
`/ir release [app=NAME] REASON`. Without the mark every app is disconnected, a reason that
begins with an app's name included: a disconnect wider than meant is the safe mistake, and the
reply says how to name the app.
"""

from __future__ import annotations

from orchestrator.chatops import cards, release, targets
from orchestrator.chatops.replies import Caller, Reply
from orchestrator.errors import ValidationFailed
from orchestrator.ports import Ports
from orchestrator.switch import flows as switch_flows

__all__ = ["ask_release", "disconnect"]


def disconnect(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    incident_id, given = targets.incident_and_rest(runtime, caller.channel_id, raw)
    app, given = targets.app_and_rest(given)
    reason = given or f"disconnect requested in Slack by {caller.actor}"
    change = switch_flows.engage_switch(
        runtime.store, runtime.settings, by=caller.actor, reason=reason, app=app, incident_id=incident_id
    )
    word = "engaged" if change.changed else "was already engaged"
    apps = runtime.settings.app_names
    if app is not None:
        text = f"kill switch of app {app} {word}. No TikTok call leaves app {app}; "
        text += "the other apps' switches are unchanged."
    elif len(apps) > 1:
        text = f"kill switch {word}. No TikTok call leaves any app ({', '.join(apps)})."
        first = given.split(maxsplit=1)[0] if given else ""
        if first in apps:
            text += f" To disconnect app {first} only: `/ir disconnect app={first} REASON`."
    else:
        text = f"kill switch {word}. No TikTok call leaves the app."
    return Reply(f"🛑 <@{caller.user_id}>: {text}", public=True, incident_id=incident_id, to_room=True)


def ask_release(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    app, reason = targets.app_and_rest(raw.partition(" ")[2])
    if not reason:
        raise ValidationFailed("give a reason: `/ir release host rebuilt and secrets rotated`")
    request_id = release.request_release(
        runtime,
        user_id=caller.user_id,
        reason=reason,
        incident_id=targets.room_incident(runtime, caller.channel_id),
        app=app,
    )
    text, blocks = cards.release_request_message(request_id, caller.user_id, reason, app=app)
    return Reply(text, blocks, public=True)
