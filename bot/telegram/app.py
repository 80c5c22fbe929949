"""Wiring: `create_gently` opens the store, then builds every part with what it needs and
puts every handler in order; production and tests share it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from telegram import Bot, BotCommand, BotCommandScopeAllPrivateChats, LinkPreviewOptions, Update
from telegram.constants import ChatType, ParseMode
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

from bot import metrics
from bot.alerts import Alerts
from bot.commands import COMMANDS, command_action
from bot.config import Settings
from bot.content import REFERENCE, Guides, Messages
from bot.health import (
    HEARTBEAT_EVERY,
    STALE_AFTER,
    Beat,
    Health,
    beat,
    diagnose,
    heartbeat_path,
)
from bot.instance import Misconfigured
from bot.notify import Notifier
from bot.replication import Litestream
from bot.runtime import Runtime
from bot.store import Stats, Store, StoreUnavailable
from bot.telegram.budget import Lane, Limits
from bot.telegram.codec import decode
from bot.telegram.delivery import Delivery
from bot.telegram.handlers import Handlers
from bot.telegram.ordering import PerUserOrderedProcessor
from bot.telegram.polling import MAX_BACKLOG, MAX_RECEIVED, PollingBot
from bot.telegram.reminders import ReminderTimer
from bot.telegram.scheduler import SendScheduler
from bot.telegram.webhook_watch import WebhookWatch
from bot.walkthrough import Verb

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
CHECKPOINT_OWED_TOO_LONG = 600  # seconds: a reader or Litestream has kept it off that long
HOUSEKEEPING_EVERY = 600  # seconds: old message ids pruned, the WAL checkpointed


class WithoutPersistence(Application):  # type: ignore[type-arg]
    """PTB's Application, minus its bookkeeping for a persistence this bot does not have
    (progress lives in the database): PTB marks the user and chat of every update for the
    persistence to save, and only a persistence ever clears the marks, so without one they
    grew by every user who ever wrote: about 145 KB per 1,000 users (two sets of ints,
    measured with tracemalloc), 140 MB at a million."""

    def _mark_for_persistence_update(self, *, update: object = None, job: object = None) -> None:
        if self.persistence is not None:
            super()._mark_for_persistence_update(update=update, job=job)  # type: ignore[arg-type]


class Gently:
    """The running bot: every part built once, in order, each given what it needs. The
    store is open for its whole life; `start` and `close` are its lifecycle (PTB's
    post_init/post_shutdown are not used)."""

    def __init__(
        self,
        settings: Settings,
        app: Application,  # type: ignore[type-arg]
        store: Store,
        runtime: Runtime,
        delivery: Delivery,
        reminders: ReminderTimer,
        scheduler: SendScheduler | None,
        health: Health,
        *,
        reminder_loop: bool = True,
        notifier: Notifier | None = None,
    ) -> None:
        self.settings = settings
        self.notifier = notifier or Notifier(None)
        self.app = app
        self.store = store
        self.runtime = runtime
        self.delivery = delivery
        self.reminders = reminders
        self.scheduler = scheduler
        self.health = health
        self.reminder_loop = reminder_loop
        self._file_problem: str | None = None
        self._owed_since: int | None = None  # when a checkpoint first could not finish
        self._heartbeat: asyncio.Task[None] | None = None
        self.last_beat: Beat | None = None
        self.alerts: Alerts | None = None
        self._heartbeat_error: str | None = None
        self.receiving = False  # updates are being fetched or accepted (set by the runner)
        self.webhook = WebhookWatch(app.bot) if settings.webhook_url else None
        self._started_at = time.time()

    @property
    def guides(self) -> Guides:
        return self.runtime.guides

    async def start(self) -> None:
        """Once the Bot API has been reached (`app.initialize`): reminders, the heartbeat
        with housekeeping, and the bot's profile."""
        if self.settings.alerts and self.settings.admin_ids:
            where = str(self.settings.db_path.absolute())
            loop = asyncio.get_running_loop()
            self.alerts = Alerts(self.app.bot, self.settings.admin_ids, where, loop)
            logging.getLogger("bot").addHandler(self.alerts)
        if self.reminder_loop:
            self.reminders.start()
        watched = self.health.supervise("heartbeat", self._beat_forever)
        self._heartbeat = asyncio.create_task(watched, name="heartbeat")
        await self._introduce(self.app.bot)
        if self.scheduler is not None:
            metrics.watch_queue(self.scheduler.depth, [lane.name.lower() for lane in Lane])
        log.debug("started: reminders, heartbeat, profile")

    def problem(self) -> str | None:
        """None while healthy, else what is wrong: the heartbeat's verdict (the status
        endpoint's /healthz), with a heartbeat gone stale counted as stuck."""
        state = self.last_beat
        if state is None or not self.receiving:
            return "not receiving updates (starting or stopping)"
        if time.time() - state.at > STALE_AFTER:
            return f"no heartbeat for {int(time.time() - state.at)}s: the bot looks stuck"
        if self.webhook is not None and self.webhook.problem is not None:
            return self.webhook.problem  # for the endpoint only: see webhook_watch
        return diagnose(state)

    async def _introduce(self, bot: Bot) -> None:
        """The command menu and the profile texts (shown before Start and in the bot's
        profile), from content/, in every language: English for everyone else, each other
        language for the users whose Telegram speaks it."""
        for code, guide in self.guides.by_language.items():
            language = None if code == REFERENCE else code
            await self._set_profile(bot, guide.messages, language)

    async def _set_profile(self, bot: Bot, messages: Messages, language: str | None) -> None:
        """Only what Telegram does not show already is set (its setters are limited, and
        a crash loop would spend them on every start). Cosmetic: a refusal is one warning
        and the bot serves anyway."""
        commands = tuple(BotCommand(name, messages.command(name)) for name in COMMANDS)
        scope = BotCommandScopeAllPrivateChats()
        description = messages.profile("description")
        short = messages.profile("short_description")
        try:
            if await bot.get_my_commands(scope=scope, language_code=language) != commands:
                await bot.set_my_commands(commands, scope=scope, language_code=language)
            shown = await bot.get_my_description(language_code=language)
            if shown.description != description:
                await bot.set_my_description(description, language_code=language)
            shown_short = await bot.get_my_short_description(language_code=language)
            if shown_short.short_description != short:
                await bot.set_my_short_description(short, language_code=language)
        except TelegramError as error:
            log.warning(
                "could not set the bot's commands and profile texts (%s): %s",
                language or "en",
                error.message,
            )

    async def close(self) -> None:
        """After the application stopped: background sends, reminders, the heartbeat, and
        last the database."""
        await self.delivery.settle()
        await self.reminders.stop()
        if self.alerts is not None:
            logging.getLogger("bot").removeHandler(self.alerts)
            await self.alerts.settle()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
        await self.store.close()
        # a stopped bot has no heartbeat: `health` must not call it healthy meanwhile
        heartbeat_path(self.settings.db_path).unlink(missing_ok=True)
        if self.last_beat is not None:  # a start that failed says only why
            log.info("database closed")

    async def _beat_forever(self) -> None:
        housekept = float("-inf")
        while True:
            if time.monotonic() - housekept >= HOUSEKEEPING_EVERY:
                housekept = time.monotonic()
                await self.runtime.housekeeping()
                await self._count_aggregates()
            if self.webhook is not None:
                await self.webhook.check_if_due()
            state = await self.beat()
            if diagnose(state) is None:
                self.notifier.watchdog()  # only while healthy: systemd restarts otherwise
            await asyncio.sleep(self.notifier.heartbeat_every(HEARTBEAT_EVERY))

    async def _count_aggregates(self) -> None:
        """The database's totals for /metrics, on a read-only connection of its own."""
        try:
            stats = await stats_apart(self.store.path, self.runtime.now())
        except StoreUnavailable as error:
            log.warning("cannot count users for /metrics: %s", error)
            return
        for state, count in (
            ("stored", stats.users),
            ("confirmed", stats.acknowledged),
            ("finished", stats.finished),
        ):
            metrics.USERS.labels(state=state).set(count)
        metrics.LEDGER_ROWS.set(stats.ledger_rows)

    def _checkpoint_problems(self) -> list[str]:
        """A checkpoint owed for long: the WAL may still hold what users erased."""
        if not self.store.checkpoint_owed:
            self._owed_since = None
            return []
        now = self.runtime.now()
        self._owed_since = self._owed_since or now
        if now - self._owed_since < CHECKPOINT_OWED_TOO_LONG:
            return []
        minutes = (now - self._owed_since) // 60
        return [f"the WAL has not been emptied for {minutes} min: it may hold erased users"]

    async def beat(self) -> Beat:
        """Look at everything a user could feel, write it to the heartbeat file, and
        return it: a real write to the database (reads keep working on a full or read-only
        disk), the database file still being the one opened, the background tasks."""
        try:
            await self.store.probe_write()
            if self.store.checkpoint_owed:  # an erasure's copy may still be in the WAL
                await self.store.checkpoint()
        except StoreUnavailable as error:
            self.runtime.store_failed(error)
        else:
            self.runtime.store_working()  # a write worked: so do reads
        problems = self.health.problems()
        problems += self._checkpoint_problems()
        litestream = self.store.replication
        if litestream and litestream.paused:  # it did not start again after a checkpoint
            await self.store.resume_replication()
            if (problem := litestream.problem()) is not None:
                problems.append(problem)
        file_problem = self.store.file_problem()
        if file_problem is not None:
            problems.append(file_problem)
            if file_problem != self._file_problem:
                log.error(
                    "%s: restore it from a backup and restart",
                    file_problem,
                    extra={"alert": "the database file was replaced or removed"},
                )
        self._file_problem = file_problem
        state = Beat(
            time.time(),
            getattr(self.app.bot, "last_fetch", None) or self._started_at,
            not self.settings.webhook_url,
            self.runtime.store_failing_since,
            problems,
        )
        self.last_beat = state
        try:
            beat(heartbeat_path(self.settings.db_path), state)
        except OSError as error:
            if str(error) != self._heartbeat_error:  # once, not every beat (a full disk)
                log.warning("cannot write the heartbeat: %s", error)
            self._heartbeat_error = str(error)
        else:
            self._heartbeat_error = None
        return state


