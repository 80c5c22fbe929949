"""The process users talk to: `python -m bot run` in a subprocess, against a local fake Bot
API, for every claim about start-up, logging, bad updates, a second instance and stopping."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot import __version__
from tests.fake_bot_server import FakeBotServer
from tests.helpers import ROOT, Lines, clean_env, free_port

pytestmark = pytest.mark.process  # each test runs a subprocess

TOKEN = "123456:PROCESS-token-never-printed"
PRIVATE = {"first_name": "Zelda", "username": "zelda_secret_handle", "text": "my secret words"}


class Running(Lines):
    """A `python -m bot run` subprocess whose stderr is collected as it comes."""

    def __init__(
        self, db: Path, server: FakeBotServer | None, files: int | None = None, **settings: str
    ) -> None:
        env = clean_env(
            TELEGRAM_BOT_TOKEN=TOKEN,
            GENTLY_DB_PATH=str(db),
            GENTLY_LOG_LEVEL="DEBUG",
            **({"TELEGRAM_BASE_URL": server.base_url} if server else {}),
            **settings,
        )
        super().__init__(
            subprocess.Popen(
                [sys.executable, "-m", "bot", "run"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (files, files)))
                if files
                else None,
            )
        )

    def wait_for_line(self, text: str, timeout: float = 20) -> bool:
        """Until a line containing `text` has been logged (False after `timeout`)."""
        return self.wait_for(text, timeout)

    def stop(self, sig: int = signal.SIGTERM, within: float = 30) -> tuple[int, float]:
        """Signal it; (exit code, seconds it took to exit)."""
        start = time.monotonic()
        self.process.send_signal(sig)
        return self.finish(within), time.monotonic() - start

    def finish(self, within: float = 90) -> int:
        return super().finish(within)


@contextmanager
def bot(
    db: Path, server: FakeBotServer | None, files: int | None = None, **settings: str
) -> Iterator[Running]:
    running = Running(db, server, files, **settings)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def polling(server: FakeBotServer) -> bool:
    return server.wait_for(lambda calls: any(m == "getUpdates" for m, _ in calls))


def person(user: int) -> dict[str, object]:
    """A sender with a name and username that must never reach a log."""
    return {
        "id": user,
        "is_bot": False,
        "first_name": PRIVATE["first_name"],
        "username": PRIVATE["username"],
    }


def tap(user: int, data: str) -> dict[str, object]:
    chat = {"id": user, "type": "private", "first_name": PRIVATE["first_name"]}
    message = {"message_id": 5, "date": 0, "chat": chat, "text": "x"}
    query = {"id": str(user), "from": person(user), "chat_instance": "c", "data": data}
    return {"callback_query": {**query, "message": message}}


def text_message(user: int, text: str) -> dict[str, object]:
    chat = {**person(user), "type": "private"}
    del chat["is_bot"]
    message = {"message_id": 9, "date": 0, "chat": chat, "from": person(user), "text": text}
    return {"message": message}


def sent_to(server: FakeBotServer, user: int) -> list[dict[str, object]]:
    return [
        p
        for m, p in list(server.calls)
        if m == "sendMessage" and str(p.get("chat_id")) == str(user)
    ]


def test_an_unreadable_update_is_one_warning_and_nothing_private_is_logged(
    tmp_path: Path,
) -> None:
    with FakeBotServer() as server, bot(tmp_path / "g.sqlite3", server) as running:
        assert polling(server)
        server.push({"poll": {"id": "broken"}})  # fields this PTB requires are missing
        server.push({"update_id_is": "odd", "message": {"chat": None}})
        server.push(text_message(7, PRIVATE["text"]))
        server.push(tap(7, "g1:c:en"))
        assert server.wait_for(lambda _: len(sent_to(server, 7)) >= 2)
        code, _ = running.stop()
    assert code == 0, running.text
    skipped = [line for line in running.lines if "skipped update" in line]
    assert len(skipped) == 2, running.text
    assert "skipped update 1 (poll)" in skipped[0]
    assert all(" WARNING " in line for line in skipped)
    assert "Traceback" not in running.text
    for private in (*PRIVATE.values(), TOKEN):
        assert private not in running.text  # at DEBUG, library loggers included
    started = next(line for line in running.lines if " running " in line)
    assert f" INFO bot.telegram.runner: gently-bot {__version__} running (" in started
    for fact in ("polling", "languages en", "es", "de", str(tmp_path / "g.sqlite3"), "schema 10"):
        assert fact in started, started


def test_a_second_instance_refuses_to_start_naming_the_first(tmp_path: Path) -> None:
    db = tmp_path / "g.sqlite3"
    with FakeBotServer() as server, bot(db, server) as first:
        assert polling(server)
        with bot(db, server) as second:
            assert second.finish(within=30) == 1
        assert "already running" in second.text and f"pid {first.process.pid}" in second.text
        assert len(second.lines) == 1, second.text
        assert first.process.poll() is None  # the first one carries on
        assert first.stop()[0] == 0


def test_the_same_database_by_another_name_is_the_same_instance(tmp_path: Path) -> None:
    """A symlink naming the running database meets the first instance's lock; a second
    hard link is refused outright (two -wal files for one database corrupt it); renamed
    under the running bot, it is still locked."""
    db = tmp_path / "g.sqlite3"
    with FakeBotServer() as server, bot(db, server) as first:
        assert polling(server)
        (tmp_path / "other").mkdir()
        symlink = tmp_path / "other" / "link.sqlite3"
        symlink.symlink_to(db)
        with bot(symlink, server) as second:
            assert second.finish(within=30) == 1
        assert "already running" in second.text and len(second.lines) == 1, second.text
        hard = tmp_path / "other" / "hard.sqlite3"
        os.link(db, hard)
        with bot(hard, server) as third:
            assert third.finish(within=30) == 1
        assert "hard link" in third.text and len(third.lines) == 1, third.text
        os.unlink(db)  # the running database renamed: only the new name is left
        with bot(hard, server) as fourth:
            assert fourth.finish(within=30) == 1
        assert "already has" in fourth.text and len(fourth.lines) == 1, fourth.text
        assert not list((tmp_path / "other").glob("*-wal"))
        assert first.process.poll() is None
        assert first.stop()[0] == 0


def test_a_foreign_file_is_refused_before_it_is_touched(tmp_path: Path) -> None:
    """Not a database: a directory, a FIFO, a text file. Each is one line, exit 1, and is
    left exactly as it was, with nothing created beside it."""
    folder = tmp_path / "data"
    folder.mkdir()
    foreign = {"dir.sqlite3": "dir", "fifo.sqlite3": "fifo", "notes.txt": "text"}
    for name, kind in foreign.items():
        path = folder / name
        if kind == "dir":
            path.mkdir()
        elif kind == "fifo":
            os.mkfifo(path, 0o644)
        else:
            path.write_text("not a database, someone's notes\n")
            path.chmod(0o644)
    before = {p.name: os.stat(p).st_mode for p in folder.iterdir()}
    for name in foreign:
        with bot(folder / name, None) as run:
            assert run.finish(within=30) == 1
        assert len(run.lines) == 1 and "Traceback" not in run.text, run.text
        assert str(folder / name) in run.text
    assert {p.name: os.stat(p).st_mode for p in folder.iterdir()} == before


def test_start_up_failures_are_one_clear_line(tmp_path: Path) -> None:
    db = tmp_path / "g.sqlite3"
    unreachable = f"http://127.0.0.1:{free_port()}/bot"
    with bot(db, None, TELEGRAM_BASE_URL=unreachable, GENTLY_STARTUP_RETRY_SECONDS="2") as run:
        assert run.finish() == 1
    assert "cannot reach the Bot API at 127.0.0.1" in run.lines[-1]
    assert "Traceback" not in run.text and TOKEN not in run.text

    with bot(db, None, TELEGRAM_BASE_URL="htp:/nowhere") as run:
        assert run.finish() == 78  # permanent: EX_CONFIG; the unreachable one above is 1
    assert run.lines == [
        "Configuration problem: TELEGRAM_BASE_URL must be a http:// or https:// address with a valid host\n"
    ]

    with socket.socket() as taken, FakeBotServer() as server:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        webhook = {
            "GENTLY_WEBHOOK_URL": "https://bot.example.org/hook",
            "GENTLY_WEBHOOK_SECRET": "a-secret-of-enough-length",
            "GENTLY_WEBHOOK_PORT": port,
        }
        with bot(db, server, **webhook) as run:
            assert run.finish() == 1
    assert "cannot listen on 127.0.0.1" in run.lines[-1]
    assert "Traceback" not in run.text

    with FakeBotServer() as server:
        server.failing["setWebhook"] = (400, "Bad Request: bad webhook: HTTPS url must be provided")
        webhook["GENTLY_WEBHOOK_PORT"] = str(free_port())
        with bot(db, server, **webhook) as run:
            assert run.finish() == 1
    assert "cannot register the webhook with Telegram" in run.lines[-1]
    assert "Traceback" not in run.text


def test_out_of_file_descriptors_is_one_line_a_minute(tmp_path: Path) -> None:
    """Webhook mode at a low descriptor limit, flooded with connections: accepting fails
    again and again, and says so once (a minute), with a count, not once per failure."""
    port = free_port()
    webhook = {
        "GENTLY_WEBHOOK_URL": "https://bot.example.org/hook",
        "GENTLY_WEBHOOK_SECRET": "a-secret-of-enough-length",
        "GENTLY_WEBHOOK_PORT": str(port),
    }
    clients: list[socket.socket] = []
    with FakeBotServer() as server, bot(tmp_path / "g.sqlite3", server, 64, **webhook) as run:
        assert run.wait_for_line(" running (")
        try:
            for _ in range(150):
                clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            # the connections still waiting make every turn of the loop fail to accept
            assert run.wait_for_line("open files")
        finally:
            for client in clients:
                client.close()
        assert run.stop()[0] == 0
    # (a heartbeat falling in the flood cannot write its file either: its own one line)
    lines = [line for line in run.lines if "connections cannot be accepted" in line]
    assert len(lines) == 1, f"{len(lines)} lines, first: {lines[:3]}"
    assert "Traceback" not in run.text


def test_a_flood_limit_at_start_up_is_waited_out_not_a_configuration_error(
    tmp_path: Path,
) -> None:
    with FakeBotServer() as server:
        server.failing["getMe"] = (429, "Too Many Requests: retry after 1")
        with bot(tmp_path / "g.sqlite3", server) as run:
            assert polling(server)  # it waited, asked again, and runs
            code, _ = run.stop()
    assert code == 0, run.text
    assert "Telegram asked to wait 1s before starting" in run.text


def test_a_damaged_database_refuses_to_start(tmp_path: Path) -> None:
    db = tmp_path / "g.sqlite3"
    db.write_bytes(b"SQLite format 3\x00" + b"\x13" * 4000)
    with FakeBotServer() as server, bot(db, server) as run:
        assert run.finish() == 1
    assert f"{db}" in run.lines[-1] and "damaged" in run.lines[-1]
    assert "Traceback" not in run.text
    assert not [m for m, _ in server.calls]  # refused before talking to Telegram


def test_sigterm_under_load_commits_every_received_tap_within_the_grace(
    tmp_path: Path,
) -> None:
    """SIGTERM lands while taps have been received (acknowledged to Telegram) but not yet
    committed: the test holds the database's write lock until the bot says it is stopping.
    Every received tap is then committed, within Docker's 10 s grace."""
    db = tmp_path / "g.sqlite3"
    users = range(10_001, 10_601)
    with FakeBotServer() as server, bot(db, server) as running:
        assert polling(server)
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the bot's commits wait behind this
        try:
            for user in users:
                server.push(tap(user, "g1:c:en"))
            # a batch acknowledged (a later offset asked for): received, and uncommitted
            assert server.wait_for(
                lambda calls: any(
                    m == "getUpdates" and int(p.get("offset") or 0) > 1 for m, p in calls
                )
            )
            assert count_users(db) == 0
            start = time.monotonic()
            running.process.send_signal(signal.SIGTERM)
            assert running.wait_for_line("stopping")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        try:
            code = running.finish(within=30)
        except subprocess.TimeoutExpired:
            raise AssertionError("no exit 30 s after SIGTERM:\n" + tail(running)) from None
        took = time.monotonic() - start
        offsets = [int(p.get("offset") or 0) for m, p in server.calls if m == "getUpdates"]
    assert code == 0, running.text
    assert took < 10, f"took {took:.1f}s"
    received = [u for u in users if u - users[0] + 1 < max(offsets)]  # fetched = acknowledged
    assert received
    with sqlite3.connect(db) as raw:
        stored = {row[0] for row in raw.execute("SELECT user_id FROM users")}
    assert set(received) <= stored
    assert "Traceback" not in running.text


