"""Beside Litestream (the real binary, a file replica): the bot's checkpoints go through
its control socket, so an erasure empties the WAL and the replica misses nothing."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from bot.replication import Litestream
from bot.store import Store
from bot.walkthrough import Progress
from tests.litestream_helpers import litestream, replica_env, restore, synced, users_in

pytestmark = pytest.mark.process  # Litestream runs as a subprocess

NOW = 1_800_000_000


async def test_an_erasure_beside_litestream_empties_the_wal_and_the_replica_misses_nothing(
    tmp_path: Path,
) -> None:
    db, replica = tmp_path / "here" / "g.sqlite3", tmp_path / "replica"
    db.parent.mkdir()
    env = replica_env(db, replica)
    store = await Store.open(db)
    replicating = litestream("replicate", env=env)
    try:
        assert replicating.wait_for("snapshot complete"), replicating.text  # its first sync
        await store.replicated_by(Litestream(Path(env["GENTLY_LITESTREAM_SOCKET"]), db))
        for user in range(1, 21):
            await store.save(user, Progress(step_id="collect.why"), NOW)
        await store.delete_user(5)
        wal = Path(f"{db}-wal")
        assert wal.stat().st_size == 0  # nothing of user 5 left in the WAL
        assert not store.checkpoint_owed
        for user in range(21, 26):  # after the checkpoint: Litestream replicates again
            await store.save(user, Progress(step_id="collect.why"), NOW)
        synced(env)
    finally:
        await store.close()
        replicating.process.send_signal(signal.SIGTERM)  # a clean stop syncs what is left
        assert replicating.finish() == 0, replicating.text
    elsewhere = replica_env(tmp_path / "new" / "g.sqlite3", replica)
    os.makedirs(tmp_path / "new")
    assert restore(elsewhere).returncode == 0
    assert users_in(tmp_path / "new" / "g.sqlite3") == set(range(1, 26)) - {5}


async def test_two_erasures_close_together_leave_no_gap(tmp_path: Path) -> None:
    """After a checkpoint Litestream opens the database again only at its next tick; a
    second checkpoint before that must still find every write in the replica."""
    db, replica = tmp_path / "here" / "g.sqlite3", tmp_path / "replica"
    db.parent.mkdir()
    env = replica_env(db, replica)
    store = await Store.open(db)
    replicating = litestream("replicate", env=env)
    try:
        assert replicating.wait_for("snapshot complete"), replicating.text
        await store.replicated_by(Litestream(Path(env["GENTLY_LITESTREAM_SOCKET"]), db))
        for user in range(1, 11):
            await store.save(user, Progress(step_id="collect.why"), NOW)
        await store.delete_user(1)
        await store.save(100, Progress(step_id="collect.why"), NOW)  # between the two
        await store.delete_user(2)
        synced(env)
    finally:
        await store.close()
        replicating.process.send_signal(signal.SIGTERM)
        assert replicating.finish() == 0, replicating.text
    elsewhere = replica_env(tmp_path / "new" / "g.sqlite3", replica)
    os.makedirs(tmp_path / "new")
    assert restore(elsewhere).returncode == 0
    assert users_in(tmp_path / "new" / "g.sqlite3") == set(range(3, 11)) | {100}