def intake_full(
    app: Application,  # type: ignore[type-arg]
    ordered: PerUserOrderedProcessor | None,
) -> Callable[[], bool]:
    """Whether fetching (or accepting) more updates must wait: too many could run now, or
    too many were received and not yet handled for a stop to commit them all in time."""

    def full() -> bool:
        queued = app.update_queue.qsize()
        if ordered is None:
            return queued > MAX_BACKLOG
        return queued + ordered.runnable > MAX_BACKLOG or queued + ordered.received > MAX_RECEIVED

    return full


def is_quick_exit(update: object) -> bool:
    """/hide, typed or tapped: it runs ahead of the user's own backlog. Never raises: a
    malformed update is for the handlers to refuse."""
    try:
        if not isinstance(update, Update):
            return False
        chat = update.effective_chat
        if chat is None or chat.type != ChatType.PRIVATE:
            return False  # a /hide typed in a group is refused there, and hides nothing
        if update.callback_query is not None:
            action = decode(update.callback_query.data)
        else:
            text = update.message.text if update.message is not None else None
            action = command_action(text) if isinstance(text, str) else None
    except Exception:
        return False
    return action is not None and action.verb is Verb.HIDE


async def answer_dropped(update: object) -> None:
    """A dropped button press is still answered, so the user's spinner stops."""
    query = update.callback_query if isinstance(update, Update) else None
    if query is not None:
        with contextlib.suppress(TelegramError):
            await query.answer()


