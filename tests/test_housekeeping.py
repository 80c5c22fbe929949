"""Housekeeping and operators never freeze the users (issue 21): the prune goes in
batches, the checkpoint never waits for a reader, /stats reads on its own connection."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from bot.content import Guide
from bot.runtime import Runtime
from bot.store import PRUNE_BATCH, Store
from bot.walkthrough import Action, Progress, Verb
from tests.helpers import FakeClock, Screens, as_guides
from tests.telegram_helpers import running

NOW = 1_800_000_000


def old_ledger(db: Path, rows: int, users: int = 1000) -> None:
    """A ledger after a long outage: `rows` message ids, all too old to delete."""
    with sqlite3.connect(db) as raw:
        raw.executemany(
            "INSERT INTO users (user_id, acknowledged_at, step_id, started_at, last_seen_at) "
            "VALUES (?, 0, 'collect.why', 0, 0)",
            [(user,) for user in range(1, users + 1)],
        )
        raw.executemany(
            "INSERT INTO chat_messages (user_id, message_id, sent_at) VALUES (?, ?, 0)",
            [(1 + n % users, n) for n in range(rows)],
        )


async def test_a_tap_during_a_long_prune_goes_between_its_batches(
    guide: Guide, db_path: Path
) -> None:
    store = await Store.open(db_path)
    old_ledger(db_path, 20 * PRUNE_BATCH)
    runtime = Runtime(as_guides(guide), store, Screens(), FakeClock(NOW))
    prune = asyncio.ensure_future(store.prune_chats(NOW))
    try:
        await asyncio.sleep(0)  # the prune has started
        await runtime.act(5, Action(Verb.CONFIRM, "en"))
        assert not prune.done(), "the tap waited for the whole prune"
        assert await prune == 20 * PRUNE_BATCH
    finally:
        await prune
        await store.close()
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT COUNT(*) FROM chat_messages").fetchone()[0] == 0
        assert raw.execute("SELECT COUNT(*) FROM chat_leftovers").fetchone()[0] == 1000


async def test_an_erasure_beside_a_reader_never_waits_and_its_checkpoint_is_owed(
    db_path: Path,
) -> None:
    """A backup or `stats` reading: the erasure answers at once (not after the 5 s busy
    timeout), the checkpoint that would clear the WAL is owed, and made once the reader
    is gone."""
    store = await Store.open(db_path)
    try:
        await store.save(7, Progress(step_id="collect.why"), NOW)
        reader = sqlite3.connect(db_path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM users").fetchone()
        started = time.monotonic()
        assert await store.delete_user(7) == 1
        assert time.monotonic() - started < 1.0
        assert store.checkpoint_owed
        reader.execute("COMMIT")
        reader.close()
        assert await store.checkpoint()
        assert not store.checkpoint_owed
        assert Path(f"{db_path}-wal").stat().st_size == 0
    finally:
        await store.close()


async def test_the_heartbeat_pays_an_owed_checkpoint(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        chat.store.checkpoint_owed = True
        await chat.gently.beat()
        assert not chat.store.checkpoint_owed


async def test_stats_never_wait_for_the_bots_connection(guide: Guide, db_path: Path) -> None:
    """/stats reads on a connection of its own: with the bot's connection busy, it still
    answers (and so a long count never holds a tap)."""
    async with running(guide, db_path, admin_ids=frozenset({900})) as chat:
        await chat.begin(900)
        busy, release = threading.Event(), threading.Event()

        def hold(connection: sqlite3.Connection) -> None:
            busy.set()
            release.wait(10)

        holding = asyncio.ensure_future(chat.store._db._execute(hold, chat.store._db._conn))
        try:
            await asyncio.to_thread(busy.wait, 10)
            await asyncio.wait_for(chat.command(900, "/stats"), 5)
            assert "<pre>" in chat.last_text(900)
        finally:
            release.set()
            await holding
