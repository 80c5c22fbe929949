"""systemd's notify protocol on the real process: a test plays systemd with a datagram
socket, as `Type=notify` with `WatchdogSec=` would."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from bot.notify import MIN_BEAT, Notifier
from tests.fake_bot_server import FakeBotServer
from tests.test_process import bot, polling

BEAT_SECONDS = 0.5  # WATCHDOG_USEC of 1 s: the bot beats twice per interval


def messages(sock: socket.socket, until: str, within: float = 20.0) -> list[str]:
    """Datagrams received up to and including the first that is `until`."""
    got: list[str] = []
    deadline = time.monotonic() + within
    while until not in got:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        got.append(sock.recv(256).decode())
    return got


@pytest.mark.process
def test_ready_then_watchdog_only_while_healthy_then_stopping(tmp_path: Path) -> None:
    abstract = False  # an abstract name: see the test below (one process start is enough)
    db = tmp_path / "g.sqlite3"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd, FakeBotServer() as server:
        if abstract:
            name = f"gently-test-{os.getpid()}-{time.monotonic_ns()}"
            systemd.bind("\0" + name)
            address = "@" + name
        else:
            address = str(tmp_path / "notify.sock")
            systemd.bind(address)
        settings = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"}
        with bot(db, server, **settings) as running:
            assert polling(server)
            first = messages(systemd, "WATCHDOG=1")
            assert first[0] == "READY=1" and first[1:] == ["WATCHDOG=1"], first
            assert messages(systemd, "WATCHDOG=1") == ["WATCHDOG=1"]  # it keeps coming
            # the database file is taken away under the running bot: it is unhealthy now
            db.rename(tmp_path / "elsewhere.sqlite3")
            assert running.wait_for_line("restore it from a backup")
            systemd.setblocking(False)
            while True:  # what was sent before the beat that saw it
                try:
                    systemd.recv(256)
                except BlockingIOError:
                    break
            systemd.settimeout(3 * BEAT_SECONDS)
            with pytest.raises(TimeoutError):
                systemd.recv(256)  # three beats, no WATCHDOG: systemd would restart it
            code, _ = running.stop()
            assert messages(systemd, "STOPPING=1") == ["STOPPING=1"]
    assert code == 0, running.text


def test_a_notify_socket_nobody_reads_never_blocks_the_bot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A stalled PID 1 (or a container's notify proxy): its queue fills after a few
    datagrams. Sending must fail at once, with one line, not wait."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as stalled:
        stalled.bind(str(tmp_path / "stalled.sock"))  # never read
        notifier = Notifier(str(tmp_path / "stalled.sock"))
        done = threading.Event()

        def beat_many() -> None:
            notifier.ready()
            for _ in range(200):
                notifier.watchdog()
            done.set()

        with caplog.at_level(logging.WARNING):
            worker = threading.Thread(target=beat_many, daemon=True)
            worker.start()
            assert done.wait(10), "sending to a full notify socket blocked"
        lines = [r for r in caplog.records if "cannot notify systemd" in r.getMessage()]
        assert len(lines) == 1


def test_nothing_after_stopping_and_a_floor_on_the_beat(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(tmp_path / "n.sock"))
        systemd.settimeout(5)
        notifier = Notifier(str(tmp_path / "n.sock"), watchdog_seconds=0.000001)
        notifier.ready()
        notifier.stopping()
        notifier.watchdog()  # the watch has ended: not sent
        assert [systemd.recv(64), systemd.recv(64)] == [b"READY=1", b"STOPPING=1"]
        systemd.setblocking(False)
        with pytest.raises(BlockingIOError):
            systemd.recv(64)
    assert notifier.heartbeat_every(30) == MIN_BEAT  # a tiny WatchdogSec: no busy loop


def test_an_abstract_socket_name_is_reached() -> None:
    name = f"gently-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind("\0" + name)
        systemd.settimeout(5)
        Notifier("@" + name).ready()
        assert systemd.recv(64) == b"READY=1"
