"""The status endpoint (`GENTLY_STATUS_PORT`): `GET /healthz` and `GET /metrics`, nothing
else (404). A small HTTP/1.0 server on the bot's own event loop, so a hung loop shows as a
probe that times out. Request bodies are never read; a request must arrive within a few
seconds and its head within a few kilobytes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot import __version__, metrics

log = logging.getLogger(__name__)

HEAD_LIMIT = 8192  # bytes of request line and headers
TIMEOUT = 5.0  # seconds for the request's head to arrive
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 503: "Service Unavailable"}


class StatusServer:
    def __init__(self, problem: Callable[[], str | None], listen: str, port: int) -> None:
        """`problem()`: None while healthy, else what is wrong (one line)."""
        self._problem = problem
        self._listen = listen
        self._port = port
        self._server: asyncio.Server | None = None
        self._serving: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Raises OSError when the address cannot be used."""
        self._server = await asyncio.start_server(
            self._serve, self._listen, self._port, limit=HEAD_LIMIT
        )
        log.info("status endpoint on http://%s:%d (/healthz, /metrics)", self._listen, self._port)

    async def close(self) -> None:
        """Stop listening and end the requests still open (a probe at the wrong moment must
        not leave an error behind)."""
        if self._server is not None:
            self._server.close()
            for serving in self._serving:
                serving.cancel()
            await asyncio.gather(*self._serving, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)
        try:
            try:
                status, kind, body = await asyncio.wait_for(self._answer(reader), TIMEOUT)
            except (TimeoutError, ConnectionError, asyncio.LimitOverrunError, EOFError):
                status, kind, body = 400, "text/plain; charset=utf-8", b"bad request\n"
            writer.write(
                f"HTTP/1.0 {status} {REASONS[status]}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except ConnectionError:
            pass  # the prober went away
        except asyncio.CancelledError:
            # `close` ended it: finish quietly, as asyncio logs a stream task that ends
            # cancelled as an ERROR (nothing waits on this task but `close`)
            pass
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, str, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")  # LimitOverrunError past HEAD_LIMIT
        method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
        path = rest.split(" ", 1)[0].split("?", 1)[0]
        if method == "GET" and path == "/healthz":
            problem = self._problem()
            answer = {"status": "ok" if problem is None else "unhealthy", "version": __version__}
            if problem is not None:
                answer["reason"] = problem
            body = json.dumps(answer).encode() + b"\n"
            return (200 if problem is None else 503), "application/json", body
        if method == "GET" and path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(metrics.REGISTRY)
        return 404, "text/plain; charset=utf-8", b"not found\n"
