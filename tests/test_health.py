"""The bot knows when it is unwell (issue 20): a background task that dies, writes that
fail while reads work, a database file replaced under it, reminders that may have
arrived. Each is one log line and shows in the health state."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from pathlib import Path

import pytest

from bot.content import Guide
from bot.health import check, diagnose, heartbeat_path
from bot.runtime import RECOVERED_AFTER
from bot.store import StoreUnavailable
from tests.helpers import FakeClock, until
from tests.telegram_helpers import Chat, running

ALICE = 4001
DAY = 24 * 3600


class HeldRestart:
    """Stands in for the pause before a restart: the test sees the task down, then lets
    it start again."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.resume = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.entered.set()
        await self.resume.wait()


def died(caplog: pytest.LogCaptureFixture, task: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if f"the {task} task died" in r.getMessage()]


async def test_a_send_scheduler_that_dies_is_reported_and_started_again(
    guide: Guide, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected error ends the scheduler's loop: one ERROR naming its type and where
    (never its message), the health check fails while it is down, and it starts again:
    the reply that was waiting goes out."""
    async with running(guide, db_path) as chat:
        held = HeldRestart()
        chat.gently.health.pause = held
        budget = chat.gently.scheduler._budget  # type: ignore[union-attr]
        take = budget.take

        def broken(now: float) -> object:
            budget.take = take  # type: ignore[method-assign]
            raise RuntimeError("a bug, quoting someone's words")

        budget.take = broken  # type: ignore[method-assign]
        with caplog.at_level(logging.ERROR):
            waiting = asyncio.create_task(chat.command(ALICE, "/start"))
            await asyncio.wait_for(held.entered.wait(), 10)
        (line,) = died(caplog, "send scheduler")
        assert "RuntimeError at test_health.py:" in line  # its type, and where it was raised
        assert "quoting" not in caplog.text
        state = await chat.gently.beat()
        assert any("send scheduler" in problem for problem in state.problems)
        assert check(heartbeat_path(db_path)) is not None
        assert not waiting.done()  # the reply waits for the scheduler

        held.resume.set()
        await asyncio.wait_for(waiting, 10)
        assert "18 or older" in chat.last_text(ALICE)
        assert (await chat.gently.beat()).problems == []
        assert check(heartbeat_path(db_path)) is None


async def test_a_reminder_timer_that_dies_is_reported_and_started_again(
    guide: Guide, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(guide, db_path) as chat:
        held = HeldRestart()
        chat.gently.health.pause = held
        store = chat.gently.store
        next_due = store.next_reminder_due

        async def broken() -> int | None:
            store.next_reminder_due = next_due  # type: ignore[method-assign]
            raise KeyError("a bug")

        store.next_reminder_due = broken  # type: ignore[method-assign]
        with caplog.at_level(logging.ERROR):
            chat.gently.reminders.start()
            await asyncio.wait_for(held.entered.wait(), 10)
        (line,) = died(caplog, "reminder timer")
        assert "KeyError at" in line
        state = await chat.gently.beat()
        assert any("reminder timer" in problem for problem in state.problems)
        held.resume.set()
        await until(lambda: not chat.gently.health.tasks_down)
        assert (await chat.gently.beat()).problems == []


async def test_health_follows_writes_not_reads(guide: Guide, db_path: Path) -> None:
    """On a read-only or full disk reads keep working: a tap that only reads must not
    make the health check look fine, and with nobody tapping, the heartbeat's own write
    shows it."""
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        await chat.gently.store._db.execute("PRAGMA query_only = ON")
        await chat.press(ALICE, guide.messages.button("next"))  # a write: fails
        await chat.command(ALICE, "/resume")  # a read: works
        state = await chat.gently.beat()
        assert state.store_failing_since is not None
        await chat.gently.store._db.execute("PRAGMA query_only = OFF")
        assert (await chat.gently.beat()).store_failing_since is not None  # too soon to tell
        chat.clock.advance(RECOVERED_AFTER)
        assert (await chat.gently.beat()).store_failing_since is None  # the probe wrote


async def test_taps_failing_while_the_probe_fits_are_unhealthy_after_a_minute(
    guide: Guide, db_path: Path
) -> None:
    """A full disk: a tap's write fails, yet the heartbeat's tiny probe still fits into the
    WAL. Failures every few seconds keep the database failing, and after a minute the
    verdict (health, /healthz, the watchdog) is unhealthy."""
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        runtime = chat.gently.runtime
        for _ in range(14):  # a failing tap every 5 s for 70 s, a heartbeat between each
            runtime.store_failed(StoreUnavailable("database or disk is full"))
            chat.clock.advance(5)
            await chat.command(ALICE, "/resume")  # a read works meanwhile
            state = await chat.gently.beat()
        assert state.store_failing_since is not None
        assert "failing" in (diagnose(state, now=chat.clock()) or "")


async def test_the_probe_alone_finds_writes_failing(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.gently.store._db.execute("PRAGMA query_only = ON")
        assert (await chat.gently.beat()).store_failing_since is not None
        await chat.gently.store._db.execute("PRAGMA query_only = OFF")


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_a_database_file_gone_from_under_the_bot_is_one_error(
    guide: Guide, db_path: Path, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        os.unlink(db_path)
        if how == "replaced":
            sqlite3.connect(db_path).close()
        with caplog.at_level(logging.ERROR):
            for _ in range(3):
                state = await chat.gently.beat()
                assert any(how in problem for problem in state.problems)
        assert len([r for r in caplog.records if how in r.getMessage()]) == 1
        assert check(heartbeat_path(db_path)) is not None


async def test_a_reminder_that_may_have_arrived_is_one_info_line_with_a_count(
    guide: Guide, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        await chat.begin(ALICE)
        await set_tomorrow(chat, guide)
        chat.api.time_out("sendMessage", ALICE)
        with caplog.at_level(logging.INFO):
            clock.advance(DAY)
            await chat.gently.reminders.tick()
            await chat.gently.reminders.wait_idle()
        (line,) = [r for r in caplog.records if "may have been delivered" in r.getMessage()]
        assert line.levelno == logging.INFO
        assert "1 dropped since start" in line.getMessage()
        with sqlite3.connect(db_path) as raw:  # never sent again
            assert raw.execute("SELECT sent_at FROM reminders").fetchone()[0] is not None


async def set_tomorrow(chat: Chat, guide: Guide) -> None:
    await chat.command(ALICE, "/menu")
    await chat.press(ALICE, guide.messages.button("remind"))
    await chat.press(ALICE, guide.messages.reminder("tomorrow"))


async def test_a_clean_stop_leaves_no_heartbeat(guide: Guide, db_path: Path) -> None:
    """`python -m bot health` must not call a stopped bot healthy for two minutes."""
    async with running(guide, db_path) as chat:
        await chat.gently.beat()
        assert check(heartbeat_path(db_path)) is None
    assert "no heartbeat" in (check(heartbeat_path(db_path)) or "")


async def test_telegrams_delivery_trouble_shows_on_healthz_but_never_stops_the_watchdog(
    guide: Guide, db_path: Path
) -> None:
    """A restart would not make Telegram deliver, and a restart loop would lose what was
    accepted: the webhook's trouble is for /healthz alone."""
    webhook = {"webhook_url": "https://bot.example.org/hook", "webhook_secret": "s" * 20}
    async with running(guide, db_path, **webhook) as chat:
        gently = chat.gently
        assert gently.webhook is not None
        gently.webhook.problem = "Telegram cannot deliver to the webhook (x); 3 update(s) waiting"
        gently.receiving = True
        state = await gently.beat()
        assert diagnose(state) is None  # what the heartbeat file and the watchdog go by
        assert gently.problem() == gently.webhook.problem  # what /healthz says