async def stats_apart(path: Path, now: int) -> Stats:
    """`/stats` on a read-only connection of its own: counting a million users takes
    seconds, and no tap waits for it."""
    reader = await Store.open_read_only(path)
    try:
        return await reader.stats(now)
    finally:
        await reader.close()


async def open_checked_store(path: Path) -> Store:
    """Open the database and check it is intact and writable, before anything talks to
    Telegram. Raises StoreUnavailable saying what is wrong."""
    store = await Store.open(path)
    try:
        await store.verify()
    except Exception:
        await store.close()
        raise
    return store


async def create_gently(
    settings: Settings,
    guides: Guides,
    *,
    request: BaseRequest | None = None,
    clock: Callable[[], float] = time.time,
    limits: Limits = Limits(),  # noqa: B008 (frozen)
    reminder_loop: bool = True,
    notifier: Notifier | None = None,
) -> Gently:
    """The whole bot as `run` serves it: the store first, then everything that uses it.
    Tests pass a fake `request`, a fake `clock` and limits no test reaches, and drive the
    reminder timer by hand (`reminder_loop=False`)."""
    store = await open_checked_store(settings.db_path)
    health = Health()
    try:
        if settings.litestream_socket:
            await replicated(store, settings.litestream_socket)
        return assemble(
            settings,
            guides,
            store,
            request=request,
            clock=clock,
            scheduler=SendScheduler(limits, health=health),
            processor=PerUserOrderedProcessor(on_dropped=answer_dropped, urgent=is_quick_exit),
            health=health,
            reminder_loop=reminder_loop,
            notifier=notifier,
        )
    except BaseException:
        await store.close()
        raise


