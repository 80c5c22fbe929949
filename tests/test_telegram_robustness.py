"""Concurrency, Bot API failures and faults, against the real Application."""

from __future__ import annotations

import itertools
import logging
import sqlite3
from pathlib import Path

import pytest

from bot.content import Guide
from bot.pseudonyms import who
from bot.store import Store
from bot.telegram.codec import encode
from bot.walkthrough import Action, Verb
from tests.offline import OfflineBotAPI
from tests.telegram_helpers import TOKEN, running

ALICE, BOB = 2001, 2002


async def test_a_slow_user_does_not_hold_others_back(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        release_alice = chat.api.hold(ALICE)  # Alice's messages hang in the network
        queue = chat.app.update_queue
        await queue.put(chat.updates.command(ALICE, "/start"))
        await queue.put(chat.updates.command(BOB, "/start"))
        await queue.put(chat.updates.tap(BOB, encode(Action(Verb.CONFIRM, "en"))))
        try:
            await chat.api.wait_for(lambda _: "Part 1 of 5" in chat.last_text(BOB))
            assert chat.api.to(ALICE, "sendMessage")  # requested, still in flight
        finally:
            release_alice.set()
        await chat.api.wait_for(lambda _: len(chat.api.to(ALICE, "sendMessage")) == 1)


async def test_a_users_backlog_holds_no_slot_another_user_needs(
    guide: Guide, db_path: Path
) -> None:
    """300 updates from one user whose replies hang: more than the 256 concurrency slots.
    Another user's /start is still answered."""
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        release = chat.api.hold(ALICE)
        for _ in range(300):
            await chat.app.update_queue.put(chat.updates.command(ALICE, "/resources"))
        await chat.app.update_queue.put(chat.updates.command(BOB, "/start"))
        try:
            await chat.api.wait_for(lambda _: "18 or older" in chat.last_text(BOB), within=1)
        finally:
            release.set()


async def test_one_users_taps_stay_in_order(guide: Guide, db_path: Path) -> None:
    """Six quick taps from one user while their replies are held: another user is served
    meanwhile, and each of the six runs only once the one before it has been answered
    (every Bot API call takes a simulated 20 ms round trip, so an overlap would show)."""
    async with running(guide, db_path, api=OfflineBotAPI(latency=0.02)) as chat:
        await chat.begin(ALICE)
        release = chat.api.hold(ALICE)
        queue = chat.app.update_queue
        steps = [s.id for s in guide.parts[0].steps]
        for step_id in steps[:6]:  # six quick "next" taps, each on the step it follows
            await queue.put(chat.updates.tap(ALICE, encode(Action(Verb.NEXT, step_id))))
        await queue.put(chat.updates.command(BOB, "/start"))
        try:
            await chat.api.wait_for(lambda _: "18 or older" in chat.last_text(BOB))
        finally:
            release.set()
        await chat.api.wait_for(lambda _: len(chat.answers()) == 7)
        await chat.api.wait_for(lambda _: len(chat.api.sent_texts(ALICE)) == 8)
        texts = [t for t in chat.api.sent_texts(ALICE) if "Step" in t]
        assert "Step 7 of 16" in texts[-1]  # six taps, all applied
        assert all(a.params.get("text") is None for a in chat.answers()[1:])  # none was stale
        # each reply is asked for only once the one before it has come back
        replies = chat.api.to(ALICE, "sendMessage")[-6:]
        for earlier, later in itertools.pairwise(replies):
            assert earlier.answered is not None and later.made > earlier.answered


async def test_message_not_modified_and_old_queries_are_harmless(
    guide: Guide, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """In tidy mode an answer edits the message in place; Telegram answering "message is
    not modified" (a race the bot cannot see coming) and "query is too old" changes
    nothing for the user: the answer is saved, no second message is sent, no error
    reaches them or the log."""
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        await chat.command(ALICE, "/privacy")
        await chat.press(ALICE, guide.messages.button("tidy_off"))
        await chat.command(ALICE, "/menu")
        await chat.press(ALICE, "Talking about it")
        first_item = guide.parts[2].steps.index(guide.parts[2].checklist[0])
        for _ in range(first_item):
            await chat.press(ALICE, guide.messages.button("next"))
        chat.api.fail("editMessageText", 400, "Bad Request: message is not modified")
        chat.api.fail(
            "answerCallbackQuery",
            400,
            "Bad Request: query is too old and response timeout expired or query id is invalid",
        )
        seen = len(chat.api.calls)
        with caplog.at_level(logging.WARNING):
            await chat.press(ALICE, "Ready")
        made = [c.method for c in chat.api.calls[seen:] if not c.failed]
        assert "sendMessage" not in made, "an unmodified edit must not become a new message"
        edits = [c for c in chat.api.to(ALICE) if c.method == "editMessageText"]
        assert edits, "the answer must have tried an in-place edit"
        errors = [t for t in chat.api.sent_texts(ALICE) if "went wrong" in t]
        assert errors == []
        assert caplog.records == []
    with sqlite3.connect(db_path) as raw:
        (ticked,) = raw.execute("SELECT ticked FROM users").fetchone()
    assert ticked != "[]"


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
    """A bug while handling a typed message reaches the error handler: the user is told,
    and the log names the update's type and user, never the text."""
    async with running(guide, db_path) as chat:
        await chat.command(ALICE, "/start")
        runtime = chat.gently.runtime

        typed = "my private words"

        async def broken(user_id: int, message_id: int, fallback: Guide) -> Guide:
            raise RuntimeError(f"a bug while reading: {typed}")  # user text in the message

        runtime.heard = broken
        with caplog.at_level(logging.ERROR):
            await chat.send(chat.updates.message(ALICE, "my private words"))
        del runtime.heard
    assert f"error handling message update for user {who(ALICE)}: RuntimeError" in caplog.text
    assert "went wrong" in chat.last_text(ALICE)
    assert "my private words" not in caplog.text
    assert TOKEN not in caplog.text


async def test_a_failing_reply_is_one_warning_and_the_tap_is_kept(
    guide: Guide, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        chat.api.fail("sendMessage", 502, "Bad Gateway", ALICE)
        with caplog.at_level(logging.WARNING):
            await chat.press(ALICE, guide.messages.button("next"))
        (line,) = caplog.records
        assert line.levelno == logging.WARNING and line.exc_info is None
        assert f"reply to user {who(ALICE)} not delivered" in line.getMessage()
    with sqlite3.connect(db_path) as raw:
        (step,) = raw.execute("SELECT step_id FROM users").fetchone()
    assert step == guide.parts[0].steps[1].id


async def test_error_handler_answers_the_user(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:

        async def boom(*_: object) -> None:
            raise RuntimeError("kaboom")

        runtime = chat.gently.runtime
        runtime.act = boom
        await chat.app.update_queue.put(chat.updates.command(ALICE, "/start"))
        await chat.api.wait_for(lambda _: "went wrong" in chat.last_text(ALICE))
        assert "Your progress is saved" in chat.last_text(ALICE)
        del runtime.act


async def test_failing_database_gets_an_honest_answer_and_one_error_line(
    guide: Guide, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        runtime = chat.gently.runtime
        healthy = runtime.store
        impatient = runtime.store = await Store.open(db_path, busy_timeout_ms=20)
        blocker = sqlite3.connect(db_path, timeout=5)  # waits out a reader (housekeeping counts)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            with caplog.at_level(logging.ERROR):
                for _ in range(3):
                    await chat.press(ALICE, guide.messages.button("next"))
                    assert chat.last_text(ALICE) == guide.messages.text("store_down")
            assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
            assert runtime.store_failing_since is not None
        finally:
            blocker.rollback()
            blocker.close()
            await impatient.close()
            runtime.store = healthy
        await chat.press(ALICE, guide.messages.button("next"))
        assert "Step 2 of 16" in chat.last_text(ALICE)
        assert runtime.store_failing_since is None


def test_token_is_not_in_settings_repr() -> None:
    from tests.telegram_helpers import settings_for

    assert TOKEN not in repr(settings_for(Path("x.sqlite3")))


async def test_forbidden_on_a_plain_text_send_marks_the_user_blocked(
    guide: Guide, db_path: Path
) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        chat.api.fail("sendMessage", 403, "Forbidden: bot was blocked by the user", ALICE)
        await chat.send(chat.updates.message(ALICE, "hello?"))  # answered with a plain text
    with sqlite3.connect(db_path) as raw:
        (blocked,) = raw.execute("SELECT blocked_at FROM users").fetchone()
    assert blocked is not None


async def test_a_send_that_fails_after_the_old_keyboard_was_cleared(
    guide: Guide, db_path: Path
) -> None:
    """The old buttons are gone and the new step did not arrive: the tap is saved, and
    /resume brings the step back with live buttons."""
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        chat.api.fail("sendMessage", 502, "Bad Gateway", ALICE)
        await chat.press(ALICE, guide.messages.button("next"))
        assert chat.api.to(ALICE, "editMessageReplyMarkup")  # old buttons cleared
        chat.api.clear_failures()
        await chat.command(ALICE, "/resume")
        assert "Step 2 of 16" in chat.last_text(ALICE)
        assert chat.last_with_button(ALICE, guide.messages.button("next"))


async def test_nothing_is_kept_per_user_for_a_persistence_there_is_not(
    guide: Guide, db_path: Path
) -> None:
    """PTB marks every update's user and chat for its persistence, and only a persistence
    ever clears the marks: with none (ours is the database) two sets grew by every user who
    ever wrote, for as long as the process ran. Memory must not grow with users."""
    async with running(guide, db_path) as chat:
        for user in range(700_000, 700_300):
            await chat.command(user, "/help")
        app = chat.app
        assert app.persistence is None
        assert not app._user_ids_to_be_updated_in_persistence  # PTB's own bookkeeping
        assert not app._chat_ids_to_be_updated_in_persistence
