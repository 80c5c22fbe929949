"""The production scenarios: the bot as `python -m bot run` builds it (the send scheduler
with Telegram's limits, per-user ordering, the reminder timer), over an offline Bot API
with a simulated round trip. Each runs in a process of its own:

    python -m bench.production '{"scenario": "capacity", "offered": 40, ...}'  → one JSON line

- capacity: users tap at an offered rate (open loop, each user in turn); reply latency is
  from the tap reaching the bot to its reply's Bot API call completing.
- reminders: a backlog of overdue reminders drains while users tap.
- startup: time and memory from nothing to ready, with N pending reminders stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import sqlite3
import sys
import tempfile
import time
import warnings
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from telegram.request import RequestData

from bench.workload import populate, script, stored_progress
from bot.config import Settings
from bot.content import Guide, Guides, load_guide
from bot.telegram.app import Gently, create_gently
from bot.telegram.codec import encode
from bot.walkthrough import Action, Verb
from tests.offline import OfflineBotAPI, Updates

TOKEN = "123456:BENCH"
REPLIES = {"sendMessage", "editMessageText"}


class TimedAPI(OfflineBotAPI):
    """Records when each chat's replies complete, and which reminders went out."""

    def __init__(self, latency: float, reminder_text: str, record: bool = False) -> None:
        super().__init__(latency=latency, record=record)
        self.tapped: dict[int, deque[float]] = defaultdict(deque)
        self.waits: dict[int, list[float]] = defaultdict(list)
        self.answered: list[tuple[float, float]] = []  # (when tapped, wait) of every reply
        self.reminders: dict[int, int] = defaultdict(int)
        self.reminder_times: list[float] = []
        self.clear_times: list[float] = []  # an old keyboard cleared
        self.cleared: dict[int, int] = defaultdict(int)
        self.new_message_times: list[float] = []  # replies sent as a new message
        self.deletions: list[tuple[float, list[int]]] = []  # (when answered, message ids)
        self.reminder_text = reminder_text
        self.sends: deque[float] = deque()  # start times of every rate-limited call
        self.replied = asyncio.Event()

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, *a: Any, **k: Any
    ) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        if name in REPLIES or name == "editMessageReplyMarkup":
            self.sends.append(time.perf_counter())  # as the scheduler admitted it
        answer = await super().do_request(url, method, request_data, *a, **k)
        params = request_data.parameters if request_data else {}
        chat = int(params.get("chat_id", 0) or 0)
        if name == "sendMessage" and params.get("text") == self.reminder_text:
            self.reminders[chat] += 1
            self.reminder_times.append(time.perf_counter())
        elif name == "editMessageReplyMarkup":
            self.clear_times.append(time.perf_counter())
            self.cleared[chat] += 1
        elif name == "deleteMessages":
            self.deletions.append((time.perf_counter(), list(params.get("message_ids", []))))
        elif name in REPLIES and self.tapped[chat]:
            if name == "sendMessage":
                self.new_message_times.append(time.perf_counter())
            tapped = self.tapped[chat].popleft()
            wait = time.perf_counter() - tapped
            self.waits[chat].append(wait)
            self.answered.append((tapped, wait))
        self.replied.set()  # any answer may be what a waiter looks for (answerCallbackQuery)
        return answer


async def started(
    folder: Path,
    guide: Guide,
    api: TimedAPI,
    settings: Settings | None = None,
    clock: Callable[[], float] = time.time,
) -> Gently:
    settings = settings or Settings(token=TOKEN, db_path=folder / "gently.sqlite3")
    guides = Guides.of({guide.language: guide}, {})
    # limits and processor as `run` has them
    gently = await create_gently(settings, guides, request=api, clock=clock)
    await gently.app.initialize()
    await gently.start()
    await gently.app.start()
    return gently


async def stopped(gently: Gently) -> None:
    assert gently.scheduler is not None
    gently.scheduler.close_at(time.monotonic())  # as the runner stops
    await gently.app.stop()
    await gently.app.shutdown()
    await gently.close()


async def populate_users(folder: Path, guide: Guide, users: int, overdue: int) -> None:
    path = folder / "gently.sqlite3"
    await populate(path, range(1, users + 1), stored_progress(guide), int(time.time()))
    if overdue:
        with sqlite3.connect(folder / "gently.sqlite3") as raw:
            raw.execute(
                "INSERT INTO reminders (user_id, due_at) SELECT user_id, ? FROM users "
                "WHERE user_id <= ?",
                (int(time.time()) - 60, overdue),
            )


