"""The real process: `python -m bot run` in a subprocess, over HTTP to a small Bot API on
127.0.0.1 (`tests/fake_bot_server.py`, no added round trip), as users meet it: PTB's Update
parsing and HTTP, the send scheduler, the database, the logs.

    python -m bench.process '{"offered": 20, "seconds": 60, "sample_s": 10}'  → one JSON line

`stored` users are in the database (100,000 by default, so the database is larger than
SQLite's page cache, as in production); taps at `offered` a second go to them in a
scattered order, each moving its user one step on along the guide (a real write).
Reported: the process's own CPU time per tap (user + system, from /proc, start-up
excluded), its CPU while idle, and its RSS sampled as it goes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.production import forward_plan
from bench.workload import populate, stored_progress
from bot.content import load_guide
from bot.telegram.codec import encode
from tests.fake_bot_server import FakeBotServer

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
PROFILE = os.environ.get("BENCH_PROFILE", "").split()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return round(kb / 1024, 2)


def file_sizes_kb(db: Path) -> tuple[int, int, int]:
    def size(path: Path) -> int:
        return path.stat().st_size // 1024 if path.exists() else 0

    return size(db), size(Path(f"{db}-wal")), size(Path(f"{db}-shm"))


def tap(user: int, data: str, number: int) -> dict[str, object]:
    person = {"id": user, "is_bot": False, "first_name": "U"}
    message = {"message_id": 5, "date": 0, "chat": {"id": user, "type": "private"}, "text": "x"}
    query = {"id": str(number), "from": person, "chat_instance": "c", "data": data}
    return {"callback_query": {**query, "message": message}}


def replies(server: FakeBotServer) -> int:
    return sum(
        1 for method, _ in list(server.calls) if method in ("sendMessage", "editMessageText")
    )


def measure(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    guide = load_guide()
    plan = [encode(action) for action in forward_plan(guide)]
    offered, seconds = config["offered"], config["seconds"]
    total = int(offered * seconds)
    users = config.get("stored", 100_000)
    db = folder / "gently.sqlite3"
    asyncio.run(populate(db, range(1, users + 1), stored_progress(guide), int(time.time())))
    with FakeBotServer() as server:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "TELEGRAM_BOT_TOKEN": "123456:BENCH",
            "TELEGRAM_BASE_URL": server.base_url,
            "GENTLY_DB_PATH": str(db),
            **{k: v for k, v in os.environ.items() if k.startswith("MALLOC_")},  # experiments
        }
        process = subprocess.Popen(
            [sys.executable, *PROFILE, "-m", "bot", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            if not server.wait_for(lambda calls: any(m == "getUpdates" for m, _ in calls), 60):
                raise RuntimeError("the bot did not start polling")
            idle_from, idle_cpu = time.perf_counter(), cpu_seconds(process.pid)
            time.sleep(config.get("idle_s", 5.0))  # the idle cost, measured over this time
            idle = (cpu_seconds(process.pid) - idle_cpu) / (time.perf_counter() - idle_from)
            cpu_before, before = cpu_seconds(process.pid), replies(server)
            samples: list[tuple[float, float]] = []
            files: list[tuple[int, int, int]] = []  # database, -wal, -shm sizes (KB)
            start, sample_every, next_sample = time.perf_counter(), config.get("sample_s", 10), 0.0
            for index in range(total):
                due = start + index / offered
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)  # an open-loop feed at the offered rate
                # a prime stride: every user once per round, in a scattered order
                user, position = 1 + (index * 7919) % users, (index // users) % len(plan)
                server.push(tap(user, plan[position], index))
                if time.perf_counter() - start >= next_sample:
                    samples.append((round(time.perf_counter() - start), rss_mb(process.pid)))
                    files.append(file_sizes_kb(db))
                    next_sample += sample_every
            server.wait_for(lambda calls: replies(server) - before >= total, 120)
            fed_for = time.perf_counter() - start
            cpu = cpu_seconds(process.pid) - cpu_before
            samples.append((round(fed_for), rss_mb(process.pid)))
            answered = replies(server) - before
        finally:
            process.terminate()
            process.wait(timeout=60)
    warm = samples[len(samples) // 3]
    last = samples[-1]
    taps_after_warmup = max(1.0, offered * (last[0] - warm[0]))
    return {
        "taps": total,
        "replied": answered,
        "users": users,
        "cpu_ms_per_tap": round(1000 * cpu / total, 2),
        "idle_cpu_ms_per_s": round(1000 * idle, 2),
        "cpu_ms_per_tap_beyond_idle": round(1000 * (cpu - idle * fed_for) / total, 2),
        "rss_mb_over_time": samples,
        "files_kb_over_time": files,
        "rss_growth_after_warmup_kb_per_1000_taps": round(
            1024 * (last[1] - warm[1]) * 1000 / taps_after_warmup, 2
        ),
    }


if __name__ == "__main__":
    configuration = json.loads(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps({**configuration, **measure(configuration, Path(tmp))}))
