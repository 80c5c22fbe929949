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
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from bot import metrics
from bot.content import Guide, Guides
from bot.pseudonyms import who
from bot.store import Noted, Store, StoredUser, StoreUnavailable
from bot.walkthrough import Action, Effect, Outcome, Progress, Screen, Verb, handle

log = logging.getLogger(__name__)

Clock = Callable[[], float]
STORE_ERROR_EVERY = 60  # seconds between ERROR lines while the store keeps failing
RECOVERED_AFTER = 30  # seconds without a failure before a read or the probe counts as working
# Telegram lets a bot delete messages for 48 hours; the margin covers the time between
# Telegram dating a message and the bot noting it, and clocks that drift a little.
DELETABLE_FOR = 48 * 3600 - 300
CONFIRM_FOR = 10 * 60  # seconds a destructive confirmation stays open


@dataclass(frozen=True)
class Origin:
    """Where an action came from, as far as delivery cares: the message that was tapped,
    how to answer the tap (a pop-up text or None), and the user's own message (a typed
    command) it answers."""

    message_id: int | None = None
    answer: Callable[[str | None], Awaitable[Any]] | None = None
    typed: int | None = None
    language: str | None = None  # Telegram's language_code for the user, if it sent one


@dataclass(frozen=True)
class Shown:
    """What was done in the chat: the new message sent or the one edited (its id, whether
    it has buttons, what it shows as a number), and the messages Telegram confirmed
    deleted."""

    sent: int | None = None
    keyboard: bool = False
    removed: tuple[int, ...] = ()
    edited: int | None = None
    shows: int | None = None
    blocked: bool = False  # Telegram refused: the user blocked the bot


@dataclass(frozen=True)
class Chat:
    """What delivery needs to know of the user's chat, from the chat ledger."""

    live: int | None = None  # the message holding the live buttons
    tidy: bool = False  # keep only the current step in the chat
    erase: tuple[int, ...] = ()  # messages deleted before the screen is shown
    # shown instead of the outcome's screen if Telegram did not delete all of `erase`
    if_left: Screen | None = None
    tapped_shows: int | None = None  # what the tapped message shows, if the ledger knows


class Delivery(Protocol):
    async def erase(self, user_id: int, message_ids: tuple[int, ...]) -> tuple[int, ...]:
        """Delete messages from the chat; returns those Telegram confirmed deleted."""

    async def show(
        self, user_id: int, outcome: Outcome, origin: Origin | None, chat: Chat
    ) -> Shown:
        """Show the screen; says what it sent in the chat."""

    async def unavailable(self, user_id: int, origin: Origin | None, *, say: bool) -> None:
        """The store failed: answer the tap, and (if `say`) tell the user honestly,
        without promising a retry will work."""


