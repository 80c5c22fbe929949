"""The send budget, on a fake clock: Telegram's limits, lanes, fairness, RetryAfter."""

from __future__ import annotations

import itertools

from bot.telegram.budget import Budget, Lane, Limits


def drain(
    budget: Budget[str], start: float, until: float, step: float = 0.01
) -> list[tuple[float, str]]:
    """Run the clock as the scheduler does: check, then sleep until the time the budget
    names (or `step`, whichever is sooner). (time, item) for every grant."""
    granted: list[tuple[float, str]] = []
    now = start
    while now <= until:
        items, _, wait = budget.take(now)
        granted += [(now, item) for item in items]
        now += step if wait is None else min(step, max(wait, 1e-9))
    return granted


def test_never_more_than_thirty_in_any_second_yet_thirty_a_second_sustained() -> None:
    budget: Budget[str] = Budget(Limits(), 0.0)
    for user in range(1, 301):
        budget.add(f"reply-{user}", user, Lane.REPLY, 0.0)
    times = [t for t, _ in drain(budget, 0.0, 10.0)]
    assert len(times) >= 299  # 30 a second for ten seconds
    assert max(sum(1 for u in times if t <= u < t + 1) for t in times) <= 30
    burst = Limits().burst
    assert times[burst - 1] == 0.0 < times[burst]  # a short burst, then paced
    gaps = [b - a for a, b in itertools.pairwise(times[burst:])]
    # evenly spaced while the window is full: a burst at its edge would put more than 30
    # into one second as Telegram sees it, the requests leaving a little apart
    assert min(gaps) >= 1 / 30 - 1e-9


def test_a_reply_right_after_other_sends_does_not_wait_for_a_slot() -> None:
    budget: Budget[str] = Budget(Limits(), 0.0)
    for user in range(1000, 1200):
        budget.add(f"reminder-{user}", user, Lane.REMINDER, 0.0)
    reminders = [t for t, _ in drain(budget, 0.0, 0.5, step=0.001)]
    gaps = [b - a for a, b in itertools.pairwise(reminders)]
    assert min(gaps) >= 1 / 30 - 1e-9  # the bulk goes evenly spaced
    last = reminders[-1]
    budget.add("reply-1", 1, Lane.REPLY, last)
    budget.add("reply-2", 2, Lane.REPLY, last)
    granted, _, _ = budget.take(last)
    assert granted == ["reply-1", "reply-2"]  # at once, not at the next even slot


def test_one_chat_gets_about_one_a_second_after_a_short_burst() -> None:
    budget: Budget[str] = Budget(Limits(), 0.0)
    for n in range(10):
        budget.add(f"reply-{n}", 7, Lane.REPLY, 0.0)
    times = [t for t, _ in drain(budget, 0.0, 20.0)]
    assert times[2] < 0.1 <= 0.9 < times[3]  # a short burst of three, then a pause
    gaps = [b - a for a, b in itertools.pairwise(times[3:])]
    assert all(abs(gap - 1.0) < 0.05 for gap in gaps), gaps


def test_groups_get_twenty_a_minute() -> None:
    budget: Budget[str] = Budget(Limits(), 0.0)
    for n in range(30):
        budget.add(f"group-{n}", -100, Lane.REPLY, 0.0)
    assert len(drain(budget, 0.0, 59.9, step=0.1)) <= 3 + 20


def test_a_backlog_in_one_chat_does_not_delay_others() -> None:
    budget: Budget[str] = Budget(Limits(), 0.0)
    for n in range(100):
        budget.add(f"flood-{n}", 1, Lane.REPLY, 0.0)
    budget.add("other", 2, Lane.REPLY, 0.0)
    granted = {item: t for t, item in drain(budget, 0.0, 1.0)}
    assert granted["other"] < 0.1  # among the first, not after the flood's hundred


def test_replies_go_before_reminders_and_reminders_leave_room() -> None:
    budget: Budget[str] = Budget(Limits(), 0.0)
    for user in range(1000, 1200):
        budget.add(f"reminder-{user}", user, Lane.REMINDER, 0.0)
    reminders = drain(budget, 0.0, 0.99)
    assert len(reminders) <= 30 - Limits().reply_reserve  # evenly paced, reserve kept
    for user in range(1, 6):
        budget.add(f"reply-{user}", user, Lane.REPLY, 0.99)
    after = [item for _, item in drain(budget, 0.99, 1.5)]
    assert after[:5] == [f"reply-{u}" for u in range(1, 6)]  # ahead of the whole backlog


def test_cosmetic_calls_are_coalesced_per_chat_and_expire() -> None:
    budget: Budget[str] = Budget(Limits(), 0.0)
    assert budget.add("clear-old", 5, Lane.COSMETIC, 0.0) == []
    assert budget.add("clear-new", 5, Lane.COSMETIC, 0.0) == ["clear-old"]
    budget.add("clear-other", 6, Lane.COSMETIC, 0.0)
    for user in range(100, 400):  # replies keep the budget busy
        budget.add(f"reply-{user}", user, Lane.REPLY, 0.0)
    skipped: list[str] = []
    granted: list[str] = []
    now = 0.0
    while now < 6:
        items, gone, _ = budget.take(now)
        granted += items
        skipped += gone
        now += 0.01
    # the replies took every place; the clearing calls were dropped once out of date
    assert sorted(skipped) == ["clear-new", "clear-other"]
    assert not any(item.startswith("clear") for item in granted)


