"""The restore drill (issue 23), with the real Litestream binary and a file replica:
`litestream replicate -exec "python -m bot run"` serves 50 users, is killed without a
clean stop, and a new machine (an empty folder) restores from the replica and serves on."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.telegram.codec import encode
from bot.walkthrough import Action, Verb
from tests.fake_bot_server import FakeBotServer
from tests.helpers import ROOT, Lines
from tests.litestream_helpers import CONFIG, litestream, replica_env, restore
from tests.test_process import TOKEN, answered, polling, step_ids, tap, text_message

pytestmark = pytest.mark.process

USERS = range(1, 51)
ERASED = range(1, 6)  # confirm /delete
TAIL = range(30, 40)  # keep tapping until the machine is lost
REMINDED = 50


def replicated(env: dict[str, str]) -> Lines:
    """The bot under Litestream, as deploy/gently-replicated.service runs it."""
    return litestream("replicate", "-exec", f"{sys.executable} -m bot run", env=env)


def replica_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "replica-check", "--config", str(CONFIG)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


class Taps:
    """Taps pushed to the fake Bot API; a tap is acknowledged when its callback query is
    answered (the bot has committed it by then)."""

    def __init__(self, server: FakeBotServer) -> None:
        self.server = server

    def wave(self, taps: list[tuple[int, str]]) -> float:
        """Push these taps, wait for every answer; returns when the last one came."""
        before = answered(self.server.calls)
        for user, data in taps:
            self.server.push(tap(user, data))
        wanted = before + len(taps)
        assert self.server.wait_for(lambda calls: answered(calls) >= wanted, timeout=30)
        return time.monotonic()


def command(user: int, text: str) -> dict[str, object]:
    update = text_message(user, text)
    entity = {"type": "bot_command", "offset": 0, "length": len(text)}
    update["message"] = {**update["message"], "entities": [entity]}  # type: ignore[dict-item]
    return update


def delete_button(server: FakeBotServer, user: int) -> str | None:
    for method, params in reversed(list(server.calls)):
        if method != "sendMessage" or str(params.get("chat_id")) != str(user):
            continue
        markup = params.get("reply_markup")
        rows = json.loads(markup)["inline_keyboard"] if isinstance(markup, str) else []
        for row in rows:
            for button in row:
                if str(button.get("callback_data", "")).startswith("g1:dy:"):
                    return str(button["callback_data"])
    return None


def quiet_enough(env: dict[str, str], within: float = 30) -> None:
    """Until the replica has been quiet for the new machine's quiet period (each check is
    a subprocess: it takes its own time)."""
    deadline = time.monotonic() + within
    while replica_check(env).returncode != 0:
        assert time.monotonic() < deadline, "the replica never went quiet"


def test_the_restore_drill(tmp_path: Path) -> None:
    steps = step_ids()
    replica = tmp_path / "replica"
    lost, new = tmp_path / "lost", tmp_path / "new"
    lost.mkdir()
    new.mkdir()
    with FakeBotServer() as server:
        settings = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_BASE_URL": server.base_url}
        first = replicated(replica_env(lost / "g.sqlite3", replica, **settings))
        try:
            assert polling(server), first.text
            taps = Taps(server)
            # 50 users walk: confirm they are adults, then a step on
            taps.wave([(user, "g1:c:en") for user in USERS])
            taps.wave([(user, encode(Action(Verb.NEXT, steps[0]))) for user in USERS])
            # some erase everything, with the confirmation's one-time button
            for user in ERASED:
                server.push(command(user, "/delete"))
            assert server.wait_for(lambda _: all(delete_button(server, u) for u in ERASED))
            taps.wave([(user, delete_button(server, user) or "") for user in ERASED])
            # one asks to be reminded tomorrow
            settled = taps.wave([(REMINDED, encode(Action(Verb.REMIND_SET, "1d")))])
            # the tail: ten users keep tapping until the machine is lost, 2.5 s later
            acked: list[tuple[int, int, float]] = []  # (user, steps walked, acknowledged)
            walked = 1
            while time.monotonic() < settled + 2.5:
                at = taps.wave([(u, encode(Action(Verb.NEXT, steps[walked]))) for u in TAIL])
                walked += 1
                acked += [(user, walked, at) for user in TAIL]
            # a second machine cannot start while this one replicates
            refused = replica_check(replica_env(new / "g.sqlite3", replica))
            assert refused.returncode == 1, refused.stderr
            assert "another instance wrote to the replica" in refused.stderr
            assert not (new / "g.sqlite3").exists()
        finally:
            os.killpg(first.process.pid, signal.SIGKILL)  # the machine is lost
            lost_at = time.monotonic()
            first.finish()

        # the new machine: restore, then serve
        quiet = {"GENTLY_REPLICA_QUIET_SECONDS": "2"}
        elsewhere = replica_env(new / "g.sqlite3", replica, **settings, **quiet)
        quiet_enough(elsewhere)
        restored = restore(elsewhere)
        assert restored.returncode == 0, restored.stderr
        restored_at = time.monotonic()
        db = new / "g.sqlite3"
        with sqlite3.connect(db) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            places = dict(raw.execute("SELECT user_id, step_index FROM users"))
            due = raw.execute("SELECT due_at FROM reminders WHERE user_id = ?", (REMINDED,))
            assert due.fetchone() is not None
            # a day passes (the reminder is due) before the new machine starts
            raw.execute("UPDATE reminders SET due_at = ? WHERE user_id = ?", (0, REMINDED))
        raw.close()
        calls_before = len(server.calls)
        second = replicated(elsewhere)
        try:
            server.push(command(999, "/start"))
            assert server.wait_for(
                lambda calls: any(
                    m == "sendMessage" and str(p.get("chat_id")) == "999"
                    for m, p in calls[calls_before:]
                )
            ), second.text
            first_reply = time.monotonic()
            assert server.wait_for(
                lambda calls: any(
                    m == "sendMessage" and str(p.get("chat_id")) == str(REMINDED)
                    for m, p in calls[calls_before:]
                )
            ), second.text
            second.process.send_signal(signal.SIGTERM)  # Litestream passes it to the bot
            assert second.finish() == 0, second.text
        finally:
            if second.process.poll() is None:
                os.killpg(second.process.pid, signal.SIGKILL)
    reminders = [
        p
        for m, p in server.calls[calls_before:]
        if m == "sendMessage" and str(p.get("chat_id")) == str(REMINDED)
    ]
    assert len(reminders) == 1  # it fires once

    assert not set(ERASED) & set(places)  # erased long before the loss: gone
    assert set(USERS) - set(ERASED) <= set(places)
    assert all(places[user] >= 1 for user in USERS if user not in ERASED)
    old_enough = [(user, walked) for user, walked, at in acked if at < lost_at - 2]
    assert old_enough
    assert all(places[user] >= walked for user, walked in old_enough)
    present = [at for user, walked, at in acked if places[user] >= walked]
    recovery_point = max(at for _, _, at in acked) - max(present)
    print(
        f"\nrecovery point: {recovery_point:.2f} s behind the last acknowledged tap; "
        f"restore {restored_at - lost_at:.2f} s after the loss (quiet period 2 s), "
        f"first reply {first_reply - lost_at:.2f} s after it"
    )
