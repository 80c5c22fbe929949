"""Telegram's sending limits as a budget, and the order in which it is spent.

Pure bookkeeping over a clock the caller passes in: which waiting send may go out now, or
how long until one may. `scheduler.py` puts it on the event loop.

- Overall: at most 30 messages in any one second (a sliding window of send times), paced
  at 30 a second with a burst of `burst` (a bucket), so network jitter cannot bunch a
  second's worth into a fraction of one. Only replies may spend the burst, and only while
  the window has room for it: the bulk (reminders, cosmetic calls) waits for a full
  bucket, so it goes evenly spaced and a reply that follows it never waits for the next
  slot.
- Per private chat: about one a second, short bursts allowed; per group: 20 a minute.
- Lanes, in priority order: replies to a user's tap, reminders, cosmetic calls (clearing an
  old keyboard). The others only take a place while a reserve is left for replies (each
  send counted once, in the window), so a backlog of reminders never makes a reply wait;
  reminders get whatever replies leave, before cosmetic calls do. A lower lane never takes
  a chat's last token: the reply that may follow would wait for it. Cosmetic calls go
  last, at most one per chat (a newer one replaces the older), and are dropped when they
  have waited too long.
- Within a lane, chats take turns (round robin), so nobody waits behind another user's
  backlog, and one chat's sends keep their order.
- The urgent lane (`/hide` and `/delete` clearing the chat) goes first and has a budget of
  its own: Telegram paces sending, and says of deleting that "the limits are high enough
  to cover all reasonable usages" (tdlib/telegram-bot-api#572). So deletions are neither
  paced per chat nor counted among the sends: at most `deletions_per_second` calls (each
  up to 100 messages) in any second, and a quick exit never holds anyone's reply up. A
  RetryAfter still pauses them.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class Lane(IntEnum):
    URGENT = 0  # the quick exit's deletions: first, and not paced per chat
    REPLY = 1
    REMINDER = 2
    COSMETIC = 3


@dataclass(frozen=True)
class Limits:
    per_second: int = 30  # overall, in any one-second window
    burst: int = 3  # sends that may go at the same instant (replies only)
    reply_reserve: int = 5  # places in the window only replies may take
    chat_per_second: float = 1.0
    chat_burst: float = 3.0
    group_per_second: float = 20 / 60
    group_burst: float = 3.0
    cosmetic_max_wait: float = 5.0  # seconds; older cosmetic calls are skipped
    deletions_per_second: int = 30  # the urgent lane's own window: calls, not messages


@dataclass
class Bucket:
    rate: float
    size: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.size, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait(self, now: float, need: float = 1.0) -> float:
        """Seconds until `need` tokens are there (0: now)."""
        self.refill(now)
        return 0.0 if self.tokens >= need else (need - self.tokens) / self.rate


class Window:
    """At most `limit` events in any `width` seconds."""

    def __init__(self, limit: int, width: float = 1.0) -> None:
        self.limit = limit
        self.width = width
        self._times: deque[float] = deque()

    def wait(self, now: float, headroom: int = 0) -> float:
        """Seconds until one more event fits with `headroom` places still free (0: now)."""
        self._forget(now)
        allowed = self.limit - headroom
        if allowed <= 0:  # replies hold the places for now: look again as they age out
            return self._times[0] + self.width - now if self._times else self.width
        if len(self._times) < allowed:
            return 0.0
        return self._times[len(self._times) - allowed] + self.width - now

    def free(self, now: float) -> int:
        """Places left in the window now."""
        self._forget(now)
        return self.limit - len(self._times)

    def _forget(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.width:
            self._times.popleft()

    def add(self, now: float) -> None:
        self._times.append(now)


@dataclass
class Waiting(Generic[T]):
    item: T
    chat_id: int | None
    lane: Lane
    since: float


@dataclass
class _Lane(Generic[T]):
    chats: OrderedDict[int | None, deque[Waiting[T]]] = field(default_factory=OrderedDict)

    def __len__(self) -> int:
        return len(self.chats)


class Budget(Generic[T]):
    def __init__(self, limits: Limits, now: float) -> None:
        self.limits = limits
        self.overall = Window(limits.per_second)
        self.deletions = Window(limits.deletions_per_second)  # the urgent lane's own
        self.pace = Bucket(limits.per_second, limits.burst, limits.burst, now)
        self._chats: dict[int, Bucket] = {}  # only chats with a recent send: pruned when full
        self._paused_until: dict[int | None, float] = {}  # RetryAfter, per chat or overall
        self._lanes = {lane: _Lane[T]() for lane in Lane}
        self.waiting = 0

    # -- queueing ------------------------------------------------------------------------

    def add(self, item: T, chat_id: int | None, lane: Lane, now: float) -> list[T]:
        """Queue a send. Returns cosmetic sends it replaces (to be skipped)."""
        queue = self._lanes[lane].chats.setdefault(chat_id, deque())
        replaced = []
        if lane is Lane.COSMETIC and queue:
            replaced = [w.item for w in queue]
            self.waiting -= len(queue)
            queue.clear()
        queue.append(Waiting(item, chat_id, lane, now))
        self.waiting += 1
        return replaced

    def remove(self, item: T) -> bool:
        """Take a send out of its queue (its caller gave up)."""
        for lane in self._lanes.values():
            for chat_id, queue in lane.chats.items():
                for waiting in queue:
                    if waiting.item is item:
                        queue.remove(waiting)
                        self.waiting -= 1
                        if not queue:
                            del lane.chats[chat_id]
                        return True
        return False

    def drain_chat(self, chat_id: int) -> list[T]:
        """Take every send waiting for this chat out of its queue (the chat was cleared)."""
        items: list[T] = []
        for lane in self._lanes.values():
            queue = lane.chats.pop(chat_id, None)
            if queue:
                items += [w.item for w in queue]
                self.waiting -= len(queue)
        return items

    def depth(self, lane: Lane) -> int:
        return sum(len(queue) for queue in self._lanes[lane].chats.values())

    def drain(self) -> list[T]:
        """Empty every queue; returns what was waiting."""
        items = [w.item for lane in self._lanes.values() for q in lane.chats.values() for w in q]
        for lane in self._lanes.values():
            lane.chats.clear()
        self.waiting = 0
        return items

    def pause(self, chat_id: int | None, until: float) -> None:
        """Telegram said RetryAfter for this chat (None: for everything)."""
        self._paused_until[chat_id] = max(until, self._paused_until.get(chat_id, 0.0))

    # -- choosing ------------------------------------------------------------------------

    def take(self, now: float) -> tuple[list[T], list[T], float | None]:
        """(sends that may go now, cosmetic sends to skip, seconds until the next check or
        None when nothing waits)."""
        granted: list[T] = []
        skipped = self._expire_cosmetic(now)
        soonest: float | None = None
        while self.waiting:
            choice, wait = self._choose(now)
            if choice is None:
                soonest = wait
                break
            granted.append(choice.item)
        self._prune(now)
        return granted, skipped, soonest

    def _choose(self, now: float) -> tuple[Waiting[T] | None, float]:
        overall_pause = self._paused_until.get(None, 0.0) - now
        if overall_pause > 0:
            return None, overall_pause
        soonest = float("inf")
        for lane_id, lane in self._lanes.items():
            if not lane:
                continue
            urgent = lane_id is Lane.URGENT
            bulk = lane_id not in (Lane.URGENT, Lane.REPLY)  # may not take the reserve
            if not urgent:
                pace_wait = self.pace.wait(now, self._pace_need(now, bulk))
                if pace_wait > 0:
                    soonest = min(soonest, pace_wait)
                    continue
            headroom = self.limits.reply_reserve if bulk else 0
            window = self.deletions if urgent else self.overall
            overall_wait = window.wait(now, headroom)
            if overall_wait > 0:
                soonest = min(soonest, overall_wait)
                continue
            for chat_id in list(lane.chats):
                chat_wait = self._chat_wait(chat_id, now, lane_id)
                if chat_wait > 0:
                    soonest = min(soonest, chat_wait)
                    continue
                queue = lane.chats.pop(chat_id)
                waiting = queue.popleft()
                if queue:
                    lane.chats[chat_id] = queue  # to the back of the round
                self.waiting -= 1
                window.add(now)
                if not urgent:
                    self.pace.tokens -= 1
                    if chat_id is not None:
                        self._chat_bucket(chat_id, now).tokens -= 1
                return waiting, 0.0
        return None, soonest

    def _pace_need(self, now: float, bulk: bool) -> float:
        """Pace tokens a send needs: the bulk a full bucket (evenly spaced); a reply one,
        unless the window is nearly full: a burst at its edge would put more than the
        limit into a second as Telegram sees it (the requests leave a little apart)."""
        if bulk or self.overall.free(now) < self.limits.burst:
            return self.pace.size
        return 1.0

    def _chat_wait(self, chat_id: int | None, now: float, lane: Lane) -> float:
        """Seconds until the chat may take a send in this lane: a reply needs a token, a
        lower lane one to spare for the reply that may follow, the urgent lane none."""
        pause = self._paused_until.get(chat_id, 0.0) - now
        if pause > 0:
            return pause
        if chat_id is None or lane is Lane.URGENT:
            return 0.0
        return self._chat_bucket(chat_id, now).wait(now, 1.0 if lane is Lane.REPLY else 2.0)

    def _chat_bucket(self, chat_id: int, now: float) -> Bucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            limits = self.limits
            rate, size = (
                (limits.chat_per_second, limits.chat_burst)
                if chat_id > 0
                else (limits.group_per_second, limits.group_burst)
            )
            bucket = self._chats[chat_id] = Bucket(rate, size, size, now)
        return bucket

    def _expire_cosmetic(self, now: float) -> list[T]:
        lane = self._lanes[Lane.COSMETIC]
        expired = [
            chat_id
            for chat_id, queue in lane.chats.items()
            if now - queue[0].since > self.limits.cosmetic_max_wait
        ]
        skipped = []
        for chat_id in expired:
            queue = lane.chats.pop(chat_id)
            self.waiting -= len(queue)
            skipped += [w.item for w in queue]
        return skipped

    def _prune(self, now: float) -> None:
        """Forget chats whose bucket is full again and pauses that are over: memory follows
        the chats active in the last few seconds, not the number of users."""
        if len(self._chats) > 64:
            for chat_id in [c for c, b in self._chats.items() if b.wait(now, b.size) == 0]:
                del self._chats[chat_id]
        if self._paused_until:
            for key in [k for k, until in self._paused_until.items() if until <= now]:
                del self._paused_until[key]
