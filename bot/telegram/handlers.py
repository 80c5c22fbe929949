"""Thin handlers: decode the update and hand it to the runtime, which acts and delivers."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.commands import command_action
from bot.content import Guides, Messages
from bot.markup import escape
from bot.pseudonyms import who
from bot.reporting import stats_text
from bot.runtime import Origin, Runtime
from bot.store import Stats
from bot.telegram.codec import decode
from bot.telegram.delivery import Delivery
from bot.walkthrough import Action, Verb

log = logging.getLogger(__name__)
REFUSED_CHATS = 1_000
Context = ContextTypes.DEFAULT_TYPE


class Handlers:
    """Every handler of the bot: decode, then hand over to the runtime."""

    def __init__(
        self,
        guides: Guides,
        runtime: Runtime,
        delivery: Delivery,
        stats: Callable[[int], Awaitable[Stats]],
    ) -> None:
        self.guides = guides
        self.runtime = runtime
        self.delivery = delivery
        self._stats = stats
        self._refused_chats: set[int] = set()

    def messages(self, update: Update) -> Messages:
        """Texts in the language Telegram gives for the sender (no database read)."""
        user = update.effective_user
        return self.guides.for_user(None, user.language_code if user else None).messages

    async def screen(self, update: Update, context: Context) -> None:
        """Before anything else: an update missing what handlers rely on (a message with no
        chat, a button press with no sender) is skipped with one line, id and type only."""
        message = update.message or update.edited_message or update.channel_post
        broken = (message is not None and message.chat is None) or (
            update.callback_query is not None and update.callback_query.from_user is None
        )
        if broken:
            kind = next((k for k in update.to_dict() if k != "update_id"), "?")
            log.warning("skipped update %s (%s) with missing fields", update.update_id, kind)
            raise ApplicationHandlerStop

    async def command(self, update: Update, context: Context) -> None:
        """A known command in a private chat: the same as the matching button."""
        message, user = update.effective_message, update.effective_user
        assert message and user
        action = command_action(message.text or "")
        assert action is not None, "CommandHandler only passes known commands"
        origin = Origin(typed=message.message_id, language=user.language_code)
        await self.runtime.act(user.id, action, origin)

    async def callback(self, update: Update, context: Context) -> None:
        """A button press: always answered; stale or forged data re-shows the current step."""
        query = update.callback_query
        assert query is not None
        message = query.message
        if message is None or message.chat.type != ChatType.PRIVATE:
            await self.delivery.quietly(query.answer(self.messages(update).notice("stale")))
            return
        action = decode(query.data) or Action(Verb.UNKNOWN)
        origin = Origin(
            message.message_id,
            lambda notice: query.answer(notice),
            language=query.from_user.language_code,
        )
        await self.runtime.act(query.from_user.id, action, origin)

    async def stats(self, update: Update, context: Context) -> None:
        """/stats for operators: aggregate figures only."""
        assert update.effective_chat
        figures = await self._stats(self.runtime.now())
        await self.delivery.text(
            update.effective_chat.id,
            f"<pre>{escape(stats_text(self.guides.reference, figures))}</pre>",
        )

    async def unknown_command(self, update: Update, context: Context) -> None:
        """An unknown command in a private chat: point to /help."""
        await self._hint(update, "unknown_command")

    async def not_a_button(self, update: Update, context: Context) -> None:
        """Text, stickers and the like where a button is expected: a short hint. Never
        stored (only the message's id, for /hide), never echoed, never logged."""
        await self._hint(update, "use_buttons")

    async def _hint(self, update: Update, key: str) -> None:
        message, user, chat = update.effective_message, update.effective_user, update.effective_chat
        assert message and chat
        telegram = user.language_code if user else None
        guide = self.guides.for_user(None, telegram)
        if user is not None:  # in the user's own language if stored; a hint needs no store
            guide = await self.runtime.heard(user.id, message.message_id, telegram)
        shown = await self.delivery.text(chat.id, guide.messages.text(key))
        if user is not None:
            await self.runtime.note_sent(user.id, shown)

    async def not_private(self, update: Update, context: Context) -> None:
        """Groups and channels: say once, discreetly, that the bot works in private; leave."""
        chat = update.effective_chat
        if chat is None or chat.type == ChatType.PRIVATE:
            return
        if chat.id not in self._refused_chats:
            if len(self._refused_chats) >= REFUSED_CHATS:
                self._refused_chats.clear()  # a bound: at worst a group is told twice
            self._refused_chats.add(chat.id)
            link = f"https://t.me/{context.bot.username}"
            if chat.type != ChatType.CHANNEL:
                await self.delivery.quietly(
                    context.bot.send_message(
                        chat.id, self.messages(update).text("private_only", link=link)
                    )
                )
            await self.delivery.quietly(context.bot.leave_chat(chat.id))
        raise ApplicationHandlerStop

    async def membership(self, update: Update, context: Context) -> None:
        """Telegram's word that a user blocked (or unblocked) the bot in their private chat."""
        change = update.my_chat_member
        if change is None or change.chat.type != ChatType.PRIVATE:
            return
        status = change.new_chat_member.status
        if status == ChatMemberStatus.BANNED:
            await self.runtime.blocked(change.from_user.id)
        elif status == ChatMemberStatus.MEMBER:
            await self.runtime.unblocked(change.from_user.id)

    async def error(self, update: object, context: Context) -> None:
        """Log what failed (update type and user id only) and reassure the user."""
        kind = type(update).__name__
        user_id = None
        if isinstance(update, Update):
            kind = next((k for k in update.to_dict() if k != "update_id"), kind)
            user_id = update.effective_user.id if update.effective_user else None
        # The exception's type and where it happened, not its message: a message can quote
        # what the user typed.
        error = context.error
        where = "".join(traceback.format_tb(error.__traceback__)) if error else ""
        log.error(
            "error handling %s update for user %s: %s\n%s",
            kind,
            who(user_id),
            type(error).__name__,
            where.rstrip(),
            extra={"alert": "an update could not be handled"},
        )
        if not isinstance(update, Update):
            return
        chat = update.effective_chat
        if chat is not None and chat.type == ChatType.PRIVATE:
            if update.callback_query:
                await self.delivery.quietly(update.callback_query.answer())
            await self.delivery.quietly(
                context.bot.send_message(chat.id, self.messages(update).text("error"))
            )