async def tap(
    app: Any,
    api: TimedAPI,
    guide: Guide,
    users: range,
    offered: float,
    seconds: float,
    flood: int = 0,
    step: dict[int, int] | None = None,
    factory: Updates | None = None,
) -> dict[str, Any]:
    """Open-loop taps: one every 1/offered s, users in turn, each along the guide (from
    where `step` says each user stands, which it moves forward: pass the same one to
    later calls, so their taps are not stale repeats)."""
    factory = factory or Updates(app.bot)  # share one to keep update and query ids unique
    plan = forward_plan(guide)
    step = defaultdict(int) if step is None else step
    total = int(offered * seconds)
    flooder = users[0] if flood else None
    for _ in range(flood):  # one user fires a backlog of taps at once
        api.tapped[users[0]].append(time.perf_counter())
        app.update_queue.put_nowait(factory.tap(users[0], encode(plan[step[users[0]] % len(plan)])))
        step[users[0]] += 1
    total += flood
    start = time.perf_counter()
    for index in range(total - flood):
        due = start + index / offered
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        user = users[index % len(users) if flooder is None else 1 + index % (len(users) - 1)]
        action = plan[step[user] % len(plan)]
        step[user] += 1
        api.tapped[user].append(time.perf_counter())
        app.update_queue.put_nowait(factory.tap(user, encode(action)))
    fed_for = time.perf_counter() - start
    deadline = time.perf_counter() + 120
    others = total - flood  # the flooder is paced at about one a second: not waited for

    def answered() -> int:
        return sum(len(w) for user, w in api.waits.items() if user != flooder)

    while answered() < others and time.perf_counter() < deadline:
        api.replied.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(api.replied.wait(), 1)
    waits = sorted(w for user, ws in api.waits.items() for w in ws if user != flooder)
    done = time.perf_counter() - start
    flooded = sorted(api.waits.get(flooder, [])) if flooder is not None else []
    return {
        "offered_per_s": offered,
        "taps": others,
        "replied": len(waits),
        "replies_per_s": round(len(waits) / max(done, fed_for), 1),
        "p50_ms": round(1000 * quantile(waits, 0.5), 1),
        "p99_ms": round(1000 * quantile(waits, 0.99), 1),
        "flood_taps": flood,
        "flooder_replied": len(flooded),
        "max_calls_in_any_second": max_in_window(api.sends, 1.0),
    }


def forward_plan(guide: Guide) -> list[Action]:
    """The primary buttons through the whole guide, each moving the user on (the path
    ends in the resource list and back, which writes nothing: not taken)."""
    plan = script(guide, 500)
    return plan[: next(i for i, a in enumerate(plan) if a.verb is Verb.RESOURCES)]


def quantile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, int(len(values) * fraction))] if values else 0.0


def max_in_window(times: deque[float], width: float) -> int:
    ordered, best, left = sorted(times), 0, 0
    for right, moment in enumerate(ordered):
        while moment - ordered[left] >= width:
            left += 1
        best = max(best, right - left + 1)
    return best


async def capacity(config: dict[str, Any], folder: Path, guide: Guide) -> dict[str, Any]:
    users = config.get("users", 500)
    await populate_users(folder, guide, users, 0)
    api = TimedAPI(config.get("latency_ms", 30) / 1000, guide.messages.reminder("text"))
    gently = await started(folder, guide, api)
    step: dict[int, int] = defaultdict(int)
    try:
        await tap(
            gently.app, api, guide, range(1, users + 1), 5, min(2.0, config["seconds"]), step=step
        )
        api.waits.clear()
        api.sends.clear()
        return await tap(
            gently.app,
            api,
            guide,
            range(1, users + 1),
            config["offered"],
            config["seconds"],
            config.get("flood", 0),
            step,
        )
    finally:
        await stopped(gently)


async def reminders(config: dict[str, Any], folder: Path, guide: Guide) -> dict[str, Any]:
    backlog, tappers = config.get("reminders", 2000), config.get("tappers", 100)
    await populate_users(folder, guide, backlog + tappers, backlog)
    api = TimedAPI(config.get("latency_ms", 30) / 1000, guide.messages.reminder("text"))
    gently = await started(folder, guide, api)
    try:
        taps = range(backlog + 1, backlog + tappers + 1)
        result = await tap(gently.app, api, guide, taps, config["offered"], config["seconds"])
        began = time.perf_counter()
        deadline = began + 600
        while sum(api.reminders.values()) < backlog and time.perf_counter() < deadline:
            api.replied.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(api.replied.wait(), 1)
        with sqlite3.connect(folder / "gently.sqlite3") as raw:
            (pending,) = raw.execute(
                "SELECT COUNT(*) FROM reminders WHERE sent_at IS NULL"
            ).fetchone()
        return {
            **result,
            "backlog": backlog,
            "reminders_delivered": sum(api.reminders.values()),
            "reminders_sent_twice": sum(1 for n in api.reminders.values() if n > 1),
            "reminders_pending_after": pending,
        }
    finally:
        await stopped(gently)


async def startup(config: dict[str, Any], folder: Path, guide: Guide) -> dict[str, Any]:
    pending = config.get("pending", 0)
    await populate_users(folder, guide, max(pending, 1), pending)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    api = TimedAPI(0, guide.messages.reminder("text"))
    begin = time.perf_counter()
    gently = await started(folder, guide, api)
    await gently.reminders.tick()  # the first pass over due reminders
    ready = time.perf_counter() - begin
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    await stopped(gently)
    return {
        "pending": pending,
        "ready_s": round(ready, 3),
        "rss_growth_mb": round((rss_after - rss_before) / 1024, 1),
    }


Scenario = Callable[[dict[str, Any], Path, Guide], Awaitable[dict[str, Any]]]
SCENARIOS: dict[str, Scenario] = {
    "capacity": capacity,
    "reminders": reminders,
    "startup": startup,
}


async def main(scenarios: Mapping[str, Scenario], config: dict[str, Any]) -> dict[str, Any]:
    warnings.simplefilter("ignore")
    guide = load_guide()
    with tempfile.TemporaryDirectory() as tmp:
        result = await scenarios[config["scenario"]](config, Path(tmp), guide)
    return {**config, **result}


def run_scenarios(scenarios: Mapping[str, Scenario]) -> None:
    """The entry point of a scenario module: the JSON config in, one JSON line out."""
    print(json.dumps(asyncio.run(main(scenarios, json.loads(sys.argv[1])))))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    run_scenarios(SCENARIOS)
