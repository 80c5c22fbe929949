"""Concurrent updates across users, strict order within one user.

PTB's default handles one update at a time, so one slow Bot API round trip holds up every
user. With plain `concurrent_updates` a double tap could interleave with itself. This
processor lets different users run at once and chains each user's updates in arrival
order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

MAX_CONCURRENT_UPDATES = 256


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

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(2**31 - 1)
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._tails: dict[int, asyncio.Future[None]] = {}
        self.unfinished = 0  # received and not yet handled: what fetching more must wait for

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        self.unfinished += 1
        try:
            await self._in_order(update, coroutine)
        finally:
            self.unfinished -= 1

    async def _in_order(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = ordering_key(update)
        if key is None:
            async with self._slots:
                await coroutine
            return
        # Everything up to the first await runs in the order the updates arrived, so each
        # update links itself behind the one before it from the same user.
        previous = self._tails.get(key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[key] = mine
        try:
            if previous is not None:
                await previous
            async with self._slots:
                await coroutine
        finally:
            mine.set_result(None)
            if self._tails.get(key) is mine:
                del self._tails[key]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None
