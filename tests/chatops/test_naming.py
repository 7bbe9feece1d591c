"""Incident room names and topics: Slack's channel-name rules, unique names, the room's own mark."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from orchestrator.chatops import naming

AWARE = datetime(2026, 12, 6, 23, 59, tzinfo=UTC)
SLACK_NAME = re.compile(r"[a-z0-9_-]{1,80}")


def test_the_default_name_is_the_day_and_the_title_within_slacks_rules() -> None:
    def name(title: str, pattern: str = "ir-{date}-{title}") -> str:
        return naming.channel_name(pattern, incident_id="inc-20261206-ab12", title=title, aware_at=AWARE)

    assert name("TikTok secret leaked!") == "ir-2026-12-06-tiktok-secret-leaked"
    assert name("Ünïcode & token act.SECRETSECRET1234 in «logs»") == "ir-2026-12-06-n-code-token-in-logs"
    assert name("   ") == "ir-2026-12-06-inc-20261206-ab12"  # nothing to slug: the id
    long = name("word " * 40)
    assert SLACK_NAME.fullmatch(long) and len(long) == 78 and long.endswith("-word-word")  # whole words
    assert name("", pattern="IR {incident_id}") == "ir-inc-20261206-ab12"


def test_a_taken_name_gets_a_suffix_that_still_fits() -> None:
    tried = list(naming.candidates("ir-2026-12-06-tiktok-secret-leaked"))
    assert tried[:3] == [
        "ir-2026-12-06-tiktok-secret-leaked",
        "ir-2026-12-06-tiktok-secret-leaked-2",
        "ir-2026-12-06-tiktok-secret-leaked-3",
    ]
    assert len(tried) == naming.MAX_SUFFIXES
    assert all(SLACK_NAME.fullmatch(n) for n in naming.candidates("x" * 80))
    assert list(naming.candidates("x" * 80))[11] == "x" * 77 + "-12"
    assert list(naming.candidates("ir-" + "abcd-" * 16))[1] == "ir-" + "abcd-" * 14 + "abcd-2"


def test_the_topic_names_the_incident_and_marks_the_room_as_its_own() -> None:
    topic = naming.room_topic(
        incident_id="inc-1",
        severity="critical",
        title="Leak of act.SECRETSECRET1234 " * 20,
        kind="credential.leak",
    )
    assert (
        len(topic) == 250 and topic.startswith("CRITICAL · Leak of [REDACTED]") and topic.endswith(" · inc-1")
    )
    assert naming.is_own_room(name="ir-2026-12-06-leak", topic=topic, incident_id="inc-1")
    assert not naming.is_own_room(
        name="ir-2026-12-06-leak", topic="HIGH · Leak · x · inc-2", incident_id="inc-1"
    )
    assert naming.is_own_room(name="ir-inc-1", topic="", incident_id="inc-1")  # a pattern naming the id
