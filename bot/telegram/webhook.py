"""The webhook listener: small, strict and quiet.

The secret header is checked before a byte of the body is read, bodies over `MAX_BODY`
are refused, headers and bodies must arrive within a timeout, and a body that is not a
valid update is skipped with one WARNING (never dumped). It listens locally; a TLS proxy
in front of it faces the internet.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tornado.web
from telegram import Bot, Update
from tornado.httpserver import HTTPServer

from bot import metrics

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024  # Telegram's updates are a few KB
TIMEOUT = 10.0  # seconds to send headers, then the body
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@tornado.web.stream_request_body
class UpdateHandler(tornado.web.RequestHandler):
    SUPPORTED_METHODS = ("POST",)

    def initialize(
        self,
        bot: Bot,
        queue: asyncio.Queue[object],
        secret: str,
        accepting: Callable[[], bool],
        intake: Intake,
    ) -> None:
        self.bot, self.queue, self.secret, self.accepting = bot, queue, secret, accepting
        self.intake = intake
        self.body = bytearray()

    def prepare(self) -> None:
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            raise tornado.web.HTTPError(403)
        declared = self.request.headers.get("Content-Length", "0")
        if not declared.isdigit() or int(declared) > MAX_BODY:
            raise tornado.web.HTTPError(413)

    def data_received(self, chunk: bytes) -> None:
        self.body += chunk
        if len(self.body) > MAX_BODY:
            raise tornado.web.HTTPError(413)

    async def post(self) -> None:
        data: Any = None
        try:
            data = json.loads(self.body)
            update = Update.de_json(data, self.bot)
        except Exception as error:
            update_id = data.get("update_id") if isinstance(data, dict) else None
            log.warning(
                "webhook: skipped a body that is not an update this version can read "
                "(update %s, %s)",
                update_id,
                type(error).__name__,
            )
            self.set_status(200)  # Telegram would otherwise send it again and again
            return
        if not self.accepting():
            self.set_status(503)  # stopping: Telegram will deliver it again later
            return
        if self.intake.full():
            self.intake.refused += 1  # Telegram delivers it again later, as when polling waits
            metrics.WEBHOOK_REFUSED.inc()
            self.set_status(503)
            return
        if update is not None:
            self.queue.put_nowait(update)
        self.set_status(200)

    def log_exception(self, *args: Any) -> None:
        """Nothing: a refused request is not news, and its content is never logged."""


class _Quiet(tornado.web.Application):
    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        pass


@dataclass
class Intake:
    """Whether the bot has taken in as much as it may before handling it, as polling
    measures it: then an update is refused with 503 (counted), so the webhook never queues
    without limit."""

    full: Callable[[], bool] = lambda: False
    refused: int = 0


def listener(
    bot: Bot,
    queue: asyncio.Queue[object],
    path: str,
    secret: str,
    accepting: Callable[[], bool] = lambda: True,
    intake: Intake | None = None,
) -> HTTPServer:
    app = _Quiet(
        [
            (
                rf"/{re.escape(path.strip('/'))}/?",
                UpdateHandler,
                {
                    "bot": bot,
                    "queue": queue,
                    "secret": secret,
                    "accepting": accepting,
                    "intake": intake or Intake(),
                },
            )
        ]
    )
    return HTTPServer(
        app,
        max_body_size=MAX_BODY,
        body_timeout=TIMEOUT,
        idle_connection_timeout=TIMEOUT,  # also bounds reading the headers
        max_header_size=16 * 1024,
        decompress_request=False,
    )
