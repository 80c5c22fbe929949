"""Logging: one line per event, and secrets scrubbed from every line, tracebacks included."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__(FORMAT)
        self._secrets = [secret for secret in secrets if secret]

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text


# Libraries log request URLs (which hold the token), raw updates and replies (names,
# usernames, typed text) at DEBUG and INFO. Only their warnings and errors are shown, at
# every GENTLY_LOG_LEVEL; the bot's own lines carry user ids, never names or text.
LIBRARIES = ("telegram", "httpx", "httpcore", "aiosqlite", "apscheduler", "tornado", "asyncio")


class OnlyOwnDetail(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not record.name.startswith(LIBRARIES)


def setup_logging(level: str, secrets: list[str | None]) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter([s for s in secrets if s]))
    handler.addFilter(OnlyOwnDetail())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
