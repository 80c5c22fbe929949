"""Correct at the edges (issue 20): old destructive buttons, double taps in tidy mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.workload import progress_of
from bot.content import Guide
from bot.runtime import CONFIRM_FOR
from tests.helpers import FakeClock
from tests.offline import Call
from tests.telegram_helpers import Chat, running

ALICE = 1001
# each destructive confirmation: the command that asks, its "yes" button, its question
CONFIRMATIONS = pytest.mark.parametrize(
    ("command", "yes", "text_key"),
    [("/delete", "delete_yes", "delete_confirm"), ("/restart", "restart_yes", "restart_confirm")],
)


async def walk_on(chat: Chat, guide: Guide, taps: int) -> None:
    for _ in range(taps):
        await chat.press(ALICE, guide.messages.button("next"))


def asked_anew(chat: Chat, guide: Guide, text_key: str) -> bool:
    notices = [c.params.get("text") for c in chat.answers()]
    return chat.last_text(ALICE) == guide.messages.text(text_key) and notices[
        -1
    ] == guide.messages.notice("confirm_again")


@CONFIRMATIONS
async def test_an_old_confirmation_button_acts_only_after_a_new_confirmation(
    guide: Guide, db_path: Path, command: str, yes: str, text_key: str
) -> None:
    """Confirm screen, Cancel, walk on, then the old "yes" (still live: nothing relies on
    keyboards being cleared): nothing erased or reset, and the question is asked anew."""
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        await walk_on(chat, guide, 2)
        await chat.command(ALICE, command)
        old_yes = chat.last_with_button(ALICE, guide.messages.button(yes))
        await chat.press(ALICE, guide.messages.button("cancel"))
        await walk_on(chat, guide, 3)
        where = await progress_of(chat.store, ALICE)
        assert where is not None and where.step_id != guide.first_step.id

        await chat.tap_old(ALICE, old_yes)
        after = await progress_of(chat.store, ALICE)
        assert after is not None and after.step_id == where.step_id
        assert asked_anew(chat, guide, text_key)
        # the question just asked is the one that acts
        await chat.press(ALICE, guide.messages.button(yes))
        assert await acted(chat, guide, yes)


async def acted(chat: Chat, guide: Guide, yes: str) -> bool:
    """The confirmation did what it asks: everything erased, or back at the start."""
    after = await progress_of(chat.store, ALICE)
    if yes == "delete_yes":
        return after is None
    return after is not None and after.step_id == guide.first_step.id


@CONFIRMATIONS
async def test_a_confirmation_expires(
    guide: Guide, db_path: Path, command: str, yes: str, text_key: str
) -> None:
    clock = FakeClock()
    async with running(guide, db_path, clock) as chat:
        await chat.begin(ALICE)
        await walk_on(chat, guide, 2)
        await chat.command(ALICE, command)
        clock.advance(CONFIRM_FOR + 1)
        await chat.press(ALICE, guide.messages.button(yes))
        assert not await acted(chat, guide, yes)
        assert asked_anew(chat, guide, text_key)
        clock.advance(CONFIRM_FOR - 1)  # the new question is open for the full time again
        await chat.press(ALICE, guide.messages.button(yes))
        assert await acted(chat, guide, yes)


async def test_an_old_under_18_button_asks_before_erasing(guide: Guide, db_path: Path) -> None:
    """The welcome's "I'm under 18", tapped after confirming 18+ and walking on, erases
    only once the user confirms the erasure it now asks about."""
    async with running(guide, db_path) as chat:
        await chat.command(ALICE, "/start")
        under18 = chat.last_with_button(ALICE, guide.messages.button("under18"))
        await chat.press(ALICE, guide.messages.button("confirm_adult"))
        await walk_on(chat, guide, 3)
        await chat.tap_old(ALICE, under18)
        assert await progress_of(chat.store, ALICE) is not None
        assert chat.last_text(ALICE) == guide.messages.text("delete_confirm")
        await chat.press(ALICE, guide.messages.button("delete_yes"))
        assert await progress_of(chat.store, ALICE) is None


async def in_tidy_mode(chat: Chat, guide: Guide) -> tuple[Call, str]:
    """A user at the first step with tidy mode on; returns its "next" button."""
    await chat.begin(ALICE)
    await chat.command(ALICE, "/privacy")
    await chat.press(ALICE, guide.messages.button("tidy_off"))  # tidy mode on
    await chat.command(ALICE, "/resume")
    return chat.last_with_button(ALICE, guide.messages.button("next"))


async def test_a_double_tap_in_tidy_mode_edits_nothing_twice(guide: Guide, db_path: Path) -> None:
    """Both callback queries of a double tap carry the same button of the same message;
    the second must not edit the message to what it already shows (Telegram refuses that
    with "message is not modified"), nor send anything: it is only answered."""
    async with running(guide, db_path) as chat:
        next_button = await in_tidy_mode(chat, guide)
        seen = len(chat.api.calls)
        await chat.tap_old(ALICE, next_button)
        first = sorted(c.method for c in chat.api.calls[seen:])
        assert first == ["answerCallbackQuery", "editMessageText"]  # the first tap edits
        seen = len(chat.api.calls)
        await chat.tap_old(ALICE, next_button)
        assert [c.method for c in chat.api.calls[seen:]] == ["answerCallbackQuery"]


async def test_after_a_failed_edit_in_tidy_mode_the_next_tap_edits_again(
    guide: Guide, db_path: Path
) -> None:
    """An edit Telegram failed leaves the message as it was: its fingerprint must not say
    otherwise, or every later tap on it would be taken for a double tap and edit nothing."""
    async with running(guide, db_path) as chat:
        next_button = await in_tidy_mode(chat, guide)
        chat.api.fail("editMessageText", 500, "Internal Server Error", ALICE)
        await chat.tap_old(ALICE, next_button)  # saved, but the message still shows step 1
        chat.api.clear_failures()
        seen = len(chat.api.calls)
        await chat.tap_old(ALICE, next_button)  # stale now: the current step is shown
        edits = [c for c in chat.api.calls[seen:] if c.method == "editMessageText"]
        assert edits and "Step 2 of" in edits[0].text
