"""The summary email: composed (a plain-text part and a small HTML part) and sent over SMTP.

Everything taken from a transcript is escaped in the HTML part and kept off header lines, so
a title cannot add headers or markup. Sending uses the standard library's ``smtplib`` (in a
thread: it blocks), with STARTTLS or TLS from the first byte, and login when a user name is set.
"""

from __future__ import annotations

import html
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING

from reflector.errors import BadInputError, UnavailableError

if TYPE_CHECKING:
    from reflector.integrations.digest import Digest

MAX_ADDRESS_CHARS = 320
_ADDRESS = re.compile(r"^[^@\s<>\"',;:()\[\]\\]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,63}$")


class MailNotConfiguredError(BadInputError):
    """No SMTP server is set up on this server: asking again fails again until an
    administrator sets one up (422)."""

    status = 422
    problem_type = "email-not-configured"

    def __init__(self) -> None:
        super().__init__(
            "email is not set up on this server: set REFLECTOR_SMTP_HOST and REFLECTOR_SMTP_FROM"
        )


class InvalidAddressError(BadInputError):
    status = 422
    problem_type = "invalid-email"


class MailError(UnavailableError):
    """The SMTP server did not take the message; the message says why, for people."""

    problem_type = "email-failed"

    def __init__(self, message: str, *, permanent: bool, recipient: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.recipient = recipient
        """Only this recipient was refused; others may still be sent to."""


def check_address(address: str) -> str:
    """``address`` trimmed and lower-cased, if it looks like one mailbox's address; raises
    :class:`InvalidAddressError` otherwise (names, lists and line breaks included)."""
    text = address.strip()
    if len(text) > MAX_ADDRESS_CHARS or not _ADDRESS.match(text):
        raise InvalidAddressError(f"{address!r} is not an email address (name@example.org)")
    return text.lower()


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    sender: str
    """The ``From`` address."""
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    ssl: bool = False
    """TLS from the first byte (port 465) instead of STARTTLS."""
    timeout: float = 30.0


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _plain(mail: Digest) -> str:
    lines = [_one_line(mail.title)]
    if mail.when:
        lines.append(mail.when)
    if mail.summary.strip():
        lines += ["", mail.summary.strip()]
    for heading, items in (("Decisions", mail.decisions), ("Next steps", mail.next_steps)):
        if items:
            lines += ["", f"{heading}:", *[f"- {_one_line(item)}" for item in items]]
    lines += ["", f"The whole transcript: {mail.link}", ""]
    return "\n".join(lines)


def _html(mail: Digest) -> str:
    def esc(text: str) -> str:
        return html.escape(text, quote=True)

    parts = [f"<h2>{esc(_one_line(mail.title))}</h2>"]
    if mail.when:
        parts.append(f"<p><small>{esc(mail.when)}</small></p>")
    for paragraph in (p.strip() for p in mail.summary.split("\n\n")):
        if paragraph:
            parts.append(f"<p>{esc(paragraph)}</p>")
    for heading, items in (("Decisions", mail.decisions), ("Next steps", mail.next_steps)):
        if items:
            entries = "".join(f"<li>{esc(_one_line(item))}</li>" for item in items)
            parts.append(f"<h3>{heading}</h3><ul>{entries}</ul>")
    parts.append(f'<p><a href="{esc(mail.link)}">Open the whole transcript</a></p>')
    return '<!doctype html><html><body style="font-family:sans-serif">' + (
        "".join(parts) + "</body></html>"
    )


def compose(mail: Digest, sender: str, recipient: str) -> EmailMessage:
    """The message to ``recipient``: subject from the title, plain text and HTML parts."""
    message = EmailMessage()
    message["Subject"] = f"Summary: {_one_line(mail.title) or 'your meeting'}"[:250]
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_plain(mail))
    message.add_alternative(_html(mail), subtype="html")
    return message


def send(config: SmtpConfig, message: EmailMessage) -> None:
    """Hand ``message`` to the SMTP server (blocking); raises :class:`MailError` in words."""
    where = f"{config.host}:{config.port}"
    try:
        context = ssl.create_default_context()
        if config.ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout, context=context
            )
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        with client:
            if config.starttls and not config.ssl:
                client.starttls(context=context)
            if config.username:
                client.login(config.username, config.password or "")
            client.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(
            f"the SMTP server {where} refused the login (REFLECTOR_SMTP_USERNAME / "
            f"REFLECTOR_SMTP_PASSWORD): {exc.smtp_code} {_reply(exc.smtp_error)}",
            permanent=True,
        ) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        permanent = all(500 <= code < 600 for code in codes)
        refused = ", ".join(
            f"{who}: {code} {_reply(text)}" for who, (code, text) in exc.recipients.items()
        )
        raise MailError(
            f"the SMTP server {where} refused the recipient ({refused})",
            permanent=permanent,
            recipient=True,
        ) from exc
    except smtplib.SMTPResponseException as exc:
        raise MailError(
            f"the SMTP server {where} answered {exc.smtp_code} {_reply(exc.smtp_error)}",
            permanent=500 <= exc.smtp_code < 600,
        ) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise MailError(
            f"the SMTP server {where} does not offer STARTTLS (set REFLECTOR_SMTP_STARTTLS=false "
            "only for a server on a trusted network)",
            permanent=True,
        ) from exc
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise MailError(
            f"could not send through the SMTP server {where}: {exc or exc.__class__.__name__}",
            permanent=False,
        ) from exc


def _reply(text: bytes | str) -> str:
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)
