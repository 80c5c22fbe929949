"""Alerts to the operators: an ERROR also reaches each admin as a short message, at most
one per kind per 15 minutes, never with a user's id or words."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from telegram import Bot

from bot.alerts import EVERY, Alerts
from bot.config import Settings
from bot.content import Guide
from bot.store import StoreUnavailable
from tests.helpers import FakeClock
from tests.offline import OfflineBotAPI
from tests.telegram_helpers import running

ADMIN, OTHER_ADMIN, USER = 42, 43, 987_654_321


def alerts_to(api: OfflineBotAPI, admin: int) -> list[str]:
    return [c.text for c in api.to(admin, "sendMessage")]


async def test_one_alert_per_kind_per_quarter_hour_without_user_data() -> None:
    api = OfflineBotAPI()
    bot = Bot("1:x", request=api)
    await bot.initialize()
    clock = FakeClock()
    alerts = Alerts(bot, [ADMIN, OTHER_ADMIN], "/srv/g.sqlite3", asyncio.get_running_loop(), clock)
    log = logging.getLogger("bot.test_alerts")
    log.addHandler(alerts)
    try:
        log.error("handling an update for user %s failed: %s", USER, "my secret words")
        log.error("handling an update for user %s failed again", USER)  # same kind
        log.warning("only a warning")  # not an alert
        log.error("x", extra={"alert": "the database is failing"})  # another kind
        await alerts.settle()
        assert len(alerts_to(api, ADMIN)) == len(alerts_to(api, OTHER_ADMIN)) == 2
        first, second = alerts_to(api, ADMIN)
        assert "an error in bot.test_alerts" in first and "/srv/g.sqlite3" in first
        assert "the database is failing" in second and "UTC" in second
        assert all(str(USER) not in text and "secret" not in text for text in (first, second))
        clock.advance(EVERY)
        log.error("again, a quarter of an hour later", extra={"alert": "the database is failing"})
        await alerts.settle()
        assert len(alerts_to(api, ADMIN)) == 3
    finally:
        log.removeHandler(alerts)
        await bot.shutdown()


async def test_a_failing_store_alerts_the_admins_unless_turned_off(
    guide: Guide, db_path: Path
) -> None:
    for enabled, expected in ((True, 1), (False, 0)):
        async with running(guide, db_path, admin_ids=frozenset({ADMIN}), alerts=enabled) as chat:
            chat.gently.runtime.store_failed(StoreUnavailable("disk I/O error"))
            if chat.gently.alerts is not None:
                await chat.gently.alerts.settle()
            texts = alerts_to(chat.api, ADMIN)
            assert len(texts) == expected, texts
            assert all("the database is failing" in text for text in texts)


def test_alerts_are_on_unless_turned_off() -> None:
    assert Settings.from_env({}, env_file=None).alerts
    assert not Settings.from_env({"GENTLY_ALERTS": "off"}, env_file=None).alerts
