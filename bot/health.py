"""A heartbeat file the running bot refreshes, and the check a container health probe runs.

Polling mode opens no port, so "the process exists" is all a supervisor could otherwise see.
The heartbeat is written by the bot's own JobQueue, so a hung event loop shows as stale.
"""

from __future__ import annotations

import time
from pathlib import Path

HEARTBEAT_EVERY = 30  # seconds
STALE_AFTER = 120  # seconds


def heartbeat_path(db_path: Path) -> Path:
    return Path(db_path).parent / "heartbeat"


def beat(path: Path, now: float | None = None) -> None:
    path.write_text(f"{int(now if now is not None else time.time())}\n", encoding="utf-8")


def check(path: Path, now: float | None = None, stale_after: int = STALE_AFTER) -> str | None:
    """None when healthy, else what is wrong."""
    try:
        last = int(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return f"no heartbeat at {path}: is the bot running?"
    age = int((now if now is not None else time.time()) - last)
    if age > stale_after:
        return f"last heartbeat {age}s ago (more than {stale_after}s): the bot looks stuck"
    return None
