"""Discretion (issue 12): the quick exit, erasing the chat, tidy mode, nothing left at rest."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from bot.content import Guide
from bot.runtime import DELETABLE_FOR
from bot.store import Store, StoreUnavailable
from bot.telegram.codec import decode
from bot.walkthrough import Progress, Verb
from tests.helpers import FakeClock
from tests.telegram_helpers import Chat, running

ALICE, BOB, CAROL = 1001, 1002, 1003
MESSAGE_CALLS = ("sendMessage", "editMessageText", "editMessageReplyMarkup", "deleteMessages")


async def walk(chat: Chat, user: int, taps: int) -> None:
    """Tap the way forward `taps` times, answering "yes" to every checklist item."""
    for _ in range(taps):
        call = [c for c in chat.api.to(user) if c.buttons][-1]
        actions = {decode(data).verb: data for _, data in call.buttons if decode(data)}  # type: ignore[union-attr]
        data = actions.get(Verb.YES) or actions.get(Verb.NEXT) or actions[Verb.RESUME]
        assert call.message_id is not None
        await chat.send(chat.updates.tap(user, data, call.message_id))


def held(chat: Chat, user: int) -> set[int]:
    """What the chat holds besides the /start typed before confirming 18+ (not known: nothing
    is kept of anyone until they confirm)."""
    return chat.in_chat(user) - {chat.typed[user][0]}


def stored(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as raw:
        return raw.execute(sql, args).fetchall()


def progress_row(db: Path, user: int) -> list[tuple[object, ...]]:
    return stored(db, "SELECT step_id, view, ticked FROM users WHERE user_id = ?", user)


async def test_quick_exit_after_a_long_walk(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        await walk(chat, ALICE, 30)
        await chat.command(ALICE, "/progress")
        await chat.send(chat.updates.message(ALICE, "a typed word"))
        await walk(chat, ALICE, 25)
        before = progress_row(db_path, ALICE)
        where = chat.last_text(ALICE)
        in_chat = chat.in_chat(ALICE)
        assert len(in_chat) > 60
        calls_before = len(chat.api.to(ALICE, "deleteMessages"))

        await chat.press(ALICE, guide.messages.button("menu"))
        await chat.press(ALICE, guide.messages.button("hide"))

        # every message, the user's own included, is gone; but the /start typed before
        # confirming 18+, since nothing is kept of anyone until they confirm
        (before_confirming,) = chat.in_chat(ALICE)
        assert before_confirming == chat.typed[ALICE][0]
        deletions = chat.api.to(ALICE, "deleteMessages")[calls_before:]
        assert len(deletions) == 1  # up to 100 ids a call
        assert chat.answers()[-1].params["text"] == guide.messages.notice("hidden")
        assert progress_row(db_path, ALICE) == before
        assert stored(db_path, "SELECT * FROM chat_messages WHERE user_id = ?", ALICE) == []

        await chat.command(ALICE, "/resume")
        assert chat.last_text(ALICE) == where
        assert len(chat.in_chat(ALICE)) == 3  # that /start, the /resume command and the step


async def test_quick_exit_after_a_restart(guide: Guide, db_path: Path) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        await chat.begin(ALICE)
        await walk(chat, ALICE, 3)
        earlier = chat.in_chat(ALICE)
        live = chat.api.to(ALICE, "sendMessage")[-1].message_id
    async with running(guide, db_path, clock) as chat:
        await chat.command(ALICE, "/menu")
        # the live keyboard is known after a restart: the old buttons are cleared
        (cleared,) = chat.api.to(ALICE, "editMessageReplyMarkup")
        assert cleared.params["message_id"] == live
        await chat.command(ALICE, "/hide")
        gone = set(chat.deleted(ALICE))
        assert earlier <= gone
        assert set(chat.typed[ALICE]) <= gone  # this run's /menu and /hide
        assert chat.api.to(ALICE, "sendMessage")[-1].text != ""  # the menu was sent before
        assert len(chat.api.to(ALICE, "sendMessage")) == 1  # nothing sent after /hide


async def test_delete_clears_the_chat_and_every_stored_id(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        await chat.begin(BOB)
        await walk(chat, ALICE, 5)
        await chat.command(ALICE, "/delete")
        await chat.press(ALICE, guide.messages.button("delete_yes"))
        assert chat.last_text(ALICE) == guide.messages.text("deleted")
        assert len(held(chat, ALICE)) == 1  # only the "done" message
        for table in ("users", "reminders", "chat_messages", "chat_leftovers"):
            assert stored(db_path, f"SELECT 1 FROM {table} WHERE user_id = ?", ALICE) == []
        assert (
            stored(db_path, "SELECT COUNT(*) FROM chat_messages WHERE user_id = ?", BOB)[0][0] > 0
        )
        # under 18: nothing kept, not even the ids of the welcome and the goodbye
        await chat.command(CAROL, "/start")
        await chat.press(CAROL, guide.messages.button("under18"))
        assert stored(db_path, "SELECT 1 FROM chat_messages WHERE user_id = ?", CAROL) == []


@pytest.mark.parametrize("pruned", [False, True], ids=["in the ledger", "pruned"])
async def test_older_messages_are_not_attempted_and_the_user_is_told(
    guide: Guide, db_path: Path, pruned: bool
) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        await chat.begin(ALICE)
        old = held(chat, ALICE)
        clock.advance(DELETABLE_FOR + 1)
        if pruned:
            await chat.gently.runtime.housekeeping()
            assert stored(db_path, "SELECT 1 FROM chat_messages WHERE user_id = ?", ALICE) == []
        await walk(chat, ALICE, 3)
        await chat.command(ALICE, "/delete")
        await chat.press(ALICE, guide.messages.button("delete_yes"))
        assert not old & set(chat.deleted(ALICE)), "messages too old to delete are not tried"
        assert held(chat, ALICE) == old | {chat.api.to(ALICE, "sendMessage")[-1].message_id}
        assert chat.last_text(ALICE) == guide.messages.text("deleted_leftovers")
        assert stored(db_path, "SELECT 1 FROM chat_leftovers WHERE user_id = ?", ALICE) == []


def message_calls(chat: Chat, user: int) -> int:
    return sum(c.method in MESSAGE_CALLS for c in chat.api.to(user))


async def test_tidy_mode_keeps_one_step_in_the_chat(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        await chat.command(ALICE, "/privacy")
        await chat.press(ALICE, guide.messages.button("tidy_off"))
        assert stored(db_path, "SELECT tidy FROM users")[0][0] == 1
        assert guide.messages.button("tidy_on") in [b for b, _ in chat.api.calls[-1].buttons]
        await chat.press(ALICE, guide.messages.button("continue"))
        await chat.command(ALICE, "/hide")  # a clean start, to count what the chat holds
        await chat.command(ALICE, "/resume")
        assert len(held(chat, ALICE)) == 1  # tidy: even the /resume command went

        for _ in range(12):  # moving on, answering, over a checklist's end: one call each
            calls = message_calls(chat, ALICE)
            await walk(chat, ALICE, 1)
            assert message_calls(chat, ALICE) == calls + 1
            assert chat.api.to(ALICE)[-1].method in ("editMessageText", "answerCallbackQuery")
            assert len(held(chat, ALICE)) == 1
        here = chat.last_text(ALICE)
        await chat.press(ALICE, guide.messages.button("back"))
        await walk(chat, ALICE, 1)
        assert chat.last_text(ALICE) == here
        await chat.command(ALICE, "/menu")  # a typed command: the new screen replaces the old
        assert len(held(chat, ALICE)) == 1

        await chat.command(ALICE, "/privacy")  # switched off mid-walk: steps stay again
        await chat.press(ALICE, guide.messages.button("tidy_on"))
        await chat.press(ALICE, guide.messages.button("continue"))
        holding = len(held(chat, ALICE))
        await walk(chat, ALICE, 3)
        assert len(held(chat, ALICE)) > holding
        assert progress_row(db_path, ALICE)[0][0] != guide.first_step.id


BIG_USER = 0x5A17_3C0F_E2D1  # a 6-byte id: its bytes in the file would not be a coincidence


async def test_nothing_of_an_erased_user_is_left_in_the_files(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(BIG_USER)
        await walk(chat, BIG_USER, 30)
        await chat.press(BIG_USER, guide.messages.button("remind"))
        await chat.press(BIG_USER, guide.messages.reminder("tomorrow"))
        await chat.command(BIG_USER, "/delete")
        await chat.press(BIG_USER, guide.messages.button("delete_yes"))
        # the store is still open: read the files as they are now
        files = [db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")]
        content = b"".join(path.read_bytes() for path in files if path.exists())
    step_ids = [step.id for part in guide.parts for step in part.steps]
    found = [step_id for step_id in step_ids if step_id.encode() in content]
    assert found == []
    assert BIG_USER.to_bytes(6, "big") not in content


async def test_backups_are_private_from_the_first_byte(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.save(7, Progress(step_id="collect.why"), 1_800_000_000)
    # no chmod after the fact: the file and folder must be born private
    monkeypatch.setattr(os, "chmod", lambda *args, **kwargs: None)
    previous = os.umask(0o022)
    try:
        target = tmp_path / "backups" / "copy.sqlite3"
        await store.backup(target)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700

    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    with pytest.raises(PermissionError, match="0700"):
        await store.backup(shared / "copy.sqlite3")
    assert not (shared / "copy.sqlite3").exists()


async def test_housekeeping_keeps_the_wal_small(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await asyncio.gather(*(chat.begin(user) for user in range(1, 60)))
        assert Path(f"{db_path}-wal").stat().st_size > 0
        await chat.gently.runtime.housekeeping()
        assert Path(f"{db_path}-wal").stat().st_size == 0


async def test_a_failed_quick_exit_keeps_the_ids_for_another_try(
    guide: Guide, db_path: Path
) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        await walk(chat, ALICE, 5)
        shown = held(chat, ALICE)
        chat.api.fail("deleteMessages", 500, "Internal Server Error")
        await chat.command(ALICE, "/hide")
        assert chat.api.to(ALICE, "deleteMessages"), "it tried"
        assert held(chat, ALICE) >= shown
        assert len(chat.api.to(ALICE, "sendMessage")) == 7  # nothing posted on failure
        chat.api.clear_failures()
        await chat.command(ALICE, "/hide")
        assert held(chat, ALICE) == set()


async def test_the_quick_exit_works_when_nothing_can_be_written(
    guide: Guide, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        await walk(chat, ALICE, 3)
        store = chat.gently.store

        async def disk_full(*args: object) -> None:
            raise StoreUnavailable("database or disk is full")

        for write in ("save", "note_messages", "forget_messages", "unblock"):
            monkeypatch.setattr(store, write, disk_full)
        sent = len(chat.api.to(ALICE, "sendMessage"))
        await chat.command(ALICE, "/hide")
        assert held(chat, ALICE) == set()
        assert len(chat.api.to(ALICE, "sendMessage")) == sent  # no "can't save" posted
        await chat.command(ALICE, "/resume")  # reading still works: the step comes back
        assert "Part 1 of 5" in chat.last_text(ALICE)

        async def unreadable(*args: object) -> None:
            raise StoreUnavailable("disk I/O error")

        monkeypatch.setattr(store, "load_user", unreadable)
        sent = len(chat.api.to(ALICE, "sendMessage"))
        await chat.press(ALICE, guide.messages.button("menu"))  # the store_down text: fine
        assert len(chat.api.to(ALICE, "sendMessage")) == sent + 1
        await chat.command(ALICE, "/hide")  # but a quick exit never posts into the chat
        assert len(chat.api.to(ALICE, "sendMessage")) == sent + 1


async def test_nothing_is_kept_of_someone_who_never_confirmed(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.command(CAROL, "/start")
        await chat.send(chat.updates.message(CAROL, "hello?"))
        await chat.command(CAROL, "/help")
        assert stored(db_path, "SELECT 1 FROM chat_messages WHERE user_id = ?", CAROL) == []
        assert stored(db_path, "SELECT 1 FROM users WHERE user_id = ?", CAROL) == []


async def test_a_forged_message_id_is_never_stored(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        await chat.send(chat.updates.message(ALICE, "x", extra={"message_id": "notanint"}))
        assert "went wrong" not in chat.last_text(ALICE)
        await chat.command(ALICE, "/hide")
        assert {m for m in held(chat, ALICE) if isinstance(m, int)} == set()
        types = stored(db_path, "SELECT DISTINCT typeof(message_id) FROM chat_messages")
        assert types in ([], [("integer",)])


async def test_a_delete_telegram_refuses_is_not_called_a_clear_chat(
    guide: Guide, db_path: Path
) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        await walk(chat, ALICE, 3)
        await chat.command(ALICE, "/delete")
        chat.api.fail("deleteMessages", 500, "Internal Server Error")
        await chat.press(ALICE, guide.messages.button("delete_yes"))
        assert chat.last_text(ALICE) == guide.messages.text("deleted_leftovers")
        assert stored(db_path, "SELECT 1 FROM users WHERE user_id = ?", ALICE) == []


async def test_users_from_before_the_ledger_are_told_older_messages_remain(
    guide: Guide, db_path: Path
) -> None:
    old = await Store.open(db_path, target_version=4)  # before the chat ledger
    await old.close()
    with sqlite3.connect(db_path) as raw:
        raw.execute(
            "INSERT INTO users (user_id, acknowledged_at, step_id, started_at, last_seen_at) "
            "VALUES (?, 1, 'collect.why', 1, 1)",
            (ALICE,),
        )
    async with running(guide, db_path) as chat:
        await chat.command(ALICE, "/delete")
        await chat.press(ALICE, guide.messages.button("delete_yes"))
        assert chat.last_text(ALICE) == guide.messages.text("deleted_leftovers")
