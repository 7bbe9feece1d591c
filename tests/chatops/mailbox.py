"""A real local SMTP server (aiosmtpd) that keeps every message it accepts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

__all__ = ["Mailbox", "mailbox", "text_body"]


@dataclass
class Mailbox:
    """Messages received, parsed, with their envelope recipients."""

    messages: list[tuple[list[str], Message]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"

    def received(self) -> list[tuple[list[str], Message]]:
        with self.lock:
            return list(self.messages)


def _any_login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    return AuthResult(success=True)


def text_body(message: Message) -> str:
    """The body of a single-part message (the orchestrator sends plain text), its transfer
    encoding undone: a quoted-printable line over 76 characters is one line again."""
    assert not message.is_multipart(), "expected a single-part message"
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(message.get_content_charset() or "utf-8")


@contextmanager
def mailbox(port: int, box: Mailbox | None = None, *, login: bool = False) -> Iterator[Mailbox]:
    """Listen on 127.0.0.1:``port`` until the block ends; ``login``: offer AUTH without TLS and
    accept any user and password (for an ``smtp://user:pass@`` URL)."""
    state = box or Mailbox()
    auth: dict[str, Any] = {"authenticator": _any_login, "auth_require_tls": False} if login else {}
    controller = Controller(state, hostname="127.0.0.1", port=port, **auth)
    controller.start()
    try:
        yield state
    finally:
        controller.stop()
