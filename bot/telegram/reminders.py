"""Reminders: the database is the schedule; one timer sends what is due.

The timer reads the earliest due reminders from an index, a small batch at a time, and
hands each to delivery in the scheduler's reminder lane; it then sleeps until the next one
is due, a nudge (a reminder was set, changed or cancelled; a send finished) or a steady
tick. Nothing here grows with the number of pending reminders.

A reminder is claimed (marked sent) only when the scheduler admits its send, so a stop or
crash loses at most the sends in flight. A send that fails for a passing reason goes back
to pending with a backoff; only a block, an erased or finished user, or a cancelled or
changed reminder ends it. The claim is conditional, so no reminder is ever sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import httpx
from telegram.error import Forbidden, NetworkError, RetryAfter, TelegramError

from bot import metrics
from bot.content import Guide
from bot.health import Health
from bot.pseudonyms import who
from bot.runtime import Runtime, Shown
from bot.store import Reminder, Store, StoreUnavailable
from bot.telegram.delivery import Delivery
from bot.telegram.scheduler import SendSkipped
from bot.walkthrough import screens

log = logging.getLogger(__name__)

BATCH = 50  # reminders started per pass, at most
MAX_IN_FLIGHT = 100  # waiting in the scheduler or being sent
TICK = 60.0  # seconds: the timer looks even when nothing nudged it
BACKOFF = (30, 120, 600, 1800, 3600)  # seconds before retrying, by attempt


NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def maybe_delivered(error: Exception) -> bool:
    """Whether Telegram may have delivered the message despite the error: then it is never
    sent again (at most once). A reply from Telegram (RetryAfter, a 5xx) or a connection
    that never opened means it was not delivered; a timeout or a connection lost after the
    request went out may have."""
    if isinstance(error, RetryAfter):
        return False
    cause = error.__cause__
    if cause is None:
        return False  # PTB raised it from Telegram's own answer
    return not isinstance(cause, NOT_SENT)


def backoff(attempts: int) -> int:
    return BACKOFF[min(attempts, len(BACKOFF) - 1)]


class ReminderTimer:
    """`schedule_changed` is set by whoever changes a reminder (the runtime): the timer
    looks again at once."""

    def __init__(
        self,
        store: Store,
        runtime: Runtime,
        delivery: Delivery,
        clock: Callable[[], float],
        schedule_changed: asyncio.Event,
        health: Health,
    ) -> None:
        self.store = store
        self._health = health
        self.maybe_arrived = 0  # reminders dropped since start: they may have arrived
        self.runtime = runtime
        self.delivery = delivery
        self.clock = clock
        self._nudged = schedule_changed
        self._loop_task: asyncio.Task[None] | None = None
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._stopped = False

    async def _quietly(self, write: Awaitable[object]) -> None:
        try:
            await write
        except StoreUnavailable as error:
            self.runtime.store_failed(error)

    def guide_of(self, reminder: Reminder) -> Guide:
        """Reminders go out in the user's language."""
        return self.runtime.guides.for_user(reminder.language)

    def nudge(self) -> None:
        self._nudged.set()

    def start(self) -> None:
        self._stopped = False
        if self._loop_task is None:
            watched = self._health.supervise("reminder timer", self._loop)
            self._loop_task = asyncio.create_task(watched, name="reminder-timer")

    async def stop(self) -> None:
        """Stop looking and let the sends started finish: the scheduler, closing, skips
        those not yet admitted (they stay pending). None is cancelled, since a claim
        cancelled mid-write could still commit."""
        if self._loop_task is not None:
            self._stopped = True  # see SendScheduler.shutdown: cancel() alone may be lost
            self._nudged.set()
            self._loop_task.cancel()  # the sends in flight are tasks of their own
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    async def tick(self) -> float | None:
        """Start the sends that are due; returns seconds until the next is due (0: some
        are due but wait for room), or None when none is pending."""
        return (await self._pass())[1]

    async def _pass(self) -> tuple[int, float | None]:
        started = 0
        now = self.runtime.now()
        room = MAX_IN_FLIGHT - len(self._in_flight)
        if room > 0:
            wanted = min(BATCH, room) + len(self._in_flight)  # in-flight ones are still pending
            due = await self.store.due_reminders(now, wanted)
            for reminder in due:
                if reminder.user_id not in self._in_flight and room > 0:
                    room -= 1
                    started += 1
                    self._in_flight[reminder.user_id] = asyncio.create_task(self._send(reminder))
        next_due = await self.store.next_reminder_due()
        return started, None if next_due is None else max(0.0, next_due - self.clock())

    async def wait_idle(self) -> None:
        """Until every send started so far has finished (tests and the benchmark)."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    async def _loop(self) -> None:
        while not self._stopped:
            self._nudged.clear()
            try:
                started, wait = await self._pass()
                self.runtime.store_working()
            except StoreUnavailable as error:
                self.runtime.store_failed(error)
                started, wait = 0, TICK
            if started == BATCH:
                continue  # more may be due right now
            if wait == 0.0:
                wait = TICK  # the due ones are in flight: each finishing send nudges
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudged.wait(), min(wait or TICK, TICK))

    async def _send(self, reminder: Reminder) -> None:
        user_id = reminder.user_id
        claimed_at: int | None = None

        async def claim() -> bool:
            nonlocal claimed_at
            now = self.runtime.now()
            if not await self.store.claim_reminder(reminder, now):
                return False  # cancelled, changed, erased, finished or blocked meanwhile
            claimed_at = now
            return True

        metrics.REMINDERS.labels(event="due").inc()
        try:
            sent = await self.delivery.reminder(
                user_id, screens.reminder(self.guide_of(reminder)), claim
            )
            metrics.REMINDERS.labels(event="sent").inc()
            log.info("reminder sent to user %s", who(user_id))
            await self.runtime.note_sent(user_id, Shown(sent, keyboard=True))
        except SendSkipped:
            # not claimed: still pending if still wanted; if the user finished the guide or
            # blocked the bot, it never will be
            await self._quietly(self.store.drop_unwanted_reminder(user_id))
        except Forbidden:
            await self._quietly(self.runtime.blocked(user_id))
        except (NetworkError, RetryAfter) as error:
            if claimed_at is None:
                pass
            elif not maybe_delivered(error):
                retry_at = self.runtime.now() + backoff(reminder.attempts)
                await self._quietly(self.store.release_reminder(reminder, claimed_at, retry_at))
                metrics.REMINDERS.labels(event="released").inc()
                log.warning(
                    "reminder for user %s not delivered (%s); retrying later",
                    who(user_id),
                    type(error).__name__,
                )
            else:  # never twice: a reminder that may have arrived is not sent again
                self.maybe_arrived += 1
                metrics.REMINDERS.labels(event="dropped").inc()
                log.info(
                    "reminder for user %s dropped: it may have been delivered (%s); "
                    "%d dropped since start",
                    who(user_id),
                    type(error).__name__,
                    self.maybe_arrived,
                )
        except TelegramError as error:
            metrics.REMINDERS.labels(event="dropped").inc()
            log.warning("reminder for user %s dropped: %s", who(user_id), error.message)
        except StoreUnavailable as error:
            self.runtime.store_failed(error)
        finally:
            del self._in_flight[user_id]
            self.nudge()
