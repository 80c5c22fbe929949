"""Opt-in reminders: stored, sent by one timer from the database, discreet, never twice."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from bench.workload import populate
from bot.content import Guide
from bot.telegram.reminders import BATCH, MAX_IN_FLIGHT, ReminderTimer, backoff
from bot.walkthrough import Progress
from tests.helpers import FakeClock, first_question, until
from tests.telegram_helpers import UNLIMITED, Chat, running

ALICE, BOB = 3001, 3002
DAY = 24 * 3600


async def set_reminder(chat: Chat, guide: Guide, choice: str, user: int = ALICE) -> None:
    await chat.command(user, "/menu")
    await chat.press(user, guide.messages.button("remind"))
    await chat.press(user, guide.messages.reminder(choice))


def timer(chat: Chat) -> ReminderTimer:
    found = chat.gently.reminders
    assert found is not None
    return found


async def fire_after(chat: Chat, clock: FakeClock, seconds: float) -> None:
    """Let `seconds` pass, then let the timer send what is due, to the end."""
    clock.advance(seconds)
    await timer(chat).tick()
    await timer(chat).wait_idle()


def reminders(db: Path) -> list[tuple[int, int, int | None]]:
    with sqlite3.connect(db) as raw:
        return raw.execute("SELECT user_id, due_at, sent_at FROM reminders").fetchall()


def reminder_messages(chat: Chat, guide: Guide, user: int = ALICE) -> list[str]:
    text = guide.messages.reminder("text")
    return [t for t in chat.api.sent_texts(user) if t == text]


async def test_quiet_by_default(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        assert reminders(db_path) == []
        assert await timer(chat).tick() is None


async def test_set_change_and_cancel(guide: Guide, db_path: Path) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        await chat.begin(ALICE)
        await set_reminder(chat, guide, "tomorrow")
        assert "short nudge tomorrow" in chat.last_text(ALICE)
        assert reminders(db_path) == [(ALICE, int(clock.now) + DAY, None)]
        assert await timer(chat).tick() == DAY

        await set_reminder(chat, guide, "in_a_week")
        assert "short nudge in a week" in chat.last_text(ALICE)
        assert reminders(db_path) == [(ALICE, int(clock.now) + 7 * DAY, None)]

        await chat.command(ALICE, "/remind off")
        assert "No reminder is set" in chat.last_text(ALICE)
        assert reminders(db_path) == []
        await fire_after(chat, clock, 8 * DAY)
        assert reminder_messages(chat, guide) == []


async def test_natural_pause_offers_a_reminder(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        for _ in range(first_question(guide)):
            await chat.press(ALICE, guide.messages.button("next"))
        for _ in range(10):
            await chat.press(ALICE, "Not yet")
        assert "You answered yes to 0 of 10" in chat.last_text(ALICE)
        await chat.press(ALICE, guide.messages.button("remind"))
        assert guide.messages.reminder("offer") in chat.last_text(ALICE)
        await chat.press(ALICE, guide.messages.reminder("no_thanks"))
        assert reminders(db_path) == []


async def test_a_due_reminder_is_discreet_and_resumes(guide: Guide, db_path: Path) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        await chat.begin(ALICE)
        await chat.press(ALICE, guide.messages.button("next"))
        where = chat.last_text(ALICE)
        await set_reminder(chat, guide, "in_3_days")
        await fire_after(chat, clock, 3 * DAY - 1)
        assert reminder_messages(chat, guide) == []  # not a second early
        await fire_after(chat, clock, 1)
        (sent,) = [
            c
            for c in chat.api.to(ALICE, "sendMessage")
            if c.text == guide.messages.reminder("text")
        ]
        assert sent.text == "Ready to pick up where you left off?"
        assert [label for label, _ in sent.buttons] == [guide.messages.reminder("continue")]
        await chat.press(ALICE, guide.messages.reminder("continue"))
        assert chat.last_text(ALICE) == where
        await fire_after(chat, clock, DAY)  # the timer again: never a second message
        assert len(reminder_messages(chat, guide)) == 1


async def test_restart_with_an_overdue_reminder_sends_it_once(guide: Guide, db_path: Path) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        await chat.begin(ALICE)
        await set_reminder(chat, guide, "tomorrow")
    clock.advance(2 * DAY)  # the bot was down when it fell due
    async with running(guide, db_path, clock) as chat:
        await fire_after(chat, clock, 0)
        await fire_after(chat, clock, DAY)
        assert len(reminder_messages(chat, guide)) == 1
        assert reminders(db_path)[0][2] is not None


async def test_start_up_schedules_nothing_per_pending_reminder(guide: Guide, db_path: Path) -> None:
    """20,000 pending reminders: start-up reads none of them; a pass over due ones holds at
    most MAX_IN_FLIGHT in memory, started a batch at a time."""
    clock = FakeClock()
    await populate(db_path, range(1, 20_001), Progress("collect.why"), int(clock.now))
    with sqlite3.connect(db_path) as raw:
        raw.execute(
            "INSERT INTO reminders (user_id, due_at) SELECT user_id, ? FROM users",
            (int(clock.now) - 10,),
        )
    tasks_before = len(asyncio.all_tasks())
    async with running(guide, db_path, clock) as chat:
        started = len(asyncio.all_tasks()) - tasks_before
        assert started <= 3  # update fetcher, heartbeat, send scheduler: none per reminder
        gently = chat.gently
        gently.scheduler._budget.limits = UNLIMITED.__class__(
            **{**UNLIMITED.__dict__, "reply_reserve": 10**9}
        )  # reminders wait in their lane
        await timer(chat).tick()
        await until(lambda: gently.scheduler.waiting == BATCH)
        for _ in range(5):
            await timer(chat).tick()
        assert len(timer(chat)._in_flight) == MAX_IN_FLIGHT
        gently.scheduler.close_at(time.monotonic())  # stopping, as the runner does
        await timer(chat).stop()  # not yet admitted: not claimed, all still pending
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT COUNT(*) FROM reminders WHERE sent_at IS NULL").fetchone() == (
            20_000,
        )


async def test_a_retryable_failure_goes_back_to_pending_then_succeeds(
    guide: Guide, db_path: Path
) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        await chat.begin(ALICE)
        await set_reminder(chat, guide, "tomorrow")
        chat.api.fail("sendMessage", 502, "Bad Gateway", ALICE)
        await fire_after(chat, clock, DAY)
        ((user, due, sent),) = reminders(db_path)
        assert (user, due, sent) == (ALICE, int(clock.now) + backoff(0), None)
        assert len(reminder_messages(chat, guide)) == 1  # the attempt that failed
        chat.api.clear_failures()
        await fire_after(chat, clock, backoff(0))
        assert len(reminder_messages(chat, guide)) == 2
        assert reminders(db_path)[0][2] is not None
        await fire_after(chat, clock, DAY)
        assert len(reminder_messages(chat, guide)) == 2


async def test_unblocking_lets_a_new_reminder_through(guide: Guide, db_path: Path) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        await chat.begin(ALICE)
        await chat.send(chat.updates.blocked_by(ALICE))
        await chat.send(chat.updates.unblocked_by(ALICE))
        with sqlite3.connect(db_path) as raw:  # Telegram's word alone clears the block
            assert raw.execute("SELECT blocked_at FROM users").fetchone() == (None,)
        await set_reminder(chat, guide, "tomorrow")
        await fire_after(chat, clock, DAY)
        assert len(reminder_messages(chat, guide)) == 1


async def test_any_message_from_a_blocked_user_clears_the_block(
    guide: Guide, db_path: Path
) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        await chat.begin(ALICE)
        await chat.send(chat.updates.blocked_by(ALICE))
        await chat.command(ALICE, "/menu")  # no progress change, still a sign of life
        await chat.press(ALICE, guide.messages.button("remind"))
        await chat.press(ALICE, guide.messages.reminder("tomorrow"))
        await fire_after(chat, clock, DAY)
        assert len(reminder_messages(chat, guide)) == 1


async def test_a_user_blocked_mid_backlog_is_dropped_and_others_go_out(
    guide: Guide, db_path: Path
) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        for user in (ALICE, BOB):
            await chat.begin(user)
            await set_reminder(chat, guide, "tomorrow", user)
        chat.api.fail("sendMessage", 403, "Forbidden: bot was blocked by the user", ALICE)
        await fire_after(chat, clock, DAY)
        assert reminder_messages(chat, guide, BOB) != []
        assert [r[0] for r in reminders(db_path)] == [BOB]  # Alice's is gone
        with sqlite3.connect(db_path) as raw:
            (blocked,) = raw.execute(
                "SELECT blocked_at FROM users WHERE user_id = ?", (ALICE,)
            ).fetchone()
        assert blocked is not None


async def test_deleted_and_finished_users_get_no_reminder(guide: Guide, db_path: Path) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        for user in (ALICE, BOB):
            await chat.begin(user)
            await set_reminder(chat, guide, "tomorrow", user)
        await chat.command(ALICE, "/delete")
        await chat.press(ALICE, guide.messages.button("delete_yes"))
        with sqlite3.connect(db_path) as raw:
            raw.execute("UPDATE users SET finished_at = 1 WHERE user_id = ?", (BOB,))
        await fire_after(chat, clock, DAY)
        assert reminder_messages(chat, guide, ALICE) == []
        assert reminder_messages(chat, guide, BOB) == []


async def test_a_reminder_changed_or_cancelled_while_it_waits_to_be_sent(
    guide: Guide, db_path: Path
) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        for user in (ALICE, BOB):
            await chat.begin(user)
            await set_reminder(chat, guide, "tomorrow", user)
        await chat.command(BOB, "/remind")  # the offer, so Bob can change his choice later
        scheduler = chat.gently.scheduler
        scheduler._budget.limits = UNLIMITED.__class__(
            **{**UNLIMITED.__dict__, "reply_reserve": 10**9}
        )  # replies go out; reminders wait in their lane
        clock.advance(DAY)
        await timer(chat).tick()
        await until(lambda: scheduler.waiting == 2)
        # (process_update, not chat.send: clearing old buttons waits in the held lanes too)
        await chat.app.process_update(chat.updates.command(ALICE, "/remind off"))
        _, data = chat.last_with_button(BOB, guide.messages.reminder("in_a_week"))
        await chat.app.process_update(chat.updates.tap(BOB, data))
        scheduler._budget.limits = UNLIMITED
        scheduler._wake.set()
        await timer(chat).wait_idle()
        assert reminder_messages(chat, guide, ALICE) == []
        assert reminder_messages(chat, guide, BOB) == []
        assert reminders(db_path) == [(BOB, int(clock.now) + 7 * DAY, None)]
        await fire_after(chat, clock, 7 * DAY)
        assert len(reminder_messages(chat, guide, BOB)) == 1
