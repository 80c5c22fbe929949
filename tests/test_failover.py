"""`replica-check`'s judgement, on listings as `litestream ltx -json` prints them."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import failover
from bot.failover import ReplicaUnreadable, refusal

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
CONFIG = Path("deploy/litestream.yml")


def listing(monkeypatch: pytest.MonkeyPatch, *written: datetime, code: int = 0) -> None:
    files = [{"level": 0, "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ")} for at in written]
    answer = subprocess.CompletedProcess(
        [], code, json.dumps(files), "Error: open sftp://gently:s3cret@host/x: refused\n"
    )
    monkeypatch.setattr(failover.subprocess, "run", lambda *a, **k: answer)


def test_a_machine_with_its_database_is_never_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing(monkeypatch, NOW)
    (tmp_path / "g.sqlite3").write_bytes(b"")
    assert refusal(CONFIG, tmp_path / "g.sqlite3", 45, NOW) is None


def test_an_empty_replica_is_a_first_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listing(monkeypatch)
    assert refusal(CONFIG, tmp_path / "g.sqlite3", 45, NOW) is None


@pytest.mark.parametrize(
    ("written_ago", "refused"),
    [(0, True), (30, True), (45, True), (46, False), (600, False), (-120, True)],
)
def test_a_replica_written_within_the_quiet_period_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written_ago: int, refused: bool
) -> None:
    """Listed in whole seconds, rounded down: 45 s ago may be 44.x, so it still refuses.
    A time ahead of this machine's clock (another machine's clock) refuses too."""
    listing(monkeypatch, NOW - timedelta(days=1), NOW - timedelta(seconds=written_ago))
    said = refusal(CONFIG, tmp_path / "g.sqlite3", 45, NOW)
    assert (said is not None) is refused
    if said:
        assert "another instance wrote to the replica" in said and "45 s" in said


def test_an_unreadable_replica_names_no_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing(monkeypatch, code=1)
    with pytest.raises(ReplicaUnreadable) as raised:
        refusal(CONFIG, tmp_path / "g.sqlite3", 45, NOW)
    assert "s3cret" not in str(raised.value) and "sftp://host/x" in str(raised.value)
