"""The integrations' settings as their adapters take them (adapters never read settings)."""

from __future__ import annotations

from reflector.integrations.mail import SmtpConfig
from reflector.integrations.outbound import FetchLimits
from reflector.integrations.zulip import ZulipConfig
from reflector.settings import Settings


def zulip_config(settings: Settings) -> ZulipConfig | None:
    """The Zulip bot, or ``None`` when any of its three settings is missing."""
    key = settings.zulip_api_key.get_secret_value() if settings.zulip_api_key else ""
    if not (settings.zulip_site and settings.zulip_bot_email and key):
        return None
    return ZulipConfig(site=settings.zulip_site, bot_email=settings.zulip_bot_email, api_key=key)


def smtp_config(settings: Settings) -> SmtpConfig | None:
    """The SMTP server, or ``None`` when its host or the sender address is missing."""
    if not (settings.smtp_host and settings.smtp_from):
        return None
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        username=settings.smtp_username,
        password=password,
        starttls=settings.smtp_starttls,
        ssl=settings.smtp_ssl,
    )


def calendar_limits(settings: Settings) -> FetchLimits:
    return FetchLimits(
        allow_private=settings.ics_allow_private_networks,
        timeout=settings.ics_timeout_seconds,
        max_bytes=settings.ics_max_bytes,
    )


def transcript_link(settings: Settings, transcript_id: str) -> str:
    return f"{settings.resolved_public_url()}/transcripts/{transcript_id}"


def room_link(settings: Settings, room_name: str) -> str:
    return f"{settings.resolved_public_url()}/rooms/{room_name}"
