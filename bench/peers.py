"""The approaches a Python developer would otherwise pick, on the same walkthrough engine
and with the same Bot API calls per update as Gently (answer the query, send the next step,
clear the previous keyboard; or edit in place), written the usual PTB way:

- `pickle`: PTB's ConversationHandler + PicklePersistence with its default 60 s flush
  (not durable: a crash loses up to a minute of every user's progress);
- `pickle-flush`: the same, flushed after every update (durable, like Gently);
- `naive`: Gently's handlers over aiosqlite with a SELECT, an UPSERT and a COMMIT per
  update and no cache, as a first version usually does.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    PicklePersistence,
)
from telegram.request import BaseRequest

from bot.content import Guide
from bot.store import Store
from bot.telegram.app import DEFAULTS
from bot.telegram.codec import decode
from bot.telegram.render import keyboard
from bot.walkthrough import Action, Progress, Verb, handle

WALK = 1
CONVERSATION = "walk"


class NaiveStore(Store):
    """SELECT + UPSERT + COMMIT per update, on a connection with implicit transactions."""

    @classmethod
    async def open(cls, path: Path, **kwargs: object) -> NaiveStore:  # type: ignore[override]
        import aiosqlite

        store = await super().open(path)
        await store._db.close()
        store._db = await aiosqlite.connect(path)  # default: implicit BEGIN before writes
        await store._db.execute("PRAGMA journal_mode = WAL")
        return store  # type: ignore[return-value]

    async def save(self, user_id: int, progress: Progress, now: int) -> None:
        await super().save(user_id, progress, now)
        await self._db.commit()


def write_pickle(path: Path, users: range, progress: Progress) -> None:
    """The file PicklePersistence would have written for these users."""
    data = {
        "conversations": {CONVERSATION: {(uid, uid): WALK for uid in users}},
        "user_data": {uid: {"progress": progress} for uid in users},
        "chat_data": {},
        "bot_data": {},
        "callback_data": None,
    }
    with path.open("wb") as file:
        pickle.dump(data, file, protocol=pickle.HIGHEST_PROTOCOL)


def build_pickle_peer(
    guide: Guide, path: Path, request: BaseRequest, processor: BaseUpdateProcessor, token: str
) -> Application:  # type: ignore[type-arg]
    persistence = PicklePersistence(filepath=path)  # update_interval=60, the default
    app = (
        ApplicationBuilder()
        .token(token)
        .request(request)
        .get_updates_request(request)
        .persistence(persistence)
        .defaults(DEFAULTS)  # the same parse mode and options as Gently's requests
        .concurrent_updates(processor)
        .build()
    )

    async def step(update: Update, context: ContextTypes.DEFAULT_TYPE, action: Action) -> int:
        assert update.effective_user is not None and context.user_data is not None
        outcome = handle(guide, context.user_data.get("progress"), action)
        if outcome.progress is None:
            context.user_data.pop("progress", None)
        else:
            context.user_data["progress"] = outcome.progress
        query, screen = update.callback_query, outcome.screen
        if query is not None:
            await query.answer(screen.notice)
            if screen.in_place:
                await query.edit_message_text(screen.text, reply_markup=keyboard(screen))
                return WALK
            await query.edit_message_reply_markup(None)
        await context.bot.send_message(
            update.effective_user.id, screen.text, reply_markup=keyboard(screen)
        )
        return WALK

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        return await step(update, context, Action(Verb.START))

    async def tap(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        data = update.callback_query.data if update.callback_query else None
        return await step(update, context, decode(data) or Action(Verb.RESUME))

    app.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("start", start)],
            states={WALK: [CallbackQueryHandler(tap), CommandHandler("start", start)]},
            fallbacks=[],
            name=CONVERSATION,
            persistent=True,
        )
    )
    return app
