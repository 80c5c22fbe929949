"""When Litestream's control socket does not answer, or does not start again: the erasure
stands, the checkpoint is owed (one warning a streak), and replication left stopped is a
health problem until it starts again. A fake control socket stands in for Litestream."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from socketserver import ThreadingUnixStreamServer

import pytest

from bot.content import Guide
from bot.instance import Misconfigured
from bot.telegram.app import CHECKPOINT_OWED_TOO_LONG
from bot.walkthrough import Progress
from tests.telegram_helpers import Chat, running

NOW = 1_800_000_000


class FakeControl:
    """Answers /stop and /start as Litestream does; `refusing` names verbs to fail."""

    def __init__(self, path: Path) -> None:
        self.asked: list[str] = []
        self.refusing: set[str] = set()
        self.holding: set[str] = set()
        self.held, self.release = threading.Event(), threading.Event()
        control = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                verb = self.path.strip("/")
                control.asked.append(verb)
                ok = verb not in control.refusing
                status = {"stop": "stopped", "start": "started", "sync": "synced"}[verb]
                if verb in control.holding:  # answers once the test lets it
                    control.held.set()
                    control.release.wait(30)
                body = json.dumps({"status": status} if ok else {"error": "no"}).encode()
                self.send_response(200 if ok else 500)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # /info: Litestream is there
                body = b'{"version": "fake"}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

            def address_string(self) -> str:  # a Unix socket has no host
                return "litestream"

        self.server = ThreadingUnixStreamServer(str(path), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@contextmanager
def control_socket(path: Path) -> Iterator[FakeControl]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    control = FakeControl(path)
    control.thread.start()
    try:
        yield control
    finally:
        control.server.shutdown()
        control.server.server_close()


@asynccontextmanager
async def beside_a_fake_litestream(
    guide: Guide, db_path: Path
) -> AsyncIterator[tuple[Chat, FakeControl]]:
    """The bot with a fake control socket, and user 7 stored."""
    socket = db_path.parent / "ls.sock"
    with control_socket(socket) as control:
        async with running(guide, db_path, litestream_socket=socket) as chat:
            await chat.gently.store.save(7, Progress(step_id="collect.why"), NOW)
            yield chat, control


async def test_a_litestream_gone_leaves_the_checkpoint_owed_with_one_warning(
    guide: Guide, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    socket = db_path.parent / "ls.sock"
    async with AsyncExitStack() as stack:
        with control_socket(socket):  # there at start-up, then gone
            chat = await stack.enter_async_context(
                running(guide, db_path, litestream_socket=socket)
            )
        store = chat.gently.store
        await store.save(7, Progress(step_id="collect.why"), NOW)
        with caplog.at_level(logging.WARNING, logger="bot.replication"):
            assert await store.delete_user(7) == 1  # the erasure stands
            assert store.checkpoint_owed
            await chat.gently.beat()  # tried again: still owed, no second line
        assert store.checkpoint_owed
        erased_may_remain = lambda problems: any("erased users" in p for p in problems)  # noqa: E731
        assert not erased_may_remain((await chat.gently.beat()).problems)  # not for long yet
        chat.clock.advance(CHECKPOINT_OWED_TOO_LONG)
        assert erased_may_remain((await chat.gently.beat()).problems)
        lines = [r.getMessage() for r in caplog.records if r.name == "bot.replication"]
        # one line a streak (the start-up checkpoint may be the one that meets it first)
        assert len(lines) == 1 and "Litestream at" in lines[0], lines
        with control_socket(socket):  # it answers again: the next beat checkpoints
            await chat.gently.beat()
            assert not store.checkpoint_owed
            assert (await chat.gently.beat()).problems == []


async def test_replication_left_stopped_is_a_health_problem_until_it_starts(
    guide: Guide, db_path: Path
) -> None:
    async with beside_a_fake_litestream(guide, db_path) as (chat, control):
        store = chat.gently.store
        control.refusing = {"start"}
        await store.delete_user(7)
        litestream = store.replication
        assert litestream is not None and litestream.paused  # stopped, and not started
        assert not store.checkpoint_owed  # the WAL was emptied all the same
        state = await chat.gently.beat()  # tries to start it again: refused
        assert any("replication is stopped" in p for p in state.problems)
        control.refusing = set()
        assert (await chat.gently.beat()).problems == []


async def test_a_litestream_that_hangs_holds_no_tap_up(guide: Guide, db_path: Path) -> None:
    """The sync that may take long runs off the database thread: while Litestream sits on
    it, other users' writes go through."""
    async with beside_a_fake_litestream(guide, db_path) as (chat, control):
        store = chat.gently.store
        control.holding = {"sync"}
        erasing = asyncio.create_task(store.delete_user(7))
        await asyncio.to_thread(control.held.wait, 10)
        await store.save(8, Progress(step_id="collect.why"), NOW)  # not held up
        assert not erasing.done()
        control.release.set()
        assert await erasing == 1
        assert not store.checkpoint_owed


async def test_a_socket_nobody_answers_is_a_configuration_error_at_start_up(
    guide: Guide, db_path: Path
) -> None:
    with pytest.raises(Misconfigured, match=r"GENTLY_LITESTREAM_SOCKET is .* does not answer"):
        async with running(guide, db_path, litestream_socket=db_path.parent / "nobody.sock"):
            pass
