"""Scenarios under pressure (issue 21): what still moves beside a full reply load, how fast
the quick exit is, and whether housekeeping at a million users holds a tap up. The bot is
built as `python -m bot run` builds it, over the offline Bot API with a 30 ms round trip:

    python -m bench.pressure '{"scenario": "lanes", "offered": 16, ...}'  → one JSON line

- lanes: users tap at a rate while reminders are due (or none): reminders/s and old
  keyboards cleared/s in the window, beside the replies.
- steady: one user taps every 1.3 s, each tap a new message whose previous keyboard is
  cleared, while others tap: that user's reply waits.
- quick_exit: /hide with 40 of the user's updates queued right after a reply; /hide of
  1,000 messages; /delete's confirmation answered.
- housekeeping: 1M users and 5M chat-ledger rows; users tap while a 48-hour-outage prune,
  /stats, a backup (the command, in a process of its own) and erasures run in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from bench import production
from bench.production import (
    TOKEN,
    TimedAPI,
    forward_plan,
    populate_users,
    quantile,
    run_scenarios,
    stopped,
    tap,
)
from bot.config import Settings
from bot.content import Guide
from bot.store import Noted
from bot.telegram.app import Gently
from bot.telegram.codec import encode
from tests.offline import Call, Updates

RTT = 0.03
ADMIN = 999_999_999


async def started(
    folder: Path, guide: Guide, api: TimedAPI, clock: Callable[[], float] = time.time
) -> Gently:
    """As production's, with an admin for /stats (and no alerts: they would be messages
    to ADMIN, as /stats is)."""
    settings = Settings(
        token=TOKEN, db_path=folder / "gently.sqlite3", admin_ids=frozenset({ADMIN}), alerts=False
    )
    return await production.started(folder, guide, api, settings, clock)


def per_second(times: list[float], start: float, end: float) -> float:
    return round(sum(1 for t in times if start <= t < end) / (end - start), 1)


async def lanes(config: dict[str, Any], folder: Path, guide: Guide) -> dict[str, Any]:
    backlog, users, seconds = config.get("reminders", 0), 500, config["seconds"]
    await populate_users(folder, guide, backlog + users, backlog)
    api = TimedAPI(RTT, guide.messages.reminder("text"))
    gently = await started(folder, guide, api)
    try:
        start = time.perf_counter()
        result = await tap(
            gently.app,
            api,
            guide,
            range(backlog + 1, backlog + users + 1),
            config["offered"],
            seconds,
        )
        end = start + seconds
        return {
            **result,
            "reminders_due": backlog,
            "reminders_per_s": per_second(api.reminder_times, start, end),
            "keyboards_cleared_per_s": per_second(api.clear_times, start, end),
            "new_messages_per_s": per_second(api.new_message_times, start, end),
        }
    finally:
        await stopped(gently)


async def steady(config: dict[str, Any], folder: Path, guide: Guide) -> dict[str, Any]:
    """One user taps every 1.3 s along the guide; 300 others tap at `offered`/s."""
    users, taps = 300, config.get("taps", 30)
    await populate_users(folder, guide, users + 1, 0)
    api = TimedAPI(RTT, guide.messages.reminder("text"))
    gently = await started(folder, guide, api)
    user, factory, plan = users + 1, Updates(gently.app.bot), forward_plan(guide)
    try:
        others = asyncio.ensure_future(
            tap(gently.app, api, guide, range(1, users + 1), config["offered"], taps * 1.3)
        )
        for action in plan[:taps]:
            api.tapped[user].append(time.perf_counter())
            gently.app.update_queue.put_nowait(factory.tap(user, encode(action)))
            await asyncio.sleep(1.3)  # the user's own pace, not a synchronisation
        await others
        waits = sorted(api.waits[user])
        return {
            "offered_per_s": config["offered"],
            "taps": taps,
            "replied": len(waits),
            "keyboards_cleared_for_user": api.cleared[user],
            "p50_ms": round(1000 * quantile(waits, 0.5), 1),
            "mean_ms": round(1000 * statistics.fmean(waits), 1) if waits else 0.0,
            "max_ms": round(1000 * max(waits, default=0.0), 1),
        }
    finally:
        await stopped(gently)


async def in_ledger(gently: Gently, user: int, messages: int) -> list[int]:
    """Give a user (already walking) `messages` more messages in their chat's ledger."""
    ids = list(range(10_000, 10_000 + messages))
    await gently.store.note_messages(user, [Noted(i) for i in ids], int(time.time()))
    return ids


