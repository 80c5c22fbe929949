"""One benchmark configuration, run in a process of its own (so its peak RSS is its own).

python -m bench.harness '{"impl": "gently", "stored": 1000, ...}'   → one JSON line
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application, SimpleUpdateProcessor

from bench.peers import NaiveStore, build_pickle_peer, write_pickle
from bench.workload import (
    Tap,
    expected_final,
    interleaved,
    populate,
    progress_of,
    script,
    stored_progress,
)
from bot.config import Settings
from bot.content import Guide, Guides, load_guide
from bot.store import Store
from bot.telegram.app import Gently, assemble
from bot.telegram.codec import encode
from bot.telegram.ordering import PerUserOrderedProcessor
from tests.offline import OfflineBotAPI, Updates

TOKEN = "123456:BENCH"
IMPLS = ("gently", "gently-sequential", "pickle", "pickle-flush", "naive")


@dataclass(frozen=True)
class Config:
    impl: str
    stored: int
    active: int = 200
    taps_per_user: int = 20
    latency_ms: float = 0.0  # simulated Bot API round trip
    window: int = 200  # throughput pass: updates in flight at most (users active at once)
    latency_updates: int = 400  # latency pass: this many taps, one at a time
    seconds: float = 3.0  # each pass stops feeding after this long


class Timing:
    """Wraps an update processor: records each update's processing time and completion."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        self.done = 0
        self.changed = asyncio.Event()
        self.slots: asyncio.Semaphore | None = None
        self.after: Any = None  # awaited after each update (the pickle-flush peer)

    async def around(self, coroutine: Any) -> None:
        start = time.perf_counter()
        try:
            await coroutine
            if self.after is not None:
                await self.after()
        finally:
            self.durations.append(time.perf_counter() - start)
            self.done += 1
            if self.slots is not None:
                self.slots.release()
            self.changed.set()


def timed(base: type, timing: Timing, *args: Any) -> Any:
    class Timed(base):  # type: ignore[misc, valid-type]
        async def do_process_update(self, update: object, coroutine: Any) -> None:
            await super().do_process_update(update, timing.around(coroutine))

    return Timed(*args)


async def prepare(
    config: Config, guide: Guide, folder: Path, api: OfflineBotAPI, timing: Timing
) -> tuple[Application, Gently | None, Path]:  # type: ignore[type-arg]
    """The peer under test: its application, the Gently around it (None for the pickle
    peers), and its data file."""
    users = range(1, config.stored + 1)
    now = int(time.time())
    if config.impl.startswith("pickle"):
        path = folder / "gently.pickle"
        write_pickle(path, users, stored_progress(guide))
        processor = timed(SimpleUpdateProcessor, timing, 1)
        return build_pickle_peer(guide, path, api, processor, TOKEN), None, path
    path = folder / "gently.sqlite3"
    await populate(path, users, stored_progress(guide), now)
    if config.impl == "gently":
        processor = timed(PerUserOrderedProcessor, timing)
    else:
        processor = timed(SimpleUpdateProcessor, timing, 1)  # PTB's default: one at a time
    store = await (NaiveStore.open(path) if config.impl == "naive" else Store.open(path))
    settings = Settings(token=TOKEN, db_path=path)
    guides = Guides.of({guide.language: guide}, {})
    # no send scheduler: this compares the peers' own cost, not Telegram's pacing
    gently = assemble(
        settings, guides, store, request=api, clock=time.time, scheduler=None, processor=processor
    )
    return gently.app, gently, path


async def final_states(
    app: Application,  # type: ignore[type-arg]
    gently: Gently | None,
    users: list[int],
) -> dict[int, Any]:
    if gently is None:
        return {u: app.user_data.get(u, {}).get("progress") for u in users}
    return {u: await progress_of(gently.store, u) for u in users}


