"""The store on real SQLite files: persistence, atomicity, migration, privacy of stats."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bench.workload import populate, progress_of
from bot.content import Guide
from bot.runtime import Runtime
from bot.store import SCHEMA_VERSION, Noted, Store, StoreUnavailable, migrations
from bot.walkthrough import Action, Progress, Verb, View
from tests.helpers import ROOT, FakeClock, Screens, as_guides

NOW = 1_800_000_000


async def test_creates_directory_and_private_file(db_path: Path) -> None:
    store = await Store.open(db_path)
    await store.close()
    assert db_path.is_file()
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_progress_survives_reopening(db_path: Path) -> None:
    progress = Progress(
        step_id="talk.lube",
        step_index=10,
        view=View.STEP,
        ticked=frozenset({"collect.why", "talk.gloves"}),
        seen_parts=frozenset({"collect", "talk"}),
        reviewing=True,
    )
    first = await Store.open(db_path)
    await first.save(7, progress, NOW)
    await first.close()
    second = await Store.open(db_path)
    try:
        assert await progress_of(second, 7) == progress
        assert await progress_of(second, 8) is None
    finally:
        await second.close()


async def test_only_minimal_columns_are_stored(store: Store, db_path: Path) -> None:
    await store.save(7, Progress(step_id="collect.why"), NOW)
    with sqlite3.connect(db_path) as raw:
        columns = {row[1] for row in raw.execute("PRAGMA table_info(users)")}
    assert columns == {
        "user_id",
        "acknowledged_at",
        "step_id",
        "step_index",
        "view",
        "ticked",
        "seen_parts",
        "reviewing",
        "started_at",
        "last_seen_at",
        "finished_at",
        "blocked_at",
        "tidy",
        "not_yet",
        "language",
        "pending",
        "pending_at",
    }
    with sqlite3.connect(db_path) as raw:
        ledger = {row[1] for row in raw.execute("PRAGMA table_info(chat_messages)")}
    assert ledger == {"user_id", "message_id", "sent_at", "keyboard", "shows"}  # never content


async def test_timestamps(store: Store, db_path: Path) -> None:
    await store.save(7, Progress(step_id="collect.why"), NOW)
    await store.save(7, Progress(step_id="read.bukowski", finished=True), NOW + 50)
    await store.save(7, Progress(step_id="read.bukowski", finished=True), NOW + 90)
    with sqlite3.connect(db_path) as raw:
        row = raw.execute(
            "SELECT acknowledged_at, started_at, last_seen_at, finished_at FROM users"
        ).fetchone()
    assert row == (NOW, NOW, NOW + 90, NOW + 50)


async def test_delete_everything_reports_what_went(store: Store, db_path: Path) -> None:
    await store.save(7, Progress(step_id="collect.why"), NOW)
    await store.set_reminder(7, NOW + 3600)
    await store.save(8, Progress(step_id="collect.why"), NOW)
    assert await store.delete_user(7) == 1
    assert await progress_of(store, 7) is None
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT COUNT(*) FROM reminders").fetchone()[0] == 0
        assert raw.execute("SELECT user_id FROM users").fetchall() == [(8,)]
    assert await store.delete_user(7) == 0


async def test_stats_are_aggregates(store: Store) -> None:
    await store.save(1, Progress(step_id="collect.why", seen_parts=frozenset({"collect"})), NOW)
    await store.save(
        2,
        Progress(
            step_id="read.bukowski",
            seen_parts=frozenset({"collect", "talk", "read"}),
            finished=True,
        ),
        NOW - 10 * 24 * 3600,
    )
    stats = await store.stats(NOW)
    assert stats.users == 2
    assert stats.acknowledged == 2
    assert stats.finished == 1
    assert stats.active_7d == 1
    assert stats.reached == {"collect": 2, "talk": 1, "read": 1}


def test_migrations_are_numbered_once_each_in_order() -> None:
    """Two files with one number would leave a database already at that version without
    the second one's changes."""
    assert [version for version, _ in migrations()] == list(range(1, SCHEMA_VERSION + 1))


