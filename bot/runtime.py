"""The runtime: the one place that acts on a user's action, for every front end.

    act(user, action): lock the user → load → engine → commit (progress, erasure, block
    state, reminder, chat ledger) → nudge the reminder timer → deliver the screen → note
    the message it sent in the chat ledger.

Nothing before the commit touches the network, and nothing after it can lose the tap. One
user's actions never interleave however they arrive. Front ends supply a `Delivery`
(Telegram's sends, or the terminal's printing); the runtime knows no HTML and no SQL.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from bot.content import Guide
from bot.store import Store, StoreUnavailable
from bot.walkthrough import Action, Effect, Outcome, handle, screens

log = logging.getLogger(__name__)

Clock = Callable[[], float]
STORE_ERROR_EVERY = 60  # seconds between ERROR lines while the store keeps failing
# Telegram lets a bot delete messages for 48 hours; the margin covers the time between
# Telegram dating a message and the bot noting it, and clocks that drift a little.
DELETABLE_FOR = 48 * 3600 - 300


@dataclass(frozen=True)
class Origin:
    """Where an action came from, as far as delivery cares: the message that was tapped,
    how to answer the tap (a pop-up text or None), and the user's own message (a typed
    command) it answers."""

    message_id: int | None = None
    answer: Callable[[str | None], Awaitable[Any]] | None = None
    typed: int | None = None


@dataclass(frozen=True)
class Chat:
    """What delivery needs to know of the user's chat, from the chat ledger."""

    live: int | None = None  # the message holding the live buttons
    tidy: bool = False  # keep only the current step in the chat
    erase: tuple[int, ...] = ()  # messages to delete before the screen is shown


class Delivery(Protocol):
    async def show(
        self, user_id: int, outcome: Outcome, origin: Origin | None, chat: Chat
    ) -> int | None:
        """Show the screen; returns the id of a new message it sent, if any."""

    async def unavailable(self, user_id: int, origin: Origin | None) -> None:
        """The store failed: tell the user honestly, without promising a retry will work."""


class Runtime:
    def __init__(
        self,
        guide: Guide,
        store: Store,
        delivery: Delivery,
        clock: Clock = time.time,
        reminders_changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.guide = guide
        self.store = store
        self.delivery = delivery
        self.clock = clock
        self.reminders_changed = reminders_changed
        self.store_failing_since: float | None = None
        self._last_store_error = float("-inf")
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def now(self) -> int:
        return int(self.clock())

    def lock(self, user_id: int) -> asyncio.Lock:
        """The user's own lock; it lives only while someone holds or awaits it."""
        lock = self._locks.get(user_id)
        if lock is None:
            lock = self._locks[user_id] = asyncio.Lock()
        return lock

    async def act(
        self, user_id: int, action: Action, origin: Origin | None = None
    ) -> Outcome | None:
        """Apply one action, commit it, then deliver its screen. None if the store failed
        (the user has been told)."""
        try:
            outcome, chat = await self._commit(user_id, action, origin)
        except StoreUnavailable as error:
            self.store_failed(error)
            await self.delivery.unavailable(user_id, origin)
            return None
        self.store_working()
        sent = await self.delivery.show(user_id, outcome, origin, chat)
        if sent is not None and outcome.effect is not Effect.FORGET:
            await self.note_sent(user_id, sent, keyboard=bool(outcome.screen.rows))
        return outcome

    async def note_sent(self, user_id: int, message_id: int, *, keyboard: bool) -> None:
        """A message the bot sent is now in the chat (for /hide). Losing this note costs
        only the ability to remove that one message, so a failing store is logged, no more."""
        try:
            await self.store.record_message(user_id, message_id, self.now(), keyboard)
        except StoreUnavailable as error:
            self.store_failed(error)

    async def _commit(
        self, user_id: int, action: Action, origin: Origin | None
    ) -> tuple[Outcome, Chat]:
        async with self.lock(user_id):
            stored = await self.store.load_user(user_id)
            before = stored.progress if stored else None
            outcome = handle(self.guide, before, action)
            now = self.now()
            typed = origin.typed if origin else None
            erase: tuple[int, ...] = ()
            if outcome.clear_chat:
                contents = await self.store.take_chat(user_id, now - DELETABLE_FOR)
                erase = contents.deletable + ((typed,) if typed is not None else ())
                if contents.leftovers and outcome.effect is Effect.FORGET:
                    outcome = replace(
                        outcome, screen=screens.info(self.guide, "deleted_leftovers", False)
                    )
            elif typed is not None and outcome.effect is not Effect.FORGET:
                await self.store.record_message(user_id, typed, now, False)
            if outcome.effect is Effect.FORGET:
                await self.store.delete_user(user_id)  # the chat ledger too, if a stranger's
            elif outcome.progress is not None and outcome.progress != before:
                await self.store.save(user_id, outcome.progress, self.now())  # clears a block
            elif stored is not None and stored.blocked:
                await self.store.unblock(user_id)  # they are back: any message says so
            if outcome.reminder is not None:
                if outcome.reminder.delay is None:
                    await self.store.clear_reminder(user_id)
                else:
                    await self.store.set_reminder(user_id, self.now() + outcome.reminder.delay)
            if outcome.reminder is not None or outcome.effect is Effect.FORGET:
                self.reminders_changed()
            live = None if erase else await self.store.live_keyboard(user_id)
            tidy = outcome.progress.tidy if outcome.progress else False
            return outcome, Chat(live, tidy, erase)

    async def blocked(self, user_id: int) -> None:
        """Telegram says the user blocked the bot: keep their progress, stop messaging them."""
        log.info("user %s blocked the bot", user_id)
        async with self.lock(user_id):
            await self.store.mark_blocked(user_id, self.now())
        self.reminders_changed()

    async def unblocked(self, user_id: int) -> None:
        """Telegram's word, or any message from the user: if they had blocked the bot,
        they are back."""
        async with self.lock(user_id):
            if await self.store.unblock(user_id):
                log.info("user %s unblocked the bot", user_id)

    async def heard(self, user_id: int, message_id: int) -> None:
        """The user wrote something that is not a command (or one the bot does not know):
        they are back if they had blocked the bot, and their message is in the chat ledger."""
        try:
            async with self.lock(user_id):
                await self.store.record_message(user_id, message_id, self.now(), False)
                if await self.store.unblock(user_id):
                    log.info("user %s unblocked the bot", user_id)
        except StoreUnavailable as error:
            self.store_failed(error)

    async def housekeeping(self) -> None:
        """Now and then: forget message ids too old to delete, and checkpoint the WAL so it
        holds little history (and a lost -wal file takes little with it)."""
        try:
            pruned = await self.store.prune_chats(self.now() - DELETABLE_FOR)
            await self.store.checkpoint()
        except StoreUnavailable as error:
            self.store_failed(error)
        else:
            log.debug("housekeeping: %d old message ids forgotten", pruned)

    def store_failed(self, error: Exception) -> None:
        now = time.monotonic()
        if self.store_failing_since is None:
            self.store_failing_since = self.clock()
        if now - self._last_store_error >= STORE_ERROR_EVERY:
            self._last_store_error = now
            log.error("the database is failing: %s (users are told; repeats once a minute)", error)

    def store_working(self) -> None:
        if self.store_failing_since is not None:
            log.info("the database works again")
            self.store_failing_since = None
            self._last_store_error = float("-inf")
