"""Concurrency, Bot API failures and faults, against the real Application."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from bot.content import Guide
from bot.telegram.codec import encode
from bot.walkthrough import Action, Verb
from tests.telegram_helpers import TOKEN, running

ALICE, BOB = 2001, 2002


async def test_a_slow_user_does_not_hold_others_back(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        release_alice = chat.api.hold(ALICE)  # Alice's messages hang in the network
        queue = chat.app.update_queue
        await queue.put(chat.updates.command(ALICE, "/start"))
        await queue.put(chat.updates.command(BOB, "/start"))
        await queue.put(chat.updates.tap(BOB, encode(Action(Verb.CONFIRM))))
        await chat.api.wait_for(lambda _: "Part 1 of 5" in chat.last_text(BOB))
        assert chat.api.to(ALICE, "sendMessage")  # requested, still in flight
        release_alice.set()
        await chat.api.wait_for(lambda _: len(chat.api.to(ALICE, "sendMessage")) == 1)


async def test_one_users_taps_stay_in_order(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        release = chat.api.hold(ALICE)
        queue = chat.app.update_queue
        steps = [s.id for s in guide.parts[0].steps]
        for step_id in steps[:6]:  # six quick "next" taps, each on the step it follows
            await queue.put(chat.updates.tap(ALICE, encode(Action(Verb.NEXT, step_id))))
        await queue.put(chat.updates.command(BOB, "/start"))
        await chat.api.wait_for(lambda _: "18 or older" in chat.last_text(BOB))
        release.set()
        await chat.api.wait_for(lambda _: len(chat.answers()) == 7)
        await chat.api.wait_for(lambda _: len(chat.api.sent_texts(ALICE)) == 8)
        texts = [t for t in chat.api.sent_texts(ALICE) if "Step" in t or "Checklist" in t]
        assert "Checklist · 4 of 10" in texts[-1]  # step 7 of part 1: six taps, all applied
        assert all(a.params.get("text") is None for a in chat.answers()[1:])  # none was stale


async def test_message_not_modified_and_old_queries_are_harmless(
    guide: Guide, db_path: Path
) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        chat.api.fail("editMessageText", 400, "Bad Request: message is not modified")
        chat.api.fail("answerCallbackQuery", 400, "Bad Request: query is too old and "
                      "response timeout expired or query id is invalid")  # fmt: skip
        chat.api.fail("editMessageReplyMarkup", 400, "Bad Request: message can't be edited")
        await chat.press(ALICE, guide.messages.button("next"))
        assert "Step 2 of 14" in chat.last_text(ALICE)
        errors = [t for t in chat.api.sent_texts(ALICE) if "went wrong" in t]
        assert errors == []


async def test_blocked_user_is_marked_inactive(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        chat.api.fail("sendMessage", 403, "Forbidden: bot was blocked by the user", ALICE)
        await chat.press(ALICE, guide.messages.button("next"))
    with sqlite3.connect(db_path) as raw:
        step, blocked = raw.execute("SELECT step_id, blocked_at FROM users").fetchone()
    assert blocked is not None
    assert step == guide.parts[0].steps[1].id  # the tap itself was saved first


async def test_unexpected_error_reassures_the_user_and_logs_no_text(
    guide: Guide, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(guide, db_path) as chat:
        await chat.command(ALICE, "/start")
        chat.api.fail("sendMessage", 500, "Internal Server Error: secret words", ALICE)
        with caplog.at_level(logging.ERROR):
            await chat.send(chat.updates.message(ALICE, "my private words"))
        chat.api.clear_failures()
        await chat.app.update_queue.put(chat.updates.command(ALICE, "/help"))
        await chat.api.wait_for(lambda _: "How Gently works" in chat.last_text(ALICE))
    logged = caplog.text
    assert "my private words" not in logged
    assert TOKEN not in logged


async def test_error_handler_answers_the_user(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:

        async def boom(*_: object) -> None:
            raise RuntimeError("kaboom")

        gently = chat.app.bot_data["gently"]
        original = gently.sessions.act
        gently.sessions.act = boom
        await chat.app.update_queue.put(chat.updates.command(ALICE, "/start"))
        await chat.api.wait_for(lambda _: "went wrong" in chat.last_text(ALICE))
        assert "Your progress is saved" in chat.last_text(ALICE)
        gently.sessions.act = original


async def test_locked_database_gets_a_calm_answer(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        store = chat.app.bot_data["gently"].store
        await store.close()
        from bot.store import Store

        chat.app.bot_data["gently"].store = None
        locked = await Store.open(db_path, busy_timeout_ms=20)
        chat.app.bot_data["gently"]._sessions.store = locked
        locked._cache.clear()
        blocker = sqlite3.connect(db_path, timeout=0)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            await chat.press(ALICE, guide.messages.button("next"))
            assert "try again shortly: your progress is safe" in chat.last_text(ALICE)
        finally:
            blocker.rollback()
            blocker.close()
        await chat.press(ALICE, guide.messages.button("next"))
        assert "Step 2 of 14" in chat.last_text(ALICE)
        chat.app.bot_data["gently"].store = locked


def test_token_is_not_in_settings_repr() -> None:
    from tests.telegram_helpers import settings_for

    assert TOKEN not in repr(settings_for(Path("x.sqlite3")))
