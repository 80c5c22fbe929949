"""Sending screens to Telegram, with the Bot API's expected failures handled where they
happen: an unchanged edit, an expired callback query, a user who blocked the bot."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, Forbidden

from bot.telegram.render import keyboard
from bot.walkthrough import Screen

log = logging.getLogger(__name__)

LIVE_MESSAGES = 50_000  # users whose last keyboard we remember (memory only, never stored)


class LiveKeyboards:
    """Which message holds each user's live buttons, so the previous one can be cleared."""

    def __init__(self, limit: int = LIVE_MESSAGES) -> None:
        self._messages: OrderedDict[int, int] = OrderedDict()
        self._limit = limit

    def replace(self, chat_id: int, message_id: int | None) -> int | None:
        """Record the new live message (None: none) and return the one it replaces."""
        previous = self._messages.pop(chat_id, None)
        if message_id is not None:
            self._messages[chat_id] = message_id
            if len(self._messages) > self._limit:
                self._messages.popitem(last=False)
        return previous

    def forget(self, chat_id: int) -> None:
        self._messages.pop(chat_id, None)


class Delivery:
    def __init__(self, bot: Bot, on_blocked: Callable[[int], Awaitable[None]]) -> None:
        self.bot = bot
        self.live = LiveKeyboards()
        self._on_blocked = on_blocked

    async def show(
        self,
        chat_id: int,
        screen: Screen,
        *,
        tapped_message: int | None = None,
        answer: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        """Show a screen: edit the tapped message for an in-place update, otherwise send a
        new message and clear the buttons of the previous one. Answers the callback query
        alongside, so the user's spinner stops as early as possible."""
        work: list[Awaitable[Any]] = [] if answer is None else [self.quietly(answer())]
        if screen.in_place and tapped_message is not None:
            work.append(
                self.quietly(
                    self.bot.edit_message_text(
                        screen.text, chat_id, tapped_message, reply_markup=keyboard(screen)
                    )
                )
            )
            await asyncio.gather(*work)
            return
        work.append(self._send(chat_id, screen, tapped_message))
        await asyncio.gather(*work)

    async def _send(self, chat_id: int, screen: Screen, tapped_message: int | None) -> None:
        markup = keyboard(screen)
        previous = self.live.replace(chat_id, None) or tapped_message
        calls: list[Awaitable[Any]] = [
            self.bot.send_message(chat_id, screen.text, reply_markup=markup)
        ]
        if previous is not None:
            calls.append(self.quietly(self.bot.edit_message_reply_markup(chat_id, previous)))
        try:
            sent = (await asyncio.gather(*calls))[0]
        except Forbidden:
            await self._on_blocked(chat_id)
            return
        if markup is not None:
            self.live.replace(chat_id, sent.message_id)

    async def text(self, chat_id: int, text: str) -> None:
        try:
            await self.bot.send_message(chat_id, text)
        except Forbidden:
            await self._on_blocked(chat_id)

    async def quietly(self, call: Awaitable[Any]) -> None:
        """Run a call whose failure changes nothing for the user."""
        try:
            await call
        except BadRequest as error:
            # "message is not modified", "query is too old", "message to edit not found"…
            log.debug("ignored Bot API answer: %s", error.message)
        except Forbidden:
            log.debug("ignored Forbidden on a side call")
