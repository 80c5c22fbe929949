"""Running for real: webhook, graceful shutdown, backups, stats, health, admin gate."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from bench.workload import progress_of
from bot import __version__
from bot.config import Settings, SettingsError
from bot.content import Guide
from bot.health import Beat, beat, check
from bot.store import Store
from bot.telegram.webhook import MAX_BODY, listener
from bot.walkthrough import Progress
from tests.fake_bot_server import FakeBotServer
from tests.helpers import clean_env, free_port
from tests.telegram_helpers import TOKEN, Chat, running

ALICE, BOB = 4001, 4002
SECRET = "s3cret-token-for-tests_0123456789"


@asynccontextmanager
async def webhook(chat: Chat, path: str) -> AsyncIterator[int]:
    """Gently's webhook listener for this running bot, on a free local port."""
    port = free_port()
    server = listener(chat.app.bot, chat.app.update_queue, path, SECRET)
    server.listen(port, address="127.0.0.1")
    try:
        yield port
    finally:
        server.stop()


async def test_webhook_accepts_signed_updates_and_rejects_others(
    guide: Guide, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(guide, db_path) as chat, webhook(chat, "/gently-hook") as port:
        update = chat.updates.command(ALICE, "/start").to_dict()
        url = f"http://127.0.0.1:{port}/gently-hook"
        signed = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with httpx.AsyncClient() as client:
            missing = await client.post(url, json=update)
            wrong = await client.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"}
            )
            too_big = await client.post(url, content=b"{" * (MAX_BODY + 1), headers=signed)
            with caplog.at_level(logging.WARNING):
                not_an_update = await client.post(
                    url,
                    json={"update_id": 9, "message": {"text": "private words"}},
                    headers=signed,
                )
            good = await client.post(url, json=update, headers=signed)
        assert missing.status_code == 403
        assert wrong.status_code == 403
        assert too_big.status_code == 413
        assert not_an_update.status_code == 200  # skipped, so Telegram does not resend it
        (warning,) = caplog.records
        assert "update 9" in warning.getMessage()
        assert "private words" not in caplog.text
        assert good.status_code == 200
        await chat.api.wait_for(lambda _: "18 or older" in chat.last_text(ALICE))
        assert len(chat.api.sent_texts(ALICE)) == 1  # only the signed update was handled


async def test_webhook_checks_the_secret_before_reading_the_body(
    guide: Guide, db_path: Path
) -> None:
    """An unsigned request announcing a huge body is refused at once, unread."""
    async with running(guide, db_path) as chat, webhook(chat, "/hook") as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 95000000\r\n\r\n{"
        )
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        assert status.split()[1] in (b"403", b"400")


def test_webhook_needs_a_secret() -> None:
    env = {"GENTLY_WEBHOOK_URL": "https://bot.example.org/hook"}
    with pytest.raises(SettingsError, match="GENTLY_WEBHOOK_SECRET is required"):
        Settings.from_env(env, env_file=None)
    with pytest.raises(SettingsError, match="16 to 256"):
        Settings.from_env({**env, "GENTLY_WEBHOOK_SECRET": "short"}, env_file=None)
    ok = Settings.from_env({**env, "GENTLY_WEBHOOK_SECRET": SECRET}, env_file=None)
    assert SECRET not in repr(ok)


@pytest.mark.parametrize("name", ["GENTLY_WEBHOOK_LISTEN", "GENTLY_STATUS_LISTEN"])
@pytest.mark.parametrize("address", ["my-host", "999.1.1.1", "224.0.0.1", "ff02::1"])
def test_an_unusable_listen_address_is_a_settings_error(name: str, address: str) -> None:
    with pytest.raises(SettingsError, match=f"{name} must be an IP address.*not '{address}'"):
        Settings.from_env({name: address}, env_file=None)
    defaults = Settings.from_env({}, env_file=None)
    assert defaults.webhook_listen == defaults.status_listen == "127.0.0.1"
    assert defaults.status_port is None  # the status endpoint is off unless asked for


