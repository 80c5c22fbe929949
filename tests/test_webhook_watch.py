"""Webhook mode: Telegram's word on delivering to us, checked every few minutes."""

from __future__ import annotations

import logging

import pytest
from telegram import Bot

from bot.telegram.webhook_watch import CHECK_EVERY, WebhookWatch
from tests.helpers import FakeClock
from tests.offline import OfflineBotAPI


async def test_a_new_delivery_error_is_one_warning_and_unhealthy_while_updates_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api, clock = OfflineBotAPI(), FakeClock()
    watch = WebhookWatch(Bot("1:x", request=api), clock)
    await watch.check_if_due()
    assert watch.problem is None
    clock.advance(60)
    api.webhook_info.update(
        last_error_date=int(clock()) - 30,  # after this process started
        last_error_message="Connection refused",
        pending_update_count=12,
    )
    with caplog.at_level(logging.WARNING):
        clock.advance(CHECK_EVERY)
        await watch.check_if_due()
        assert watch.problem == (
            "Telegram cannot deliver to the webhook (Connection refused); 12 update(s) waiting"
        )
        clock.advance(CHECK_EVERY / 3)
        await watch.check_if_due()  # not due: Telegram is not asked
        clock.advance(CHECK_EVERY * 2 / 3)
        await watch.check_if_due()  # the same error again: no second line
        assert watch.problem is not None
    lines = [r for r in caplog.records if "could not deliver to the webhook" in r.getMessage()]
    assert len(lines) == 1 and "Connection refused" in lines[0].getMessage()
    api.webhook_info["pending_update_count"] = 0  # delivered since
    clock.advance(CHECK_EVERY)
    await watch.check_if_due()
    assert watch.problem is None
    assert sum(c.method == "getWebhookInfo" for c in api.calls) == 4


async def test_an_error_from_before_the_start_is_history(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A restart must not warn (and alert) again about an error the last process saw, nor
    call the new one unhealthy for it."""
    api, clock = OfflineBotAPI(), FakeClock()
    api.webhook_info.update(
        last_error_date=int(clock()) - 3 * 24 * 3600,
        last_error_message="Connection refused",
        pending_update_count=5,
    )
    watch = WebhookWatch(Bot("1:x", request=api), clock)
    with caplog.at_level(logging.WARNING):
        await watch.check_if_due()
    assert watch.problem is None
    assert not [r for r in caplog.records if "could not deliver" in r.getMessage()]
