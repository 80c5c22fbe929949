"""Applies taps for many users as fast as it can and prints one line per committed tap:
`ack <user> <state>`. The crash test SIGKILLs it at random moments and checks that every
acknowledged tap survived."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.content import load_guide
from bot.runtime import Runtime
from bot.store import Store
from bot.walkthrough import Action, Outcome, Progress, Verb
from tests.helpers import Screens, as_guides


def state(progress: Progress | None) -> str:
    if progress is None:
        return "none"
    ticked = ",".join(sorted(progress.ticked))
    return f"{progress.step_id}|{progress.view.value}|{int(progress.finished)}|{ticked}"


async def walk(runtime: Runtime, user: int) -> None:
    outcome: Outcome | None = await runtime.act(user, Action(Verb.CONFIRM))  # resumes if stored
    assert outcome is not None
    while True:
        progress = outcome.progress
        if progress is not None and progress.finished:
            asked = await runtime.act(user, Action(Verb.RESTART))
            assert asked is not None
            action = asked.screen.rows[0][0].action  # "Yes, start again", with its token
            progress = asked.progress
        else:
            assert outcome.screen.primary is not None
            action = outcome.screen.primary.action
        outcome = await runtime.act(user, action)
        assert outcome is not None
        if outcome.progress != progress:
            sys.stdout.write(f"ack {user} {state(outcome.progress)}\n")
            sys.stdout.flush()


async def main(db: Path, users: int) -> None:
    store = await Store.open(db)
    runtime = Runtime(as_guides(load_guide()), store, Screens())
    print("ready", flush=True)
    await asyncio.gather(*(walk(runtime, user) for user in range(1, users + 1)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
