"""Helpers shared by the tests: a fake clock and a clean environment for subprocesses."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from bot.content import Guide, Guides
from bot.runtime import Chat, Origin, Shown
from bot.walkthrough import Outcome

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A free port below the kernel's ephemeral range. A port from bind(0) is in that range,
    so between this call and the bot's own bind an outgoing connection (the bot's own, to a
    fake Bot API) may take it as its local port: CI once saw 'Address already in use'.
    Without that range to read, or room below it, bind(0) it is."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    pick = random.SystemRandom()  # never the seeded shared one: two workers, two ports
    for _ in range(100 if low > 2048 else 0):
        port = pick.randrange(max(1024, low - 12_000), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def first_question(guide: Guide) -> int:
    """How many taps on "Next" lead from the first step to the first checklist question."""
    return next(i for i, step in enumerate(guide.parts[0].steps) if step.is_checklist)


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in a content file copy; the fixture text must be there."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text not found in {path.name}: {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` in this environment, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=60
    )


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any Gently or Telegram setting, plus `settings`:
    for running `python -m bot` in a subprocess that sees only what the test gives it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENTLY_", "TELEGRAM_"))}
    return {**env, **settings}


def as_guides(guides: Guide | Guides) -> Guides:
    """Tests mostly use one guide (the English one) where the bot takes every language."""
    return guides if isinstance(guides, Guides) else Guides.of({guides.language: guides}, {})


class Screens:
    """A delivery for the runtime that only keeps what each user was shown."""

    def __init__(self) -> None:
        self.shown: dict[int, list[Outcome]] = {}
        self.unavailable_for: list[int] = []

    async def show(
        self, user_id: int, outcome: Outcome, origin: Origin | None, chat: Chat
    ) -> Shown:
        self.shown.setdefault(user_id, []).append(outcome)
        return Shown()

    async def erase(self, user_id: int, message_ids: tuple[int, ...]) -> tuple[int, ...]:
        return message_ids

    async def unavailable(self, user_id: int, origin: Origin | None, *, say: bool) -> None:
        self.unavailable_for.append(user_id)


async def until(condition: Callable[[], bool]) -> None:
    """Let other tasks run until `condition` holds (event-loop turns, not time)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Lines:
    """A subprocess's output, collected as it comes, to wait for a line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._said = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stream = self.process.stdout or self.process.stderr
        assert stream is not None
        for line in stream:
            with self._said:
                self.lines.append(line)
                self._said.notify_all()

    def wait_for(self, text: str, timeout: float = 30) -> bool:
        with self._said:
            return self._said.wait_for(lambda: any(text in line for line in self.lines), timeout)

    def finish(self, within: float = 30) -> int:
        code = self.process.wait(timeout=within)
        self._reader.join(timeout=10)
        return code

    @property
    def text(self) -> str:
        with self._said:
            return "".join(self.lines)