def test_settings_from_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comment\nTELEGRAM_BOT_TOKEN='1:abc'\nGENTLY_ADMIN_IDS=1, 2\nGENTLY_LOG_LEVEL=debug\n",
        encoding="utf-8",
    )
    settings = Settings.from_env({"GENTLY_DB_PATH": "x.db"}, env_file=env_file)
    assert settings.token == "1:abc"
    assert settings.admin_ids == frozenset({1, 2})
    assert settings.log_level == "DEBUG"
    assert settings.db_path == Path("x.db")
    with pytest.raises(SettingsError, match=r"GENTLY_ADMIN_IDS .* not 'me'"):
        Settings.from_env({"GENTLY_ADMIN_IDS": "me"}, env_file=None)


def test_an_env_file_is_read_as_python_dotenv_reads_it(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "export TELEGRAM_BOT_TOKEN=1:abc  # from BotFather\n"
        'GENTLY_LOG_LEVEL="warning" # quiet\n'
        "GENTLY_STATUS_PORT=9101\n",
        encoding="utf-8",
    )
    settings = Settings.from_env({}, env_file=env_file)
    assert settings.token == "1:abc"
    assert settings.log_level == "WARNING"
    assert settings.status_port == 9101


def test_an_unusable_env_file_is_one_line_naming_it(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"TELEGRAM_BOT_TOKEN=1:\xff\xfe\n")
    with pytest.raises(SettingsError, match=f"^{env_file} is not UTF-8 text$"):
        Settings.from_env({}, env_file=env_file)
    env_file.unlink()
    env_file.mkdir()  # a directory where the file should be: cannot be read
    with pytest.raises(SettingsError, match=f"^cannot read {env_file}: Is a directory$"):
        Settings.from_env({}, env_file=env_file)


def test_a_bad_value_is_shown_but_never_the_token_or_the_secret() -> None:
    with pytest.raises(SettingsError, match="not 'LOUD'"):
        Settings.from_env({"GENTLY_LOG_LEVEL": "loud"}, env_file=None)
    with pytest.raises(SettingsError, match=r"GENTLY_STATUS_PORT .* not '70000'"):
        Settings.from_env({"GENTLY_STATUS_PORT": "70000"}, env_file=None)
    env = {"GENTLY_WEBHOOK_URL": "https://bot.example.org/hook"}
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({**env, "GENTLY_WEBHOOK_SECRET": "short secret!"}, env_file=None)
    assert "short secret!" not in str(refused.value)


async def test_stats_only_for_admins(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path, admin_ids=frozenset({ALICE})) as chat:
        await chat.begin(BOB)
        await chat.command(ALICE, "/stats")
        figures = chat.last_text(ALICE)
        assert figures.startswith(f"<pre>Gently {__version__}, aggregate figures")
        assert "users stored: 1" in figures
        assert "  1. Collect information: 1" in figures
        assert str(BOB) not in figures
        await chat.command(BOB, "/stats")
        assert "I don't know that command" in chat.last_text(BOB)


async def test_shutdown_closes_the_database(guide: Guide, db_path: Path) -> None:
    async with running(guide, db_path) as chat:
        store = chat.gently.store
    with pytest.raises(ValueError, match=r"no active connection|Connection closed"):
        await progress_of(store, 1)


def run_env(db: Path, server: FakeBotServer, **extra: str) -> dict[str, str]:
    return clean_env(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_BASE_URL=server.base_url,
        GENTLY_DB_PATH=str(db),
        GENTLY_LOG_LEVEL="INFO",
        **extra,
    )


