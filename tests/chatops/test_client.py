"""The Slack client against the Web API stand-in, driven through slack-sdk; the error table."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from orchestrator import retry
from orchestrator.chatops.client import (
    ERRORS,
    SlackAlreadyDone,
    SlackAuthError,
    SlackChannel,
    SlackClient,
    SlackError,
    SlackInvalidRequest,
    SlackNameTaken,
    SlackNotFound,
    SlackPermissionError,
    SlackRateLimited,
    SlackUnavailable,
    error_for,
)
from tests.support.slack_standin import SlackStandIn, slack_standin

TOKEN = "xoxb-client-test-token-1234"


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with slack_standin(TOKEN) as standin:
        standin.usergroups["SONCALL"] = ["U1", "U2"]
        yield standin


def _client(slack: SlackStandIn, token: str = TOKEN) -> SlackClient:
    return SlackClient(token, base_url=slack.url, policy=retry.RetryPolicy(max_attempts=4, base_delay=0.01))


def test_channel_invite_card_update_thread_and_pin(slack: SlackStandIn) -> None:
    client = _client(slack)
    channel = client.create_channel("ir-inc-1")
    client.invite(channel, client.usergroup_members("SONCALL"))
    client.invite(channel, ["U1"])  # already there: not an error
    ts = client.post(
        channel, text="card v1", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "v1"}}]
    )
    client.update(
        channel, ts, text="card v2", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "v2"}}]
    )
    reply = client.post(channel, text="a reply", thread_ts=ts)
    client.pin(channel, ts)
    client.pin(channel, ts)  # already pinned: not an error
    assert slack.channels[channel]["members"] == ["UBOT", "U1", "U2"]
    assert slack.messages[channel][ts]["text"] == "card v2" and slack.messages[channel][ts]["edits"] == 1
    assert slack.messages[channel][reply]["thread_ts"] == ts
    assert slack.pins[channel] == [ts]
    assert client.find_channel("ir-inc-1") == SlackChannel(id=channel, name="ir-inc-1", topic="")
    client.set_topic(channel, "🔴 critical · TikTok secret leaked · inc-1")
    found = client.find_channel("ir-inc-1")
    assert found is not None and found.topic == "🔴 critical · TikTok secret leaked · inc-1"
    with pytest.raises(SlackInvalidRequest):
        client.create_channel("IR Secret Leaked!")  # Slack's rules: lower case, a-z 0-9 - _


def test_rate_limited_calls_wait_for_retry_after_and_lose_nothing(slack: SlackStandIn) -> None:
    client = _client(slack)
    channel = client.create_channel("ir-busy")
    slack.rate_limit(2, retry_after=1)
    started = time.monotonic()
    ts = client.post(channel, text="must arrive")
    assert time.monotonic() - started >= 2.0  # two waits of Retry-After: 1
    assert [m["text"] for m in slack.messages[channel].values()] == ["must arrive"]
    assert slack.methods()[-3:] == ["chat.postMessage"] * 3
    assert slack.messages[channel][ts]["text"] == "must arrive"


def test_rate_limited_past_the_budget_is_a_retryable_error(slack: SlackStandIn) -> None:
    client = SlackClient(
        TOKEN, base_url=slack.url, policy=retry.RetryPolicy(max_attempts=2, max_retry_after=0)
    )
    slack.rate_limit(5)
    with pytest.raises(SlackRateLimited) as caught:
        client.create_channel("ir-never")
    assert caught.value.retryable and caught.value.code == "ratelimited"


def test_a_dropped_connection_is_retried_twice_waiting_as_the_clients_policy_says() -> None:
    accepted: list[int] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(5)

        def drop_every_connection() -> None:
            with contextlib.suppress(OSError):
                while True:
                    conn, _ = server.accept()
                    accepted.append(1)
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.close()  # a reset, before any answer

        threading.Thread(target=drop_every_connection, daemon=True).start()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/api/"
        client = SlackClient(TOKEN, base_url=url, policy=retry.RetryPolicy(base_delay=0.001, max_delay=0.002))
        started = time.monotonic()
        with pytest.raises(SlackUnavailable):
            client.auth_test()
        elapsed = time.monotonic() - started
    assert len(accepted) == 3  # the first attempt and two retries
    assert elapsed < 1.0  # slack-sdk's own backoff would wait at least 1.5 s


def test_slack_errors_become_named_exceptions(slack: SlackStandIn) -> None:
    client = _client(slack)
    with pytest.raises(SlackAuthError):
        _client(slack, token="xoxb-wrong-token-0000").create_channel("ir-x")
    with pytest.raises(SlackNotFound):
        client.post("CNOPE", text="x")
    client.create_channel("ir-dup")
    with pytest.raises(SlackNameTaken):
        client.create_channel("ir-dup")
    with pytest.raises(SlackNotFound):
        client.usergroup_members("SNOPE")


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_every_known_error_code_maps_to_its_class(code: str) -> None:
    error = error_for(code, "chat.postMessage")
    assert type(error) is ERRORS[code] and error.code == code
    assert str(error) == f"Slack chat.postMessage failed: {code}"
    assert error.retryable == (ERRORS[code] in (SlackRateLimited, SlackUnavailable))


def test_unknown_error_code_is_a_plain_slack_error() -> None:
    error = error_for("something_new", "pins.add")
    assert type(error) is SlackError and not error.retryable


def test_error_classes_cover_the_documented_families() -> None:
    families = set(ERRORS.values())
    assert {
        SlackAuthError,
        SlackPermissionError,
        SlackNotFound,
        SlackNameTaken,
        SlackAlreadyDone,
        SlackInvalidRequest,
        SlackRateLimited,
        SlackUnavailable,
    } == families
