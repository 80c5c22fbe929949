"""Alerts: an ERROR (or a line marked with an `alert` kind) is also sent, as a short
message, to each operator in `GENTLY_ADMIN_IDS` who has started the bot. At most one per
kind per 15 minutes; the message names the kind, the time and where the bot runs, never a
user id or anything a user wrote (it is built from the kind, not from the log line).
`GENTLY_ALERTS=off` turns them off."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from html import escape

from telegram import Bot

EVERY = 15 * 60  # seconds between two alerts of one kind


class Alerts(logging.Handler):
    def __init__(
        self,
        bot: Bot,
        admin_ids: Collection[int],
        where: str,
        loop: asyncio.AbstractEventLoop,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(logging.WARNING)
        self._bot = bot
        self._admins = tuple(admin_ids)
        self._where = f"{socket.gethostname()}, {where}"
        self._loop = loop
        self._clock = clock
        self._sent: dict[str, float] = {}  # kind → when; kinds are few and fixed
        self._sending: set[asyncio.Future[None]] = set()

    def emit(self, record: logging.LogRecord) -> None:
        kind = getattr(record, "alert", None)
        if kind is None:
            if record.levelno < logging.ERROR:
                return
            kind = f"an error in {record.name}"
        now = self._clock()
        if now - self._sent.get(kind, float("-inf")) < EVERY:
            return
        self._sent[kind] = now
        at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        text = (
            f"⚠️ Gently: {escape(kind)}\n{at} · {escape(self._where)}\n"
            "The details are in the bot's log."
        )
        try:
            here = asyncio.get_running_loop() is self._loop
        except RuntimeError:  # another thread (the database's): hand it to the loop
            here = False
        if here:
            self._start(text)
        else:
            self._loop.call_soon_threadsafe(self._start, text)

    def _start(self, text: str) -> None:
        sending = asyncio.ensure_future(self._send(text))
        self._sending.add(sending)
        sending.add_done_callback(self._sending.discard)

    async def _send(self, text: str) -> None:
        for admin in self._admins:
            try:
                await self._bot.send_message(admin, text)
            except Exception:  # never started the bot, blocked it, offline: nothing to do
                continue  # an alert about an alert would loop

    async def settle(self) -> None:
        """Until the alerts started so far were sent (a stop, and tests)."""
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
