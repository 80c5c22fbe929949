"""A testing aid, never used by `run`: an offline Bot API and update factories, for the
tests and the benchmark.

`OfflineBotAPI` is a `BaseRequest`: PTB's real Bot, Application and handlers run on top of
it, but nothing leaves the process. It answers the methods Gently uses, records every
call, fails loudly on anything else, and can hold, slow down or fail calls on purpose.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from telegram import Bot, Update
from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

BOT_USER = {
    "id": 4242,
    "is_bot": True,
    "first_name": "Gently",
    "username": "gently_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
TRUE_METHODS = {
    "answerCallbackQuery",
    "setMyCommands",
    "deleteMyCommands",
    "deleteMessages",
    "setMyDescription",
    "setMyShortDescription",
    "leaveChat",
    "setWebhook",
    "deleteWebhook",
    "close",
    "logOut",
}
PROFILE_METHODS = {  # method → (the field it sets or reads, whether it sets it)
    "setMyCommands": ("commands", True),
    "getMyCommands": ("commands", False),
    "setMyDescription": ("description", True),
    "getMyDescription": ("description", False),
    "setMyShortDescription": ("short_description", True),
    "getMyShortDescription": ("short_description", False),
}
MESSAGE_METHODS = {"sendMessage", "editMessageText", "editMessageReplyMarkup"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    message_id: int | None = None  # of the message a send or edit returned
    failed: bool = False  # answered with an error on purpose (see `fail`)
    # the order of events: when the call was made and when its answer came back
    made: int = 0
    answered: int | None = None

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback data) of every inline button, in order."""
        markup = self.params.get("reply_markup") or {}
        if isinstance(markup, str):
            markup = json.loads(markup)
        return [
            (b["text"], b.get("callback_data", ""))
            for row in markup.get("inline_keyboard", [])
            for b in row
        ]


class OfflineBotAPI(BaseRequest):
    def __init__(self, latency: float = 0.0, record: bool = True) -> None:
        self.calls: list[Call] = []
        self.unexpected: list[str] = []
        self.latency = latency
        self.record = record
        self._ids = itertools.count(1000)
        self._events = itertools.count()
        self._changed = asyncio.Event()
        self._holds: dict[int, asyncio.Event] = {}
        self._failures: dict[tuple[str, int | None], tuple[int, str]] = {}
        self._timeouts: set[tuple[str, int | None]] = set()
        self.count = 0
        self.webhook_info: dict[str, Any] = {  # what getWebhookInfo answers
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }
        # what the bot's profile shows, as Telegram keeps it: (field, language) → value
        self.profile: dict[tuple[str, str | None], Any] = {}

    # -- BaseRequest -------------------------------------------------------------------

    @property
    def read_timeout(self) -> float | None:
        return 10.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        call = Call(name, params, made=next(self._events))
        self.count += 1
        if self.record:
            self.calls.append(call)
        self._changed.set()
        self._changed = asyncio.Event()
        if call.chat_id in self._holds and name == "sendMessage":
            await self._holds[call.chat_id].wait()
        if self.latency:
            await asyncio.sleep(self.latency)  # the simulated network round trip
        if (name, call.chat_id) in self._timeouts:
            call.failed = True
            # as HTTPXRequest raises it: the request went out, no answer came back
            raise TimedOut("Timed out") from httpx.ReadTimeout("read timeout")
        failure = self._failures.get((name, call.chat_id)) or self._failures.get((name, None))
        call.answered = next(self._events)
        if failure:
            call.failed = True
            status, description = failure
            return status, json.dumps(
                {"ok": False, "error_code": status, "description": description}
            ).encode()
        return 200, json.dumps({"ok": True, "result": self._result(call)}).encode()

    def _result(self, call: Call) -> Any:
        if call.method == "getMe":
            return BOT_USER
        profile = PROFILE_METHODS.get(call.method)
        if profile is not None:
            name, setting = profile
            key = (name, call.params.get("language_code"))
            if setting:
                self.profile[key] = call.params[name]
                return True
            value = self.profile.get(key, [] if name == "commands" else "")
            return value if name == "commands" else {name: value}
        if call.method in TRUE_METHODS:
            return True
        if call.method == "getUpdates":
            return []
        if call.method == "getWebhookInfo":
            return self.webhook_info
        if call.method in MESSAGE_METHODS:
            message_id = call.params.get("message_id") or next(self._ids)
            call.message_id = int(message_id)
            return {
                "message_id": int(message_id),
                "date": 0,
                "text": call.text,
                "chat": {"id": call.chat_id, "type": "private", "first_name": "U"},
            }
        self.unexpected.append(call.method)
        return True

    # -- controls for tests ------------------------------------------------------------

    def hold(self, chat_id: int) -> asyncio.Event:
        """Keep sendMessage to this chat waiting until the returned event is set."""
        self._holds[chat_id] = asyncio.Event()
        return self._holds[chat_id]

    def fail(self, method: str, status: int, description: str, chat_id: int | None = None) -> None:
        self._failures[(method, chat_id)] = (status, description)

    def time_out(self, method: str, chat_id: int) -> None:
        """Calls of `method` to this chat go out and never get an answer."""
        self._timeouts.add((method, chat_id))

    def clear_failures(self) -> None:
        self._failures.clear()
        self._timeouts.clear()

    async def wait_for(self, predicate: Callable[[list[Call]], bool], within: float = 10.0) -> None:
        """Wait until the recorded calls satisfy `predicate` (an event, not a sleep)."""
        async with asyncio.timeout(within):
            while not predicate(self.calls):
                await self._changed.wait()

    def to(self, chat_id: int, method: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.chat_id == chat_id and method in (None, c.method)]

    def sent_texts(self, chat_id: int) -> list[str]:
        return [c.text for c in self.to(chat_id, "sendMessage")]


