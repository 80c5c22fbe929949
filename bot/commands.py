"""The commands both front ends understand, with the descriptions Telegram shows."""

from __future__ import annotations

from bot.walkthrough import Verb

# name → (verb, description for Telegram's command menu), in menu order
COMMANDS: dict[str, tuple[Verb, str]] = {
    "start": (Verb.START, "Begin, or pick up where you left off"),
    "resume": (Verb.RESUME, "Back to where you were"),
    "menu": (Verb.MENU, "Jump to a part"),
    "progress": (Verb.PROGRESS, "How far you have come"),
    "resources": (Verb.RESOURCES, "Books, films and classes"),
    "privacy": (Verb.PRIVACY, "Exactly what is stored"),
    "delete": (Verb.DELETE, "Erase everything about you"),
    "restart": (Verb.RESTART, "Start the guide again"),
    "help": (Verb.HELP, "How this works"),
}