async def until(api: TimedAPI, done: Any, within: float = 30.0) -> float:
    """Seconds until `done()` holds, looking each time the Bot API answers."""
    started_at, deadline = time.perf_counter(), time.perf_counter() + within
    while not done():
        if time.perf_counter() > deadline:
            raise TimeoutError("the quick-exit scenario did not finish")
        api.replied.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(api.replied.wait(), 0.5)
    return time.perf_counter() - started_at


def deleted_since(api: TimedAPI, moment: float) -> set[int]:
    return {m for at, ids in api.deletions if at >= moment for m in ids}


async def quick_exit(config: dict[str, Any], folder: Path, guide: Guide) -> dict[str, Any]:
    await populate_users(folder, guide, 100, 0)
    api = TimedAPI(RTT, guide.messages.reminder("text"), record=True)
    gently = await started(folder, guide, api)
    factory, queue = Updates(gently.app.bot), gently.app.update_queue
    sent = lambda user: len(api.to(user, "sendMessage"))  # noqa: E731
    try:
        # /hide with forty of the user's own updates queued, right after a reply
        ids = await in_ledger(gently, 1, 150)
        for _ in range(40):
            queue.put_nowait(factory.command(1, "/progress"))
        await until(api, lambda: sent(1) > 0)
        hidden = time.perf_counter()
        queue.put_nowait(factory.command(1, "/hide"))
        newest = set(ids[-100:])
        hide_100 = await until(api, lambda: newest <= deleted_since(api, hidden))
        # /hide of 1,000 messages, right after a reply
        ids = await in_ledger(gently, 2, 1000)
        queue.put_nowait(factory.command(2, "/progress"))
        await until(api, lambda: sent(2) > 0)
        hidden = time.perf_counter()
        queue.put_nowait(factory.command(2, "/hide"))
        hide_1000 = await until(api, lambda: set(ids) <= deleted_since(api, hidden))
        # /delete's confirmation, ten users at once
        confirms = await asyncio.gather(
            *(confirm_delete(api, gently, factory, u) for u in range(10, 20))
        )
        return {
            "hide_newest_100_with_40_queued_s": round(hide_100, 3),
            "hide_1000_s": round(hide_1000, 3),
            "delete_confirm_p50_s": round(statistics.median(confirms), 3),
            "delete_confirm_max_s": round(max(confirms), 3),
        }
    finally:
        await stopped(gently)


async def confirm_delete(
    api: TimedAPI, gently: Gently, factory: Updates, user: int, messages: int = 20
) -> float:
    """A user with a screenful of messages asks /delete and taps yes: seconds until the
    tap is answered (the chat is cleared before the answer). One `factory` for the run:
    it numbers the callback queries."""
    queue = gently.app.update_queue
    if messages:
        await in_ledger(gently, user, messages)
    queue.put_nowait(factory.command(user, "/delete"))
    label = gently.guides.reference.messages.button("delete_yes")

    def question() -> Call | None:
        asked = [
            c
            for c in api.to(user, "sendMessage")
            if c.message_id is not None and any(b[0] == label for b in c.buttons)
        ]
        return asked[-1] if asked else None

    await until(api, lambda: question() is not None)
    call = question()
    assert call is not None and call.message_id is not None
    data = next(d for text, d in call.buttons if text == label)
    yes = factory.tap(user, data, call.message_id)
    assert yes.callback_query is not None
    query = yes.callback_query.id
    queue.put_nowait(yes)
    return await until(
        api,
        lambda: any(
            c.method == "answerCallbackQuery" and str(c.params.get("callback_query_id")) == query
            for c in api.calls
        ),
    )


def fill_ledger(path: Path, users: int, rows: int, sent_at: int) -> None:
    """`rows` chat-ledger rows spread over `users` users, all sent at `sent_at`."""
    each = rows // users
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA synchronous = OFF")
        raw.executemany(
            "INSERT INTO chat_messages (user_id, message_id, sent_at) VALUES (?, ?, ?)",
            ((user, 1 + n, sent_at - n) for user in range(1, users + 1) for n in range(each)),
        )
    raw.close()


class Taps:
    """Users tap at `offered`/s, in rounds, until stopped; every reply's wait is kept with
    the moment its tap was made (`api.answered`), so phases can be told apart."""

    def __init__(
        self,
        gently: Gently,
        api: TimedAPI,
        guide: Guide,
        users: range,
        offered: float,
        factory: Updates,
    ) -> None:
        self._args = (gently.app, api, guide, users, offered)
        self.round_s = 2.0  # taps go in rounds: a stop waits for the round to end
        self._factory = factory
        self._step: dict[int, int] = defaultdict(int)
        self._stop = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            await tap(*self._args, self.round_s, step=self._step, factory=self._factory)

    async def stop(self) -> None:
        self._stop.set()
        await self._task