def test_retry_after_pauses_only_that_chat() -> None:
    budget: Budget[str] = Budget(Limits(), 0.0)
    budget.pause(5, 10.0)
    budget.add("paused", 5, Lane.REPLY, 0.0)
    budget.add("free", 6, Lane.REPLY, 0.0)
    granted = drain(budget, 0.0, 10.5)
    assert granted[0] == (0.0, "free")
    (when, item) = granted[1]
    assert item == "paused" and 10.0 <= when < 10.05


def test_memory_follows_active_chats_not_users() -> None:
    budget: Budget[str] = Budget(Limits(), 0.0)
    for user in range(1, 10_001):
        budget.add(f"r{user}", user, Lane.REPLY, user / 30)
        budget.take(user / 30)
    budget.take(10_001 / 30 + 10)
    assert len(budget._chats) <= 64


def test_replies_are_counted_once_and_reminders_get_what_they_leave() -> None:
    """20 replies a second from 20 users and a backlog of reminders: the reminders go out
    at the spare rate, 30 - 20 - the reserve of 5 = 5 a second (counting the replies twice
    left them none)."""
    budget: Budget[str] = Budget(Limits(), 0.0)
    for n in range(1000):
        budget.add(f"reminder-{n}", 10_000 + n, Lane.REMINDER, 0.0)
    granted: list[tuple[float, str]] = []
    now = 0.0
    while now < 10.0:
        if abs(now * 20 - round(now * 20)) < 1e-6:  # a reply every 50 ms, a new user each
            budget.add(f"reply-{now:.2f}", 1 + round(now * 20), Lane.REPLY, now)
        items, _, _ = budget.take(now)
        granted += [(now, item) for item in items]
        now = round(now + 0.01, 2)
    replies = [t for t, item in granted if item.startswith("reply")]
    reminders = [t for t, item in granted if item.startswith("reminder")]
    assert len(replies) == 200
    assert 45 <= len([t for t in reminders if t >= 1.0]) <= 50  # about 5 a second
    assert max(sum(1 for u in (t for t, _ in granted) if t <= u < t + 1) for t, _ in granted) <= 30


def test_a_cosmetic_call_never_takes_the_last_token_a_reply_needs() -> None:
    """A chat that used its burst: a keyboard clear waits until the chat has a token to
    spare, so the reply that follows goes out at once."""
    budget: Budget[str] = Budget(Limits(), 0.0)
    for n in range(2):
        budget.add(f"reply-{n}", 7, Lane.REPLY, 0.0)
    assert len(drain(budget, 0.0, 0.1)) == 2  # one token left of the burst of three
    budget.add("clear", 7, Lane.COSMETIC, 0.1)
    assert drain(budget, 0.1, 0.5) == []  # it would take the last one
    budget.add("reply-2", 7, Lane.REPLY, 0.5)
    assert [item for _, item in drain(budget, 0.5, 0.6)] == ["reply-2"]


async def test_a_send_asked_for_after_the_scheduler_stopped_is_skipped_not_stuck() -> None:
    """Nothing admits sends once the scheduler has stopped: one asked for then must fail
    at once, or the task that asked would wait forever and hold up the shutdown."""
    import asyncio

    import pytest

    from bot.telegram.scheduler import SendScheduler, SendSkipped

    scheduler = SendScheduler()
    await scheduler.initialize()
    await scheduler.shutdown()

    async def call() -> dict[str, object]:
        return {}

    with pytest.raises(SendSkipped):
        await asyncio.wait_for(
            scheduler.process_request(call, (), {}, "sendMessage", {"chat_id": 1}, None), 5
        )


async def test_the_quick_exits_deletions_wait_out_a_retry_after() -> None:
    """Telegram asking to slow down must not drop a /hide or /delete batch: after /delete
    its ids are gone from the ledger and could never be tried again."""
    import asyncio
    import datetime as dt

    from telegram.error import RetryAfter

    from bot.telegram.scheduler import Send, SendScheduler

    scheduler = SendScheduler()
    await scheduler.initialize()
    attempts = 0

    async def call() -> bool:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RetryAfter(dt.timedelta(milliseconds=10))
        return True

    try:
        answer = await asyncio.wait_for(
            scheduler.process_request(
                call, (), {}, "deleteMessages", {"chat_id": 1}, Send(Lane.URGENT)
            ),
            5,
        )
    finally:
        await scheduler.shutdown()
    assert answer is True and attempts == 2


def test_the_quick_exits_deletions_never_hold_a_reply_up() -> None:
    """Ten users' chats being cleared (1,000 messages each, ten calls apiece) beside replies
    to others: deletions have a window of their own (Telegram paces sending, not
    deleting), so every reply still goes at once, and the deletions still go at 30 calls
    a second."""
    budget: Budget[str] = Budget(Limits(), 0.0)
    for user in range(1, 11):
        for batch in range(10):
            budget.add(f"delete-{user}-{batch}", user, Lane.URGENT, 0.0)
    granted: list[tuple[float, str]] = []
    now = 0.0
    while now < 5.0:
        if abs(now * 10 - round(now * 10)) < 1e-6:  # a reply every 100 ms, a new user each
            budget.add(f"reply-{now:.1f}", 100 + round(now * 10), Lane.REPLY, now)
        items, _, _ = budget.take(now)
        granted += [(now, item) for item in items]
        now = round(now + 0.01, 2)
    replies = {item: t for t, item in granted if item.startswith("reply")}
    assert all(abs(t - float(item.split("-")[1])) < 1e-9 for item, t in replies.items())
    deletions = [t for t, item in granted if item.startswith("delete")]
    assert len(deletions) == 100 and deletions[-1] <= 3.4
    assert max(sum(1 for u in deletions if t <= u < t + 1) for t in deletions) <= 30
