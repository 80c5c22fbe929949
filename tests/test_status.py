"""The status endpoint on the real process: /healthz and /metrics, nothing else, and no
user's id in anything it serves."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from telegram.error import BadRequest, RetryAfter

from bot import metrics
from bot.config import Settings, SettingsError
from bot.status import StatusServer
from bot.telegram.scheduler import counted
from tests.fake_bot_server import FakeBotServer
from tests.helpers import free_port
from tests.test_process import bot, polling, sent_to, tap, text_message

USER = 731_513_377  # an id that could not appear in the metrics by chance


def get(port: int, path: str, method: str = "GET") -> tuple[int, str, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


@pytest.mark.process
def test_healthz_and_metrics_after_a_walk_and_no_user_id_in_them(tmp_path: Path) -> None:
    db, port = tmp_path / "g.sqlite3", free_port()
    settings = {"GENTLY_STATUS_PORT": str(port), "WATCHDOG_USEC": "1000000"}
    with FakeBotServer() as server, bot(db, server, **settings) as running:
        assert polling(server)
        assert running.wait_for_line(" running (")
        server.push(text_message(USER, "/start"))
        server.push(tap(USER, "g1:c:en"))
        assert server.wait_for(lambda _: len(sent_to(server, USER)) >= 2)
        assert running.wait_for_line("status endpoint on http://127.0.0.1")
        # healthy once a heartbeat has seen the bot receiving updates
        assert server.wait_for(lambda _: get(port, "/healthz")[0] == 200, 10)
        status, kind, body = get(port, "/healthz")
        assert kind == "application/json" and json.loads(body)["status"] == "ok"
        status, kind, text = get(port, "/metrics")
        assert status == 200 and kind.startswith("text/plain")
        for name in (
            "gently_updates_received_total",
            "gently_updates_processed_total",
            "gently_replies_sent_total",
            'gently_bot_api_calls_total{method="sendMessage",outcome="ok"}',
            'gently_send_queue_depth{lane="reply"}',
            "gently_reply_wait_seconds_bucket",
            "gently_store_failures_total",
            'gently_users{state="confirmed"}',
            "gently_chat_ledger_rows",
            'gently_build_info{languages="',
        ):
            assert name in text, name
        values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line[:1] != "#")
        assert float(values["gently_updates_received_total"]) >= 2
        assert float(values["gently_replies_sent_total"]) >= 2
        assert float(values["gently_reply_wait_seconds_count"]) >= 2
        names = {line.split("{")[0].split(" ")[0] for line in text.splitlines()}
        assert all(n.startswith(("gently_", "#")) for n in names if n), names
        assert str(USER) not in text and str(USER) not in body
        assert get(port, "/")[0] == get(port, "/metrics/x")[0] == 404
        assert get(port, "/healthz", "POST")[0] == 404
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(b"GET /healthz HTTP/1.0\r\n" + b"X: y\r\n" * 2000 + b"\r\n")
            assert raw.recv(100).startswith(b"HTTP/1.0 400")  # a head too long: refused
        # the database file taken away: unhealthy at the next heartbeat, with the reason
        db.rename(tmp_path / "elsewhere.sqlite3")
        assert running.wait_for_line("restore it from a backup")
        status, _, body = get(port, "/healthz")
        assert status == 503 and "database" in json.loads(body)["reason"], body
        code, _ = running.stop()
    assert code == 0, running.text


async def test_a_request_still_open_at_a_stop_is_ended_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    status = StatusServer(lambda: None, "127.0.0.1", port)
    await status.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /heal")  # a probe that has not finished asking
    await writer.drain()
    with caplog.at_level(logging.ERROR):
        await asyncio.wait_for(status.close(), 5)
        assert await reader.read() == b""  # its connection was closed, unanswered
    writer.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_the_status_port_is_a_port_and_not_the_webhooks() -> None:
    for raw in ("²", "٣٣٣٣", "0", "65536"):
        with pytest.raises(SettingsError, match="GENTLY_STATUS_PORT must be a port"):
            Settings.from_env({"GENTLY_STATUS_PORT": raw}, env_file=None)
    webhook = {
        "GENTLY_WEBHOOK_URL": "https://bot.example.org/hook",
        "GENTLY_WEBHOOK_SECRET": "a-secret-of-enough-length",
        "GENTLY_STATUS_PORT": "8443",
    }
    with pytest.raises(SettingsError, match="must differ from GENTLY_WEBHOOK_PORT"):
        Settings.from_env(webhook, env_file=None)
    assert Settings.from_env({"GENTLY_STATUS_PORT": "8443"}, env_file=None).status_port == 8443


async def test_bot_api_calls_are_counted_by_method_and_outcome() -> None:
    def count(outcome: str) -> float:
        labels = {"method": "sendMessage", "outcome": outcome}
        return metrics.REGISTRY.get_sample_value("gently_bot_api_calls_total", labels) or 0.0

    async def answered() -> bool:
        return True

    async def slow_down() -> bool:
        raise RetryAfter(1)

    async def refused() -> bool:
        raise BadRequest("Bad Request: chat not found")

    before = {outcome: count(outcome) for outcome in ("ok", "retry-after", "error")}
    assert await counted("sendMessage", answered())
    with pytest.raises(RetryAfter):
        await counted("sendMessage", slow_down())
    with pytest.raises(BadRequest):
        await counted("sendMessage", refused())
    assert {outcome: count(outcome) - n for outcome, n in before.items()} == {
        "ok": 1.0,
        "retry-after": 1.0,
        "error": 1.0,
    }
