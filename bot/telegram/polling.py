"""The bot as `run` uses it: PTB's ExtBot, with getUpdates made robust.

- An update this PTB version cannot parse (e.g. from a Bot API server of another version)
  is skipped with one WARNING (its id and type, never its content), and the rest of the
  batch goes on; its id is not fetched again.
- An outage is one WARNING when it starts and one INFO when it ends; PTB's polling loop
  backs off meanwhile.
- The time of the last successful fetch feeds the health check.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, TelegramError
from telegram.ext import ExtBot

log = logging.getLogger(__name__)
CONFLICT_LOG_EVERY = 300  # seconds
# Before fetching more: updates that could run now (one per user with a backlog) ...
MAX_BACKLOG = 200
# ... and all received but not yet handled: a stop commits every one within Docker's 10 s
MAX_RECEIVED = 500


class PollingBot(ExtBot[Any]):
    # ExtBot uses __slots__; these are this subclass's own
    __slots__ = ("_conflict_logged", "_full", "_last_fetch", "_outage_since", "_skip_through")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_fetch: float | None = None
        self._outage_since: float | None = None
        self._skip_through = -1
        self._conflict_logged = float("-inf")
        self._full: Callable[[], bool] = lambda: False

    async def get_updates(  # type: ignore[override]
        self,
        offset: int | None = None,
        limit: int | None = None,
        timeout: int | None = None,  # noqa: ASYNC109 (the Bot API's long-poll parameter)
        allowed_updates: Sequence[str] | None = None,
        *,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
        api_kwargs: Any = None,
    ) -> tuple[Update, ...]:
        # Updates fetched are acknowledged to Telegram: keep the backlog small, so a stop
        # can always finish it, and let Telegram hold the rest meanwhile.
        while self._full():  # noqa: ASYNC110 (a queue has no "shorter" event)
            await asyncio.sleep(0.1)
        try:
            return await self._fetch(
                offset,
                limit,
                timeout,
                allowed_updates,
                read_timeout,
                write_timeout,
                connect_timeout,
                pool_timeout,
                api_kwargs,
            )
        except InvalidToken:
            # While running, a 401 may come from a proxy or a passing fault; giving up
            # would leave a process that never fetches again. Back off and keep trying;
            # the health check reports it meanwhile.
            raise TelegramError("Telegram rejected the token (401); retrying") from None
        except TelegramError:
            raise
        except Exception as error:
            # Anything else would make PTB's updater log a traceback and retry at once,
            # forever; as a TelegramError it is one line and the loop backs off.
            raise TelegramError(
                f"unexpected {type(error).__name__} while fetching updates"
            ) from None

    async def _fetch(
        self,
        offset: int | None,
        limit: int | None,
        timeout: Any,  # noqa: ASYNC109 (the Bot API's long-poll parameter)
        allowed_updates: Sequence[str] | None,
        read_timeout: Any,
        write_timeout: Any,
        connect_timeout: Any,
        pool_timeout: Any,
        api_kwargs: Any,
    ) -> tuple[Update, ...]:
        if offset is not None and offset <= self._skip_through:
            offset = self._skip_through + 1  # a skipped update ended the last batch
        data = {
            "timeout": timeout,
            "offset": offset,
            "limit": limit,
            "allowed_updates": allowed_updates,
        }
        base = read_timeout if isinstance(read_timeout, int | float) else 5.0
        if isinstance(timeout, dt.timedelta):
            timeout = timeout.total_seconds()
        try:
            raw = await self._post(
                "getUpdates",
                data,
                read_timeout=base + (timeout or 0),
                api_kwargs=api_kwargs,
                # None would mean "wait forever": PTB's request defaults apply instead. The
                # last getUpdates at a stop waited forever for the pool's one connection.
                **{
                    name: value
                    for name, value in (
                        ("write_timeout", write_timeout),
                        ("connect_timeout", connect_timeout),
                        ("pool_timeout", pool_timeout),
                    )
                    if value is not None
                },
            )
        except NetworkError as error:
            if self._outage_since is None:
                self._outage_since = time.monotonic()
                log.warning("cannot reach Telegram (%s); retrying with backoff", describe(error))
            raise
        if self._outage_since is not None:
            log.info("reached Telegram again after %.0fs", time.monotonic() - self._outage_since)
            self._outage_since = None
        self._last_fetch = time.time()
        updates = []
        for item in raw if isinstance(raw, list) else []:
            update = self._parse(item)
            if update is not None:
                self.insert_callback_data(update)
                updates.append(update)
        return tuple(updates)

    def watch_intake(self, full: Callable[[], bool]) -> None:
        """What says the bot has taken in as much as it may before handling it."""
        self._full = full

    @property
    def last_fetch(self) -> float | None:
        """When getUpdates last succeeded (wall clock), for the health check."""
        return self._last_fetch

    def _parse(self, item: Any) -> Update | None:
        try:
            if not isinstance(item, dict) or type(item.get("update_id")) is not int:
                raise TypeError("update_id is not a number")
            return Update.de_json(item, self)
        except Exception as error:
            fields = item if isinstance(item, dict) else {}
            update_id = fields.get("update_id")
            kind = next((k for k in fields if k != "update_id"), "?")
            log.warning(
                "skipped update %s (%s) that this version cannot read: %s",
                update_id,
                kind,
                type(error).__name__,
            )
            if type(update_id) is int:
                self._skip_through = max(self._skip_through, update_id)
            return None

    def polling_error(self, error: TelegramError) -> None:
        """PTB's polling loop reports errors here (it backs off by itself)."""
        serious = kind = None
        if isinstance(error, Conflict):
            serious = "another process is fetching updates with this token (Conflict); stop it"
            kind = "another process uses this bot's token"
        elif "rejected the token" in error.message:
            serious = "Telegram rejected the token (401); check TELEGRAM_BOT_TOKEN"
            kind = "Telegram rejected the token while running"
        if serious is not None:
            now = time.monotonic()
            if now - self._conflict_logged >= CONFLICT_LOG_EVERY:
                self._conflict_logged = now
                log.error("%s. Retrying with backoff.", serious, extra={"alert": kind})
        elif not isinstance(error, NetworkError):
            log.warning("fetching updates failed: %s", describe(error))


def describe(error: Exception) -> str:
    return f"{type(error).__name__}: {getattr(error, 'message', '')}".rstrip(": ")
