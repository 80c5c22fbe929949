"""Helpers shared by the tests: a fake clock and a clean environment for subprocesses."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any Gently or Telegram setting, plus `settings`:
    for running `python -m bot` in a subprocess that sees only what the test gives it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENTLY_", "TELEGRAM_"))}
    return {**env, **settings}


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
