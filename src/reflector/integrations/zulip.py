"""A small client for Zulip's REST API, as a bot uses it, and the message a transcript makes.

Zulip authenticates with HTTP basic auth (the bot's email and API key), takes form-encoded
parameters and answers JSON with ``result`` (``success`` or ``error``), ``msg`` (words) and,
for some errors, ``code`` (``INVALID_API_KEY``, ``STREAM_DOES_NOT_EXIST``, ``BAD_REQUEST`` …).
Used here: ``POST /api/v1/messages`` (send), ``PATCH /api/v1/messages/{id}`` (edit),
``GET /api/v1/streams`` and ``GET /api/v1/users/me/{stream_id}/topics``.

Errors come as :class:`ZulipError`, whose message says in words what went wrong and whose
``permanent`` flag says whether asking again can help (wrong credentials or a missing stream:
no; Zulip unreachable or overloaded: yes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from reflector.errors import BadInputError, UnavailableError

if TYPE_CHECKING:
    from reflector.integrations.digest import Digest

MAX_CONTENT_BYTES = 10_000
"""Zulip refuses longer messages."""
MAX_TOPIC_CHARS = 60
MENTION_BREAK = "@\u200b"
"""An ``@`` that Zulip does not read as a mention: text from a transcript never pings anyone."""


class ZulipError(UnavailableError):
    """Zulip did not do what was asked; the message says why, for people."""

    problem_type = "zulip-error"

    def __init__(self, message: str, *, permanent: bool, code: str | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code


class ZulipNotConfiguredError(BadInputError):
    """No Zulip bot is set up on this server: asking again fails again until an administrator
    sets one up (422)."""

    status = 422
    problem_type = "zulip-not-configured"

    def __init__(self) -> None:
        super().__init__(
            "Zulip is not set up on this server: set REFLECTOR_ZULIP_SITE, "
            "REFLECTOR_ZULIP_BOT_EMAIL and REFLECTOR_ZULIP_API_KEY"
        )


@dataclass(frozen=True)
class ZulipConfig:
    site: str
    """The organization's base URL, e.g. ``https://chat.example.org``."""
    bot_email: str
    api_key: str
    timeout: float = 20.0


@dataclass(frozen=True)
class Stream:
    stream_id: int
    name: str
    description: str = ""


@dataclass(frozen=True)
class ZulipTopic:
    name: str
    max_id: int = 0


def _words(payload: dict[str, Any], status: int) -> str:
    message = str(payload.get("msg") or "").strip()
    return message or f"HTTP {status}"


class ZulipClient:
    """One bot on one Zulip organization."""

    def __init__(self, config: ZulipConfig, transport: httpx.AsyncBaseTransport | None = None):
        self.config = config
        self._transport = transport

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.config.site.rstrip("/") + "/api/v1",
            auth=(self.config.bot_email, self.config.api_key),
            timeout=self.config.timeout,
            transport=self._transport,
        )

    async def _call(
        self, method: str, path: str, data: dict[str, str] | None = None
    ) -> dict[str, Any]:
        site = self.config.site
        try:
            async with self._client() as client:
                response = await client.request(method, path, data=data)
        except httpx.TimeoutException as exc:
            raise ZulipError(
                f"Zulip at {site} did not answer within {self.config.timeout:g} seconds",
                permanent=False,
            ) from exc
        except httpx.HTTPError as exc:
            raise ZulipError(
                f"could not reach Zulip at {site}: {exc or exc.__class__.__name__}",
                permanent=False,
            ) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        if response.status_code == 200 and payload.get("result") == "success":
            return payload
        raise self._error(response.status_code, payload)

    def _error(self, status: int, payload: dict[str, Any]) -> ZulipError:
        code = payload.get("code")
        words = _words(payload, status)
        if status == 401 or code in ("INVALID_API_KEY", "UNAUTHORIZED", "USER_DEACTIVATED"):
            return ZulipError(
                f"Zulip at {self.config.site} refused the bot's credentials "
                f"(REFLECTOR_ZULIP_BOT_EMAIL / REFLECTOR_ZULIP_API_KEY): {words}",
                permanent=True,
                code=code or "UNAUTHORIZED",
            )
        if status == 429 or status >= 500:
            return ZulipError(
                f"Zulip at {self.config.site} cannot serve now ({status}): {words}",
                permanent=False,
                code=code,
            )
        if status == 404 and not payload:
            return ZulipError(
                f"{self.config.site} does not answer Zulip's API (404): is "
                "REFLECTOR_ZULIP_SITE the organization's address?",
                permanent=True,
                code=code,
            )
        return ZulipError(f"Zulip refused the request: {words}", permanent=True, code=code)

    async def send_stream_message(self, stream: str, topic: str, content: str) -> int:
        """Post ``content`` to ``stream`` under ``topic``; the new message's id."""
        payload = await self._call(
            "POST",
            "/messages",
            {"type": "stream", "to": stream, "topic": topic, "content": content},
        )
        return int(payload["id"])

    async def edit_message(self, message_id: int, content: str) -> None:
        """Replace the content of message ``message_id`` (one the bot sent)."""
        await self._call("PATCH", f"/messages/{message_id}", {"content": content})

    async def streams(self) -> list[Stream]:
        """The streams the bot can see, by name."""
        payload = await self._call("GET", "/streams")
        found = [
            Stream(int(item["stream_id"]), str(item["name"]), str(item.get("description", "")))
            for item in payload.get("streams", [])
        ]
        return sorted(found, key=lambda stream: stream.name.lower())

    async def topics(self, stream_id: int) -> list[ZulipTopic]:
        """The topics of a stream, most recently active first."""
        payload = await self._call("GET", f"/users/me/{stream_id}/topics")
        return [
            ZulipTopic(str(item["name"]), int(item.get("max_id", 0)))
            for item in payload.get("topics", [])
        ]


# --- the message -----------------------------------------------------------------------------


def quiet(text: str) -> str:
    """``text`` with every ``@`` unable to mention anyone (``@**all**`` would ping everyone)."""
    return text.replace("@", MENTION_BREAK)


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _items(heading: str, items: Sequence[str]) -> list[str]:
    if not items:
        return []
    return ["", f"**{heading}**", *[f"- {quiet(item.strip())}" for item in items if item.strip()]]


def render_post(post: Digest) -> str:
    """The message in Zulip's Markdown, cut to fit Zulip's size limit (the link is kept)."""
    title = quiet(post.title.strip() or "Untitled meeting").replace("]", ")").replace("[", "(")
    facts = [fact for fact in (post.when, _duration(post.duration_seconds)) if fact]
    head = [f"**[{title}]({post.link})**"]
    if post.duration_seconds > 0 or post.when:
        head.append(" · ".join(facts))
    body: list[str] = []
    if post.summary.strip():
        body += ["", quiet(post.summary.strip())]
    body += _items("Decisions", post.decisions)
    body += _items("Next steps", post.next_steps)
    tail = ["", f"[Open the transcript]({post.link})"]
    text = "\n".join([*head, *body])
    footer = "\n".join(tail)
    budget = MAX_CONTENT_BYTES - len(footer.encode()) - 16
    encoded = text.encode()
    if len(encoded) > budget:
        text = encoded[:budget].decode(errors="ignore").rstrip() + "\n…"
    return text + "\n" + footer


def topic_name(topic: str) -> str:
    """A topic Zulip accepts: at most 60 characters."""
    cleaned = " ".join(topic.split())
    return cleaned if len(cleaned) <= MAX_TOPIC_CHARS else cleaned[: MAX_TOPIC_CHARS - 1] + "…"
