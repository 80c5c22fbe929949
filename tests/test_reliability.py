"""Reliability: crash safety, fuzzing, concurrency and faults, bounded and fast."""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.workload import progress_of
from bot.content import Guide
from bot.store import Store
from bot.telegram.codec import encode
from bot.walkthrough import Action, Progress, Verb, handle
from tests.crash_worker import state
from tests.helpers import FakeClock, clean_env
from tests.telegram_helpers import Chat, running

ROOT = Path(__file__).resolve().parents[1]


# -- crash safety ------------------------------------------------------------------------


@pytest.mark.process
def test_no_acknowledged_tap_is_lost_across_sigkills(guide: Guide, tmp_path: Path) -> None:
    db = tmp_path / "crash.sqlite3"
    users, kills = 20, 6
    rng = random.Random(7)
    acked: dict[int, list[str]] = {}
    total = 0
    for _ in range(kills):
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.crash_worker", str(db), str(users)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready"
        target = rng.randint(150, 400)
        seen = 0
        for line in worker.stdout:
            seen += record(line, acked)
            if seen >= target:
                break
        worker.send_signal(signal.SIGKILL)  # at a random moment, mid-write or not
        worker.wait(timeout=30)
        # Read the rest through the same text wrapper: the loop above may have buffered
        # acknowledgements past `target` that the raw pipe no longer holds.
        seen += sum(record(line, acked) for line in worker.stdout)
        worker.stdout.close()
        total += seen
        check_nothing_lost(guide, db, acked)
    assert total >= 1000, f"only {total} acknowledged taps"


def record(line: str, acked: dict[int, list[str]]) -> int:
    parts = line.split(" ", 2)
    if len(parts) != 3 or parts[0] != "ack":
        return 0  # a line cut short by the kill was never acknowledged
    acked.setdefault(int(parts[1]), []).append(parts[2].rstrip("\n"))
    return 1


def check_nothing_lost(guide: Guide, db: Path, acked: dict[int, list[str]]) -> None:
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    async def stored() -> dict[int, str]:
        store = await Store.open(db)
        try:
            return {user: state(await progress_of(store, user)) for user in acked}
        finally:
            await store.close()

    for user, saved in asyncio.run(stored()).items():
        last = acked[user][-1]
        # the stored state is the last acknowledged one, or one tap further (committed, but
        # killed before its acknowledgement was printed)
        if saved != last:
            assert one_tap_after(guide, last) == saved, (user, last, saved)


def one_tap_after(guide: Guide, acknowledged: str) -> str:
    step_id, view, finished, ticked = acknowledged.split("|")
    from bot.walkthrough import View

    progress = Progress(
        step_id=step_id,
        view=View(view),
        finished=finished == "1",
        ticked=frozenset(filter(None, ticked.split(","))),
    )
    outcome = handle(guide, progress, Action(Verb.RESUME))
    if progress.finished:  # the confirmation's state is the same; its "yes" is the tap
        outcome = handle(guide, progress, Action(Verb.RESTART))
        action = outcome.screen.rows[0][0].action
    else:
        assert outcome.screen.primary is not None
        action = outcome.screen.primary.action
    return state(handle(guide, outcome.progress, action).progress)


# -- fuzz --------------------------------------------------------------------------------

VICTIM = 9001
ATTACKERS = [9002, 9003, 9004]
odd_text = (
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=200)
    | st.just("ß" * 10_240)
    | st.just("<b>&amp;</b>" * 900)
)


