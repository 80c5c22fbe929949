"""Driving the real Application over the offline Bot API, as a user would."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from telegram import Update
from telegram.ext import Application

from bot.config import Settings
from bot.content import Guide, Guides
from bot.store import Store
from bot.telegram.app import Gently, create_gently
from bot.telegram.budget import Limits
from tests.helpers import FakeClock, as_guides
from tests.offline import Call, OfflineBotAPI, Updates

TOKEN = "123456:TEST-token-never-printed"
# The real send scheduler, with limits no test reaches: its lanes and claims are exercised,
# and no test waits for Telegram's pace.
UNLIMITED = Limits(
    per_second=10**9,
    chat_per_second=1e9,
    chat_burst=1e9,
    group_per_second=1e9,
    group_burst=1e9,
)


@dataclass
class Chat:
    """One running bot, and the means to talk to it."""

    gently: Gently
    api: OfflineBotAPI
    updates: Updates
    clock: FakeClock
    settings: Settings
    processed: list[Update] = field(default_factory=list)
    typed: dict[int, list[int]] = field(default_factory=dict)  # the users' own messages

    async def send(self, update: Update) -> None:
        """Handle one update to the end, background calls (clearing old buttons) included."""
        if update.message is not None:
            self.typed.setdefault(update.message.chat.id, []).append(update.message.message_id)
        await self.app.process_update(update)
        await self.gently.delivery.settle()

    async def command(self, user: int, text: str) -> None:
        await self.send(self.updates.command(user, text))

    async def begin(self, user: int) -> None:
        """/start, then confirm 18+: the user is at the guide's first step."""
        await self.command(user, "/start")
        await self.press(user, self.gently.guides.reference.messages.button("confirm_adult"))

    @property
    def app(self) -> Application:  # type: ignore[type-arg]
        return self.gently.app

    @property
    def store(self) -> Store:
        return self.gently.store

    async def tap_old(self, user: int, button: tuple[Call, str]) -> None:
        """Tap a button on an older message, as a user scrolling up would."""
        call, data = button
        assert call.message_id is not None
        await self.send(self.updates.tap(user, data, call.message_id))

    def last_with_button(self, user: int, label: str) -> tuple[Call, str]:
        for call in reversed(self.api.to(user)):
            for text, data in call.buttons:
                if text == label or text.endswith(label):
                    return call, data
        raise AssertionError(f"no message to {user} has a button {label!r}")

    async def press(self, user: int, label: str) -> None:
        """Tap the button with this label on the newest message that has one."""
        call, data = self.last_with_button(user, label)
        assert call.message_id is not None
        await self.send(self.updates.tap(user, data, call.message_id))

    def last_text(self, user: int) -> str:
        texts = [
            c.text for c in self.api.to(user) if c.method in ("sendMessage", "editMessageText")
        ]
        return texts[-1] if texts else ""

    def deleted(self, user: int) -> list[int]:
        calls = self.api.to(user, "deleteMessages")
        return [i for call in calls if not call.failed for i in message_ids(call)]

    def in_chat(self, user: int) -> set[int]:
        """The messages the user's chat holds now: both sides', minus the deleted ones."""
        sent = {c.message_id for c in self.api.to(user, "sendMessage") if c.message_id}
        return (sent | set(self.typed.get(user, []))) - set(self.deleted(user))

    def answers(self) -> list[Call]:
        return [c for c in self.api.calls if c.method == "answerCallbackQuery"]


def message_ids(call: Call) -> list[int]:
    ids = call.params["message_ids"]
    return [int(i) for i in (json.loads(ids) if isinstance(ids, str) else ids)]


def settings_for(db: Path, **extra: object) -> Settings:
    return Settings(token=TOKEN, db_path=db, **extra)  # type: ignore[arg-type]


@asynccontextmanager
async def running(
    guides: Guide | Guides,
    db: Path,
    clock: FakeClock | None = None,
    api: OfflineBotAPI | None = None,
    limits: Limits = UNLIMITED,
    **settings: object,
) -> AsyncIterator[Chat]:
    """The bot as `run` serves it (store, initialize, start), minus polling."""
    api = api or OfflineBotAPI()
    clock = clock or FakeClock()
    config = settings_for(db, **settings)
    gently = await create_gently(
        config, as_guides(guides), request=api, clock=clock, limits=limits, reminder_loop=False
    )
    await gently.app.initialize()
    await gently.start()
    await gently.app.start()
    try:
        yield Chat(gently, api, Updates(gently.app.bot), clock, config)
    finally:
        await gently.app.stop()
        await gently.app.shutdown()
        await gently.close()
    assert api.unexpected == [], f"unexpected Bot API methods: {api.unexpected}"