async def replicated(store: Store, socket: Path) -> None:
    litestream = Litestream(socket, store.path)
    if not await asyncio.to_thread(litestream.answers):
        raise Misconfigured(
            f"GENTLY_LITESTREAM_SOCKET is {socket}, but Litestream does not answer there: "
            'run the bot under `litestream replicate -exec "python -m bot run"` with '
            "deploy/litestream.yml, or leave the setting empty"
        )
    await store.replicated_by(litestream)


def assemble(
    settings: Settings,
    guides: Guides,
    store: Store,
    *,
    request: BaseRequest | None,
    clock: Callable[[], float],
    scheduler: SendScheduler | None,
    processor: BaseUpdateProcessor,
    health: Health | None = None,
    reminder_loop: bool = True,
    notifier: Notifier | None = None,
) -> Gently:
    """Every part, each given what it needs, in dependency order (the benchmark assembles
    its comparison peers from here, with their own store, processor and no scheduler)."""
    if not settings.token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    bot = PollingBot(
        settings.token,
        base_url=settings.base_url or TELEGRAM,
        request=request or HTTPXRequest(connection_pool_size=256),
        # two: the long poll cancelled at a stop may hold one while PTB's last getUpdates
        # (marking the fetched updates read) needs another
        get_updates_request=request or HTTPXRequest(connection_pool_size=2),
        defaults=DEFAULTS,
        rate_limiter=scheduler,
    )
    health = health or Health()
    delivery = Delivery(bot, guides, scheduler)
    schedule_changed = asyncio.Event()
    runtime = Runtime(guides, store, delivery, clock, reminders_changed=schedule_changed.set)
    reminders = ReminderTimer(store, runtime, delivery, clock, schedule_changed, health)
    app = (
        ApplicationBuilder()
        .application_class(WithoutPersistence)
        .bot(bot)
        .concurrent_updates(processor)
        .job_queue(None)
        .build()
    )
    ordered = processor if isinstance(processor, PerUserOrderedProcessor) else None
    bot.watch_intake(intake_full(app, ordered))
    register(
        app,
        Handlers(guides, runtime, delivery, partial(stats_apart, store.path)),
        settings.admin_ids,
    )
    return Gently(
        settings,
        app,
        store,
        runtime,
        delivery,
        reminders,
        scheduler,
        health,
        reminder_loop=reminder_loop,
        notifier=notifier,
    )


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