def tail(running: Running) -> str:
    """The bot's last lines but its DEBUG chatter, for a failure to explain itself."""
    return "".join(line for line in running.lines if " DEBUG " not in line)[-4000:]


def count_users(db: Path) -> int:
    with sqlite3.connect(db) as raw:
        return int(raw.execute("SELECT COUNT(*) FROM users").fetchone()[0])


def test_one_users_flood_never_stops_intake_for_everyone(tmp_path: Path) -> None:
    """User A sends 300 taps while every reply to A hangs. B's /start is still answered
    within 2 s; A's first 20 run, in order, once A's replies come back; the rest are
    acknowledged (their buttons answered) and dropped, with one WARNING."""
    db = tmp_path / "g.sqlite3"
    flooder, other = 20_001, 20_002
    steps = step_ids()
    with FakeBotServer() as server, bot(db, server) as running:
        assert polling(server)
        server.push(tap(flooder, "g1:c:en"))
        assert server.wait_for(lambda calls: count_users(db) == 1)
        release = server.hold(flooder)
        try:
            for index in range(300):
                server.push(tap(flooder, f"g1:n:{steps[index % len(steps)]}"))
            # the 280 beyond A's bound: acknowledged and answered at once (+1: the confirm)
            assert server.wait_for(lambda calls: answered(calls) >= 281), answered(server.calls)
            started = time.monotonic()
            server.push(text_message(other, "/start"))
            assert server.wait_for(lambda calls: replied_to(calls, other), timeout=2)
            assert time.monotonic() - started < 2
        finally:
            release.set()
        # A's 20 were received: stopping commits every one of them, in order
        assert running.stop()[0] == 0
    with sqlite3.connect(db) as raw:
        (step,) = raw.execute("SELECT step_id FROM users WHERE user_id = ?", (flooder,)).fetchone()
    assert step == walked(steps[:20])  # the first 20 taps, each applied in order
    warnings = [line for line in running.lines if "dropped" in line and "WARNING" in line]
    assert len(warnings) == 1 and str(flooder) not in warnings[0], warnings


