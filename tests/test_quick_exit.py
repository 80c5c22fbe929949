"""The quick exit is instant (issue 21): on the offline Bot API with Telegram's real limits
and a 30 ms round trip, /hide jumps the user's own queue, deletes newest first in the
urgent lane, and what was queued before it shows nothing."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

from bot.content import Guide
from bot.store import Noted
from bot.telegram.budget import Limits
from bot.telegram.codec import encode
from bot.walkthrough import Action, Verb
from tests.offline import Call, OfflineBotAPI
from tests.telegram_helpers import Chat, message_ids, running

ALICE = 5001
RTT = 0.03


async def fill_chat(chat: Chat, messages: int) -> list[int]:
    """A user at the first step with `messages` more messages in their chat (ledger)."""
    await chat.begin(ALICE)
    ids = list(range(10_000, 10_000 + messages))
    await chat.store.note_messages(ALICE, [Noted(i) for i in ids], int(chat.clock()))
    return ids


def deletions(chat: Chat) -> list[Call]:
    return [c for c in chat.api.to(ALICE, "deleteMessages") if not c.failed]


async def test_hide_jumps_forty_queued_updates_and_goes_newest_first(
    guide: Guide, db_path: Path
) -> None:
    api = OfflineBotAPI(latency=RTT)
    async with running(guide, db_path, api=api, limits=Limits()) as chat:
        ids = await fill_chat(chat, 150)
        queue = chat.app.update_queue
        for _ in range(40):  # forty quick taps: each reply paced at one a second
            await queue.put(chat.updates.command(ALICE, "/progress"))
        sent = len(chat.api.to(ALICE, "sendMessage"))
        await chat.api.wait_for(lambda calls: len(chat.api.to(ALICE, "sendMessage")) > sent)
        started = time.monotonic()
        await queue.put(chat.updates.command(ALICE, "/hide"))
        newest = set(ids[-100:])
        await chat.api.wait_for(
            lambda calls: newest <= {m for c in deletions(chat) for m in message_ids(c)}, 5
        )
        took = time.monotonic() - started
        first = deletions(chat)[0]
        assert max(message_ids(first)) == max(ids) and set(message_ids(first)) == newest
        await queue.join()
        await chat.gently.delivery.settle()
        # the forty showed nothing after the hide, and a reply on its way then was deleted
        # as soon as it landed: nothing sent since the hide is still in the chat
        hidden_at = next(c.made for c in chat.api.calls if c.method == "deleteMessages")
        later = {c.message_id for c in chat.api.to(ALICE, "sendMessage") if c.made > hidden_at}
        assert not later & chat.in_chat(ALICE)
    assert took < 1.0, f"the newest 100 went after {took:.2f}s"


async def test_hide_clears_a_thousand_messages_within_three_seconds(
    guide: Guide, db_path: Path
) -> None:
    api = OfflineBotAPI(latency=RTT)
    async with running(guide, db_path, api=api, limits=Limits()) as chat:
        ids = await fill_chat(chat, 1000)
        await chat.command(ALICE, "/progress")  # right after a reply
        started = time.monotonic()
        await chat.command(ALICE, "/hide")
        took = time.monotonic() - started
        gone = {m for c in deletions(chat) for m in message_ids(c)}
    assert set(ids) <= gone
    assert took < 3.0, f"1,000 messages took {took:.2f}s"


async def test_deletes_confirmation_is_answered_quickly(guide: Guide, db_path: Path) -> None:
    """Five users confirm /delete: each tap is answered, with the chat already cleared,
    within 0.3 s at the median. (The closing "Done." is a message like any other: Telegram
    paces it at about one a second per chat, so it may follow a moment later.)"""
    api = OfflineBotAPI(latency=RTT)
    async with running(guide, db_path, api=api, limits=Limits()) as chat:

        async def erase(user: int) -> float:
            await chat.begin(user)
            await chat.command(user, "/delete")
            call, data = chat.last_with_button(user, guide.messages.button("delete_yes"))
            assert call.message_id is not None
            tap = chat.updates.tap(user, data, call.message_id)
            assert tap.callback_query is not None
            query = tap.callback_query.id
            started = time.monotonic()
            await chat.app.update_queue.put(tap)
            await chat.api.wait_for(
                lambda calls: any(
                    c.method == "answerCallbackQuery"
                    and str(c.params.get("callback_query_id")) == query
                    for c in calls
                )
            )
            took = time.monotonic() - started
            assert chat.api.to(user, "deleteMessages")  # cleared before the answer
            return took

        waits = await asyncio.gather(*(erase(user) for user in range(6001, 6006)))
        await chat.app.update_queue.join()
    assert statistics.median(waits) < 0.3, waits


async def test_a_quick_exit_is_never_dropped_with_a_full_queue(guide: Guide, db_path: Path) -> None:
    """A user whose own backlog is at its bound still gets their /hide."""
    api = OfflineBotAPI(latency=RTT)
    async with running(guide, db_path, api=api, limits=Limits()) as chat:
        ids = await fill_chat(chat, 10)
        for _ in range(30):
            await chat.app.update_queue.put(chat.updates.tap(ALICE, encode(Action(Verb.PROGRESS))))
        await chat.app.update_queue.put(chat.updates.command(ALICE, "/hide"))
        await chat.api.wait_for(lambda calls: bool(deletions(chat)), 5)
        assert set(ids) <= {m for c in deletions(chat) for m in message_ids(c)}
        await asyncio.wait_for(chat.app.update_queue.join(), 60)


async def test_a_yes_to_erase_sent_just_before_hide_still_erases(
    guide: Guide, db_path: Path
) -> None:
    """/hide runs ahead of the user's queue; a "Yes, erase everything" already waiting in
    it must still act when its turn comes, not be taken for an old button."""
    async with running(guide, db_path) as chat:
        await chat.begin(ALICE)
        await chat.command(ALICE, "/delete")
        call, data = chat.last_with_button(ALICE, guide.messages.button("delete_yes"))
        assert call.message_id is not None
        release = chat.api.hold(ALICE)
        queue = chat.app.update_queue
        await queue.put(chat.updates.message(ALICE, "hmm"))  # its hint hangs
        await chat.api.wait_for(lambda calls: len(chat.api.to(ALICE, "sendMessage")) >= 4)
        await queue.put(chat.updates.tap(ALICE, data, call.message_id))
        await queue.put(chat.updates.command(ALICE, "/hide"))
        await chat.api.wait_for(lambda calls: bool(deletions(chat)))
        release.set()
        await queue.join()
        await chat.gently.delivery.settle()
        stored = await chat.store.chat_contents(ALICE, 0)
        assert await chat.store.load_user(ALICE) is None
        assert stored.deletable == ()


async def test_a_reply_on_its_way_when_hide_runs_is_deleted_when_it_lands(
    guide: Guide, db_path: Path
) -> None:
    async with running(guide, db_path) as chat:
        await fill_chat(chat, 5)
        release = chat.api.hold(ALICE)
        queue = chat.app.update_queue
        sent = len(chat.api.to(ALICE, "sendMessage"))
        await queue.put(chat.updates.command(ALICE, "/progress"))
        await chat.api.wait_for(lambda calls: len(chat.api.to(ALICE, "sendMessage")) > sent)
        await queue.put(chat.updates.command(ALICE, "/hide"))  # the reply is still on its way
        await chat.api.wait_for(lambda calls: bool(deletions(chat)))
        release.set()
        await queue.join()
        await chat.gently.delivery.settle()
        on_its_way = chat.api.to(ALICE, "sendMessage")[-1].message_id
        assert on_its_way not in chat.in_chat(ALICE)
