"""Take a service away for a few seconds while work goes on, then bring it back; the playbook
that notifies through Slack and SMTP while they are away."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable

from tests.support.faults import Burst

OUTAGE = 5.0  # seconds a service stays away


def outage(cut: Callable[[], None], restore: Callable[[], None], burst: Burst | None = None) -> float:
    """Take the service away for ``OUTAGE`` seconds (the sender's middle third goes out meanwhile);
    returns the monotonic time it was back."""
    cut()
    if burst is not None:
        burst.cut.set()
    time.sleep(OUTAGE)
    restore()
    if burst is not None:
        burst.restored.set()
    return time.monotonic()


# A provider stays away longer than one pass of a token's in-task retries (6 attempts, at most ~6 s)
PROVIDER_OUTAGE = 8.0

REPORT_TO = "security-reports@tiktok.example"
TEAM = "ir-team@app.example"
NOTIFY_STEPS = ("announce", "room", "report", "mail_team", "tell")
RETRY = "retry: {attempts: 50, backoff: 0.5s, max_backoff: 2s}"
# The shape of the shipped tiktok-compromise playbook (switch, then revocation in parallel with
# the notifications, which never hold it back), with test-sized retry pauses and a Slack post
# before the room exists (to the team's channel) and one after (in the room).
OUTAGE_PLAYBOOK = """
name: outage-compromise
trigger: {manual: {}}
steps:
  - id: disconnect
    action: tiktok.kill_switch
    with: {reason: "{{ incident.severity }} {{ incident.kind }}: {{ incident.title }}"}
  - parallel:
      id: respond
      steps:
        - {id: revoke, action: tiktok.revoke_tokens, with: {scope: all}}
        - id: announce
          action: slack.post
          with: {channel: SECURITY_CHANNEL, text: "Disconnecting {{ incident.id }} from TikTok"}
          RETRY
        - {id: room, action: slack.open_channel, RETRY}
        - {id: report, action: tiktok.report, RETRY}
        - id: mail_team
          action: email.send
          with: {to: TEAM, subject: "{{ incident.id }} contained", body: "Switch engaged."}
          RETRY
  - id: tell
    action: slack.post
    with: {text: "Disconnect complete: {{ steps.revoke.output.revoked }} tokens revoked"}
    RETRY
""".replace("TEAM", TEAM).replace("RETRY", RETRY)


def smtp_up(port: int) -> bool:
    """Whether an SMTP server answers on 127.0.0.1:``port``."""
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        return smtp.noop()[0] == 250
