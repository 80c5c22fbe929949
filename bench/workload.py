"""Synthetic users: each follows the guide's primary buttons (tick, next, continue)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bot.content import Guide
from bot.store import Store
from bot.walkthrough import Action, Progress, Verb, handle


def stored_progress(guide: Guide) -> Progress:
    """Where every pre-populated user stands (what `populate` writes)."""
    return Progress(step_id=guide.first_step.id)


async def populate(path: Path, user_ids: range, progress: Progress, now: int) -> None:
    """Create (and migrate) the database, then bulk-insert identical users in one
    transaction on a connection of its own (benchmarks and load tests)."""
    store = await Store.open(path)
    await store.close()
    rows = ((uid, now, progress.step_id, progress.view.value, now, now) for uid in user_ids)
    with sqlite3.connect(path) as raw:
        raw.executemany(
            "INSERT OR REPLACE INTO users (user_id, acknowledged_at, step_id, view, "
            "started_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    raw.close()


async def progress_of(store: Store, user_id: int) -> Progress | None:
    """A user's stored progress, or None (tests and the benchmark's final check)."""
    stored = await store.load_user(user_id)
    return stored.progress if stored else None


@dataclass(frozen=True)
class Tap:
    user_id: int
    action: Action | None  # None: the /start command


def script(guide: Guide, taps_per_user: int) -> list[Action]:
    """The primary-button path a stored user takes from where they stand."""
    progress: Progress | None = stored_progress(guide)
    outcome = handle(guide, progress, Action(Verb.RESUME))
    actions: list[Action] = []
    for _ in range(taps_per_user):
        primary = outcome.screen.primary
        if primary is None:
            break
        actions.append(primary.action)
        outcome = handle(guide, outcome.progress, primary.action)
    return actions


def interleaved(users: list[int], actions: list[Action]) -> list[Tap]:
    """Every user sends /start, then their taps; users take turns, as real traffic mixes."""
    taps = [Tap(user, None) for user in users]
    for action in actions:
        taps += [Tap(user, action) for user in users]
    return taps


def expected_final(guide: Guide, fed: list[Tap]) -> dict[int, Progress | None]:
    """Each user's progress after the taps that were fed, applied in order."""
    state: dict[int, Progress | None] = {}
    for tap in fed:
        progress = state.get(tap.user_id, stored_progress(guide))
        action = tap.action or Action(Verb.START)
        state[tap.user_id] = handle(guide, progress, action).progress
    return state
