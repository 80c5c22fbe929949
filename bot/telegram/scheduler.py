"""The send scheduler: PTB's rate-limiter hook, spending Telegram's budget in priority order.

Every Bot API call that sends or edits a message waits here for its turn (see `budget.py`
for the rules); callback answers, `getUpdates` and set-up calls go straight through. A
caller picks its lane with `rate_limit_args=Send(...)`; anything else with a chat is a
reply. The call itself runs in the caller's task, so the scheduler never holds a reply's
round trip, only its admission.

A `before_send` check runs at admission, just before the call: reminders are claimed in
the database there, so a reminder waiting in the queue is never marked sent.

`RetryAfter` pauses the chat it came for (or everything, for a call without a chat); a
reply is retried after the pause, a reminder goes back to its owner to be rescheduled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot import metrics
from bot.health import Health
from bot.pseudonyms import who
from bot.telegram.budget import Budget, Lane, Limits

log = logging.getLogger(__name__)
T = TypeVar("T")

# The calls this bot makes that put, change or remove a message in a chat; everything
# else (callback answers, getUpdates, set-up) is not rate limited.
LIMITED = frozenset({"sendMessage", "editMessageText", "editMessageReplyMarkup", "deleteMessages"})
REPLY_PATIENCE = 60.0  # seconds of RetryAfter pauses a reply waits through before giving up


class SendSkipped(Exception):
    """The scheduler did not make this call: it was cosmetic and out of date, its
    `before_send` check said no, or the bot is stopping."""


@dataclass(frozen=True)
class Send:
    lane: Lane = Lane.REPLY
    before_send: Callable[[], Awaitable[bool]] | None = None


class _Ticket:
    __slots__ = ("admitted", "skipped")

    def __init__(self) -> None:
        self.admitted = asyncio.Event()
        self.skipped: str | None = None


class SendScheduler(BaseRateLimiter[Send]):
    def __init__(
        self,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
        health: Health | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self._health = health or Health()
        self._clock = clock
        self._budget: Budget[_Ticket] = Budget(self.limits, clock())
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._closing_at: float | None = None
        self._stopped = False
        self.unsent_at_stop = 0

    @property
    def waiting(self) -> int:
        return self._budget.waiting

    async def initialize(self) -> None:
        self._stopped = False
        if self._runner is None:
            watched = self._health.supervise("send scheduler", self._run)
            self._runner = asyncio.create_task(watched, name="send-scheduler")

    async def shutdown(self) -> None:
        # A flag, not only cancel(): on Python 3.11, wait_for() can swallow a cancellation
        # that races with the event it waits on, and the loop would never end. The cancel
        # ends a pause before a restart (after the loop died).
        self._stopped = True
        self._wake.set()
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
        self._cancel_all("the bot stopped")

    def clear_chat(self, chat_id: int) -> int:
        """The chat is being cleared (the quick exit): sends still waiting for it are not
        made. Returns how many."""
        dropped = self._budget.drain_chat(chat_id)
        for ticket in dropped:
            self._skip(ticket, "the chat was cleared")
        return len(dropped)

    def close_at(self, deadline: float) -> None:
        """Stopping: sends still waiting at `deadline` (scheduler clock) are not made."""
        self._closing_at = deadline
        self._wake.set()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Send | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id = data.get("chat_id")
        if endpoint not in LIMITED or chat_id is None:
            return await counted(endpoint, callback(*args, **kwargs))
        send = rate_limit_args or Send()
        chat = chat_id if isinstance(chat_id, int) else None  # "@channel" names share one turn
        paused = 0.0
        while True:
            await self._admitted(chat, send.lane)
            if send.before_send is not None and not await send.before_send():
                raise SendSkipped("no longer wanted")
            try:
                return await counted(endpoint, callback(*args, **kwargs))
            except RetryAfter as error:
                pause = error.retry_after
                seconds = pause if isinstance(pause, int | float) else pause.total_seconds()
                self._budget.pause(chat, self._clock() + seconds)
                log.warning("Telegram asked to slow down for %ss (chat %s)", seconds, who(chat))
                metrics.RETRY_AFTER_PAUSES.inc()
                self._wake.set()
                paused += seconds
                waits = send.lane in (Lane.URGENT, Lane.REPLY)  # a reminder is rescheduled
                if not waits or paused > REPLY_PATIENCE:
                    raise

    def depth(self, lane: str) -> int:
        """Sends waiting in a lane (for /metrics)."""
        return self._budget.depth(Lane[lane.upper()])

    async def _admitted(self, chat_id: int | None, lane: Lane) -> None:
        if self._stopped or (self._closing_at is not None and self._clock() >= self._closing_at):
            self.unsent_at_stop += 1  # stopped: nothing would ever admit it
            raise SendSkipped("the bot is stopping")
        ticket = _Ticket()
        for replaced in self._budget.add(ticket, chat_id, lane, self._clock()):
            self._skip(replaced, "replaced by a newer one")
        self._wake.set()
        try:
            await ticket.admitted.wait()
        except asyncio.CancelledError:
            self._budget.remove(ticket)
            raise
        if ticket.skipped is not None:
            raise SendSkipped(ticket.skipped)

    def _skip(self, ticket: _Ticket, why: str) -> None:
        ticket.skipped = why
        ticket.admitted.set()

    def _cancel_all(self, why: str) -> None:
        for ticket in self._budget.drain():
            self._skip(ticket, why)

    async def _run(self) -> None:
        while not self._stopped:
            now = self._clock()
            if self._closing_at is not None and now >= self._closing_at and self.waiting:
                self.unsent_at_stop += self.waiting
                self._cancel_all("the bot is stopping")
            granted, skipped, wait = self._budget.take(now)
            for ticket in granted:
                ticket.admitted.set()
            for ticket in skipped:
                self._skip(ticket, "out of date")
            self._wake.clear()
            timeout = wait
            if self._closing_at is not None and self.waiting:
                remaining = max(0.0, self._closing_at - now)
                timeout = remaining if timeout is None else min(timeout, remaining)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)


async def counted(method: str, call: Awaitable[T]) -> T:
    """A Bot API call, counted by method and outcome for /metrics."""
    try:
        result = await call
    except RetryAfter:
        metrics.API_CALLS.labels(method=method, outcome="retry-after").inc()
        raise
    except Exception:
        metrics.API_CALLS.labels(method=method, outcome="error").inc()
        raise
    metrics.API_CALLS.labels(method=method, outcome="ok").inc()
    return result
