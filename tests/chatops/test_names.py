"""People by name: Slack's answer cached an hour, a miss retried after a minute, the id meanwhile."""

from __future__ import annotations

from orchestrator.chatops.client import SlackNotFound
from orchestrator.chatops.names import Names


class Directory:
    """A ``users.info`` that counts its calls; ``gone`` users are not found."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.asked: list[str] = []

    def __call__(self, user_id: str) -> str:
        self.asked.append(user_id)
        if user_id not in self.names:
            raise SlackNotFound("Slack users.info failed: user_not_found", code="user_not_found")
        return self.names[user_id]


def test_slack_actors_read_as_names_and_each_is_asked_once_an_hour() -> None:
    clock = [0.0]
    directory = Directory({"UALICE": "Alice Liddell"})
    names = Names(directory, now=lambda: clock[0])
    said = names.text("slack:UALICE approved; slack:UGONE denied; cli:root and system watched")
    assert said == "Alice Liddell approved; slack:UGONE denied; cli:root and system watched"
    listed = names.listed(["UALICE", "SONCALL", "root-on-call", "UALICE"])
    assert listed == "Alice Liddell, SONCALL, root-on-call"
    assert directory.asked == ["UALICE", "UGONE"]  # a group or a login is never asked for
    clock[0] = 61.0  # a miss is asked again after a minute, a name after an hour
    directory.names["UGONE"] = "Gone Girl"
    assert names.text("slack:UGONE, slack:UALICE") == "Gone Girl, Alice Liddell"
    assert directory.asked == ["UALICE", "UGONE", "UGONE"]
    assert names.cached_only().name("UNEW") == "UNEW" and directory.asked[-1] == "UGONE"
    clock[0] = 3700.0
    assert names.name("UALICE") == "Alice Liddell" and directory.asked[-1] == "UALICE"
