"""A real SMTP server in the test process (``aiosmtpd``), keeping every message it was given;
it can refuse chosen recipients (550) or require a login, as real servers do."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from reflector_testkit.ports import free_port


@dataclass
class SmtpInbox:
    host: str = "127.0.0.1"
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    """(MAIL FROM, RCPT TO) of each message."""
    refuse: set[str] = field(default_factory=set)
    """Recipients answered ``550 no such mailbox``."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address in str(m["To"])]

    # aiosmtpd's handler hooks

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self.expected = (username.encode(), password.encode())

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any):
        if isinstance(auth_data, LoginPassword):
            ok = (auth_data.login, auth_data.password) == self.expected
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)


@contextmanager
def smtp_server(login: tuple[str, str] | None = None) -> Iterator[SmtpInbox]:
    """An SMTP server on a free local port (plain, no TLS); with ``login``, it requires that
    user name and password (AUTH over the plain connection, as a test allows)."""
    inbox = SmtpInbox(port=free_port())
    options: dict[str, Any] = {}
    if login is not None:
        options = {
            "authenticator": _Authenticator(*login),
            "auth_required": True,
            "auth_require_tls": False,
        }
    controller = Controller(inbox, hostname=inbox.host, port=inbox.port, **options)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