def step_ids() -> list[str]:
    from bot.content import load_guide

    return [step.id for part in load_guide().parts for step in part.steps]


def walked(targets: list[str]) -> str:
    """Where "next" on each of these steps, in this order, leaves a new user."""
    from bot.content import load_guide
    from bot.walkthrough import Action, Verb, begin, handle

    guide = load_guide()
    progress = begin(guide)
    for target in targets:
        outcome = handle(guide, progress, Action(Verb.NEXT, target))
        assert outcome.progress is not None
        progress = outcome.progress
    return progress.step_id


def answered(calls: list[tuple[str, dict[str, object]]]) -> int:
    return sum(method == "answerCallbackQuery" for method, _ in calls)


def replied_to(calls: list[tuple[str, dict[str, object]]], user: int) -> bool:
    return any(m == "sendMessage" and str(p.get("chat_id")) == str(user) for m, p in calls)


def test_reminders_survive_sigkill_never_twice(tmp_path: Path) -> None:
    db = tmp_path / "g.sqlite3"
    due = int(time.time()) - 60
    with FakeBotServer() as server, bot(db, server) as running:  # creates the schema
        assert polling(server)
        running.stop()
    with sqlite3.connect(db) as raw:
        raw.executemany(
            "INSERT INTO users (user_id, acknowledged_at, step_id, started_at, last_seen_at) "
            "VALUES (?, 0, 'collect.why', 0, 0)",
            [(user,) for user in range(1, 151)],
        )
        raw.execute("INSERT INTO reminders (user_id, due_at) SELECT user_id, ? FROM users", (due,))

    def reminders_sent(server: FakeBotServer) -> list[str]:
        return [str(p.get("chat_id")) for m, p in list(server.calls) if m == "sendMessage"]

    with FakeBotServer() as server:
        with bot(db, server) as running:
            assert server.wait_for(lambda _: len(reminders_sent(server)) >= 40)
            running.stop(signal.SIGKILL)
        first = reminders_sent(server)
        with sqlite3.connect(db) as raw:
            (claimed,) = raw.execute(
                "SELECT COUNT(*) FROM reminders WHERE sent_at IS NOT NULL"
            ).fetchone()
        lost_at_kill = claimed - len(first)  # claimed, but the kill came before the send
        with bot(db, server) as running:
            assert server.wait_for(
                lambda _: len(reminders_sent(server)) >= 150 - lost_at_kill, timeout=30
            )
            assert running.stop()[0] == 0
        sent = reminders_sent(server)
    assert len(sent) == len(set(sent)), "a reminder went out twice"
    assert 0 <= lost_at_kill <= 5
    assert len(sent) == 150 - lost_at_kill


