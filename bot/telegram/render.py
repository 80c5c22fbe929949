"""A walkthrough screen as Telegram message text and inline keyboard."""

from __future__ import annotations

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
