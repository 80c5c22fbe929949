"""Opt-in reminders: stored, scheduled, restored, discreet, and never sent twice."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from telegram.ext import Job

from bot.content import Guide
from bot.reminders import job_name
from tests.helpers import FakeClock
from tests.telegram_helpers import Chat, running

ALICE, BOB = 3001, 3002
DAY = 24 * 3600


async def confirmed(chat: Chat, guide: Guide, user: int = ALICE) -> None:
    await chat.begin(user)


async def set_reminder(chat: Chat, guide: Guide, choice: str, user: int = ALICE) -> None:
    await chat.command(user, "/menu")
    await chat.press(user, guide.messages.button("remind"))
    await chat.press(user, guide.messages.reminder(choice))


def pending_job(chat: Chat) -> Job:  # type: ignore[type-arg]
    """Alice's one scheduled reminder job (fails if there is none, or more than one)."""
    (job,) = chat.app.job_queue.get_jobs_by_name(job_name(ALICE))
    return job


async def fire_after(chat: Chat, clock: FakeClock, seconds: float) -> Job:  # type: ignore[type-arg]
    """Let `seconds` pass and run Alice's reminder job, as the JobQueue would then."""
    clock.advance(seconds)
    job = pending_job(chat)
    await job.run(chat.app)
    return job


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
        assert chat.app.job_queue.jobs("^reminder:") == ()


async def test_set_change_and_cancel(guide: Guide, db_path: Path) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        await chat.begin(ALICE)
        await set_reminder(chat, guide, "tomorrow")
        assert "short nudge tomorrow" in chat.last_text(ALICE)
        assert reminders(db_path) == [(ALICE, int(clock.now) + DAY, None)]
        assert len(chat.app.job_queue.get_jobs_by_name(job_name(ALICE))) == 1

        await set_reminder(chat, guide, "in_a_week")
        assert "short nudge in a week" in chat.last_text(ALICE)
        assert reminders(db_path) == [(ALICE, int(clock.now) + 7 * DAY, None)]
        live = chat.app.job_queue.get_jobs_by_name(job_name(ALICE))
        assert len(live) == 1, "one pending reminder per user at most"

        await chat.command(ALICE, "/remind off")
        assert "No reminder is set" in chat.last_text(ALICE)
        assert reminders(db_path) == []
        assert chat.app.job_queue.get_jobs_by_name(job_name(ALICE)) == ()


async def test_natural_pause_offers_a_reminder(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        for _ in range(3):
            await chat.press(ALICE, guide.messages.button("next"))
        for _ in range(10):
            await chat.press(ALICE, guide.messages.button("skip"))
        assert "You ticked 0 of 10" in chat.last_text(ALICE)
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
        job = await fire_after(chat, clock, 3 * DAY)
        (sent,) = [
            c
            for c in chat.api.to(ALICE, "sendMessage")
            if c.text == guide.messages.reminder("text")
        ]
        assert sent.text == "Ready to pick up where you left off?"
        assert [label for label, _ in sent.buttons] == [guide.messages.reminder("continue")]
        await chat.press(ALICE, guide.messages.reminder("continue"))
        assert chat.last_text(ALICE) == where
        await job.run(chat.app)  # the same job again, as after a crash: never a second message
        assert len(reminder_messages(chat, guide)) == 1


async def test_restart_with_a_pending_reminder_reschedules_it(guide: Guide, db_path: Path) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        await chat.begin(ALICE)
        await set_reminder(chat, guide, "tomorrow")
    clock.advance(3600)
    async with running(guide, db_path, clock) as chat:
        job = pending_job(chat)
        assert job.data.due_at == int(clock.now) - 3600 + DAY
        assert reminder_messages(chat, guide) == []


async def test_restart_with_an_overdue_reminder_sends_it_once(guide: Guide, db_path: Path) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        await chat.begin(ALICE)
        await set_reminder(chat, guide, "tomorrow")
    clock.advance(2 * DAY)  # the bot was down when it fell due
    async with running(guide, db_path, clock) as chat:
        await chat.api.wait_for(lambda _: len(reminder_messages(chat, guide)) == 1)
    assert reminders(db_path)[0][2] is not None  # claimed as sent
    async with running(guide, db_path, clock) as chat:
        assert chat.app.job_queue.jobs("^reminder:") == ()
        assert reminder_messages(chat, guide) == []


async def test_blocked_user_loses_the_reminder(guide: Guide, db_path: Path) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        await chat.begin(ALICE)
        await set_reminder(chat, guide, "tomorrow")
        chat.api.fail("sendMessage", 403, "Forbidden: bot was blocked by the user", ALICE)
        await fire_after(chat, clock, DAY)
    assert reminders(db_path) == []
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT blocked_at FROM users").fetchone()[0] is not None


async def test_blocking_the_bot_drops_the_reminder_at_once(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        await set_reminder(chat, guide, "tomorrow")
        job = pending_job(chat)
        await chat.send(chat.updates.blocked_by(ALICE))
        assert reminders(db_path) == []
        assert job.removed
        assert chat.app.job_queue.jobs("^reminder:") == ()


async def test_deleted_user_gets_no_reminder(guide: Guide, db_path: Path) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        await chat.begin(ALICE)
        await set_reminder(chat, guide, "tomorrow")
        job = pending_job(chat)
        await chat.command(ALICE, "/delete")
        await chat.press(ALICE, guide.messages.button("delete_yes"))
        assert reminders(db_path) == []
        assert job.removed
        clock.advance(DAY)
        await job.run(chat.app)  # even a job that slipped through sends nothing
        assert reminder_messages(chat, guide) == []


async def test_finished_user_gets_no_reminder(guide: Guide, db_path: Path) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        await chat.begin(ALICE)
        await set_reminder(chat, guide, "tomorrow")
        await chat.press(ALICE, "5. What to watch and read")
        for _ in range(len(guide.parts[-1].steps) - 1):
            await chat.press(ALICE, guide.messages.button("next"))
        await chat.press(ALICE, guide.messages.button("finish"))
        assert "end of the guide" in chat.last_text(ALICE)
        await fire_after(chat, clock, DAY)
        assert reminder_messages(chat, guide) == []
