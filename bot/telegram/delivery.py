"""Sending screens to Telegram, with the Bot API's expected failures handled where they
happen: an unchanged edit, an expired callback query, a user who blocked the bot.

Replies are taken raw (`Bot.do_api_request`): PTB would otherwise build a full `Message`
object from every reply (about 90 µs each, more for Telegram's real, larger replies) that
the bot never reads, except for one message id. Defaults are not applied on that path, so
the parse mode and link-preview options are passed explicitly.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.warnings import PTBUserWarning

from bot.telegram.render import keyboard
from bot.walkthrough import Screen

log = logging.getLogger(__name__)

# PTB suggests its dedicated methods when do_api_request names one; here the raw reply is
# wanted on purpose, so that one suggestion is silenced.
warnings.filterwarnings(
    "ignore",
    message=r"Please use 'Bot\.\w+' instead of 'Bot\.do_api_request",
    category=PTBUserWarning,
)
HTML = {"parse_mode": ParseMode.HTML, "link_preview_options": {"is_disabled": True}}

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
        new message and clear the buttons of the previous one. The callback answer and the
        clearing run alongside the main call, so the user waits one round trip, not three."""
        side: list[Awaitable[None]] = [] if answer is None else [self.quietly(answer())]
        markup = keyboard(screen)
        if screen.in_place and tapped_message is not None:
            main = self.quietly(self.call("editMessageText", chat_id=chat_id,
                                          message_id=tapped_message, text=screen.text,
                                          reply_markup=markup, **HTML))  # fmt: skip
        else:
            previous = self.live.replace(chat_id, None) or tapped_message
            if previous is not None:
                strip = self.call("editMessageReplyMarkup", chat_id=chat_id, message_id=previous)
                side.append(self.quietly(strip))
            main = self._send_new(chat_id, screen.text, markup)
        alongside = [asyncio.ensure_future(call) for call in side]
        try:
            await main
        finally:
            if alongside:
                await asyncio.gather(*alongside)

    async def _send_new(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None
                        ) -> None:  # fmt: skip
        try:
            sent = await self.call("sendMessage", chat_id=chat_id, text=text,
                                   reply_markup=markup, **HTML)  # fmt: skip
        except Forbidden:
            await self._on_blocked(chat_id)
            return
        if markup is not None:
            self.live.replace(chat_id, int(sent["message_id"]))

    async def text(self, chat_id: int, text: str) -> None:
        try:
            await self.call("sendMessage", chat_id=chat_id, text=text, **HTML)
        except Forbidden:
            await self._on_blocked(chat_id)

    async def call(self, method: str, **params: Any) -> Any:
        """A Bot API call whose reply comes back as plain JSON data."""
        kwargs = {k: v for k, v in params.items() if v is not None}
        if isinstance(kwargs.get("reply_markup"), InlineKeyboardMarkup):
            kwargs["reply_markup"] = kwargs["reply_markup"].to_dict()
        return await self.bot.do_api_request(method, api_kwargs=kwargs)

    async def quietly(self, call: Awaitable[Any]) -> None:
        """Run a call whose failure changes nothing for the user."""
        try:
            await call
        except BadRequest as error:
            # "message is not modified", "query is too old", "message to edit not found"…
            log.debug("ignored Bot API answer: %s", error.message)
        except Forbidden:
            log.debug("ignored Forbidden on a side call")