@pytest.mark.process
def test_sigterm_finishes_work_and_exits_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "data" / "gently.sqlite3"
    with FakeBotServer() as server:
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            env=run_env(db, server),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.wait_for(lambda calls: any(m == "getUpdates" for m, _ in calls))
            user = {"id": ALICE, "is_bot": False, "first_name": "T"}
            chat = {"id": ALICE, "type": "private"}
            server.push(
                {
                    "callback_query": {
                        "id": "1",
                        "from": user,
                        "chat_instance": "c",
                        "data": "g1:c:en",
                        "message": {"message_id": 5, "date": 0, "chat": chat, "text": "x"},
                    }
                }
            )
            assert server.wait_for(
                lambda calls: any(
                    m == "sendMessage" and "Part 1 of 5" in p.get("text", "") for m, p in calls
                )
            )
            bot.send_signal(signal.SIGTERM)
            _, stderr = bot.communicate(timeout=30)
        finally:
            if bot.poll() is None:
                bot.kill()
    assert bot.returncode == 0, stderr
    assert "database closed" in stderr
    assert TOKEN not in stderr
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT user_id FROM users").fetchall() == [(ALICE,)]
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert not Path(f"{db}.heartbeat").exists()  # a clean stop leaves no heartbeat behind


@pytest.mark.process
def test_a_rejected_token_is_explained_and_never_printed(tmp_path: Path) -> None:
    with FakeBotServer() as server:
        server.reject_token = True
        result = subprocess.run(
            [sys.executable, "-m", "bot", "run"],
            env=run_env(tmp_path / "g.sqlite3", server),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 78  # EX_CONFIG: systemd and compose do not restart it
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr  # nothing but why
    assert TOKEN not in result.stderr + result.stdout


@pytest.mark.process
def test_run_without_a_token_points_to_the_console(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        env=clean_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 78
    assert "@BotFather" in result.stderr
    assert "console" in result.stderr


def cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(GENTLY_DB_PATH=str(db))
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.process
def test_backup_and_stats_commands(tmp_path: Path) -> None:
    db = tmp_path / "live.sqlite3"

    async def fill() -> None:
        store = await Store.open(db)
        for user in range(1, 21):
            await store.save(
                user,
                Progress(step_id="collect.why", seen_parts=frozenset({"collect"})),
                int(time.time()),
            )
        await store.close()

    asyncio.run(fill())
    copy = tmp_path / "backups" / "copy.sqlite3"
    result = cli(db, "backup", str(copy))
    assert result.returncode == 0, result.stderr
    assert f"Backup of {db} (20 users)" in result.stdout
    with sqlite3.connect(copy) as raw:
        assert raw.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 20
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    again = cli(db, "backup", str(copy))
    assert again.returncode == 1
    assert "already exists" in again.stderr
    stats = cli(db, "stats")
    assert "users stored: 20" in stats.stdout
    assert "active in the last 7 days: 20" in stats.stdout
    assert stats.stdout.startswith(f"Gently {__version__}, aggregate figures")
    figures = json.loads(cli(db, "stats", "--json").stdout)
    assert figures["users"] == 20 and figures["version"] == __version__
    # pointed at a database that is not there: one line naming it, nothing created
    missing = tmp_path / "typo" / "gently.sqlite3"
    for command in (["stats"], ["backup", str(tmp_path / "backups" / "other.sqlite3")]):
        result = cli(missing, *command)
        assert result.returncode == 1, command
        assert str(missing) in result.stderr and len(result.stderr.splitlines()) == 1
        assert not missing.parent.exists(), command


@pytest.mark.process
def test_health_check(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    assert "no heartbeat" in (check(path) or "")
    beat(path, Beat(at=1000, fetched_at=1000, polling=True, store_failing_since=None))
    assert path.stat().st_mode & 0o777 == 0o600
    assert check(path, now=1060) is None
    assert "looks stuck" in (check(path, now=2000) or "")
    beat(path, Beat(at=2000, fetched_at=1000, polling=True, store_failing_since=None))
    assert "no updates fetched from Telegram for 1000s" in (check(path, now=2000) or "")
    beat(path, Beat(at=2000, fetched_at=1000, polling=False, store_failing_since=None))
    assert check(path, now=2000) is None  # a webhook does not fetch
    beat(path, Beat(at=2000, fetched_at=2000, polling=True, store_failing_since=1900))
    assert "database has been failing for 100s" in (check(path, now=2000) or "")
    result = cli(tmp_path / "gently.sqlite3", "health")
    assert result.returncode == 1
