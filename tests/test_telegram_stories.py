"""Stories a Telegram user lives through, against the real Application."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from bot.commands import COMMANDS
from bot.content import Guide
from bot.telegram.codec import decode
from tests.helpers import FakeClock, first_question
from tests.offline import OfflineBotAPI
from tests.telegram_helpers import running

ALICE, BOB = 1001, 1002


async def test_first_visit_to_finish(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.command(ALICE, "/start")
        welcome = chat.last_text(ALICE)
        assert "18 or older" in welcome
        assert not db_path.exists() or _users(db_path) == []  # nothing stored before confirming
        await chat.press(ALICE, guide.messages.button("confirm_adult"))
        assert "Part 1 of 5 · Collect information" in chat.last_text(ALICE)
        assert _users(db_path) == [ALICE]

        taps = 0
        while chat.last_text(ALICE) != guide.messages.text("finished"):
            call = [c for c in chat.api.to(ALICE) if c.buttons][-1]
            primary = next(
                label
                for label, data in call.buttons
                if decode(data) and label in _primary_labels(guide)
            )
            await chat.press(ALICE, primary)
            taps += 1
            assert taps < 200
        # one tap per step (and per summary): every checklist item took a single tap
        steps = sum(len(part.steps) for part in guide.parts)
        summaries = sum(bool(part.checklist) for part in guide.parts)
        assert taps == steps + summaries
        with sqlite3.connect(db_path) as raw:
            (ticked,) = raw.execute("SELECT ticked FROM users").fetchone()
        assert len(json.loads(ticked)) == 24  # and that one tap was the answer
        # every callback was answered, and every message kept far below Telegram's limit
        assert len(chat.answers()) == taps + 1
        assert all(len(c.text) < 4096 for c in chat.api.calls)


async def test_each_step_is_one_message_and_only_the_newest_has_buttons(
    guide: Guide, db_path: Path
) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        first = chat.api.to(ALICE, "sendMessage")[-1]
        await chat.press(ALICE, guide.messages.button("next"))
        second = chat.api.to(ALICE, "sendMessage")[-1]
        assert second.message_id != first.message_id
        strips = chat.api.to(ALICE, "editMessageReplyMarkup")
        assert strips, "the previous message's keyboard is removed"
        assert strips[-1].params["message_id"] == first.message_id
        assert "reply_markup" not in strips[-1].params


async def test_an_answer_is_one_tap_and_shows_when_going_back(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        for _ in range(first_question(guide)):
            await chat.press(ALICE, guide.messages.button("next"))
        item = chat.api.to(ALICE, "sendMessage")[-1]
        assert "Step 6 of 16" in item.text
        assert [label for label, _ in item.buttons[:2]] == ["✓ Yes", "Not yet"]
        await chat.press(ALICE, "Not yet")
        assert "Step 7 of 16" in chat.last_text(ALICE)  # answered and moved on, one tap
        await chat.press(ALICE, guide.messages.button("back"))
        assert "Your answer: Not yet." in chat.last_text(ALICE)
        await chat.press(ALICE, "✓ Yes")
        with sqlite3.connect(db_path) as raw:
            ticked, not_yet = raw.execute("SELECT ticked, not_yet FROM users").fetchone()
        assert (ticked, not_yet) == ('["collect.why"]', "[]")


async def test_resume_after_rebuilding_the_application(guide: Guide, db_path: Path) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        await chat.begin(ALICE)
        for _ in range(first_question(guide)):
            await chat.press(ALICE, guide.messages.button("next"))
        await chat.press(ALICE, "✓ Yes")
        where = chat.last_text(ALICE)
    clock.advance(7 * 24 * 3600)  # a week later, after a restart
    async with running(guide, db_path, clock) as chat:
        await chat.command(ALICE, "/start")
        assert "Welcome back." in chat.last_text(ALICE)
        assert "Part 1 of 5 · Collect information" in chat.last_text(ALICE)
        await chat.press(ALICE, guide.messages.button("continue"))
        assert chat.last_text(ALICE) == where
        await chat.command(ALICE, "/resume")
        assert chat.last_text(ALICE) == where


async def test_group_chat_is_refused_once_and_nothing_is_stored(
    guide: Guide, db_path: Path
) -> None:
    async with running(guide, db_path) as chat:
        group = -5000
        await chat.send(chat.updates.message(ALICE, "/start", chat_id=group, kind="supergroup"))
        await chat.send(chat.updates.message(BOB, "/start", chat_id=group, kind="supergroup"))
        to_group = chat.api.to(group, "sendMessage")
        assert len(to_group) == 1
        assert "private chat" in to_group[0].text
        assert "https://t.me/gently_test_bot" in to_group[0].text
        assert chat.api.to(group, "leaveChat")
        await chat.send(chat.updates.message(None, "news", chat_id=-6000, kind="channel"))
        assert not chat.api.to(-6000, "sendMessage")
        assert _users(db_path) == []


async def test_under_18_path_stores_nothing(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.command(ALICE, "/start")
        await chat.press(ALICE, guide.messages.button("under18"))
        assert "Nothing about you has been saved" in chat.last_text(ALICE)
        assert _users(db_path) == []


async def test_delete_erases_everything(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        await chat.press(ALICE, guide.messages.button("next"))
        await chat.begin(BOB)
        await chat.command(ALICE, "/delete")
        assert "Erase everything?" in chat.last_text(ALICE)
        assert _users(db_path) == [ALICE, BOB]
        await chat.press(ALICE, guide.messages.button("delete_yes"))
        assert chat.last_text(ALICE) == guide.messages.text("deleted")
        assert _users(db_path) == [BOB]
        # an old button after /delete: polite answer and the welcome again, nothing stored
        call, data = chat.last_with_button(ALICE, guide.messages.button("next"))
        await chat.send(chat.updates.tap(ALICE, data, call.message_id or 1))
        assert chat.answers()[-1].params["text"] == guide.messages.notice("stale")
        assert "18 or older" in chat.last_text(ALICE)
        assert _users(db_path) == [BOB]
        await chat.begin(ALICE)
        assert "Step 1 of 16" in chat.last_text(ALICE)


async def test_stale_and_forged_buttons(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        old_call, old_next = chat.last_with_button(ALICE, guide.messages.button("next"))
        await chat.press(ALICE, guide.messages.button("next"))
        current = chat.last_text(ALICE)
        for data in (old_next, "g1:n:collect.gone", "g9:n:x", "garbage", "g1:t:", "x" * 64):
            await chat.send(chat.updates.tap(ALICE, data, old_call.message_id or 1))
            answer = chat.answers()[-1]
            assert answer.params["text"] == guide.messages.notice("stale"), data
            assert chat.last_text(ALICE) == current  # the current step, re-sent
        assert "Step 2 of 16" in current


async def test_double_tap_moves_one_step(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        call, data = chat.last_with_button(ALICE, guide.messages.button("next"))
        first = chat.updates.tap(ALICE, data, call.message_id or 1)
        second = chat.updates.tap(ALICE, data, call.message_id or 1)
        await chat.app.update_queue.put(first)
        await chat.app.update_queue.put(second)
        await chat.api.wait_for(
            lambda calls: sum(c.method == "answerCallbackQuery" for c in calls) == 2
        )
        await chat.api.wait_for(
            lambda calls: (
                "Step 2 of 16" in chat.last_text(ALICE)
                and len(chat.api.to(ALICE, "sendMessage")) >= 4
            )
        )
        assert "Step 2 of 16" in chat.last_text(ALICE)
        assert [c.params.get("text") for c in chat.answers()][-1] == guide.messages.notice("stale")


async def test_resources_mid_walk_keep_the_position(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        await chat.press(ALICE, guide.messages.button("next"))
        where = chat.last_text(ALICE)
        await chat.command(ALICE, "/resources")
        assert "The Ultimate Guide to Prostate Pleasure" in chat.last_text(ALICE)
        await chat.press(ALICE, guide.messages.button("continue"))
        assert chat.last_text(ALICE) == where


async def test_commands_text_and_unknown_input(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        for command, expected in (
            ("/menu", "Where would you like to go?"),
            ("/progress", "1. Collect information · 0/10 ✓"),
            ("/privacy", "What I keep, and why"),
            ("/help", "How this works"),
            ("/safety", "The safety essentials"),
            ("/restart", "Start again from the very beginning?"),
            ("/nonsense", "I don't know that command"),
            ("/start@gently_test_bot", "Welcome back."),
        ):
            await chat.command(ALICE, command)
            assert expected in chat.last_text(ALICE), command
        await chat.send(chat.updates.message(ALICE, "<b>hello</b> & where am I?"))
        hint = chat.last_text(ALICE)
        assert "Please use the buttons" in hint
        assert "hello" not in hint
        await chat.send(chat.updates.sticker(ALICE))
        assert "Please use the buttons" in chat.last_text(ALICE)
        before = len(chat.api.calls)
        await chat.send(chat.updates.message(ALICE, "/menu", edited=True))
        assert len(chat.api.calls) == before  # edited messages are ignored
        await chat.press(ALICE, "3. Talking about it")
        assert "Part 3 of 5 · Talking about it" in chat.last_text(ALICE)


async def test_command_menu_is_registered_for_private_chats(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        (call,) = [c for c in chat.api.calls if c.method == "setMyCommands"]  # English only
        names = [c["command"] for c in call.params["commands"]]
        assert names == list(COMMANDS)  # every command the bot handles, in menu order
        assert "safety" in names and "language" in names and "hide" in names
        assert call.params["scope"] == {"type": "all_private_chats"}


def _users(db: Path) -> list[int]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as raw:
        return [row[0] for row in raw.execute("SELECT user_id FROM users ORDER BY user_id")]


def _primary_labels(guide: Guide) -> set[str]:
    m = guide.messages
    answers = {label for part in guide.parts if part.answers for label in part.answers[:1]}
    return {m.button(k) for k in ("next", "continue", "finish", "confirm_adult")} | answers


async def test_profile_texts_are_set_at_start_up_from_content(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        (description,) = chat.api.to(None, "setMyDescription")  # type: ignore[arg-type]
        (short,) = chat.api.to(None, "setMyShortDescription")  # type: ignore[arg-type]
        assert description.params["description"] == guide.messages.profile("description")
        assert short.params["short_description"] == guide.messages.profile("short_description")


async def test_a_restart_sets_no_profile_text_telegram_already_shows(
    guide: Guide, db_path: Path
) -> None:
    """A crash loop must not spend the profile calls on every start: what Telegram already
    shows is read first, and only what differs is set."""
    api = OfflineBotAPI()
    async with running(guide, db_path, api=api):
        pass
    setting = ("setMyCommands", "setMyDescription", "setMyShortDescription")
    assert sum(c.method in setting for c in api.calls) == 3  # one language here, three each
    api.calls.clear()
    async with running(guide, db_path, api=api):
        pass
    assert not [c.method for c in api.calls if c.method in setting]
    api.profile[("description", None)] = "an old description"  # changed by hand meanwhile
    api.calls.clear()
    async with running(guide, db_path, api=api):
        pass
    assert [c.method for c in api.calls if c.method in setting] == ["setMyDescription"]


async def test_a_refused_profile_is_one_warning_and_the_bot_serves(
    guide: Guide, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api = OfflineBotAPI()
    api.fail("setMyDescription", 429, "Too Many Requests: retry after 5")
    with caplog.at_level(logging.WARNING):
        async with running(guide, db_path, api=api) as chat:
            await chat.begin(ALICE)
            assert "Part 1 of 5" in chat.last_text(ALICE)
    warnings = [r.getMessage() for r in caplog.records if "profile texts" in r.getMessage()]
    assert len(warnings) == 1


async def test_send_me_my_checklist_and_a_finished_return(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        for _ in range(first_question(guide)):
            await chat.press(ALICE, guide.messages.button("next"))
        await chat.press(ALICE, "✓ Yes")
        await chat.command(ALICE, "/progress")
        await chat.press(ALICE, guide.messages.button("checklist"))
        kept = chat.last_text(ALICE)
        assert kept.startswith("<b>Your checklists</b>")
        assert "✅ Do you know why you want this?" in kept
        assert (
            "○ Only toys with a flared base, wide enough to stop them going all the way in." in kept
        )
        await chat.command(ALICE, "/menu")
        await chat.press(ALICE, "5. What to watch and read")
        for _ in range(len(guide.parts[-1].steps) - 1):
            await chat.press(ALICE, guide.messages.button("next"))
        await chat.press(ALICE, guide.messages.button("finish"))
        assert chat.last_text(ALICE) == guide.messages.text("finished")
        await chat.command(ALICE, "/start")
        assert chat.last_text(ALICE) == guide.messages.text("welcome_back_finished")
        await chat.command(ALICE, "/remind")
        assert chat.last_text(ALICE) == guide.messages.reminder("nothing_left")


async def test_buttons_of_the_first_edition_are_answered_as_stale(
    guide: Guide, db_path: Path
) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        for _ in range(first_question(guide)):
            await chat.press(ALICE, guide.messages.button("next"))
        where = chat.last_text(ALICE)
        assert "Do you know why you want this?" in where  # collect.why, a checklist item
        for retired in ("g1:t:collect.why", "g1:x:collect.why", "g1:k:collect.why"):  # tick…
            await chat.send(chat.updates.tap(ALICE, retired, 1))
            assert chat.answers()[-1].params["text"] == guide.messages.notice("stale")
            assert chat.last_text(ALICE) == where