def test_an_outage_and_a_conflict_are_one_line_each(tmp_path: Path) -> None:
    """Telegram failing for a while: one WARNING when it starts, one INFO when it ends. Another
    process polling with the same token: one ERROR, however often it repeats. PTB's own
    backoff in between, and no traceback."""

    def fetches() -> int:
        return sum(m == "getUpdates" for m, _ in list(server.calls))

    with FakeBotServer() as server, bot(tmp_path / "g.sqlite3", server) as running:
        assert polling(server)
        for failure in ((502, "Bad Gateway"), (409, "Conflict: terminated by other getUpdates")):
            server.fail_updates = failure
            before = fetches()
            assert server.wait_for(lambda _, before=before: fetches() >= before + 2)  # repeats
            server.fail_updates = None
            after = fetches()
            assert server.wait_for(lambda _, after=after: fetches() >= after + 2)
        assert running.stop()[0] == 0
    lines = running.lines
    assert len([x for x in lines if "cannot reach Telegram" in x and " WARNING " in x]) == 1
    assert len([x for x in lines if "reached Telegram again" in x and " INFO " in x]) == 1
    assert len([x for x in lines if "Conflict" in x and " ERROR " in x]) == 1
    assert "Traceback" not in running.text


def test_stale_translations_are_served_with_one_warning(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    step = content / "en" / "parts" / "3-talk.toml"
    step.write_text(step.read_text().replace("Picture holding", "Imagine holding"))
    with (
        FakeBotServer() as server,
        bot(tmp_path / "g.sqlite3", server, GENTLY_CONTENT_DIR=str(content)) as run,
    ):
        assert polling(server)
        server.push(text_message(7, "/start"))
        assert server.wait_for(lambda calls: any(m == "sendMessage" for m, _ in calls))
        assert run.stop()[0] == 0
    warned = [line for line in run.lines if "translations behind English" in line]
    assert len(warned) == 1, run.text
    assert "de 1 text(s), es 1 text(s)" in warned[0]
    commands = [params for method, params in server.calls if method == "setMyCommands"]
    assert {params.get("language_code") for params in commands} >= {"es", "de"}, "still offered"
