"""The commands both front ends understand, with the descriptions Telegram shows."""

from __future__ import annotations

from bot.walkthrough import REMINDER_OFF, Action, Verb

# name → (verb, description for Telegram's command menu), in menu order
COMMANDS: dict[str, tuple[Verb, str]] = {
    "start": (Verb.START, "Begin, or pick up where you left off"),
    "resume": (Verb.RESUME, "Back to where you were"),
    "menu": (Verb.MENU, "Jump to a part"),
    "progress": (Verb.PROGRESS, "How far you have come"),
    "resources": (Verb.RESOURCES, "Books, films and classes"),
    "safety": (Verb.SAFETY, "The safety essentials in one place"),
    "remind": (Verb.REMIND, "A gentle reminder to come back (/remind off to stop)"),
    "hide": (Verb.HIDE, "Clear this chat now; your place is kept"),
    "privacy": (Verb.PRIVACY, "What is stored, and your privacy settings"),
    "delete": (Verb.DELETE, "Erase everything about you"),
    "restart": (Verb.RESTART, "Start the guide again"),
    "help": (Verb.HELP, "How this works"),
}


def command_action(text: str) -> Action | None:
    """The action a typed command stands for ("/menu", "/remind off", "/start@bot x")."""
    words = text.strip().split()
    if not words or not words[0].startswith("/"):
        return None
    name = words[0][1:].split("@", 1)[0].lower()
    if name not in COMMANDS:
        return None
    if name == "remind" and words[1:2] == [REMINDER_OFF]:
        return Action(Verb.REMIND_SET, REMINDER_OFF)
    return Action(COMMANDS[name][0])
