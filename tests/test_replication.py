"""Beside Litestream (the real binary, a file replica): the bot's checkpoints go through
its control socket, so an erasure empties the WAL and the replica misses nothing."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.replication import Litestream
from bot.store import Store
from bot.walkthrough import Progress
from tests.litestream_helpers import litestream, replica_env, restore, synced, users_in

pytestmark = pytest.mark.process  # Litestream runs as a subprocess

NOW = 1_800_000_000


@asynccontextmanager
async def replicated_store(folder: Path) -> AsyncIterator[Store]:
    """The bot's store with Litestream replicating it to `folder`/replica; at the end
    everything is synced and Litestream stopped cleanly."""
    db = folder / "here" / "g.sqlite3"
    db.parent.mkdir()
    env = replica_env(db, folder / "replica")
    store = await Store.open(db)
    replicating = litestream("replicate", env=env)
    try:
        assert replicating.wait_for("snapshot complete"), replicating.text  # its first sync
        await store.replicated_by(Litestream(Path(env["GENTLY_LITESTREAM_SOCKET"]), db))
        yield store
        synced(env)
    finally:
        await store.close()
        replicating.process.send_signal(signal.SIGTERM)
        assert replicating.finish() == 0, replicating.text


def restored_users(folder: Path) -> set[int]:
    """The users in the replica, restored on a new machine (an empty folder)."""
    new = folder / "new" / "g.sqlite3"
    os.makedirs(new.parent)
    assert restore(replica_env(new, folder / "replica")).returncode == 0
    return users_in(new)


async def test_an_erasure_beside_litestream_empties_the_wal_and_the_replica_misses_nothing(
    tmp_path: Path,
) -> None:
    async with replicated_store(tmp_path) as store:
        for user in range(1, 21):
            await store.save(user, Progress(step_id="collect.why"), NOW)
        await store.delete_user(5)
        assert Path(f"{store.path}-wal").stat().st_size == 0  # nothing of user 5 left there
        assert not store.checkpoint_owed
        for user in range(21, 26):  # after the checkpoint: Litestream replicates again
            await store.save(user, Progress(step_id="collect.why"), NOW)
    assert restored_users(tmp_path) == set(range(1, 26)) - {5}


async def test_two_erasures_close_together_leave_no_gap(tmp_path: Path) -> None:
    """After a checkpoint Litestream opens the database again only at its next tick; a
    second checkpoint before that must still find every write in the replica."""
    async with replicated_store(tmp_path) as store:
        for user in range(1, 11):
            await store.save(user, Progress(step_id="collect.why"), NOW)
        await store.delete_user(1)
        await store.save(100, Progress(step_id="collect.why"), NOW)  # between the two
        await store.delete_user(2)
    assert restored_users(tmp_path) == set(range(3, 11)) | {100}
