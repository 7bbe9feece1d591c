"""The ``email.send`` action and the SMTP port it shares with the report to TikTok; never sends twice.

``ORCH_SMTP_URL`` is ``smtp://host:port`` (STARTTLS with ``smtp_starttls``) or
``smtps://user:pass@host:465`` (TLS from the start). Sends go through a ledger row claimed
before the send and marked sent after it: a key already sent is answered from the ledger, a
failed send frees the row for a retry. Only a worker killed mid-send can send twice; its redo
reuses the same ``Message-ID``, so the receiving side can tell.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, ClassVar, Protocol
from urllib.parse import unquote, urlsplit

from pydantic import Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator import clock, redaction
from orchestrator.chatops import kinds as chatops_kinds
from orchestrator.config import Settings
from orchestrator.errors import ActionError, ConfigError
from orchestrator.playbooks.action import Action, ActionContext, ActionParams
from orchestrator.reporting.models import DeliveryRow, TikTokReportRow
from orchestrator.store.db import Store
from orchestrator.store.lease import Lease

__all__ = [
    "EmailSendAction",
    "EmailSendParams",
    "Mailer",
    "OutgoingMail",
    "SendOnce",
    "SmtpMailer",
    "mailer_for",
    "send_once",
]

_CLAIM_SECONDS = 10.0
"""A send claim lasts this long; the sender renews it while it talks to SMTP, so a living sender
keeps it and a dead one's lapses within seconds (the redo of its step then sends)."""


class _Held(Exception):
    """Another sender holds the claim on this message."""


@dataclass(frozen=True)
class OutgoingMail:
    """One message: recipients, subject, plain-text body, and the Message-ID to send it under."""

    to: Sequence[str]
    subject: str
    body: str
    message_id: str


class Mailer(Protocol):
    """The mail port: sends one message or raises OSError / smtplib.SMTPException."""

    def send(self, mail: OutgoingMail) -> None: ...


