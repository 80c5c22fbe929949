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
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.warnings import PTBUserWarning

from bot.content import Messages
from bot.runtime import Origin
from bot.telegram.budget import Lane
from bot.telegram.render import keyboard
from bot.telegram.scheduler import Send, SendSkipped
from bot.walkthrough import Outcome, Screen

log = logging.getLogger(__name__)

# PTB suggests its dedicated methods when do_api_request names one; here the raw reply is
# wanted on purpose, so that one suggestion is silenced.
warnings.filterwarnings(
    "ignore",
    message=r"Please use 'Bot\.\w+' instead of 'Bot\.do_api_request",
    category=PTBUserWarning,
)
HTML: dict[str, Any] = {"parse_mode": ParseMode.HTML, "link_preview_options": {"is_disabled": True}}

# Users whose newest keyboard is remembered, so a typed command can clear it (a tap names
# its own message). Recently active users only: memory must not grow with the user count.
LIVE_MESSAGES = 1_000


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
    """Sends screens for the runtime. Replies go in the scheduler's reply lane, clearing an
    old keyboard in the cosmetic lane, reminders in their own."""

    def __init__(self, bot: Bot, messages: Messages) -> None:
        self.bot = bot
        self.messages = messages
        self.live = LiveKeyboards()
        self._background: set[asyncio.Future[None]] = set()
        self.on_blocked: Callable[[int], Awaitable[None]] | None = None

    async def show(self, user_id: int, outcome: Outcome, origin: Origin | None) -> None:
        """Show a screen: edit the tapped message for an in-place update, otherwise send a
        new message and clear the buttons of the previous one. The callback answer runs
        alongside the main call, so the user waits one round trip; clearing the old buttons
        is cosmetic and never holds the reply up (it may even be skipped)."""
        screen = outcome.screen
        tapped = origin.message_id if origin else None
        side: list[Awaitable[None]] = []
        if origin and origin.answer:
            side.append(self.quietly(origin.answer(screen.notice)))
        markup = keyboard(screen)
        if screen.in_place and tapped is not None:
            main = self._edit(
                user_id,
                self.call(
                    "editMessageText",
                    chat_id=user_id,
                    message_id=tapped,
                    text=screen.text,
                    reply_markup=markup,
                    **HTML,
                ),
            )
        else:
            previous = self.live.replace(user_id, None) or tapped
            if previous is not None:
                self._in_background(
                    self.call(
                        "editMessageReplyMarkup",
                        Lane.COSMETIC,
                        chat_id=user_id,
                        message_id=previous,
                    )
                )
            main = self._send_new(user_id, screen.text, markup)
        alongside = [asyncio.ensure_future(call) for call in side]
        try:
            await main
        finally:
            if alongside:
                await asyncio.gather(*alongside)
        if outcome.progress is None:
            self.live.forget(user_id)

    async def _edit(self, chat_id: int, call: Awaitable[Any]) -> None:
        try:
            await call
        except BadRequest as error:  # "message is not modified" (a double tap) and the like
            log.debug("ignored Bot API answer: %s", error.message)
        except Forbidden:
            log.debug("ignored Forbidden on an edit")
        except (SendSkipped, TelegramError) as error:
            not_delivered(chat_id, error)

    def _in_background(self, call: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(self.quietly(call))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def settle(self) -> None:
        """Wait for background calls (at shutdown, and in tests)."""
        while self._background:
            await asyncio.gather(*self._background)

    async def unavailable(self, user_id: int, origin: Origin | None) -> None:
        if origin and origin.answer:
            await self.quietly(origin.answer(None))
        await self.text(user_id, self.messages.text("store_down"))

    async def _send_new(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None) -> None:
        try:
            sent = await self.call(
                "sendMessage", chat_id=chat_id, text=text, reply_markup=markup, **HTML
            )
        except Forbidden:
            await self._blocked(chat_id)
            return
        except (SendSkipped, TelegramError) as error:
            not_delivered(chat_id, error)
            return
        if markup is not None:
            self.live.replace(chat_id, int(sent["message_id"]))

    async def text(self, chat_id: int, text: str) -> None:
        try:
            await self.call("sendMessage", chat_id=chat_id, text=text, **HTML)
        except Forbidden:
            await self._blocked(chat_id)
        except (SendSkipped, TelegramError) as error:
            not_delivered(chat_id, error)

    async def reminder(
        self, user_id: int, screen: Screen, before_send: Callable[[], Awaitable[bool]]
    ) -> None:
        """A reminder in the reminder lane, claimed by `before_send` once admitted. Raises
        what the Bot API raised, or SendSkipped."""
        await self.call(
            "sendMessage",
            Lane.REMINDER,
            before_send,
            chat_id=user_id,
            text=screen.text,
            reply_markup=keyboard(screen),
            **HTML,
        )

    async def _blocked(self, user_id: int) -> None:
        if self.on_blocked is not None:
            await self.on_blocked(user_id)

    async def call(
        self,
        method: str,
        lane: Lane = Lane.REPLY,
        before_send: Callable[[], Awaitable[bool]] | None = None,
        **params: Any,
    ) -> Any:
        """A Bot API call whose reply comes back as plain JSON data."""
        kwargs = {k: v for k, v in params.items() if v is not None}
        if isinstance(kwargs.get("reply_markup"), InlineKeyboardMarkup):
            kwargs["reply_markup"] = kwargs["reply_markup"].to_dict()
        if self.bot.rate_limiter is None:  # type: ignore[attr-defined]
            if before_send is not None and not await before_send():
                raise SendSkipped("no longer wanted")
            return await self.bot.do_api_request(method, api_kwargs=kwargs)
        return await self.bot.do_api_request(  # type: ignore[call-arg]
            method, api_kwargs=kwargs, rate_limit_args=Send(lane, before_send)
        )

    async def quietly(self, call: Awaitable[Any]) -> None:
        """Run a call whose failure changes nothing for the user."""
        try:
            await call
        except BadRequest as error:
            # "message is not modified", "query is too old", "message to edit not found"…
            log.debug("ignored Bot API answer: %s", error.message)
        except (Forbidden, SendSkipped, TelegramError) as error:
            log.debug("side call failed: %s", type(error).__name__)


def not_delivered(chat_id: int, error: Exception) -> None:
    """The tap is committed; only its reply is lost (the user can /resume). One line."""
    if isinstance(error, SendSkipped):
        log.debug("reply to user %s not sent: %s", chat_id, error)
    else:
        message = getattr(error, "message", "")
        log.warning("reply to user %s not delivered: %s %s", chat_id, type(error).__name__, message)
