"""Safe upgrades, on the process (issue 23): `python -m bot run` migrates a database of the
oldest schema this project shipped, keeping a copy as it was, and refuses a newer one."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from bot.store import SCHEMA_VERSION, Store
from tests.fake_bot_server import FakeBotServer
from tests.test_process import bot, polling

pytestmark = pytest.mark.process

# (user, step id, step index, items answered yes) as version 1 of the bot stored them
OLD_USERS = [
    (7, "talk.lube", 10, ["talk.gloves"]),
    (8, "collect.why", 0, []),
    (9, "you.get", 30, ["collect.timing", "talk.lube", "talk.stop"]),
]


def version_one_database(db: Path) -> None:
    """The migration files in order up to the first, then users written as it wrote them."""

    async def create() -> None:
        store = await Store.open(db, target_version=1)
        await store.close()

    asyncio.run(create())
    with sqlite3.connect(db) as raw:
        raw.executemany(
            "INSERT INTO users (user_id, acknowledged_at, step_id, step_index, ticked, "
            "started_at, last_seen_at) VALUES (?, 1700000000, ?, ?, ?, 1700000000, 1700000000)",
            [(user, step, index, json.dumps(yes)) for user, step, index, yes in OLD_USERS],
        )
    raw.close()


def test_run_upgrades_the_oldest_schema_keeping_a_copy_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "g.sqlite3"
    version_one_database(db)
    with FakeBotServer() as server, bot(db, server) as running:
        assert polling(server), running.text
        assert running.stop()[0] == 0
    said = [line for line in running.lines if "a copy as it was" in line]
    copy = tmp_path / f"g.before-v{SCHEMA_VERSION}.sqlite3"
    assert len(said) == 1 and str(copy) in said[0] and f"to {SCHEMA_VERSION}" in said[0]
    assert copy.stat().st_mode & 0o777 == 0o600
    assert rows(copy) == OLD_USERS  # the database as it was: version 1, every user
    with sqlite3.connect(copy) as raw:
        assert raw.execute("PRAGMA user_version").fetchone() == (1,)
    raw.close()
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    raw.close()
    assert rows(db) == OLD_USERS  # every user's place and answers


def rows(db: Path) -> list[tuple[int, str, int, list[str]]]:
    with sqlite3.connect(db) as raw:
        kept = raw.execute("SELECT user_id, step_id, step_index, ticked FROM users").fetchall()
    raw.close()
    return sorted((u, s, i, json.loads(t)) for u, s, i, t in kept)


def test_run_refuses_a_newer_schema_and_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "g.sqlite3"
    version_one_database(db)
    with sqlite3.connect(db) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    before = db.read_bytes()
    with bot(db, None) as running:
        assert running.finish(within=30) == 1
    assert len(running.lines) == 1, running.text
    assert f"schema version {SCHEMA_VERSION + 1}" in running.text
    assert f"knows ({SCHEMA_VERSION})" in running.text
    assert db.read_bytes() == before
    assert not list(tmp_path.glob("*.before-v*"))
