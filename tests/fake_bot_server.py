"""A tiny Bot API over HTTP on 127.0.0.1, for tests that run the real `python -m bot run`
in a subprocess (pointed at it with TELEGRAM_BASE_URL)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.offline import BOT_USER


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # the default 5 refuses a burst of concurrent calls
    daemon_threads = True


class FakeBotServer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.reject_token = False
        self.fail_updates: tuple[int, str] | None = None  # getUpdates answers this error
        self.failing: dict[str, tuple[int, str]] = {}  # method → the error it answers
        self.retry_after = 1  # seconds, with a 429 (which is answered once)
        self.updates: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._next_id = 1
        self._holds: dict[int, threading.Event] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # connections kept alive, as Telegram's are

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                method = self.path.rsplit("/", 1)[-1]
                params = server.parse(body, self.headers.get("Content-Type", ""))
                status, description = (401, "Unauthorized") if server.reject_token else (200, "")
                if method == "getUpdates" and server.fail_updates is not None:
                    status, description = server.fail_updates
                status, description = server.failing.get(method, (status, description))
                result = server.answer(method, params)
                body_out = (
                    {"ok": True, "result": result}
                    if status == 200
                    else {"ok": False, "error_code": status, "description": description}
                )
                if status == 429:  # as Telegram: how long to wait
                    body_out["parameters"] = {"retry_after": server.retry_after}
                    server.failing.pop(method, None)  # once
                payload = json.dumps(body_out).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the bot gave up a long poll while shutting down

            def log_message(self, *args: object) -> None:
                return None

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/bot"

    def __enter__(self) -> FakeBotServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @staticmethod
    def parse(body: bytes, content_type: str) -> dict[str, Any]:
        if not body:
            return {}
        if "json" in content_type:
            return dict(json.loads(body))
        return {k: v[0] for k, v in parse_qs(body.decode()).items()}

    def push(self, update: dict[str, Any]) -> None:
        with self._cond:
            self.updates.append({"update_id": self._next_id, **update})
            self._next_id += 1
            self._cond.notify_all()

    def hold(self, chat_id: int) -> threading.Event:
        """sendMessage to this chat hangs until the returned event is set (at most 60 s)."""
        self._holds[chat_id] = threading.Event()
        return self._holds[chat_id]

    def answer(self, method: str, params: dict[str, Any]) -> Any:
        with self._cond:
            self.calls.append((method, params))
            self._cond.notify_all()
        held = self._holds.get(int(params.get("chat_id") or 0))
        if held is not None and method == "sendMessage":
            held.wait(timeout=60)
        if method == "getMe":
            return BOT_USER
        if method == "getMyCommands":
            return []
        if method in ("getMyDescription", "getMyShortDescription"):
            return {"description": "", "short_description": ""}
        if method == "getUpdates":
            offset = int(params.get("offset") or 0)
            limit = int(params.get("limit") or 100)  # as Telegram: at most 100 a batch
            with self._cond:
                # as Telegram: an offset confirms every update below it, which is forgotten
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                self._cond.wait_for(
                    lambda: any(u["update_id"] >= offset for u in self.updates), timeout=0.5
                )
                return [u for u in self.updates if u["update_id"] >= offset][:limit]
        if method in ("sendMessage", "editMessageText", "editMessageReplyMarkup"):
            chat = {"id": int(params.get("chat_id", 0)), "type": "private", "first_name": "U"}
            return {"message_id": 77, "date": 0, "chat": chat, "text": params.get("text", "")}
        return True

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.calls), timeout=timeout)