async def run(config: Config) -> dict[str, Any]:
    warnings.simplefilter("ignore")
    guide = load_guide()
    api = OfflineBotAPI(latency=config.latency_ms / 1000, record=False)
    timing = Timing()
    with tempfile.TemporaryDirectory() as tmp:
        app, gently, data_path = await prepare(config, guide, Path(tmp), api, timing)
        await app.initialize()
        if gently is not None:
            await gently.start()
        await app.start()
        if config.impl == "pickle-flush":
            timing.after = app.update_persistence
        api.count = 0  # count only the calls updates cause, not start-up (getMe, commands)
        users = list(range(1, min(config.active, config.stored) + 1))
        taps = interleaved(users, script(guide, config.taps_per_user))
        # Raw updates, parsed inside the measured loop as the updater does when polling.
        factory = Updates(app.bot)
        raw = [json.dumps(to_update(factory, tap).to_dict()) for tap in taps]
        fed: list[Tap] = []
        # A peer that handles one update at a time only needs its queue kept non-empty; a
        # larger window would just queue work past the time budget.
        window = config.window if config.impl == "gently" else min(config.window, 2)
        # Warm-up, not timed: each user's first contact (/start), which reads SQLite.
        await feed(app, timing, taps, raw, fed, window, len(users), config.seconds * 5)
        timing.durations.clear()
        # at most half of what is left, so the throughput pass always has taps to measure
        latency_count = min(config.latency_updates, (len(taps) - len(fed)) // 2)
        latency_pass = await feed(app, timing, taps, raw, fed, 1, latency_count, config.seconds)
        latencies = sorted(timing.durations)
        throughput_pass = await feed(app, timing, taps, raw, fed, window, len(taps), config.seconds)
        expected = expected_final(guide, fed)
        actual = await final_states(app, gently, sorted(expected))
        in_order = all(actual[u] == expected[u] for u in expected)
        if app.persistence is not None:
            # PicklePersistence rewrites the whole file once per changed user when it flushes
            # at stop(); with 100k users that takes minutes, none of it in the figures above.
            app.persistence.on_flush = True  # type: ignore[attr-defined]
        await app.stop()
        await app.shutdown()
        if gently is not None:
            await gently.close()
        size = data_size(Path(tmp))
    updates, elapsed = throughput_pass
    return {
        **asdict(config),
        "updates": updates,
        "seconds": round(elapsed, 3),
        "updates_per_s": round(updates / elapsed, 1),
        "latency_pass_updates": latency_pass[0],
        "p50_ms": round(1000 * percentile(latencies, 0.50), 3),
        "p99_ms": round(1000 * percentile(latencies, 0.99), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "data_mb": round(size / 1e6, 2),
        "bot_api_calls_per_update": round(api.count / max(1, len(fed)), 2),
        "fed_updates": len(fed),
        "in_order": in_order,
        "data_file": data_path.name,
    }


async def feed(
    app: Application,  # type: ignore[type-arg]
    timing: Timing,
    taps: list[Tap],
    raw: list[str],
    fed: list[Tap],
    window: int,
    count: int,
    seconds: float,
) -> tuple[int, float]:
    """Feed up to `count` further updates, at most `window` in flight, for at most
    `seconds`; wait until all are processed. Returns (updates, elapsed seconds)."""
    timing.slots = asyncio.Semaphore(window)
    first = len(fed)
    already = timing.done
    start = time.perf_counter()
    for index in range(first, min(len(taps), first + count)):
        if time.perf_counter() - start > seconds:
            break
        await timing.slots.acquire()
        app.update_queue.put_nowait(Update.de_json(json.loads(raw[index]), app.bot))
        fed.append(taps[index])
    while timing.done - already < len(fed) - first:
        timing.changed.clear()
        await timing.changed.wait()
    return len(fed) - first, time.perf_counter() - start


def data_size(folder: Path) -> int:
    """Bytes of the database (with its WAL) or the pickle file."""
    return sum(f.stat().st_size for f in folder.iterdir() if f.name.startswith("gently"))


def percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, int(len(values) * fraction))] if values else 0.0


def to_update(factory: Updates, tap: Tap) -> Update:
    if tap.action is None:
        return factory.command(tap.user_id, "/start")
    return factory.tap(tap.user_id, encode(tap.action))


if __name__ == "__main__":
    outcome = asyncio.run(run(Config(**json.loads(sys.argv[1]))))
    print(json.dumps(outcome))
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: its time is not part of any figure