class SmtpMailer:
    """Sends over SMTP as configured by ``smtp_url``, ``smtp_from`` and ``smtp_starttls``."""

    def __init__(self, url: str, *, sender: str, starttls: bool = False, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError("smtp_url (ORCH_SMTP_URL): use smtp://host:port or smtps://user:pass@host:465")
        self._tls = parts.scheme == "smtps"
        self._host = parts.hostname
        self._port = parts.port or (465 if self._tls else 25)
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        redaction.register_secret(self._password)
        self._sender = sender
        self._starttls = starttls
        self._timeout = timeout

    def send(self, mail: OutgoingMail) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = ", ".join(mail.to)
        message["Subject"] = mail.subject
        message["Message-ID"] = mail.message_id
        message["Date"] = format_datetime(clock.utcnow())
        message.set_content(mail.body)
        with self._session() as smtp:
            smtp.send_message(message)

    def check(self) -> None:
        """Connect, TLS and log in as a send would, then say NOOP: sends nothing."""
        with self._session() as smtp:
            code, _ = smtp.noop()
            if code != 250:
                raise smtplib.SMTPResponseException(code, b"NOOP refused")

    @contextmanager
    def _session(self) -> Iterator[smtplib.SMTP]:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self._tls:
            smtp = smtplib.SMTP_SSL(self._host, self._port, timeout=self._timeout, context=context)
        else:
            smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        with smtp:
            if self._starttls and not self._tls:
                smtp.starttls(context=context)
            if self._user and self._password:
                smtp.login(self._user, self._password)
            yield smtp


def mailer_for(settings: Settings) -> SmtpMailer | None:
    """The configured mailer, or None when ``smtp_url`` is not set."""
    if settings.smtp_url is None:
        return None
    return SmtpMailer(
        settings.smtp_url.get_secret_value(), sender=settings.smtp_from, starttls=settings.smtp_starttls
    )


@dataclass(frozen=True)
class SendOnce:
    """What a send-once call did: ``sent`` now, or found ``already`` sent before."""

    message_id: str
    sent_at: datetime
    already: bool
    attempts: int


Ledger = type[DeliveryRow] | type[TikTokReportRow]


def send_once(
    store: Store,
    mailer: Mailer,
    *,
    row_key: dict[str, str],
    ledger: Ledger,
    to: Sequence[str],
    subject: str,
    body: Callable[[], str] | str,
    domain: str = "orchestrator",
    on_sent: Callable[[Session, SendOnce], None] | None = None,
) -> SendOnce:
    """Send ``subject``/``body`` to ``to`` unless the ledger row ``row_key`` says it was sent.

    Raises ActionError(retryable=True) when SMTP fails (the row is freed for the retry) or
    another living worker is sending the same message (a dead one's claim is waited out).
    ``on_sent`` runs in the transaction that marks the row sent (record the delivery there,
    atomically).
    """
    pk = tuple(row_key.values()) if len(row_key) > 1 else next(iter(row_key.values()))
    patience = time.monotonic() + _CLAIM_SECONDS  # a claim not renewed (its sender died) lapses by then
    while True:
        now = clock.utcnow()
        try:
            with store.unit_of_work() as session:
                row: Any = session.get(ledger, pk, with_for_update=True)
                if row is None:
                    row = ledger(
                        **row_key, status="sending", message_id=make_msgid(domain=domain), attempts=0
                    )
                    row.recipient = ", ".join(to)
                    session.add(row)
                elif row.status == "sent":
                    return SendOnce(row.message_id, row.sent_at or now, already=True, attempts=row.attempts)
                elif row.claimed_until is not None and row.claimed_until > now:
                    raise _Held
                row.claimed_until = now + timedelta(seconds=_CLAIM_SECONDS)
                row.attempts = int(row.attempts or 0) + 1
                message_id, attempts = str(row.message_id), int(row.attempts)
            break
        except (_Held, IntegrityError):
            if time.monotonic() >= patience:  # still renewed: its sender is alive and sending
                raise ActionError("another worker is sending this message now", retryable=True) from None
            time.sleep(0.5)
    text = body() if callable(body) else body
    held = [getattr(ledger, name) == value for name, value in row_key.items()]
    try:
        with Lease(store, ledger, _CLAIM_SECONDS, *held, ledger.status == "sending", column="claimed_until"):
            mailer.send(OutgoingMail(to=list(to), subject=subject, body=text, message_id=message_id))
    except (OSError, smtplib.SMTPException) as exc:
        with store.unit_of_work() as session:
            row = session.get(ledger, pk, with_for_update=True)
            if row is not None:
                row.claimed_until = None
        raise ActionError(f"SMTP send failed: {type(exc).__name__}", retryable=True) from None
    sent_at = clock.utcnow()
    with store.unit_of_work() as session:
        row = session.get(ledger, pk, with_for_update=True)
        if row is not None:
            row.status, row.sent_at, row.claimed_until = "sent", sent_at, None
        outcome = SendOnce(message_id, sent_at, already=False, attempts=attempts)
        if on_sent is not None:
            on_sent(session, outcome)
    return outcome


class EmailSendParams(ActionParams):
    """``to`` (one address or a list), ``subject`` and a plain-text ``body``."""

    to: list[str] | str
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=100_000)

    def recipients(self) -> list[str]:
        raw = [self.to] if isinstance(self.to, str) else self.to
        return [a.strip() for item in raw for a in item.split(",") if a.strip()]


class EmailSendAction(Action):
    """Email (redacted) text to internal lists; the step's idempotency key sends at most once."""

    name: ClassVar[str] = "email.send"
    params: ClassVar[type[EmailSendParams]] = EmailSendParams
    has_effects: ClassVar[bool] = True

    def __init__(self, mailer_factory: Callable[[Settings], Mailer | None] = mailer_for) -> None:
        self._mailer_factory = mailer_factory

    def run(self, ctx: ActionContext, params: EmailSendParams) -> dict[str, Any]:

        runtime = ctx.ports(self.name)
        to = params.recipients()
        if not to:
            raise ActionError("email.send: 'to' names no address")
        mailer = self._mailer_factory(runtime.settings)
        if mailer is None:
            raise ActionError("email is not configured: set ORCH_SMTP_URL")
        result = send_once(
            runtime.store,
            mailer,
            row_key={"key": ctx.idempotency_key},
            ledger=DeliveryRow,
            to=to,
            subject=redaction.redact_text(params.subject),
            body=redaction.redact_text(params.body),
        )
        if not result.already:
            ctx.timeline.append(
                chatops_kinds.EMAIL_SENT,
                f"Email sent to {', '.join(to)}: {redaction.redact_text(params.subject)}",
                {
                    "to": to,
                    "message_id": result.message_id,
                    "sent_at": result.sent_at.isoformat(),
                    "idempotency_key": ctx.idempotency_key,
                },
                ctx.actor,
            )
        return {"to": to, "message_id": result.message_id, "already_sent": result.already}
