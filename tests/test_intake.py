"""Intake under pressure (issue 21): one user's backlog is bounded and never counts
against anyone else's."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from telegram import Bot, Update

from bot.content import Guide
from bot.telegram.app import intake_full
from bot.telegram.ordering import PER_USER, PerUserOrderedProcessor
from bot.telegram.polling import MAX_RECEIVED, PollingBot
from bot.telegram.webhook import Intake, listener
from tests.helpers import free_port, until
from tests.offline import OfflineBotAPI, Updates
from tests.telegram_helpers import Chat, running

N = 2000  # updates posted at once, 100 at a time
SECRET = "s3cret-token-for-tests_0123456789"


async def test_only_updates_that_can_run_count_toward_intake() -> None:
    """Eleven users each with a full backlog behind a reply that hangs: eleven updates
    can run (one per user), and that is what holds fetching back, not 220."""
    updates = Updates(Bot("123:TEST"))
    gate = asyncio.Event()
    dropped: list[object] = []

    async def hangs() -> None:
        await gate.wait()

    async def drop(update: object) -> None:
        dropped.append(update)

    processor = PerUserOrderedProcessor(on_dropped=drop)
    work = [
        asyncio.ensure_future(
            processor.do_process_update(updates.command(user, "/resume"), hangs())
        )
        for user in range(1, 12)
        for _ in range(PER_USER + 1)
    ]
    await until(lambda: len(dropped) == 11)  # each user's one over the bound
    assert processor.runnable == 11
    gate.set()
    await asyncio.gather(*work)
    assert processor.runnable == 0


async def test_the_webhook_refuses_above_the_backlog_and_loses_nothing_it_accepted(
    guide: Guide, db_path: Path
) -> None:
    """2,000 updates posted 100 at a time while every Bot API call takes 50 ms: the webhook
    answers 503 (Telegram delivers those again) once the backlog is over the limit, the
    queue never grows past it by more than what was in flight, and every update it
    answered 200 for is committed."""
    api = OfflineBotAPI(latency=0.05, record=False)
    async with running(guide, db_path, api=api) as chat:
        bot = chat.app.bot
        assert isinstance(bot, PollingBot)
        processor = chat.app.update_processor
        assert isinstance(processor, PerUserOrderedProcessor)
        intake = Intake(intake_full(chat.app, processor))
        port = free_port()
        server = listener(bot, chat.app.update_queue, "/hook", SECRET, intake=intake)
        server.listen(port, address="127.0.0.1")
        peak = 0

        in_flight = asyncio.Semaphore(100)  # Telegram opens at most 100 connections

        async def post(user: int) -> int:
            nonlocal peak
            body = json.dumps(chat.updates.tap(user, "g1:c:en").to_dict()).encode()
            async with in_flight:
                status = await raw_post(port, "/hook", body, SECRET)
            peak = max(peak, chat.app.update_queue.qsize() + processor.received)
            return status

        try:
            codes = await asyncio.gather(*(post(u) for u in range(1, N + 1)))
            await until_settled(chat)
        finally:
            server.stop()
        accepted = {u for u, code in zip(range(1, N + 1), codes, strict=True) if code == 200}
        assert set(codes) == {200, 503}
        assert intake.refused == N - len(accepted)
        assert peak <= MAX_RECEIVED + 100  # at most the requests in flight over the limit
        with sqlite3.connect(db_path) as raw:
            stored = {row[0] for row in raw.execute("SELECT user_id FROM users")}
        assert stored == accepted


async def raw_post(port: int, path: str, body: bytes, secret: str) -> int:
    """One POST on its own connection (a client's connection pool would cost more than
    the bot under test); returns the status code."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Telegram-Bot-Api-Secret-Token: {secret}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    writer.close()
    await writer.wait_closed()
    return status


async def until_settled(chat: Chat) -> None:
    """Until every update taken in has been handled (its reply sent)."""
    await chat.app.update_queue.join()
    await chat.gently.delivery.settle()


def test_spotting_the_quick_exit_never_raises() -> None:
    """It runs on every update before any handler: a malformed one is not its business."""
    from bot.telegram.app import is_quick_exit

    bot = Bot("123:TEST")
    odd = Update.de_json(
        {
            "update_id": 1,
            "callback_query": {
                "id": "1",
                "from": {"id": 1, "is_bot": False, "first_name": "x"},
                "chat_instance": "c",
                "data": 7,
            },
        },
        bot,
    )
    assert odd is not None
    assert is_quick_exit(odd) is False
    assert is_quick_exit(object()) is False
    assert is_quick_exit(Updates(bot).command(1, "/hide")) is True
    in_a_group = Updates(bot).message(1, "/hide", chat_id=-100, kind="group")
    assert is_quick_exit(in_a_group) is False  # refused there; the private queue untouched


async def test_intake_also_waits_when_too_much_was_received_to_finish_at_a_stop() -> None:
    """60 users with 10 updates each behind a reply that hangs: only 60 could run, yet 600
    were received; a stop must commit every one within Docker's grace, so fetching waits."""
    processor = PerUserOrderedProcessor()
    updates = Updates(Bot("123:TEST"))
    gate = asyncio.Event()

    async def hangs() -> None:
        await gate.wait()

    class App:
        update_queue: asyncio.Queue[object] = asyncio.Queue()

    full = intake_full(App(), processor)  # type: ignore[arg-type]
    work = [
        asyncio.ensure_future(
            processor.do_process_update(updates.command(user, "/resume"), hangs())
        )
        for user in range(1, 61)
        for _ in range(10)
    ]
    await until(lambda: processor.received == 600)
    assert processor.runnable == 60
    assert full()
    gate.set()
    await asyncio.gather(*work)
    assert not full()


async def test_get_updates_never_asks_to_wait_forever(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB's last getUpdates at a stop passes no timeouts: they must fall back to the
    request's defaults, not to None, which means wait forever (for a pool connection the
    cancelled long poll may still hold), and a stop would hang."""
    seen: dict[str, object] = {}

    async def post(self: object, endpoint: str, data: object, **kwargs: object) -> list[object]:
        seen.update(kwargs)
        return []

    monkeypatch.setattr(PollingBot, "_post", post)
    bot = PollingBot("123:TEST", request=OfflineBotAPI(), get_updates_request=OfflineBotAPI())
    await bot.get_updates(offset=5, timeout=0)
    assert all(
        seen.get(name, "default") is not None
        for name in ("pool_timeout", "connect_timeout", "write_timeout")
    )
