"""Concurrent updates across users, strict order within one user, a bound per user.

PTB's default handles one update at a time, so one slow Bot API round trip holds up every
user. With plain `concurrent_updates` a double tap could interleave with itself. This
processor lets different users run at once and chains each user's updates in arrival
order. A user may have at most `PER_USER` updates waiting or running; beyond that their
updates are acknowledged and dropped (a button is still answered), so one user's flood
costs memory and intake nobody else needs.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot import metrics

log = logging.getLogger(__name__)

# Set while an update runs that arrived before the user's quick exit: it still commits,
# but shows nothing, so the cleared chat stays clear.
QUIET = contextvars.ContextVar("quiet", default=False)

MAX_CONCURRENT_UPDATES = 256
PER_USER = 20  # updates one user may have waiting or running
WARN_EVERY = 60.0  # seconds between warnings about one user's dropped updates


def update_id(update: object) -> int:
    return update.update_id if isinstance(update, Update) else -1


def ordering_key(update: object) -> int | None:
    if not isinstance(update, Update):
        return None
    if update.effective_user is not None:
        return update.effective_user.id
    return update.effective_chat.id if update.effective_chat is not None else None


class PerUserOrderedProcessor(BaseUpdateProcessor):
    """PTB's own slot limit would be taken before an update waits for its predecessor, so
    a user's backlog could hold every slot. PTB gets no effective limit here; the slots
    are taken only once an update's turn has come."""

    def __init__(
        self,
        max_concurrent_updates: int = MAX_CONCURRENT_UPDATES,
        *,
        per_user: int = PER_USER,
        on_dropped: Callable[[object], Awaitable[None]] | None = None,
        urgent: Callable[[object], bool] = lambda update: False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(2**31 - 1)
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._tails: dict[int, asyncio.Future[None]] = {}
        self._pending: dict[int, int] = {}  # per user: updates waiting or running
        self._others = 0  # updates without a user, in progress
        self._per_user = per_user
        self._on_dropped = on_dropped
        self._clock = clock
        self._warned: dict[int, float] = {}  # user → when their drops were last logged
        self._urgent = urgent
        self._quiet_below: dict[int, int] = {}  # user → the update id of their quick exit
        self.dropped = 0  # since start, for the operator
        self.received = 0  # taken in and not yet handled (dropped ones are handled)

    @property
    def runnable(self) -> int:
        """Updates that could run now: one per user with anything pending (the rest wait
        behind it), and those without a user. What fetching more waits for."""
        return len(self._pending) + self._others

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        self.received += 1
        metrics.UPDATES_RECEIVED.inc()
        metrics.RECEIVED_AT.set(time.monotonic())  # this update's own task: its own value
        try:
            if await self._process(update, coroutine):
                metrics.UPDATES_PROCESSED.inc()
        finally:
            self.received -= 1

    async def _process(self, update: object, coroutine: Awaitable[Any]) -> bool:
        """Handle the update; False if it was dropped."""
        key = ordering_key(update)
        if key is None:
            self._others += 1
            try:
                async with self._slots:
                    await coroutine
            finally:
                self._others -= 1
            return True
        if self._urgent(update):
            await self._jump_the_queue(key, update, coroutine)
            return True
        if self._pending.get(key, 0) >= self._per_user:
            await self._drop(key, update, coroutine)
            return False
        self._pending[key] = self._pending.get(key, 0) + 1
        try:
            await self._in_order(key, update_id(update), coroutine)
        finally:
            left = self._pending[key] - 1
            if left:
                self._pending[key] = left
            else:
                del self._pending[key]
                self._quiet_below.pop(key, None)
        return True

    async def _jump_the_queue(self, key: int, update: object, coroutine: Awaitable[Any]) -> None:
        """The quick exit runs at once, ahead of the user's own backlog; what the backlog
        still holds commits as usual but shows nothing."""
        if key in self._pending:
            self._quiet_below[key] = max(update_id(update), self._quiet_below.get(key, 0))
        async with self._slots:
            await coroutine

    async def _drop(self, key: int, update: object, coroutine: Awaitable[Any]) -> None:
        """Over the user's bound: acknowledged (Telegram will not send it again), answered
        if it is a button, never handled. One WARNING per user a minute, without the id."""
        if asyncio.iscoroutine(coroutine):
            coroutine.close()  # never run
        self.dropped += 1
        metrics.UPDATES_DROPPED.inc()
        now = self._clock()
        if now - self._warned.get(key, float("-inf")) >= WARN_EVERY:
            if len(self._warned) > 1000:  # a bound: only users warned within the minute stay
                self._warned = {k: t for k, t in self._warned.items() if now - t < WARN_EVERY}
            self._warned[key] = now
            log.warning(
                "a user sent more than %d updates faster than they could be answered; "
                "the extra ones are dropped (%d dropped since start)",
                self._per_user,
                self.dropped,
            )
        if self._on_dropped is not None:
            await self._on_dropped(update)

    async def _in_order(self, key: int, number: int, coroutine: Awaitable[Any]) -> None:
        # Everything up to the first await runs in the order the updates arrived, so each
        # update links itself behind the one before it from the same user.
        previous = self._tails.get(key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[key] = mine
        try:
            if previous is not None:
                await previous
            async with self._slots:
                if number < self._quiet_below.get(key, -1):
                    QUIET.set(True)  # this task's own context: only this update is quiet
                await coroutine
        finally:
            mine.set_result(None)
            if self._tails.get(key) is mine:
                del self._tails[key]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None