class Updates:
    """Factories for the updates Telegram would send, as real `Update` objects."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self.languages: dict[int, str] = {}  # user id → Telegram's language_code

    def _build(self, payload: dict[str, Any]) -> Update:
        update = Update.de_json({"update_id": next(self._update_ids), **payload}, self.bot)
        assert update is not None
        return update

    def user(self, user_id: int) -> dict[str, Any]:
        """A Telegram user; `languages` holds the language_code a test gave them."""
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": "Test"}
        if user_id in self.languages:
            user["language_code"] = self.languages[user_id]
        return user

    @staticmethod
    def chat(chat_id: int, kind: str = "private") -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id, "type": kind}
        if kind != "private":
            chat["title"] = "A group"
        return chat

    def message(
        self,
        user_id: int | None,
        text: str | None = None,
        *,
        chat_id: int | None = None,
        kind: str = "private",
        edited: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> Update:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": 0,
            "chat": self.chat(chat_id if chat_id is not None else user_id or 1, kind),
        }
        if user_id is not None:
            message["from"] = self.user(user_id)
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                length = len(text.split()[0])
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        message.update(extra or {})
        key = "edited_message" if edited else "message"
        if edited:
            message["edit_date"] = 1
        if kind == "channel":
            key = "channel_post"
        return self._build({key: message})

    def command(self, user_id: int, command: str) -> Update:
        return self.message(user_id, command)

    def sticker(self, user_id: int) -> Update:
        sticker = {
            "file_id": "s",
            "file_unique_id": "s",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        }
        return self.message(user_id, extra={"sticker": sticker})

    def blocked_by(self, user_id: int) -> Update:
        """The my_chat_member update Telegram sends when a user blocks the bot."""
        change = {
            "chat": self.chat(user_id),
            "from": self.user(user_id),
            "date": 0,
            "old_chat_member": {"user": BOT_USER, "status": "member"},
            "new_chat_member": {"user": BOT_USER, "status": "kicked", "until_date": 0},
        }
        return self._build({"my_chat_member": change})

    def unblocked_by(self, user_id: int) -> Update:
        """The my_chat_member update Telegram sends when a user unblocks the bot."""
        change = {
            "chat": self.chat(user_id),
            "from": self.user(user_id),
            "date": 0,
            "old_chat_member": {"user": BOT_USER, "status": "kicked", "until_date": 0},
            "new_chat_member": {"user": BOT_USER, "status": "member"},
        }
        return self._build({"my_chat_member": change})

    def tap(self, user_id: int, data: str, message_id: int = 1, *, kind: str = "private") -> Update:
        """A button press on message `message_id` in the user's chat."""
        message = {
            "message_id": message_id,
            "date": 0,
            "chat": self.chat(user_id, kind),
            "from": BOT_USER,
            "text": "…",
        }
        query = {
            "id": str(next(self._query_ids)),
            "from": self.user(user_id),
            "chat_instance": "ci",
            "data": data,
            "message": message,
        }
        return self._build({"callback_query": query})
