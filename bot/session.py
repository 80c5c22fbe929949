"""Applying one user action end to end: lock the user, load, run the walkthrough, save.

Both front ends (Telegram and the terminal) go through here, so a tap means the same thing
everywhere, and one user's actions never interleave however they arrive.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable

from bot.content import Guide
from bot.store import Store
from bot.walkthrough import Action, Effect, Outcome, handle

Clock = Callable[[], float]


class Sessions:
    def __init__(self, guide: Guide, store: Store, clock: Clock = time.time) -> None:
        self.guide = guide
        self.store = store
        self.clock = clock
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def lock(self, user_id: int) -> asyncio.Lock:
        """The user's own lock; it lives only while someone holds or awaits it."""
        lock = self._locks.get(user_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[user_id] = lock
        return lock

    def now(self) -> int:
        return int(self.clock())

    async def act(self, user_id: int, action: Action) -> Outcome:
        """Apply one action and commit its result before returning it."""
        async with self.lock(user_id):
            before = await self.store.load(user_id)
            outcome = handle(self.guide, before, action)
            if outcome.effect is Effect.FORGET:
                if before is not None:
                    await self.store.delete_user(user_id)
            elif outcome.progress is not None and outcome.progress != before:
                await self.store.save(user_id, outcome.progress, self.now())
            if outcome.reminder is not None:
                if outcome.reminder.delay is None:
                    await self.store.clear_reminder(user_id)
                else:
                    await self.store.set_reminder(user_id, self.now() + outcome.reminder.delay)
            return outcome