def waits_between(api: TimedAPI, start: float, end: float) -> dict[str, Any]:
    waits = sorted(w for at, w in api.answered if start <= at <= end)
    return {
        "taps": len(waits),
        "p50_ms": round(1000 * quantile(waits, 0.5), 1),
        "max_ms": round(1000 * max(waits, default=0.0), 1),
    }


async def backup_beside(folder: Path, name: str) -> subprocess.CompletedProcess[bytes]:
    """`python -m bot backup`, in a process of its own, as an operator runs it."""
    copies = folder / "backups"
    copies.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "GENTLY_DB_PATH": str(folder / "gently.sqlite3")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "backup",
        str(copies / name),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, error = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"backup failed: {error.decode()[-500:]}")
    return subprocess.CompletedProcess([], process.returncode or 0, b"", error)


async def housekeeping(config: dict[str, Any], folder: Path, guide: Guide) -> dict[str, Any]:
    users, rows = config.get("users", 1_000_000), config.get("ledger_rows", 5_000_000)
    path = folder / "gently.sqlite3"
    began = time.perf_counter()
    await populate_users(folder, guide, users, 0)
    # Every id was sent just before an outage of 48 hours: nothing is old enough to prune
    # at start-up, then the bot's clock moves on an hour and all of it is.
    fill_ledger(path, users, rows, int(time.time()) - 47 * 3600)
    populated_s = time.perf_counter() - began
    api = TimedAPI(RTT, guide.messages.reminder("text"), record=True)
    later = [0.0]
    gently = await started(folder, guide, api, lambda: time.time() + later[0])
    erasers = range(users - config.get("erasures", 10) + 1, users + 1)
    for user in erasers:
        await in_ledger(gently, user, 1000)
    phases: dict[str, Any] = {}

    async def phase(name: str, work: Awaitable[Any]) -> None:
        start = time.perf_counter()
        await work
        end = time.perf_counter()
        phases[name] = {"took_s": round(end - start, 2), **waits_between(api, start, end)}

    factory = Updates(gently.app.bot)
    taps = Taps(gently, api, guide, range(1, 501), config.get("offered", 20), factory)
    taps.round_s = config.get("round_s", taps.round_s)
    try:
        quiet = asyncio.sleep(config.get("quiet_s", 3.0))  # the baseline: nothing else runs
        await phase("quiet", quiet)
        await phase("backup", backup_beside(folder, "one.sqlite3"))
        await phase("/stats, five times", stats_command(api, gently, factory, 5))
        later[0] = 3600.0
        await phase("prune after a 48-hour outage", gently.runtime.housekeeping())
        erasing = one_by_one(confirm_delete(api, gently, factory, u, 0) for u in erasers)
        await phase(
            f"{len(erasers)} erasures in turn beside a backup",
            both(erasing, backup_beside(folder, "two.sqlite3")),
        )
    finally:
        await taps.stop()
        await stopped(gently)
    with sqlite3.connect(path) as raw:
        (left,) = raw.execute("SELECT COUNT(*) FROM chat_messages").fetchone()
    raw.close()
    worst = max(p["max_ms"] for p in phases.values())
    return {
        "users": users,
        "ledger_rows": rows,
        "ledger_rows_after": left,
        "populated_s": round(populated_s, 1),
        "phases": phases,
        "worst_tap_ms": worst,
    }


async def one_by_one(works: Iterable[Awaitable[Any]]) -> None:
    """In turn: ten users asking at the same instant would measure the fair sharing of
    their ten replies (each waits its turn of 1/30 s), not the erasures."""
    for work in works:
        await work


async def both(first: Awaitable[Any], second: Awaitable[Any]) -> None:
    await asyncio.gather(first, second)


async def stats_command(api: TimedAPI, gently: Gently, factory: Updates, times: int) -> None:
    for _ in range(times):
        answered = len(api.to(ADMIN, "sendMessage"))
        gently.app.update_queue.put_nowait(factory.command(ADMIN, "/stats"))
        await until(api, lambda n=answered: len(api.to(ADMIN, "sendMessage")) > n, within=120)


SCENARIOS = {
    "lanes": lanes,
    "steady": steady,
    "quick_exit": quick_exit,
    "housekeeping": housekeeping,
}

if __name__ == "__main__":
    run_scenarios(SCENARIOS)
