"""Wiring: `build_application` puts every handler in order; production and tests share it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from telegram import Bot, BotCommand, BotCommandScopeAllPrivateChats, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot.commands import COMMANDS
from bot.config import Settings
from bot.content import REFERENCE, Guide, Guides, Messages
from bot.health import HEARTBEAT_EVERY, Beat, beat, heartbeat_path
from bot.runtime import Runtime
from bot.store import Store
from bot.telegram.budget import Limits
from bot.telegram.delivery import Delivery
from bot.telegram.handlers import Handlers
from bot.telegram.ordering import PerUserOrderedProcessor
from bot.telegram.polling import PollingBot
from bot.telegram.reminders import ReminderTimer
from bot.telegram.scheduler import SendScheduler

log = logging.getLogger(__name__)

DEFAULTS = Defaults(
    parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)
)
ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.CALLBACK_QUERY,
    Update.CHANNEL_POST,
    Update.MY_CHAT_MEMBER,
]
TELEGRAM = "https://api.telegram.org/bot"
HOUSEKEEPING_EVERY = 600  # seconds: old message ids pruned, the WAL checkpointed


class Gently:
    """The bot's resources: the store, the runtime and the reminder timer exist from
    post_init to post_shutdown."""

    def __init__(
        self,
        settings: Settings,
        guides: Guides,
        clock: Callable[[], float],
        delivery: Delivery,
        scheduler: SendScheduler | None,
        open_store: Callable[[Path], Awaitable[Store]],
        reminder_loop: bool,
    ) -> None:
        self.settings = settings
        self.reminder_loop = reminder_loop
        self.guides = guides
        self.clock = clock
        self.delivery = delivery
        self.scheduler = scheduler
        self._open_store = open_store
        self.store: Store | None = None
        self._runtime: Runtime | None = None
        self.reminders: ReminderTimer | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._started_at = time.time()

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the store is not open: post_init has not run")
        return self._runtime

    async def open_store(self) -> Store:
        """Open and check the database (before anything talks to Telegram)."""
        if self.store is None:
            store = await self._open_store(self.settings.db_path)
            try:
                await store.verify()
            except Exception:
                await store.close()
                raise
            self.store = store
        return self.store

    async def post_init(self, app: Application) -> None:  # type: ignore[type-arg]
        store = await self.open_store()
        timer: ReminderTimer | None = None
        runtime = Runtime(
            self.guides,
            store,
            self.delivery,
            self.clock,
            reminders_changed=lambda: timer.nudge() if timer else None,
        )
        self.delivery.on_blocked = runtime.blocked
        timer = self.reminders = ReminderTimer(runtime, self.delivery, self.clock)
        self._runtime = runtime
        if self.reminder_loop:
            timer.start()
        self._heartbeat = asyncio.create_task(self._beat_forever(app), name="heartbeat")
        await self._introduce(app.bot)
        log.info("Gently is ready (database %s)", self.settings.db_path)

    async def _introduce(self, bot: Bot) -> None:
        """The command menu and the profile texts (shown before Start and in the bot's
        profile), from content/, in every language: English for everyone else, each other
        language for the users whose Telegram speaks it."""
        for code, guide in self.guides.by_language.items():
            language = None if code == REFERENCE else code
            await self._set_profile(bot, guide.messages, language)

    async def _set_profile(self, bot: Bot, messages: Messages, language: str | None) -> None:
        """Cosmetic: a refusal is one warning and the bot serves anyway."""
        commands = [BotCommand(name, messages.command(name)) for name in COMMANDS]
        try:
            await bot.set_my_commands(
                commands, scope=BotCommandScopeAllPrivateChats(), language_code=language
            )
            await bot.set_my_description(messages.profile("description"), language_code=language)
            await bot.set_my_short_description(
                messages.profile("short_description"), language_code=language
            )
        except TelegramError as error:
            log.warning(
                "could not set the bot's commands and profile texts (%s): %s",
                language or "en",
                error.message,
            )

    async def post_shutdown(self, app: Application) -> None:  # type: ignore[type-arg]
        await self.delivery.settle()
        if self.reminders is not None:
            await self.reminders.stop()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        if self.store is not None:
            self._runtime = None
            await self.store.close()
            self.store = None
            log.info("database closed")

    async def _beat_forever(self, app: Application) -> None:  # type: ignore[type-arg]
        polling = not self.settings.webhook_url
        housekept = float("-inf")
        while True:
            if self._runtime is not None and time.monotonic() - housekept >= HOUSEKEEPING_EVERY:
                housekept = time.monotonic()
                await self._runtime.housekeeping()
            fetched = getattr(app.bot, "last_fetch", None) or self._started_at
            failing = self._runtime.store_failing_since if self._runtime else None
            try:
                beat(
                    heartbeat_path(self.settings.db_path),
                    Beat(time.time(), fetched, polling, failing),
                )
            except OSError as error:
                log.warning("cannot write the heartbeat: %s", error)
            await asyncio.sleep(HEARTBEAT_EVERY)


def build_application(
    settings: Settings,
    guides: Guide | Guides,
    *,
    request: BaseRequest | None = None,
    clock: Callable[[], float] = time.time,
    limits: Limits | None = Limits(),  # noqa: B008 (frozen)
    processor: BaseUpdateProcessor | None = None,
    open_store: Callable[[Path], Awaitable[Store]] = Store.open,
    reminder_loop: bool = True,
) -> Application:  # type: ignore[type-arg]
    """The whole bot, ready for `runner.serve`, or for tests with a fake request.

    `limits=None` (no send scheduler), `processor` and `open_store` exist for the
    benchmark's peers; tests drive the reminder timer by hand (`reminder_loop=False`)."""
    if not settings.token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    scheduler = SendScheduler(limits) if limits is not None else None
    bot = PollingBot(
        settings.token,
        base_url=settings.base_url or TELEGRAM,
        request=request or HTTPXRequest(connection_pool_size=256),
        get_updates_request=request or HTTPXRequest(connection_pool_size=1),
        defaults=DEFAULTS,
        rate_limiter=scheduler,
    )
    guides = Guides.one_or_many(guides)
    delivery = Delivery(bot, guides)
    gently = Gently(settings, guides, clock, delivery, scheduler, open_store, reminder_loop)
    app = (
        ApplicationBuilder()
        .bot(bot)
        .concurrent_updates(processor or PerUserOrderedProcessor())
        .job_queue(None)
        .post_init(gently.post_init)
        .post_shutdown(gently.post_shutdown)
        .build()
    )
    app.bot_data["gently"] = gently
    ordered = app.update_processor
    bot.watch_backlog(
        lambda: (
            app.update_queue.qsize()
            + (ordered.unfinished if isinstance(ordered, PerUserOrderedProcessor) else 0)
        )
    )
    register(app, Handlers(guides, lambda: gently.runtime, delivery), settings.admin_ids)
    return app


