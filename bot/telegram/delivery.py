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
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from enum import Enum
from typing import Any

from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.warnings import PTBUserWarning

from bot import metrics
from bot.content import Guides
from bot.pseudonyms import who
from bot.runtime import Chat, Origin, Shown
from bot.telegram.budget import Lane
from bot.telegram.ordering import QUIET
from bot.telegram.render import fingerprint, keyboard
from bot.telegram.scheduler import Send, SendScheduler, SendSkipped
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

DELETE_BATCH = 100  # deleteMessages takes at most 100 ids


class Edited(Enum):
    SHOWN = "shown"
    GONE = "gone"
    FAILED = "failed"


class Delivery:
    """Sends screens for the runtime. Replies go in the scheduler's reply lane, clearing an
    old keyboard in the cosmetic lane, reminders in their own."""

    def __init__(self, bot: Bot, guides: Guides, scheduler: SendScheduler | None = None) -> None:
        self.bot = bot
        self.guides = guides
        self._scheduler = scheduler
        # chat → when it was last cleared (monotonic): a send already on its way then is
        # deleted as soon as it lands. Only recent ones are kept.
        self._cleared_at: dict[int, float] = {}
        self._background: set[asyncio.Future[None]] = set()

    async def show(
        self, user_id: int, outcome: Outcome, origin: Origin | None, chat: Chat
    ) -> Shown:
        """Show a screen; says what was sent and what Telegram confirmed deleted.

        An in-place update (or any tap, in tidy mode) edits the tapped message; otherwise a
        new message is sent and the previous live one loses its buttons (tidy mode: is
        deleted, with the command that asked). The callback answer runs alongside, so the
        user waits one round trip; the cosmetic call never holds the reply up."""
        screen = outcome.screen
        answering = (
            asyncio.ensure_future(self.quietly(origin.answer(screen.notice)))
            if origin and origin.answer
            else None
        )
        try:
            if screen.empty:
                return Shown()
            shown = await self._present(user_id, screen, origin or Origin(), chat)
            if shown.sent is not None or shown.edited is not None:
                metrics.reply_shown()
            return shown
        finally:
            if answering is not None:
                await answering

    async def _present(self, user_id: int, screen: Screen, origin: Origin, chat: Chat) -> Shown:
        markup = keyboard(screen)
        shows = fingerprint(screen.text, markup)
        tapped = origin.message_id if origin.message_id not in chat.erase else None
        edit = screen.in_place or chat.tidy
        if tapped is not None and edit and chat.tapped_shows == shows:
            return Shown()  # a double tap: the message already shows this
        edited = Edited.GONE
        if tapped is not None and edit:
            edited = await self._edit(user_id, tapped, screen.text, markup)
        if edited is Edited.FAILED:
            return Shown()  # what the message shows is unchanged, and so is its fingerprint
        if edited is Edited.SHOWN:
            if chat.tidy and chat.live not in (None, tapped):
                self._tidy_away(user_id, chat.live)
            return Shown(edited=tapped, keyboard=bool(screen.rows), shows=shows)
        previous = chat.live if chat.live is not None else tapped
        if chat.tidy:
            self._tidy_away(user_id, previous, origin.typed)
        elif previous is not None:
            self._in_background(
                self.call(
                    "editMessageReplyMarkup", Lane.COSMETIC, chat_id=user_id, message_id=previous
                )
            )
        sent = await self._send_new(user_id, screen.text, markup)
        return replace(sent, keyboard=bool(screen.rows), shows=shows)

    def _tidy_away(self, user_id: int, *message_ids: int | None) -> None:
        """Tidy mode: the screen before this one, and the command that asked, go."""
        ids = tuple(message_id for message_id in message_ids if message_id is not None)
        if ids:
            # in the reply lane: cosmetic calls for a chat replace one another, and a
            # deletion must not be dropped. They stay in the ledger: /hide tries again, and
            # Telegram skips ids already gone.
            self._in_background(self.delete(user_id, ids, Lane.REPLY))

    async def erase(self, user_id: int, message_ids: tuple[int, ...]) -> tuple[int, ...]:
        """The quick exit and /delete: sends still waiting for the chat are dropped, then
        every batch goes at once in the urgent lane, newest messages first (the screen
        someone is looking at goes first)."""
        if self._scheduler is not None:
            self._scheduler.clear_chat(user_id)
        self._note_cleared(user_id)
        newest_first = sorted(message_ids, reverse=True)
        batches = [
            newest_first[start : start + DELETE_BATCH]
            for start in range(0, len(newest_first), DELETE_BATCH)
        ]
        done = await asyncio.gather(*(self.delete(user_id, b, Lane.URGENT) for b in batches))
        return tuple(message for removed in done for message in removed)

    def _note_cleared(self, chat_id: int) -> None:
        now = time.monotonic()
        if len(self._cleared_at) > 1000:  # a bound: a send takes seconds, not minutes
            self._cleared_at = {c: t for c, t in self._cleared_at.items() if now - t < 60}
        self._cleared_at[chat_id] = now

    async def delete(self, chat_id: int, message_ids: Sequence[int], lane: Lane) -> tuple[int, ...]:
        """Delete messages, up to 100 a call (Telegram skips ids it cannot find); returns
        the ids of the calls Telegram accepted."""
        removed: list[int] = []
        for start in range(0, len(message_ids), DELETE_BATCH):
            batch = list(message_ids[start : start + DELETE_BATCH])
            try:
                await self.call("deleteMessages", lane, chat_id=chat_id, message_ids=batch)
            except (SendSkipped, TelegramError) as error:
                log.warning(
                    "could not delete %d message(s) for user %s: %s (kept for another try)",
                    len(batch),
                    who(chat_id),
                    type(error).__name__,
                )
            else:
                removed += batch
        return tuple(removed)

    async def _edit(
        self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> Edited:
        """Edit a message in place: SHOWN (it shows this now), GONE (it cannot be edited:
        gone, or too old, so a new message should be sent) or FAILED (it still shows what
        it showed; the tap is saved, and the next tap edits it again)."""
        if QUIET.get():
            return Edited.FAILED  # it arrived before the user's quick exit: nothing shown
        try:
            await self.call(
                "editMessageText",
                chat_id=chat_id,
                message_id=message_id,
                text=text,
                reply_markup=markup,
                **HTML,
            )
        except BadRequest as error:
            if "not modified" in error.message.lower():  # it already shows this
                return Edited.SHOWN
            log.debug("cannot edit, sending anew: %s", error.message)
            return Edited.GONE
        except Forbidden:
            log.debug("ignored Forbidden on an edit")
            return Edited.FAILED
        except (SendSkipped, TelegramError) as error:
            not_delivered(chat_id, error)
            return Edited.FAILED
        return Edited.SHOWN

    def _in_background(self, call: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(self.quietly(call))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def settle(self) -> None:
        """Wait for background calls (at shutdown, and in tests)."""
        while self._background:
            await asyncio.gather(*self._background)

    async def unavailable(self, user_id: int, origin: Origin | None, *, say: bool) -> None:
        if origin and origin.answer:
            await self.quietly(origin.answer(None))
        if say:
            language = origin.language if origin else None  # no store: Telegram's language
            messages = self.guides.for_user(None, language).messages
            await self.text(user_id, messages.text("store_down"))  # not noted: no store

    async def _send_new(
        self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> Shown:
        if QUIET.get():
            return Shown()  # it arrived before the user's quick exit: the chat stays clear
        asked = time.monotonic()
        try:
            sent = await self.call(
                "sendMessage", chat_id=chat_id, text=text, reply_markup=markup, **HTML
            )
        except Forbidden:
            return Shown(blocked=True)
        except (SendSkipped, TelegramError) as error:
            not_delivered(chat_id, error)
            return Shown()
        message_id = int(sent["message_id"])
        landed_late = self._cleared_at.get(chat_id, float("-inf")) > asked  # after a /hide
        if landed_late and await self.delete(chat_id, [message_id], Lane.URGENT):
            return Shown()
        return Shown(message_id)

    async def text(self, chat_id: int, text: str) -> Shown:
        """A plain message without buttons: its id if it was sent, or that the user
        blocked the bot."""
        shown = await self._send_new(chat_id, text)
        if shown.sent is not None:
            metrics.reply_shown()
        return shown

    async def reminder(
        self, user_id: int, screen: Screen, before_send: Callable[[], Awaitable[bool]]
    ) -> int:
        """A reminder in the reminder lane, claimed by `before_send` once admitted; returns
        its message id. Raises what the Bot API raised, or SendSkipped."""
        sent = await self.call(
            "sendMessage",
            Lane.REMINDER,
            before_send,
            chat_id=user_id,
            text=screen.text,
            reply_markup=keyboard(screen),
            **HTML,
        )
        return int(sent["message_id"])

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
        log.debug("reply to user %s not sent: %s", who(chat_id), error)
    else:
        message = getattr(error, "message", "")
        log.warning(
            "reply to user %s not delivered: %s %s", who(chat_id), type(error).__name__, message
        )
