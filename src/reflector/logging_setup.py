"""Structured logging with structlog: readable on a terminal, JSON for machines."""

from __future__ import annotations

import logging
import sys

import structlog


def _current_stderr_logger(*_args: object) -> structlog.PrintLogger:
    return structlog.PrintLogger(file=sys.stderr)


def configure_logging(level: str = "warning", fmt: str = "console") -> None:
    """Route structlog and the standard library's logging to stderr at ``level``."""
    numeric_level = getattr(logging, level.upper(), logging.WARNING)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
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