def register(app: Application, h: Handlers, admin_ids: frozenset[int]) -> None:  # type: ignore[type-arg]
    """Every handler, in order. Edited messages match nothing and are ignored."""
    private = filters.ChatType.PRIVATE
    new_message = filters.UpdateType.MESSAGE

    # 0. Malformed updates are skipped before any handler relies on their fields.
    app.add_handler(TypeHandler(Update, h.screen), group=-2)
    # 1. Anything outside a private chat is refused before other handlers see it.
    elsewhere = (filters.ChatType.GROUPS & new_message) | filters.UpdateType.CHANNEL_POST
    app.add_handler(MessageHandler(elsewhere, h.not_private), group=-1)
    # 2. Commands.
    app.add_handler(CommandHandler(list(COMMANDS), h.command, filters=private & new_message))
    # 3. Operator stats, for GENTLY_ADMIN_IDS only; anyone else falls through to "unknown".
    admins = filters.User(user_id=admin_ids, allow_empty=False)
    app.add_handler(CommandHandler("stats", h.stats, filters=private & new_message & admins))
    # 4. Buttons: every callback query, valid or not, goes to the handler that answers it.
    app.add_handler(CallbackQueryHandler(h.callback))
    # 5. Unknown commands, then anything else typed or sent where a button is expected.
    app.add_handler(MessageHandler(private & new_message & filters.COMMAND, h.unknown_command))
    app.add_handler(MessageHandler(private & new_message, h.not_a_button))
    # 6. A user blocking or unblocking the bot.
    app.add_handler(ChatMemberHandler(h.membership, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_error_handler(h.error)