async def test_migrates_a_version_one_database(db_path: Path) -> None:
    old = await Store.open(db_path, target_version=1)
    assert await old.schema_version() == 1
    await old.close()
    with sqlite3.connect(db_path) as raw:  # a row as version 1 of the bot wrote it
        assert "reminders" not in {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
        raw.execute(
            "INSERT INTO users (user_id, acknowledged_at, step_id, step_index, ticked, "
            "started_at, last_seen_at) VALUES (7, ?, 'talk.lube', 10, '[\"talk.gloves\"]', ?, ?)",
            (NOW, NOW, NOW),
        )
    raw.close()
    stale = db_path.with_name(f"{db_path.stem}.before-v4.sqlite3")  # an earlier upgrade's
    stale.write_bytes(b"an older copy")
    new = await Store.open(db_path)
    try:
        assert await new.schema_version() == SCHEMA_VERSION == migrations()[-1][0]
        loaded = await progress_of(new, 7)
        assert loaded is not None
        assert loaded.step_id == "talk.lube"
        assert loaded.ticked == frozenset({"talk.gloves"})
        assert await new.set_reminder(7, NOW + 60)
    finally:
        await new.close()
    # a consistent copy of the database as it was, beside it, private; only the latest kept
    copy = db_path.with_name(f"{db_path.stem}.before-v{SCHEMA_VERSION}.sqlite3")
    assert copy.stat().st_mode & 0o777 == 0o600 and not stale.exists()
    with sqlite3.connect(copy) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
        assert raw.execute("SELECT step_id FROM users").fetchall() == [("talk.lube",)]
    raw.close()
    again = await Store.open(db_path)  # nothing to migrate: no new copy
    await again.close()
    assert sorted(p.name for p in db_path.parent.glob("*.before-v*")) == [copy.name]


async def test_many_concurrent_taps_lose_nothing(
    guide: Guide, db_path: Path, clock: FakeClock
) -> None:
    """50 users each fire their whole run through part 1's checklist at once (yes, yes,
    …, every tap one that changes and saves their progress). Per-user order and one
    commit per tap mean each ends on the summary with all ten answered yes; a lost or
    reordered write would leave an answer out or stop short."""
    store = await Store.open(db_path)
    runtime = Runtime(as_guides(guide), store, Screens(), clock)
    checklist = guide.parts[0].checklist
    users = range(1, 51)

    async def one_user(user: int) -> None:
        await runtime.act(user, Action(Verb.CONFIRM))
        await runtime.act(user, Action(Verb.JUMP, "collect"))
        first = guide.parts[0].steps.index(checklist[0])
        moves = [Action(Verb.NEXT, step.id) for step in guide.parts[0].steps[:first]]
        for item in checklist:
            moves.append(Action(Verb.YES, item.id))
        await asyncio.gather(*(runtime.act(user, move) for move in moves))

    await asyncio.gather(*(one_user(u) for u in users))
    await store.close()
    reopened = await Store.open(db_path)
    try:
        for user in users:
            progress = await progress_of(reopened, user)
            assert progress is not None
            assert progress.ticked == {item.id for item in checklist}, user
            assert (progress.step_id, progress.view) == (checklist[-1].id, View.SUMMARY)
        assert await reopened.integrity_ok()
    finally:
        await reopened.close()


async def test_concurrent_sequential_walks_match_the_sequential_result(
    guide: Guide, db_path: Path, clock: FakeClock
) -> None:
    store = await Store.open(db_path)
    runtime = Runtime(as_guides(guide), store, Screens(), clock)

    async def walk(user: int, taps: int) -> Progress | None:
        outcome = await runtime.act(user, Action(Verb.CONFIRM))
        for _ in range(taps):
            assert outcome.screen.primary is not None
            outcome = await runtime.act(user, outcome.screen.primary.action)
        return outcome.progress

    results = await asyncio.gather(*(walk(user, 5 + user % 20) for user in range(1, 41)))
    for user, expected in zip(range(1, 41), results, strict=True):
        assert await progress_of(store, user) == expected
    await store.close()


async def test_locked_database_raises_store_unavailable(db_path: Path) -> None:
    store = await Store.open(db_path, busy_timeout_ms=50)
    blocker = sqlite3.connect(db_path, timeout=0)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailable):
            await store.save(7, Progress(step_id="collect.why"), NOW)
    finally:
        blocker.rollback()
        blocker.close()
    await store.save(7, Progress(step_id="collect.why"), NOW)  # fine again afterwards
    assert await progress_of(store, 7) == Progress(step_id="collect.why")
    await store.close()