class Runtime:
    def __init__(
        self,
        guides: Guides,
        store: Store,
        delivery: Delivery,
        clock: Clock = time.time,
        reminders_changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.guides = guides
        self.store = store
        self.delivery = delivery
        self.clock = clock
        self.reminders_changed = reminders_changed
        self.store_failing_since: float | None = None
        self._last_store_error = float("-inf")
        self._last_failure = float("-inf")  # by `clock`
        self._said_failing = False
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
            outcome, chat, newcomer, wrote = await self._commit(user_id, action, origin)
        except StoreUnavailable as error:
            self.store_failed(error)
            # a quick exit never posts into the chat, not even to say the store failed
            await self.delivery.unavailable(user_id, origin, say=action.verb is not Verb.HIDE)
            return None
        self.store_working(wrote=wrote)
        removed = await self.delivery.erase(user_id, chat.erase) if chat.erase else ()
        if chat.if_left is not None and set(removed) != set(chat.erase):
            outcome = replace(outcome, screen=chat.if_left)  # say honestly what is left
        shown = replace(await self.delivery.show(user_id, outcome, origin, chat), removed=removed)
        if outcome.effect is not Effect.FORGET:
            tapped = origin.message_id if origin and newcomer else None
            await self._note(user_id, origin, shown, tapped)
        return outcome

    async def _note(
        self,
        user_id: int,
        origin: Origin | None,
        shown: Shown,
        tapped: int | None = None,
    ) -> None:
        """Bring the chat ledger up to date after delivery: the user's command, the new
        message, and (`tapped`) the welcome a newcomer confirmed on, which was sent before
        anything could be kept. Losing a note costs only the ability to remove that one
        message, so a failing store is logged, no more. If Telegram said the user blocked
        the bot, that is noted instead."""
        if shown.blocked:
            await self._quietly(self.blocked(user_id))
            return
        typed = origin.typed if origin else None
        here = [Noted(m) for m in (typed,) if isinstance(m, int)]
        here += [Noted(m, keyboard=True) for m in (tapped,) if isinstance(m, int)]
        here = [noted for noted in here if noted.message_id not in shown.removed]
        for message in (shown.sent, shown.edited):
            if message is not None:
                here.append(Noted(message, shown.keyboard, shown.shows))
        await self._quietly(self._keep(user_id, shown.removed, here))

    async def _keep(self, user_id: int, removed: tuple[int, ...], here: list[Noted]) -> None:
        await self.store.forget_messages(user_id, removed)
        await self.store.note_messages(user_id, here, self.now())

    async def _quietly(self, write: Awaitable[object]) -> None:
        """A write whose failure changes nothing for the user: logged, no more."""
        try:
            await write
        except StoreUnavailable as error:
            self.store_failed(error)

    async def note_sent(self, user_id: int, shown: Shown) -> None:
        """A message the bot sent outside `act` (a reminder, a hint) is in the chat, or
        Telegram said the user blocked the bot."""
        await self._note(user_id, None, shown)

    async def _commit(
        self, user_id: int, action: Action, origin: Origin | None
    ) -> tuple[Outcome, Chat, bool, bool]:
        """Commit one action; returns its outcome, the chat as delivery needs it, whether
        the user just confirmed 18+ (a newcomer), and whether anything was written."""
        async with self.lock(user_id):
            stored = await self.store.load_user(user_id)
            before = stored.progress if stored else None
            guide = self.guide_for(stored, action, origin)
            now = self.now()
            outcome = handle(guide, self._open(stored, now), action, secrets.token_hex(4))
            typed = origin.typed if origin else None
            erase: tuple[int, ...] = ()
            if_left = None
            if outcome.clear_chat:
                contents = await self.store.chat_contents(user_id, now - DELETABLE_FOR)
                erase = contents.deletable + ((typed,) if isinstance(typed, int) else ())
                if_left = outcome.if_left
                if if_left is not None and contents.leftovers:
                    outcome = replace(outcome, screen=if_left)
            wrote = True
            if outcome.effect is Effect.FORGET:
                await self.store.delete_user(user_id)
            elif outcome.progress is not None and outcome.progress != before:
                await self.store.save(user_id, outcome.progress, now)  # clears a block
            elif stored is not None and stored.blocked:
                await self.store.unblock(user_id)  # they are back: any message says so
            else:
                wrote = outcome.reminder is not None
            if outcome.reminder is not None:
                if outcome.reminder.delay is None:
                    await self.store.clear_reminder(user_id)
                else:
                    await self.store.set_reminder(user_id, now + outcome.reminder.delay)
            if outcome.reminder is not None or outcome.effect is Effect.FORGET:
                self.reminders_changed()
            live, tapped_shows = None, None
            if not erase:
                tapped = origin.message_id if origin else None
                live, tapped_shows = await self.store.chat_state(user_id, tapped)
            tidy = outcome.progress.tidy if outcome.progress else False
            newcomer = before is None and outcome.progress is not None
            chat = Chat(live, tidy, erase, if_left, tapped_shows)
            return outcome, chat, newcomer, wrote

    @staticmethod
    def _open(stored: StoredUser | None, now: int) -> Progress | None:
        """The stored progress, its destructive confirmation closed once it expired."""
        if stored is None:
            return None
        progress = stored.progress
        if progress.pending is not None and now - (stored.pending_at or 0) > CONFIRM_FOR:
            return replace(progress, pending=None)
        return progress

    def guide_for(self, stored: StoredUser | None, action: Action, origin: Origin | None) -> Guide:
        """The language to answer in: the one being chosen (a language, or the welcome a
        newcomer confirmed on), else the user's own, else Telegram's, else English."""
        chosen = action.verb is Verb.SET_LANGUAGE or (action.verb is Verb.CONFIRM and not stored)
        if chosen and (guide := self.guides.get(action.target)) is not None:
            return guide
        own = stored.progress.language if stored else None
        return self.guides.for_user(own, origin.language if origin else None)

    async def blocked(self, user_id: int) -> None:
        """Telegram says the user blocked the bot: keep their progress, stop messaging them."""
        log.info("user %s blocked the bot", who(user_id))
        async with self.lock(user_id):
            await self.store.mark_blocked(user_id, self.now())
        self.reminders_changed()

    async def unblocked(self, user_id: int) -> None:
        """Telegram's word, or any message from the user: if they had blocked the bot,
        they are back."""
        async with self.lock(user_id):
            if await self.store.unblock(user_id):
                log.info("user %s unblocked the bot", who(user_id))

    async def heard(self, user_id: int, message_id: int, telegram: str | None) -> Guide:
        """The user wrote something that is not a command (or one the bot does not know):
        they are back if they had blocked the bot, and their message is in the chat ledger.
        Returns the guide in the user's language (`telegram`: Telegram's language_code)."""
        language = None
        try:
            async with self.lock(user_id):
                language = await self.store.language_of(user_id)
                if isinstance(message_id, int):
                    await self.store.note_messages(user_id, [Noted(message_id)], self.now())
                if await self.store.unblock(user_id):
                    log.info("user %s unblocked the bot", who(user_id))
        except StoreUnavailable as error:
            self.store_failed(error)
        return self.guides.for_user(language, telegram)

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
        metrics.STORE_FAILURES.inc()
        self._last_failure = self.clock()
        now = time.monotonic()
        if self.store_failing_since is None:
            self.store_failing_since = self.clock()
        if now - self._last_store_error >= STORE_ERROR_EVERY:
            self._last_store_error = now
            self._said_failing = True
            log.error(
                "the database is failing: %s (users are told; repeats once a minute)",
                error,
                extra={"alert": "the database is failing"},
            )

    def store_working(self, *, wrote: bool = False) -> None:
        """Something worked. A user's write that committed (`wrote`) proves the database
        works; a read, or the heartbeat's tiny probe (on a full disk it can still fit into
        the WAL while every tap fails), counts only once no failure was seen for
        `RECOVERED_AFTER` seconds. The once-a-minute limit is kept: alternating must not
        turn into a line per tap."""
        if not wrote and self.clock() - self._last_failure < RECOVERED_AFTER:
            return
        if self.store_failing_since is not None:
            self.store_failing_since = None
            if self._said_failing:
                self._said_failing = False
                log.info("the database works again")
