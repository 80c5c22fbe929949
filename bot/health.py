"""A heartbeat file the running bot refreshes, and the check a container health probe runs.

Polling mode opens no port, so "the process exists" is all a supervisor could otherwise see.
The heartbeat is written by the bot's own event loop, so a hung loop shows as stale; it also
says when updates were last fetched and whether the database is failing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 30  # seconds
STALE_AFTER = 120  # seconds without a heartbeat
FETCH_STALE_AFTER = 180  # seconds without a successful getUpdates (polling)
STORE_FAILING_AFTER = 60  # seconds of a failing database


# seconds before a task that died is started again, by how often it died in a row
RESTART_DELAYS = (1.0, 5.0, 30.0, 60.0)


@dataclass(frozen=True)
class Beat:
    at: float
    fetched_at: float  # the last successful getUpdates (the start, before the first)
    polling: bool
    store_failing_since: float | None
    problems: list[str] = field(default_factory=list)  # each makes the bot unhealthy at once


class Health:
    """What the running bot knows about itself beyond the store: which of its background
    tasks are down. The heartbeat writes it out; `python -m bot health` reads that."""

    def __init__(self, pause: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.tasks_down: dict[str, str] = {}
        self.pause = pause  # before a restart (tests hold it)

    def problems(self) -> list[str]:
        return [f"the {name} task is down ({why})" for name, why in self.tasks_down.items()]

    async def supervise(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """Run a loop the bot cannot do without (the send scheduler, the reminder timer,
        the heartbeat). If it dies of an unexpected error: one ERROR line naming the
        error's type and where it happened (never its message, which could quote a user),
        down in the health state, and started again after a growing pause."""
        deaths = 0
        while True:
            try:
                await loop()
                return  # it ended by itself: the bot is stopping
            except Exception as error:
                where = traceback.extract_tb(error.__traceback__)[-1]
                delay = RESTART_DELAYS[min(deaths, len(RESTART_DELAYS) - 1)]
                deaths += 1
                self.tasks_down[name] = f"{type(error).__name__} at {where.name}"
                log.error(
                    "the %s task died: %s at %s:%d (%s); starting it again in %.0fs",
                    name,
                    type(error).__name__,
                    Path(where.filename).name,
                    where.lineno or 0,
                    where.name,
                    delay,
                    extra={"alert": f"the {name} task died"},
                )
            await self.pause(delay)
            self.tasks_down.pop(name, None)


def heartbeat_path(db_path: Path) -> Path:
    return Path(f"{db_path}.heartbeat")  # one per database, even two in one folder


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
    return diagnose(state, now)


def diagnose(state: Beat, now: float | None = None) -> str | None:
    """None when the bot this heartbeat describes is healthy, else what is wrong: the
    same verdict for `health`, systemd's watchdog and the status endpoint."""
    now = time.time() if now is None else now
    if state.problems:
        return "; ".join(state.problems)
    if state.store_failing_since is not None:
        failing = int(now - state.store_failing_since)
        if failing > STORE_FAILING_AFTER:
            return f"the database has been failing for {failing}s"
    if state.polling:
        since = int(now - state.fetched_at)
        if since > FETCH_STALE_AFTER:
            return f"no updates fetched from Telegram for {since}s"
    return None
