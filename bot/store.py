"""Progress in SQLite: the only module that speaks SQL.

One file, WAL mode, foreign keys on, a busy timeout, schema versioned with
`PRAGMA user_version` and migrated forward at start-up. Every write is one statement in
autocommit mode, so a tap is either fully saved or not at all. Nothing is cached: memory
does not grow with the number of users, and what is read is what is on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from glob import escape as glob_escape
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiosqlite

from bot.replication import Litestream
from bot.walkthrough import Progress, View

log = logging.getLogger(__name__)
T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
# The WAL is cut back to this size at each checkpoint, so it never holds much history.
JOURNAL_SIZE_LIMIT = 1 << 20
# Litestream adds tables of its own (_litestream_seq, _litestream_lock) to a new database
ANY_TABLE_BUT_LITESTREAMS = (
    r"SELECT 1 FROM sqlite_master WHERE name NOT LIKE '\_litestream\_%' ESCAPE '\' LIMIT 1"
)
PRUNE_BATCH = 2000  # ledger rows forgotten per transaction (short: taps go in between)


UPSERT_PROGRESS = """
INSERT INTO users (user_id, acknowledged_at, step_id, step_index, view, ticked, seen_parts,
                   reviewing, tidy, not_yet, language, pending, pending_at, started_at,
                   last_seen_at, finished_at)
VALUES (:user_id, :now, :step_id, :step_index, :view, :ticked, :seen_parts, :reviewing,
        :tidy, :not_yet, :language, :pending, CASE WHEN :pending IS NOT NULL THEN :now END,
        :now, :now, CASE WHEN :finished THEN :now END)
ON CONFLICT (user_id) DO UPDATE SET
    step_id = excluded.step_id, step_index = excluded.step_index, view = excluded.view,
    ticked = excluded.ticked, seen_parts = excluded.seen_parts, tidy = excluded.tidy,
    not_yet = excluded.not_yet, language = excluded.language,
    reviewing = excluded.reviewing, last_seen_at = excluded.last_seen_at, blocked_at = NULL,
    pending = excluded.pending, pending_at = excluded.pending_at,
    finished_at = CASE WHEN :finished THEN COALESCE(users.finished_at, :now) END
"""


class StoreUnavailable(Exception):
    """The database cannot be used right now (locked, unwritable, or broken)."""


@dataclass(frozen=True)
class Stats:
    users: int
    acknowledged: int
    reached: dict[str, int]  # part id → users who have seen it
    finished: int
    active_7d: int
    pending_reminders: int
    languages: dict[str, int]  # language code → users
    ledger_rows: int = 0  # message ids kept for /hide and /delete


@dataclass(frozen=True)
class Reminder:
    user_id: int
    due_at: int
    attempts: int = 0
    language: str = "en"


@dataclass(frozen=True)
class Noted:
    """A message in a user's chat, for the ledger."""

    message_id: int
    keyboard: bool = False
    shows: int | None = None  # what the bot's message shows, as a number (render.fingerprint)


@dataclass(frozen=True)
class ChatContents:
    deletable: tuple[int, ...]  # message ids Telegram still lets the bot delete
    leftovers: bool  # older messages stay in the chat: only the user can remove them


@dataclass(frozen=True)
class StoredUser:
    progress: Progress
    blocked: bool  # Telegram told us the user blocked the bot
    pending_at: int | None = None  # when the open confirmation (progress.pending) was shown


def migrations() -> list[tuple[int, str]]:
    """(version, SQL) for every file in bot/schema, in order."""
    folder = resources.files("bot") / "schema"
    scripts = sorted(
        (item for item in folder.iterdir() if item.name.endswith(".sql")), key=lambda i: i.name
    )
    return [(int(item.name.split("_", 1)[0]), item.read_text(encoding="utf-8")) for item in scripts]


SCHEMA_VERSION = migrations()[-1][0]


