"""Webhook mode: what Telegram says about delivering to us (`getWebhookInfo`), checked
every few minutes. A new delivery error is one WARNING; while Telegram reports a recent
error and holds updates for us, `/healthz` says so. Errors from before this process
started are history: a restart does not warn about them again. Systemd's watchdog does not
listen to this: restarting would not make Telegram deliver (a 503 the bot gave on purpose
counts as an error there too), and a restart loop would lose what was accepted."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from telegram import Bot
from telegram.error import TelegramError

from bot import metrics

log = logging.getLogger(__name__)

CHECK_EVERY = 300  # seconds
RECENT = 3 * CHECK_EVERY  # seconds: an older error is history (Telegram dates each one)


class WebhookWatch:
    def __init__(self, bot: Bot, clock: Callable[[], float] = time.time) -> None:
        self._bot = bot
        self._clock = clock
        self._checked_at = float("-inf")
        self._since = clock()  # errors dated before this are another process's
        self._last_error: datetime | None = None
        self.problem: str | None = None

    async def check_if_due(self) -> None:
        if self._clock() - self._checked_at < CHECK_EVERY:
            return
        self._checked_at = self._clock()
        try:
            info = await self._bot.get_webhook_info()
        except TelegramError as error:
            log.warning("cannot ask Telegram about the webhook: %s", error.message)
            return
        pending = info.pending_update_count
        metrics.WEBHOOK_PENDING.set(pending)
        error_at = info.last_error_date
        if error_at is not None and error_at.timestamp() < self._since:
            error_at = None
        if error_at is not None and error_at != self._last_error:
            log.warning(
                "Telegram reports it could not deliver to the webhook at %s: %s "
                "(%d update(s) waiting)",
                error_at.isoformat(),
                info.last_error_message or "no reason given",
                pending,
                extra={"alert": "Telegram cannot deliver to the webhook"},
            )
        self._last_error = error_at
        recent = error_at is not None and self._clock() - error_at.timestamp() < RECENT
        self.problem = (
            f"Telegram cannot deliver to the webhook ({info.last_error_message}); "
            f"{pending} update(s) waiting"
            if recent and pending
            else None
        )
