"""`python -m bot run`: the process users talk to.

Start-up, in order: one instance per database (a lock), the database opened and checked,
Telegram reached (transient errors retried with backoff, within a limit), the webhook
listener or long polling, then updates. Each way start-up can fail ends in one clear line
and a non-zero exit. SIGTERM/SIGINT stop it within Docker's 10 s grace: sends still queued
after `DRAIN_SECONDS` are dropped and counted in one line; every tap is committed anyway.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import signal
import time
from typing import Any
from urllib.parse import urlsplit

from telegram import __version__ as PTB_VERSION
from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application

from bot import DISTRIBUTION, __version__, metrics
from bot.config import Settings
from bot.content import Guides
from bot.instance import InstanceLock, Misconfigured, StartupFailed
from bot.notify import Notifier
from bot.pseudonyms import use_key_beside
from bot.status import StatusServer
from bot.store import check_database_file
from bot.telegram.app import ALLOWED_UPDATES, Gently, create_gently, intake_full
from bot.telegram.ordering import PerUserOrderedProcessor
from bot.telegram.polling import PollingBot, describe
from bot.telegram.webhook import Intake, listener

log = logging.getLogger(__name__)

DRAIN_SECONDS = 6.0  # after a stop signal, queued sends get this long
STARTUP_BACKOFF_MAX = 10.0


def run_bot(settings: Settings, guides: Guides) -> int:
    check_database_file(settings.db_path)  # StoreUnavailable: nothing touched yet
    lock = InstanceLock(settings.db_path)
    lock.acquire()  # AlreadyRunning: the caller prints its one line
    try:
        use_key_beside(settings.db_path)
        tune_garbage_collector()
        return asyncio.run(serve(settings, guides))
    finally:
        lock.release()


def tune_garbage_collector() -> None:
    """Updates in flight keep many young objects alive across awaits; with CPython's default
    threshold (700) they are rescanned again and again. A larger first generation cut CPU
    per update by several percent in the earlier in-process benchmark (the process only,
    never tests or embedders); memory stays bounded."""
    gc.collect()
    gc.freeze()  # start-up objects (the guide, PTB's modules) need no further scanning
    gc.set_threshold(20_000, 20, 20)


async def serve(settings: Settings, guides: Guides) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # StoreUnavailable: one line, by the caller
    gently = await create_gently(settings, guides, notifier=Notifier.from_environment())
    app = gently.app
    server = None
    status = await serve_status(gently) if settings.status_port else None
    try:
        if not await connect(app, settings, stop):
            return 0
        await gently.start()
        if settings.webhook_url:
            server = await listen(app, settings)
        else:
            bot = app.bot
            assert isinstance(bot, PollingBot) and app.updater is not None
            await app.updater.start_polling(
                allowed_updates=ALLOWED_UPDATES, error_callback=bot.polling_error
            )
        await app.start()
        gently.receiving = True
        schema = await gently.store.schema_version()
        languages = ",".join(gently.guides.by_language)
        build = {"version": __version__, "schema": str(schema), "ptb": PTB_VERSION}
        metrics.BUILD.info({**build, "languages": languages})
        log.info("%s; SIGTERM or Ctrl-C stops", started_line(gently, schema))
        gently.notifier.ready()
        await stop.wait()
        log.info("stopping")
    finally:
        gently.notifier.stopping()
        gently.receiving = False
        await shut_down(gently, server)
        if status is not None:
            await status.close()
    return 0


async def serve_status(gently: Gently) -> StatusServer:
    settings = gently.settings
    assert settings.status_port is not None
    status = StatusServer(gently.problem, settings.status_listen, settings.status_port)
    try:
        await status.start()
    except OSError as error:
        await gently.close()
        hint = (
            "is another process using that port?"
            if error.errno == errno.EADDRINUSE
            else "is GENTLY_STATUS_LISTEN an address of this machine?"
        )
        raise StartupFailed(
            f"cannot serve the status endpoint on {settings.status_listen}:"
            f"{settings.status_port} ({error.strerror or error}); {hint}"
        ) from None
    return status


def started_line(gently: Gently, schema: int) -> str:
    """What runs, for the operator: versions, mode, languages, the database."""
    settings = gently.settings
    return (
        f"{DISTRIBUTION} {__version__} running (python-telegram-bot {PTB_VERSION}, "
        f"{'webhook' if settings.webhook_url else 'polling'}, "
        f"languages {', '.join(gently.guides.by_language)}; "
        f"database {os.path.abspath(settings.db_path)}, "
        f"schema {schema})"
    )


async def connect(app: Application, settings: Settings, stop: asyncio.Event) -> bool:  # type: ignore[type-arg]
    """Reach the Bot API (getMe); False if told to stop meanwhile."""
    host = urlsplit(settings.base_url or "https://api.telegram.org").netloc
    deadline = time.monotonic() + settings.startup_retry_seconds
    delay = 1.0
    while True:
        try:
            await app.initialize()
            return True
        except InvalidToken:
            # PTB's own message repeats the token; this one does not.
            raise Misconfigured(
                "Telegram rejected TELEGRAM_BOT_TOKEN (or TELEGRAM_BASE_URL is not a Bot API "
                "server). Check the token with @BotFather (/mybots → API Token)."
            ) from None
        except RetryAfter as error:  # a flood limit passes: never a configuration problem
            pause = error.retry_after
            delay = max(delay, pause if isinstance(pause, int | float) else pause.total_seconds())
            log.warning("Telegram asked to wait %.0fs before starting; waiting", delay)
            deadline = max(deadline, time.monotonic() + delay + 1)
        except NetworkError as error:
            if time.monotonic() + delay > deadline:
                raise StartupFailed(
                    f"cannot reach the Bot API at {host} ({describe(error)}) for "
                    f"{settings.startup_retry_seconds:.0f}s; check the network and "
                    "TELEGRAM_BASE_URL"
                ) from None
            log.warning(
                "cannot reach the Bot API at %s (%s); retrying in %.0fs",
                host,
                describe(error),
                delay,
            )
        except TelegramError as error:
            raise Misconfigured(
                f"the Bot API at {host} answered something unexpected ({describe(error)}); "
                "check TELEGRAM_BASE_URL"
            ) from None
        try:
            await asyncio.wait_for(stop.wait(), delay)
            return False
        except TimeoutError:
            delay = min(delay * 2, STARTUP_BACKOFF_MAX)


async def listen(app: Application, settings: Settings):  # type: ignore[no-untyped-def,type-arg]
    assert settings.webhook_url and settings.webhook_secret
    bot = app.bot
    assert isinstance(bot, PollingBot)
    processor = app.update_processor
    ordered = processor if isinstance(processor, PerUserOrderedProcessor) else None
    server = listener(
        bot,
        app.update_queue,
        urlsplit(settings.webhook_url).path,
        settings.webhook_secret,
        accepting=lambda: app.running,
        intake=Intake(intake_full(app, ordered)),
    )
    try:
        server.listen(settings.webhook_port, address=settings.webhook_listen)
    except OSError as error:
        raise StartupFailed(
            f"cannot listen on {settings.webhook_listen}:{settings.webhook_port} "
            f"({error.strerror or error}); is another process using that port?"
        ) from None
    log.info("webhook listening on %s:%s", settings.webhook_listen, settings.webhook_port)
    try:
        await app.bot.set_webhook(
            settings.webhook_url,
            secret_token=settings.webhook_secret,
            allowed_updates=ALLOWED_UPDATES,
        )
    except TelegramError as error:
        server.stop()
        raise StartupFailed(
            f"cannot register the webhook with Telegram ({describe(error)}); "
            "check GENTLY_WEBHOOK_URL and the network"
        ) from None
    return server


async def shut_down(gently: Gently, server: object) -> None:
    """Each step runs even if one before it failed; a failure is one line."""
    app, scheduler = gently.app, gently.scheduler
    if scheduler is not None:
        scheduler.close_at(time.monotonic() + DRAIN_SECONDS)

    async def step(name: str, action: Any) -> None:
        try:
            await action()
        except Exception as error:
            log.warning("while stopping, %s failed: %s", name, describe(error))

    if app.updater is not None and app.updater.running:
        await step("stopping polling", app.updater.stop)
    if server is not None:
        server.stop()  # type: ignore[attr-defined]
        await step("closing webhook connections", server.close_all_connections)  # type: ignore[attr-defined]
    if app.running:
        await step("finishing updates", app.stop)  # every update received is committed
    await step("stopping reminders", gently.reminders.stop)
    if scheduler is not None and scheduler.unsent_at_stop:
        log.warning("stopped with %d queued message(s) unsent", scheduler.unsent_at_stop)
    if gently.alerts is not None:  # before the connection they go out on closes
        await step("sending alerts", gently.alerts.settle)
    await step("closing the connection to Telegram", app.shutdown)
    await step("closing the database", gently.close)
