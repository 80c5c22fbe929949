"""A walkthrough screen as Telegram message text and inline keyboard."""

from __future__ import annotations

import json
import zlib

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.codec import encode
from bot.walkthrough import Screen


def keyboard(screen: Screen) -> InlineKeyboardMarkup | None:
    if not screen.rows:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.label, callback_data=encode(b.action)) for b in row]
            for row in screen.rows
        ]
    )


def fingerprint(text: str, markup: InlineKeyboardMarkup | None) -> int:
    """What a message shows, as a number (CRC-32 of its text and buttons): the ledger keeps
    it, never the text, so an edit to what a message already shows is never sent."""
    buttons = json.dumps(markup.to_dict() if markup else None, sort_keys=True)
    return zlib.crc32(f"{text}\0{buttons}".encode())
