"""``email.send`` over a real local SMTP server: sent once per idempotency key, retryable when down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator import redaction
from orchestrator.actions import ActionContext
from orchestrator.actions.email import EmailSendAction, SmtpMailer
from orchestrator.actions.registry import default_registry
from orchestrator.config import load_settings
from orchestrator.errors import ActionError, ConfigError
from orchestrator.worker.runtime import Runtime
from tests.actions.fakes import FakeTimeline
from tests.chatops.mailbox import Mailbox, mailbox, text_body
from tests.support.processes import free_port
from tests.support.runtime import make_runtime


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def mail_runtime(tmp_path: Path, port: int) -> Iterator[Runtime]:
    runtime = make_runtime(
        load_settings(
            overrides={
                "data_dir": tmp_path / "data",
                "smtp_url": f"smtp://127.0.0.1:{port}",
                "smtp_from": "ir@app.example",
            }
        )
    )
    yield runtime
    runtime.close()


def _ctx(runtime: Runtime, timeline: FakeTimeline, key: str = "run-1:mail") -> ActionContext:
    return ActionContext(
        run_id="run-1",
        step_id="mail",
        incident_id=None,
        idempotency_key=key,
        dry_run=False,
        actor="playbook:t",
        timeline=timeline,
        runtime=runtime,
    )


PARAMS = {"to": "oncall@app.example, lead@app.example", "subject": "Incident", "body": "token=abcd1234efgh"}


def test_email_is_sent_once_per_idempotency_key(mail_runtime: Runtime, port: int) -> None:
    action = default_registry().get("email.send")
    params = action.params.model_validate(PARAMS)
    timeline = FakeTimeline()
    with mailbox(port) as box:
        first = action.run(_ctx(mail_runtime, timeline), params)
        second = action.run(_ctx(mail_runtime, timeline), params)
    assert isinstance(first, dict) and isinstance(second, dict)
    assert (first["already_sent"], second["already_sent"]) == (False, True)
    assert first["message_id"] == second["message_id"]
    [(rcpt, message)] = box.received()
    assert rcpt == ["oncall@app.example", "lead@app.example"]
    assert (message["From"], message["Subject"], message["Message-ID"]) == (
        "ir@app.example",
        "Incident",
        first["message_id"],
    )
    assert text_body(message).strip() == f"token={redaction.REDACTED}"
    assert [e[0] for e in timeline.entries] == ["email.sent"]


def test_smtp_down_is_retryable_and_the_retry_sends(mail_runtime: Runtime, port: int) -> None:
    action = EmailSendAction()
    params = action.params.model_validate(PARAMS)
    with pytest.raises(ActionError) as caught:
        action.run(_ctx(mail_runtime, FakeTimeline()), params)
    assert caught.value.retryable and "SMTP send failed" in str(caught.value)
    with mailbox(port) as box:
        result = action.run(_ctx(mail_runtime, FakeTimeline()), params)
    assert len(box.received()) == 1 and result["already_sent"] is False


def test_email_without_smtp_url_says_which_variable_to_set(tmp_path: Path) -> None:
    runtime = make_runtime(load_settings(overrides={"data_dir": tmp_path / "d"}))
    try:
        action = EmailSendAction()
        with pytest.raises(ActionError, match="set ORCH_SMTP_URL"):
            action.run(_ctx(runtime, FakeTimeline()), action.params.model_validate(PARAMS))
    finally:
        runtime.close()


def test_smtp_url_forms_and_password_redaction() -> None:
    SmtpMailer("smtps://ir%40app.example:pa55-w0rd-xyz@mail.example:465", sender="ir@app.example")
    assert redaction.redact_text("login pa55-w0rd-xyz") == f"login {redaction.REDACTED}"
    with pytest.raises(ConfigError, match="smtp://host:port"):
        SmtpMailer("http://mail.example", sender="x@y")


def test_mailbox_handler_is_a_real_smtp_server(port: int) -> None:
    import smtplib

    with mailbox(port, Mailbox()) as box, smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.sendmail("a@b.example", ["c@d.example"], b"Subject: hi\r\n\r\nbody")
    assert box.received()[0][1]["Subject"] == "hi"