@st.composite
def fuzz_update(draw: st.DrawFn, guide: Guide, step_ids: list[str]) -> tuple[str, object]:
    kind = draw(
        st.sampled_from(
            [
                "tap",
                "forged",
                "command",
                "text",
                "edited",
                "sticker",
                "channel",
                "group",
                "nouser",
                "group_tap",
            ]
        )
    )
    user = draw(st.sampled_from(ATTACKERS))
    if kind == "tap":
        verb = draw(st.sampled_from(list(Verb)))
        target = draw(st.sampled_from([None, *step_ids[:8], "talk", "1d", "off"]))
        try:
            return kind, (user, encode(Action(verb, target)))
        except ValueError:
            return kind, (user, "g1:n")
    if kind == "forged":
        return kind, (user, draw(st.text(min_size=0, max_size=80)))
    if kind == "command":
        name = draw(
            st.sampled_from(
                [
                    "/start",
                    "/menu",
                    "/delete",
                    "/restart",
                    "/remind off",
                    "/stats",
                    "/x",
                    "/",
                    "/start payload",
                ]
            )
        )
        return kind, (user, name + draw(st.sampled_from(["", "@gently_test_bot", " extra"])))
    return kind, (user, draw(odd_text))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzzed_input_never_crashes_and_never_touches_another_user(
    guide: Guide, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    step_ids = [s.id for p in guide.parts for s in p.steps]
    inputs = data.draw(st.lists(fuzz_update(guide, step_ids), min_size=1, max_size=25))
    db = tmp_path_factory.mktemp("fuzz") / "g.sqlite3"
    asyncio.run(fuzz_scenario(guide, db, inputs))


async def fuzz_scenario(guide: Guide, db: Path, inputs: list[tuple[str, object]]) -> None:
    errors: list[BaseException] = []
    async with running(guide, db) as chat:
        chat.app.add_error_handler(lambda _, context: _record(errors, context.error))
        await chat.begin(VICTIM)
        await chat.press(VICTIM, guide.messages.button("next"))
        store = chat.gently.store
        before = await progress_of(store, VICTIM)
        callbacks = 0
        u = chat.updates
        for kind, (user, payload) in inputs:  # type: ignore[misc]
            if kind in ("tap", "forged"):
                update = u.tap(user, payload, message_id=5)
                callbacks += 1
            elif kind == "group_tap":
                update = u.tap(user, "g1:n:collect.why", kind="supergroup")
                callbacks += 1
            elif kind == "command":
                update = u.command(user, payload)
            elif kind == "text":
                update = u.message(user, payload or ".")
            elif kind == "edited":
                update = u.message(user, payload or ".", edited=True)
            elif kind == "sticker":
                update = u.sticker(user)
            elif kind == "channel":
                update = u.message(None, payload or ".", chat_id=-700, kind="channel")
            elif kind == "group":
                update = u.message(user, payload or ".", chat_id=-800, kind="group")
            else:  # an update with no user at all
                update = u.message(None, payload or ".", chat_id=-900, kind="channel")
            await chat.send(update)
        answered = [c for c in chat.api.calls if c.method == "answerCallbackQuery"]
        assert len(answered) == callbacks + 2  # every callback answered (and the victim's two)
        assert await progress_of(store, VICTIM) == before
    assert errors == []


async def _record(errors: list[BaseException], error: BaseException | None) -> None:
    if error is not None:
        errors.append(error)


# -- concurrency -------------------------------------------------------------------------


async def test_many_users_and_double_taps_match_the_sequential_result(
    guide: Guide, db_path: Path
) -> None:
    rng = random.Random(11)
    users = list(range(100, 160))
    plans: dict[int, list[Action]] = {}
    for user in users:
        outcome = handle(guide, None, Action(Verb.CONFIRM, "en"))
        plan = [Action(Verb.CONFIRM, "en")]  # the welcome's button names its language
        for _ in range(rng.randint(3, 9)):  # at most 19 taps: within a user's bound of 20
            assert outcome.screen.primary is not None
            action = outcome.screen.primary.action
            plan += [action, action] if rng.random() < 0.3 else [action]  # double taps
            outcome = handle(guide, outcome.progress, action)
        plans[user] = plan
    expected: dict[int, Progress | None] = {}
    for user, plan in plans.items():
        progress = None
        for action in plan:
            progress = handle(guide, progress, action).progress
        expected[user] = progress
    async with running(guide, db_path, FakeClock()) as chat:
        queue = chat.app.update_queue
        pending = {user: list(plan) for user, plan in plans.items()}
        total = sum(len(plan) for plan in plans.values())
        while any(pending.values()):  # interleave users at random, each in its own order
            user = rng.choice([u for u, plan in pending.items() if plan])
            await queue.put(chat.updates.tap(user, encode(pending[user].pop(0))))
        await chat.api.wait_for(
            lambda calls: sum(c.method == "answerCallbackQuery" for c in calls) == total,
            within=30,
        )
        store = chat.gently.store
        await chat.app.update_queue.join()
        for user in users:
            assert await progress_of(store, user) == expected[user], user


# -- faults ------------------------------------------------------------------------------


async def unwritable(chat: Chat) -> Store:
    """Tests run as root, for whom file modes do not stop writes; query_only makes SQLite
    refuse every write exactly as it does for a read-only file (reads still work)."""
    store: Store = chat.gently.store
    await store._db.execute("PRAGMA query_only = ON")
    return store


async def test_unwritable_database_gets_a_calm_answer_and_a_log_line(
    guide: Guide, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(guide, db_path) as chat:
        await chat.begin(9100)
        store = await unwritable(chat)
        await chat.press(9100, guide.messages.button("next"))
        assert chat.last_text(9100) == guide.messages.text("store_down")
        assert "the database is failing" in caplog.text
        await store._db.execute("PRAGMA query_only = OFF")
        await chat.press(9100, guide.messages.button("next"))
        assert "Step 2 of 16" in chat.last_text(9100)


async def test_a_disk_that_reads_but_cannot_write_is_one_error_a_minute(
    guide: Guide, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On a full disk reads work and writes fail: alternating must not log a line a tap."""
    async with running(guide, db_path) as chat:
        await chat.begin(9100)
        store = await unwritable(chat)
        with caplog.at_level(logging.INFO):
            for _ in range(10):
                await chat.command(9100, "/resume")  # reads: fine; noting the command: fails
                await chat.press(9100, guide.messages.button("next"))  # a write: fails
        errors = [r for r in caplog.records if "the database is failing" in r.getMessage()]
        again = [r for r in caplog.records if "works again" in r.getMessage()]
        assert len(errors) == 1
        assert len(again) <= 1
        await store._db.execute("PRAGMA query_only = OFF")


@pytest.mark.process
def test_broken_content_refuses_to_start_with_a_clear_message(
    content_copy: Path, tmp_path: Path
) -> None:
    (content_copy / "en" / "parts" / "3-talk.toml").write_text("id = [broken", encoding="utf-8")
    env = clean_env(
        TELEGRAM_BOT_TOKEN="1:x",
        GENTLY_CONTENT_DIR=str(content_copy),
        GENTLY_DB_PATH=str(tmp_path / "g.sqlite3"),
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 78  # EX_CONFIG: a restart cannot mend broken content
    assert "Gently cannot start" in result.stderr
    assert "en/parts/3-talk.toml: cannot be parsed" in result.stderr
    assert "1:x" not in result.stderr
