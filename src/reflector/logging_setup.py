"""Structured logging with structlog: readable on a terminal, JSON for machines."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

MASK = "***"
_SECRET_PATTERNS = (
    # API keys wherever they appear: a URL, a header, an exception's message.
    (re.compile(r"\brk_[A-Za-z0-9_\-]+"), "rk_" + MASK),
    (re.compile(r"(?i)\b(bearer[ .])[A-Za-z0-9_\-.~+/=]+"), r"\g<1>" + MASK),
    (
        re.compile(r"(?i)([?&](?:api_key|key|token|access_token|secret)=)[^&\s\"']+"),
        r"\g<1>" + MASK,
    ),
)
_SECRET_FIELDS = re.compile(
    r"(?i)(.*[_-])?(authorization|api[_-]?key|token|access[_-]token|secret|secret[_-]key"
    r"|password|cookie|set[_-]cookie)"
)


def mask_secrets(text: str) -> str:
    """``text`` with API keys, bearer tokens and secret query parameters replaced by ``***``."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {
            key: MASK
            if isinstance(val, str) and _SECRET_FIELDS.fullmatch(str(key))
            else _masked(val)
            for key, val in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_masked(item) for item in value)
    return value


def mask_secrets_processor(_logger: object, _name: str, event_dict: dict) -> dict:
    """structlog processor: secrets in any field (and any field named like one) masked."""
    return _masked(event_dict)


class MaskSecrets(logging.Filter):
    """The same for the standard library's records (uvicorn's, third-party libraries')."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked == message:
            return True
        if isinstance(record.args, tuple):
            # Keep the arguments: formatters such as uvicorn's access log unpack them.
            record.msg = mask_secrets(str(record.msg))
            record.args = tuple(
                arg if isinstance(arg, int | float) else mask_secrets(str(arg))
                for arg in record.args
            )
        else:
            record.msg, record.args = masked, None
        return True


def _current_stderr_logger(*_args: object) -> structlog.PrintLogger:
    return structlog.PrintLogger(file=sys.stderr)


def configure_logging(level: str = "warning", fmt: str = "console") -> None:
    """Route structlog and the standard library's logging to stderr at ``level``."""
    numeric_level = getattr(logging, level.upper(), logging.WARNING)
    # Tracebacks are plain text, formatted before the secrets are masked: rich tracebacks (the
    # console renderer's default) print every frame's local variables, keys included.
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            mask_secrets_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        # sys.stderr is looked up per logger, not once here: a program (or a test run) may
        # replace it later, and a logger must never write to a stream that has been closed.
        logger_factory=_current_stderr_logger,
        cache_logger_on_first_use=False,
    )
    # Third-party libraries (faster-whisper, ctranslate2) log through the stdlib.
    logging.basicConfig(stream=sys.stderr, level=numeric_level, format="%(name)s: %(message)s")
    logging.getLogger().setLevel(numeric_level)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskSecrets) for f in handler.filters):
            handler.addFilter(MaskSecrets())
    # uvicorn's loggers have handlers of their own (its access log shows query strings).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskSecrets) for f in logger.filters):
            logger.addFilter(MaskSecrets())
