"""A heartbeat file the running bot refreshes, and the check a container health probe runs.

Polling mode opens no port, so "the process exists" is all a supervisor could otherwise see.
The heartbeat is written by the bot's own event loop, so a hung loop shows as stale; it also
says when updates were last fetched and whether the database is failing.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

HEARTBEAT_EVERY = 30  # seconds
STALE_AFTER = 120  # seconds without a heartbeat
FETCH_STALE_AFTER = 180  # seconds without a successful getUpdates (polling)
STORE_FAILING_AFTER = 60  # seconds of a failing database


@dataclass(frozen=True)
class Beat:
    at: float
    fetched_at: float  # the last successful getUpdates (the start, before the first)
    polling: bool
    store_failing_since: float | None


def heartbeat_path(db_path: Path) -> Path:
    return Path(db_path).parent / "heartbeat"


def beat(path: Path, state: Beat) -> None:
    """Write atomically (a temporary file renamed over the old one), mode 0600."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        json.dump(state.__dict__, file)
    os.replace(temporary, path)


def check(path: Path, now: float | None = None) -> str | None:
    """None when healthy, else what is wrong."""
    now = time.time() if now is None else now
    try:
        state = Beat(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return f"no heartbeat at {path}: is the bot running?"
    age = int(now - state.at)
    if age > STALE_AFTER:
        return f"last heartbeat {age}s ago (more than {STALE_AFTER}s): the bot looks stuck"
    if state.store_failing_since is not None:
        failing = int(now - state.store_failing_since)
        if failing > STORE_FAILING_AFTER:
            return f"the database has been failing for {failing}s"
    if state.polling:
        since = int(now - state.fetched_at)
        if since > FETCH_STALE_AFTER:
            return f"no updates fetched from Telegram for {since}s"
    return None