class Store:
    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        # the file opened (device, inode): one put in its place later is not this database
        info = os.stat(path)
        self._identity = (info.st_dev, info.st_ino)
        self._busy_timeout_ms = BUSY_TIMEOUT_MS
        # an erasure's checkpoint could not finish (a reader): the WAL may still hold what
        # was erased, so it is tried again soon (the heartbeat) until it finishes
        self.checkpoint_owed = False
        self.replication: Litestream | None = None  # Litestream replicates it (replication.py)

    async def replicated_by(self, litestream: Litestream) -> None:
        """Litestream checkpoints the WAL on its own schedule; the bot's automatic
        checkpoints would race it (litestream.io/tips), its own go through `checkpoint`."""
        self.replication = litestream
        await self._db.execute("PRAGMA wal_autocheckpoint = 0")

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        target_version: int | None = None,
    ) -> Store:
        """Open (creating if needed, mode 0600) and migrate the database."""
        path = Path(path)
        if sqlite3.sqlite_version_info < (3, 37):  # STRICT tables, ON CONFLICT without target
            raise StoreUnavailable(f"SQLite 3.37 or newer is needed, not {sqlite3.sqlite_version}")
        check_database_file(path)
        try:
            private_folders(path.parent)
            if not path.exists():
                path.touch(mode=0o600)
            db = await aiosqlite.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
        except (OSError, sqlite3.Error) as error:
            raise StoreUnavailable(f"cannot open the database at {path}: {error}") from error
        store = cls(db, path)
        store._busy_timeout_ms = int(busy_timeout_ms)
        try:
            await store._check_ours()  # before anything changes the file
            # SQLite gives the -wal and -shm files the database's mode: keep all private
            # (best effort: someone else's file is left for its owner to fix)
            for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                if file.exists() and file.stat().st_mode & 0o077:
                    with contextlib.suppress(OSError):
                        os.chmod(file, 0o600)
            await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            await db.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode: a commit survives a crash of this process; only an OS crash or
            # power loss can take the last moments back. FULL would fsync on every tap.
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            # Erased rows are overwritten with zeros, not merely unlinked (issue 12).
            await db.execute("PRAGMA secure_delete = ON")
            await db.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
            await store._migrate(target_version)
        except (sqlite3.Error, StoreUnavailable) as error:
            await db.close()  # else its thread keeps the process alive
            if isinstance(error, StoreUnavailable):
                raise
            raise StoreUnavailable(f"cannot prepare the database at {path}: {error}") from error
        return store

    async def _check_ours(self) -> None:
        """A Gently database (or an empty one): not another program's SQLite file, and not
        one a newer version of Gently wrote. Only reads."""
        try:
            version = await self.schema_version()
            has_tables = await self._fetchone(ANY_TABLE_BUT_LITESTREAMS)
        except StoreUnavailable as error:
            raise StoreUnavailable(f"{self.path} is damaged ({error})") from None
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"{self.path} has schema version {version}, newer than this version of Gently "
                f"knows ({SCHEMA_VERSION}); run the newer version, or restore a backup"
            )
        if version == 0 and has_tables:
            raise StoreUnavailable(
                f"{self.path} is another program's SQLite database; refusing to touch it"
            )

    @classmethod
    async def open_read_only(cls, path: Path) -> Store:
        """A connection of its own that only reads, for operators' questions (`/stats`,
        `stats`): it never creates, migrates or writes, and never holds the bot's
        connection. The bot's checkpoint does not wait for it (see `checkpoint`)."""
        path = existing_file(path)
        try:
            uri = f"file:{quote(str(path))}?mode=ro"  # a ? # or % in the path is part of it
            db = await aiosqlite.connect(uri, uri=True, isolation_level=None)
        except sqlite3.Error as error:
            raise StoreUnavailable(f"cannot open the database at {path}: {error}") from error
        return cls(db, path)

    async def close(self) -> None:
        await self._db.close()

    async def verify(self) -> None:
        """Before serving: the file is intact (quick_check) and writable (a write lock
        taken and released). Raises StoreUnavailable saying which."""
        try:
            row = await self._fetchone("PRAGMA quick_check")
        except StoreUnavailable as error:
            raise StoreUnavailable(f"{self.path} is damaged ({error})") from None
        if not row or row[0] != "ok":
            found = row[0] if row else "no answer"
            raise StoreUnavailable(f"{self.path} is damaged (quick_check: {found})")
        try:
            await self.probe_write()
        except StoreUnavailable as error:
            raise StoreUnavailable(f"{self.path} cannot be written ({error})") from None

    async def _migrate(self, target_version: int | None) -> None:
        current = await self.schema_version()
        pending = [
            (version, sql)
            for version, sql in migrations()
            if version > current and (target_version is None or version <= target_version)
        ]
        if pending and current > 0:  # an existing database: keep it as it was first
            await self._copy_before_upgrade(current, pending[-1][0])
        for version, sql in pending:
            log.debug("migrating database to schema version %d", version)
            await self._db.executescript(
                f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;"
            )

    async def schema_version(self) -> int:
        row = await self._fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    # -- progress --------------------------------------------------------------------

    async def load_user(self, user_id: int) -> StoredUser | None:
        row = await self._fetchone(
            "SELECT step_id, step_index, view, ticked, seen_parts, reviewing, finished_at, "
            "tidy, not_yet, language, pending, blocked_at, pending_at FROM users "
            "WHERE user_id = ?",
            (user_id,),
        )
        if row is None:
            return None
        return StoredUser(_progress_from_row(row[:11]), row[11] is not None, row[12])

    async def language_of(self, user_id: int) -> str | None:
        row = await self._fetchone("SELECT language FROM users WHERE user_id = ?", (user_id,))
        return str(row[0]) if row else None

    async def save(self, user_id: int, progress: Progress, now: int) -> None:
        """Insert or update the user's progress in one atomic statement, committed on return."""
        await self._write(
            UPSERT_PROGRESS,
            {
                "user_id": user_id,
                "now": now,
                "step_id": progress.step_id,
                "step_index": progress.step_index,
                "view": progress.view.value,
                "ticked": json.dumps(sorted(progress.ticked)),
                "seen_parts": json.dumps(sorted(progress.seen_parts)),
                "reviewing": int(progress.reviewing),
                "tidy": int(progress.tidy),
                "not_yet": json.dumps(sorted(progress.not_yet)),
                "language": progress.language,
                "pending": progress.pending,
                "finished": int(progress.finished),
            },
        )

    async def delete_user(self, user_id: int) -> int:
        """Erase everything stored about one user (one statement: the schema's trigger takes
        the reminder and the chat ledger with it), then checkpoint so that no copy is left
        in the WAL either. Returns how many users went (0 or 1)."""
        erased = await self._write("DELETE FROM users WHERE user_id = ?", (user_id,))
        try:
            await self.checkpoint()
        except StoreUnavailable as error:  # the erasure stands; the checkpoint is owed
            self.checkpoint_owed = True
            log.warning("the checkpoint after an erasure failed (%s); trying again soon", error)
        return erased

    async def checkpoint(self) -> bool:
        """Copy the WAL into the database and cut it to zero bytes; False if another
        connection's reader (a backup, the stats command) kept it from finishing, or
        Litestream did not answer (see replication.py).

        It never waits for that reader: TRUNCATE would call the busy handler, holding the
        one database connection (and every tap) for the whole busy timeout. With the
        timeout at zero for this one call it answers at once, and is tried again later
        (`checkpoint_owed`)."""
        timeout, litestream = self._busy_timeout_ms, self.replication

        def truncate(connection: sqlite3.Connection) -> bool:
            connection.execute("PRAGMA busy_timeout = 0")
            try:
                busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                connection.execute(f"PRAGMA busy_timeout = {timeout}")
            return not busy

        def beside_litestream(connection: sqlite3.Connection) -> bool:
            assert litestream is not None
            try:
                return litestream.pause() and truncate(connection)
            finally:
                litestream.resume()  # a refused stop may have stopped it all the same

        if litestream:  # taps go on while Litestream catches up
            done = await asyncio.to_thread(litestream.sync) and await self._on_thread(
                beside_litestream
            )
        else:
            done = await self._on_thread(truncate)
        self.checkpoint_owed = not done
        return done

    async def resume_replication(self) -> bool:
        """Start Litestream again after a checkpoint it did not start from; on the database
        thread, so never in the middle of another checkpoint."""
        litestream = self.replication
        return litestream is None or await self._on_thread(lambda _: litestream.resume())

    async def mark_blocked(self, user_id: int, now: int) -> None:
        """The user blocked the bot: keep their progress, drop any reminder."""

        def block(connection: sqlite3.Connection) -> None:
            connection.execute("UPDATE users SET blocked_at = ? WHERE user_id = ?", (now, user_id))
            connection.execute("DELETE FROM reminders WHERE user_id = ?", (user_id,))

        await self._together(block)

    async def unblock(self, user_id: int) -> bool:
        """Clear the user's block; False if they had not blocked the bot."""
        changed = await self._write(
            "UPDATE users SET blocked_at = NULL WHERE user_id = ? AND blocked_at IS NOT NULL",
            (user_id,),
        )
        return changed > 0

    # -- the chat ledger -------------------------------------------------------------

    async def note_messages(self, user_id: int, messages: Sequence[Noted], now: int) -> None:
        """Messages now in the user's chat (theirs or the bot's), ids and times only, with
        whether they have buttons and what they show (a number, for the bot's). Noted only
        for a user who confirmed 18+; a message already noted keeps its time."""
        if not messages:
            return
        rows = ", ".join("(?, ?, ?)" for _ in messages)
        values = [v for m in messages for v in (m.message_id, m.keyboard, m.shows)]
        await self._write(
            "INSERT INTO chat_messages (user_id, message_id, sent_at, keyboard, shows) "
            f"SELECT ?, column1, ?, column2, column3 FROM (VALUES {rows}) "
            "WHERE EXISTS (SELECT 1 FROM users WHERE user_id = ?) "
            "ON CONFLICT DO UPDATE SET keyboard = MAX(keyboard, excluded.keyboard), "
            "shows = COALESCE(excluded.shows, shows)",
            (user_id, now, *values, user_id),
        )

    async def forget_messages(self, user_id: int, message_ids: Sequence[int]) -> None:
        if message_ids:
            marks = ", ".join("?" * len(message_ids))
            await self._write(
                f"DELETE FROM chat_messages WHERE user_id = ? AND message_id IN ({marks})",
                (user_id, *message_ids),
            )

    async def chat_state(self, user_id: int, tapped: int | None) -> tuple[int | None, int | None]:
        """The user's newest message with buttons (the one to clear when a new one comes),
        and what the tapped message shows, if the ledger knows."""
        row = await self._fetchone(
            "SELECT (SELECT MAX(message_id) FROM chat_messages WHERE user_id = ?1 "
            "AND keyboard = 1), (SELECT shows FROM chat_messages WHERE user_id = ?1 "
            "AND message_id = ?2)",
            (user_id, tapped),
        )
        return (row[0], row[1]) if row else (None, None)

    async def chat_contents(self, user_id: int, deletable_since: int) -> ChatContents:
        """What the ledger knows of the user's chat: the ids still young enough to delete,
        and whether older messages stay behind. Only reads: a quick exit works on a full
        or read-only disk, and ids leave the ledger only once Telegram deleted them."""
        rows = await self._fetchall(
            "SELECT message_id, sent_at FROM chat_messages WHERE user_id = ? ORDER BY message_id",
            (user_id,),
        )
        older = await self._fetchone("SELECT 1 FROM chat_leftovers WHERE user_id = ?", (user_id,))
        young = tuple(int(message) for message, sent_at in rows if sent_at >= deletable_since)
        return ChatContents(young, older is not None or len(young) < len(rows))

    async def prune_chats(self, deletable_since: int, batch: int = PRUNE_BATCH) -> int:
        """Forget messages too old for Telegram to delete, remembering only that their chats
        still hold some. In batches through the age index, each one transaction in one
        call, so taps go between them (after an outage there may be millions). Returns how
        many ids went."""

        def prune(connection: sqlite3.Connection) -> int:
            rows = connection.execute(
                "SELECT user_id, message_id FROM chat_messages WHERE sent_at < ? "
                "ORDER BY sent_at LIMIT ?",
                (deletable_since, batch),
            ).fetchall()
            connection.executemany(
                "INSERT OR IGNORE INTO chat_leftovers (user_id) VALUES (?)",
                {(user,) for user, _ in rows},
            )
            connection.executemany(
                "DELETE FROM chat_messages WHERE user_id = ? AND message_id = ?", rows
            )
            return len(rows)

        pruned = 0
        while True:
            done = await self._together(prune)
            pruned += done
            if done < batch:
                return pruned
            await asyncio.sleep(0)  # let the taps waiting meanwhile take their turn

    # -- reminders -------------------------------------------------------------------

    async def set_reminder(self, user_id: int, due_at: int) -> bool:
        """Set or replace the user's one reminder; False if the user has nothing stored."""
        changed = await self._write(
            "INSERT INTO reminders (user_id, due_at) SELECT user_id, ? FROM users "
            "WHERE user_id = ? ON CONFLICT (user_id) DO UPDATE SET due_at = excluded.due_at, "
            "sent_at = NULL, attempts = 0",
            (due_at, user_id),
        )
        return changed > 0

    async def clear_reminder(self, user_id: int) -> None:
        await self._write("DELETE FROM reminders WHERE user_id = ?", (user_id,))

    async def due_reminders(self, now: int, limit: int) -> list[Reminder]:
        """The earliest pending reminders due by `now`, at most `limit` (from an index)."""
        rows = await self._fetchall(
            "SELECT user_id, due_at, attempts, (SELECT language FROM users u WHERE u.user_id "
            "= reminders.user_id) FROM reminders WHERE sent_at IS NULL "
            "AND due_at <= ? AND NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = "
            "reminders.user_id AND (u.finished_at IS NOT NULL OR u.blocked_at IS NOT NULL)) "
            "ORDER BY due_at LIMIT ?",
            (now, limit),
        )
        return [
            Reminder(int(user), int(due), int(attempts), str(language or "en"))
            for user, due, attempts, language in rows
        ]

    async def next_reminder_due(self) -> int | None:
        row = await self._fetchone("SELECT MIN(due_at) FROM reminders WHERE sent_at IS NULL")
        return int(row[0]) if row and row[0] is not None else None

    async def claim_reminder(self, reminder: Reminder, now: int) -> bool:
        """Mark a due reminder as sent before sending it, so that no crash can send it twice.
        False if it was cancelled, changed, or already claimed, or the user finished."""
        changed = await self._write(
            "UPDATE reminders SET sent_at = ? WHERE user_id = ? AND due_at = ? "
            "AND sent_at IS NULL AND EXISTS (SELECT 1 FROM users u WHERE u.user_id = "
            "reminders.user_id AND u.finished_at IS NULL AND u.blocked_at IS NULL)",
            (now, reminder.user_id, reminder.due_at),
        )
        return changed > 0

    async def drop_unwanted_reminder(self, user_id: int) -> None:
        """The user finished the guide or blocked the bot: their reminder will never go."""
        await self._write(
            "DELETE FROM reminders WHERE user_id = ? AND sent_at IS NULL AND EXISTS (SELECT 1 "
            "FROM users u WHERE u.user_id = reminders.user_id AND (u.finished_at IS NOT NULL "
            "OR u.blocked_at IS NOT NULL))",
            (user_id,),
        )

    async def release_reminder(self, reminder: Reminder, claimed_at: int, due_at: int) -> bool:
        """A claimed reminder's send failed for a passing reason: pending again, due at
        `due_at`. False if the user changed or cancelled it meanwhile."""
        changed = await self._write(
            "UPDATE reminders SET sent_at = NULL, due_at = ?, attempts = attempts + 1 "
            "WHERE user_id = ? AND due_at = ? AND sent_at = ?",
            (due_at, reminder.user_id, reminder.due_at, claimed_at),
        )
        return changed > 0

    # -- operations ------------------------------------------------------------------

    async def stats(self, now: int) -> Stats:
        """Aggregate counts only; no identifying column is ever selected."""
        totals = await self._fetchone(
            "SELECT COUNT(*), COUNT(acknowledged_at), COUNT(finished_at), "
            "COALESCE(SUM(last_seen_at >= ?), 0) FROM users",
            (now - 7 * 24 * 3600,),
        )
        reached = await self._fetchall(
            "SELECT value, COUNT(*) FROM users, json_each(users.seen_parts) GROUP BY value"
        )
        pending = await self._fetchone("SELECT COUNT(*) FROM reminders WHERE sent_at IS NULL")
        languages = await self._fetchall("SELECT language, COUNT(*) FROM users GROUP BY language")
        ledger = await self._fetchone("SELECT COUNT(*) FROM chat_messages")
        users, acknowledged, finished, active = totals or (0, 0, 0, 0)
        return Stats(
            users=int(users),
            acknowledged=int(acknowledged),
            reached={str(part): int(count) for part, count in reached},
            finished=int(finished),
            active_7d=int(active),
            pending_reminders=int(pending[0]) if pending else 0,
            languages={str(code): int(count) for code, count in languages},
            ledger_rows=int(ledger[0]) if ledger else 0,
        )

    async def _copy_before_upgrade(self, current: int, target: int) -> None:
        """Before migrating: a consistent copy beside the database, `<name>.before-v<N>.sqlite3`
        (N: the version it is about to become), made as `backup` makes one. Only the latest
        is kept (each still holds users who have erased themselves since), and an earlier
        one goes only once the new one is written."""
        path = self.path
        copy = path.with_name(f"{path.stem}.before-v{target}.sqlite3")
        if copy.exists():  # an upgrade to the same version was cut short: that copy is older
            return
        await self._copy_to(copy)  # a copy that fails leaves the earlier one in place
        for older in path.parent.glob(f"{glob_escape(path.stem)}.before-v*.sqlite3"):
            if older != copy:
                older.unlink(missing_ok=True)
        log.info(
            "upgrading the database from schema %d to %d; a copy as it was: %s",
            current,
            target,
            copy,
        )

    async def backup(self, destination: Path) -> None:
        """A consistent copy of the live database, safe while the bot keeps writing, in a
        directory only the owner can enter."""
        destination = Path(destination)
        folder = destination.parent
        if folder.exists():
            if folder.stat().st_mode & 0o077:
                raise PermissionError(
                    f"{folder} can be read by other users; keep backups in a directory of "
                    "mode 0700 (chmod 700 it, or choose another)"
                )
        else:
            private_folders(folder)
        await self._copy_to(destination)

    async def _copy_to(self, destination: Path) -> None:
        """VACUUM INTO a file created 0600 before a byte is written (it accepts an empty
        file); a copy that fails is removed."""
        try:
            os.close(os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            raise FileExistsError(f"{destination} already exists; choose a new file") from None
        try:
            await self._write("VACUUM INTO ?", (str(destination),))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(destination)
            raise

    async def integrity_ok(self) -> bool:
        row = await self._fetchone("PRAGMA integrity_check")
        return row is not None and row[0] == "ok"

    # -- plumbing --------------------------------------------------------------------

    async def _write(self, sql: str, params: object = ()) -> int:
        """Run one statement; returns the number of rows it changed. The cursor is left to
        the garbage collector: closing it would cost a second trip to the database thread."""
        try:
            cursor = await self._db.execute(sql, params)
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error
        return cursor.rowcount

    async def probe_write(self) -> None:
        """A real write (the schema version written back), for the health check: on a
        read-only or full disk reads keep working, so only a write shows it."""
        await self._together(_probe_write)

    def file_problem(self) -> str | None:
        """Whether the file at the database's path is still the one opened: deleted or
        replaced under the running process, every write goes to a file nobody will find."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return f"the database file {self.path} was deleted while the bot runs"
        except OSError as error:
            return f"cannot look at the database file {self.path} ({error.strerror})"
        if (info.st_dev, info.st_ino) != self._identity:
            return f"the database file {self.path} was replaced while the bot runs"
        return None

    async def _fetchone(self, sql: str, params: object = ()) -> sqlite3.Row | None:
        rows = await self._fetchall(sql, params)
        return rows[0] if rows else None

    async def _fetchall(self, sql: str, params: object = ()) -> list[sqlite3.Row]:
        """Run a query and read all its rows in one call on the database thread: no
        statement stays open between awaits (an open one would block a checkpoint)."""
        try:
            return list(await self._db.execute_fetchall(sql, params))
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error

    async def _together(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on the database thread in one call, inside one transaction: nothing
        another coroutine does can land between its statements."""

        def transaction(connection: sqlite3.Connection) -> T:
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = work(connection)
            except BaseException:
                if connection.in_transaction:  # SQLite may have rolled back already
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return result

        return await self._on_thread(transaction)

    async def _on_thread(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on the database thread in one call. aiosqlite has no public way to;
        _execute is the one every public method uses (pinned below 0.23 in pyproject)."""
        try:
            result: T = await self._db._execute(work, self._db._conn)  # type: ignore[no-untyped-call]
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error
        return result


def _probe_write(connection: sqlite3.Connection) -> None:
    """A read-only file still grants BEGIN IMMEDIATE; writing its header does not. It
    writes back the version that is already there."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    connection.execute(f"PRAGMA user_version = {int(version)}")


SQLITE_HEADER = b"SQLite format 3\x00"


def existing_file(path: Path) -> Path:
    """The absolute path of an existing file; StoreUnavailable naming it otherwise."""
    absolute = Path(os.path.abspath(path))
    if not absolute.is_file():
        raise StoreUnavailable(f"there is no database at {absolute}")
    return absolute


def check_database_file(path: Path) -> None:
    """Before anything touches `path`: it is missing, or a regular file with one name that
    is empty or starts with SQLite's header. Anything else (a directory, a FIFO, a device,
    someone's notes, a second hard link) is refused, untouched."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as error:
        raise StoreUnavailable(f"cannot look at {path} ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise StoreUnavailable(f"{path} is not a database file (a directory or a device)")
    if info.st_nlink > 1:
        raise StoreUnavailable(
            f"{path} has {info.st_nlink} hard links; a database must have one name, or two "
            "processes could open it under different names (remove the other links)"
        )
    if info.st_size:
        try:
            with open(path, "rb") as file:
                header = file.read(len(SQLITE_HEADER))
        except OSError as error:
            raise StoreUnavailable(f"cannot read {path} ({error.strerror})") from None
        if header != SQLITE_HEADER:
            raise StoreUnavailable(f"{path} is not a SQLite database; refusing to touch it")


def private_folders(folder: Path) -> None:
    """Create `folder` and any missing parents with mode 0700 (`mkdir(parents=True)`
    would give the parents the umask's mode)."""
    missing = [f for f in (folder, *folder.parents) if not f.exists()]
    for new in reversed(missing):
        new.mkdir(mode=0o700)
        os.chmod(new, 0o700)  # mkdir's mode is masked by the umask


def _progress_from_row(row: Sequence[Any]) -> Progress:
    (
        step_id,
        step_index,
        view,
        ticked,
        seen_parts,
        reviewing,
        finished_at,
        tidy,
        not_yet,
        language,
        pending,
    ) = row
    try:
        view_value = View(view)
    except ValueError:
        view_value = View.STEP
    return Progress(
        step_id=step_id,
        step_index=int(step_index),
        view=view_value,
        ticked=frozenset(json.loads(ticked)),
        seen_parts=frozenset(json.loads(seen_parts)),
        reviewing=bool(reviewing),
        finished=finished_at is not None,
        tidy=bool(tidy),
        not_yet=frozenset(json.loads(not_yet)),
        language=str(language),
        pending=pending,
    )