async def test_backup_is_a_consistent_copy(store: Store, tmp_path: Path) -> None:
    for user in range(1, 101):
        await store.save(user, Progress(step_id="collect.why"), NOW)
    target = tmp_path / "backups" / "copy.sqlite3"

    async def keep_writing() -> None:
        for user in range(101, 201):
            await store.save(user, Progress(step_id="talk.lube"), NOW)

    await asyncio.gather(store.backup(target), keep_writing())
    copy = await Store.open(target)
    try:
        assert await copy.integrity_ok()
        count = (await copy.stats(NOW)).users
        assert 100 <= count <= 200
        assert await progress_of(copy, 1) == Progress(step_id="collect.why")
    finally:
        await copy.close()
    with pytest.raises(FileExistsError):
        await store.backup(target)


PROBE = """
import asyncio, sys
from bot.store import Store, StoreUnavailable
async def main():
    store = await Store.open(sys.argv[1])
    try:
        await store.verify()
        print("writable")
    except StoreUnavailable as error:
        print(error)
    finally:
        await store.close()
asyncio.run(main())
"""


@pytest.mark.process
async def test_a_read_only_database_fails_the_write_probe(db_path: Path) -> None:
    """A file the process may read but not write: SQLite opens it and even grants BEGIN
    IMMEDIATE, so only a real write shows it. Root writes through file modes, so as root
    the probe runs without the capabilities that allow it (the checkout may sit anywhere,
    even in a folder no other user can enter)."""
    store = await Store.open(db_path)
    await store.close()
    db_path.chmod(0o400)  # private already, so opening it leaves the mode alone
    caps = "-dac_override,-dac_read_search"
    without_override = (
        ["setpriv", "--bounding-set", caps, "--inh-caps", caps, "--"] if os.geteuid() == 0 else []
    )
    result = subprocess.run(
        [*without_override, sys.executable, "-c", PROBE, str(db_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "cannot be written" in result.stdout, result.stdout + result.stderr


async def test_a_damaged_database_fails_the_check(db_path: Path) -> None:
    await populate(db_path, range(1, 2001), Progress("collect.why"), NOW)
    data = bytearray(db_path.read_bytes())
    data[8192:16384] = b"\xff" * 8192  # a few pages of garbage
    db_path.write_bytes(bytes(data))

    async def open_and_check() -> None:
        damaged = await Store.open(db_path)
        try:
            await damaged.verify()
        finally:
            await damaged.close()

    with pytest.raises(StoreUnavailable, match=r"damaged|malformed"):
        await open_and_check()


async def test_the_database_and_its_folders_are_private(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        nested = tmp_path / "a" / "b" / "gently.sqlite3"
        store = await Store.open(nested)
        await store.close()
        shared = tmp_path / "shared.sqlite3"
        shared.touch(mode=0o644)
        os.chmod(shared, 0o644)
        store = await Store.open(shared)
        await store.close()
    finally:
        os.umask(previous)
    for folder in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE(nested.stat().st_mode) == 0o600
    assert stat.S_IMODE(shared.stat().st_mode) == 0o600


async def test_overlapping_erasures_undo_no_other_write(store: Store, db_path: Path) -> None:
    """Two users confirm /delete at the same moment while others save and claim reminders,
    all on the one connection: both erasures complete, and nobody else's write is undone."""
    rounds = 40
    for round_ in range(rounds):
        base = round_ * 10
        erased, saver, claimer = (base + 1, base + 2), base + 3, base + 4
        for user in (*erased, saver, claimer):
            await store.save(user, Progress(step_id="collect.why"), NOW)
            await store.note_messages(user, [Noted(100, keyboard=True)], NOW)
            await store.set_reminder(user, NOW)
        await store.prune_chats(NOW + 1)  # every chat now has leftovers too
        await store.note_messages(erased[0], [Noted(101)], NOW)
        reminder = (await store.due_reminders(NOW, 1000))[-1]
        assert reminder.user_id == claimer
        results = await asyncio.gather(
            store.delete_user(erased[0]),
            store.save(saver, Progress(step_id="talk.lube", step_index=10), NOW),
            store.claim_reminder(reminder, NOW),
            store.delete_user(erased[1]),
            store.save(saver, Progress(step_id="talk.gloves", step_index=11), NOW),
        )
        assert (results[0], results[3]) == (1, 1)
        assert results[2] is True
    with sqlite3.connect(db_path) as raw:
        for table in ("users", "reminders", "chat_messages", "chat_leftovers"):
            left = {row[0] for row in raw.execute(f"SELECT user_id FROM {table}")}
            assert not left & {r * 10 + k for r in range(rounds) for k in (1, 2)}, table
        savers = dict(raw.execute("SELECT user_id, step_id FROM users WHERE user_id % 10 = 3"))
        assert savers == {r * 10 + 3: "talk.gloves" for r in range(rounds)}
        claimed = raw.execute(
            "SELECT COUNT(*) FROM reminders WHERE user_id % 10 = 4 AND sent_at IS NOT NULL"
        ).fetchone()[0]
        assert claimed == rounds


async def test_another_programs_database_is_refused_untouched(tmp_path: Path) -> None:
    foreign = tmp_path / "bookmarks.sqlite3"
    with sqlite3.connect(foreign) as raw:
        raw.execute("CREATE TABLE bookmarks (url TEXT)")
    foreign.chmod(0o644)
    before = foreign.read_bytes()
    with pytest.raises(StoreUnavailable, match="another program"):
        await Store.open(foreign)
    assert foreign.read_bytes() == before
    assert stat.S_IMODE(foreign.stat().st_mode) == 0o644


async def test_a_database_from_a_newer_version_is_refused_untouched(db_path: Path) -> None:
    store = await Store.open(db_path)
    await store.close()
    with sqlite3.connect(db_path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = db_path.read_bytes()
    with pytest.raises(StoreUnavailable, match="newer than this version"):
        await Store.open(db_path)
    assert db_path.read_bytes() == before


async def test_an_open_that_fails_partway_leaves_no_thread_behind(db_path: Path) -> None:
    """A failure after connecting (here: a newer schema) closes the connection, or its
    thread would keep a short command like `stats` from ever exiting."""
    store = await Store.open(db_path)
    await store.close()
    with sqlite3.connect(db_path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = set(threading.enumerate())
    with pytest.raises(StoreUnavailable):
        await Store.open(db_path)
    started = [thread for thread in threading.enumerate() if thread not in before]
    for thread in started:
        thread.join(timeout=5)
    assert not [thread for thread in started if thread.is_alive()]


async def test_a_read_only_open_takes_the_path_as_it_is(tmp_path: Path) -> None:
    folder = tmp_path / "odd ?#% name"
    folder.mkdir()
    store = await Store.open(folder / "g.sqlite3")
    await store.save(7, Progress(step_id="collect.why"), NOW)
    await store.close()
    reader = await Store.open_read_only(folder / "g.sqlite3")
    try:
        assert (await reader.stats(NOW)).users == 1
    finally:
        await reader.close()


async def test_an_upgrade_cut_short_keeps_the_copy_from_before_it(db_path: Path) -> None:
    """Migrations that stopped partway leave a database between versions: the next start
    must not replace the copy of the untouched one with a copy of the half-upgraded one."""
    old = await Store.open(db_path, target_version=1)
    await old.close()
    copy = db_path.with_name(f"{db_path.stem}.before-v{SCHEMA_VERSION}.sqlite3")
    copy.write_bytes(b"the copy taken before the first attempt")
    new = await Store.open(db_path)
    await new.close()
    assert copy.read_bytes() == b"the copy taken before the first attempt"
