"""Logging: one line per event, and secrets scrubbed from every line, tracebacks included."""

from __future__ import annotations

import errno
import logging
import sys
import time

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


LIBRARY_LINE = 200  # characters of a library's message that are kept


class OnlyOwnDetail(logging.Filter):
    """Library records below WARNING are dropped; the rest keep one short line, without a
    traceback (a library's error text can quote a server's reply or an update)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(LIBRARIES):
            return True
        if record.levelno < logging.WARNING:
            return False
        text = record.getMessage().splitlines()[0] if record.getMessage() else ""
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__})"
        record.msg, record.args = text[:LIBRARY_LINE], None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


class OutOfDescriptors(logging.Filter):
    """Out of file descriptors, a listener fails to accept again and again, each failure a
    record: one line a minute instead, with how many there were."""

    EVERY = 60.0  # seconds

    def __init__(self) -> None:
        super().__init__()
        self._said = float("-inf")
        self._since = 0

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, OSError) or error.errno not in (errno.EMFILE, errno.ENFILE):
            return True
        self._since += 1
        now = time.monotonic()
        if now - self._said < self.EVERY:
            return False
        self._said = now
        record.name, record.levelno, record.levelname = "bot.logs", logging.ERROR, "ERROR"
        record.msg = (
            "out of file descriptors (%s): connections cannot be accepted; %d time(s) since "
            "the last line. Raise the limit (LimitNOFILE, ulimits) or lower the load"
        )
        record.args = (error.strerror, self._since)
        record.exc_info, record.exc_text = None, None
        self._since = 0
        return True


def setup_logging(level: str, secrets: list[str | None]) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter([s for s in secrets if s]))
    handler.addFilter(OutOfDescriptors())
    handler.addFilter(OnlyOwnDetail())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
