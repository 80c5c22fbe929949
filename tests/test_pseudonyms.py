"""Log lines name a user by a keyed hash, never by their id: the id does not outlive
/delete in journald or Docker's logs, and lines about one user still read together."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import pseudonyms
from bot.content import Guide
from tests.telegram_helpers import running

USER = 864_209_753


@pytest.fixture(autouse=True)
def _keep_the_key() -> Iterator[None]:
    """These tests choose keys: later tests get the one they had."""
    key = pseudonyms._key
    yield
    pseudonyms._key = key


def test_the_key_is_made_once_per_install_private_and_kept(tmp_path: Path) -> None:
    db = tmp_path / "g.sqlite3"
    pseudonyms.use_key_beside(db)
    key = pseudonyms.key_path(db)
    assert key.stat().st_mode & 0o777 == 0o600
    first = pseudonyms.who(USER)
    assert first.startswith("u-") and str(USER) not in first
    pseudonyms.use_key_beside(db)  # a restart reads the same key: the same name
    assert pseudonyms.who(USER) == first
    pseudonyms.use_key_beside(tmp_path / "another.sqlite3")  # another install: unlinkable
    assert pseudonyms.who(USER) != first


async def test_a_blocking_user_is_named_by_their_hash_in_the_log(
    guide: Guide, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(USER)
        with caplog.at_level(logging.DEBUG, logger="bot"):
            await chat.send(chat.updates.blocked_by(USER))
    lines = [r.getMessage() for r in caplog.records if "blocked the bot" in r.getMessage()]
    assert lines == [f"user {pseudonyms.who(USER)} blocked the bot"]
    assert not any(str(USER) in r.getMessage() for r in caplog.records)
