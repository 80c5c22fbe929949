"""The commands both front ends understand, with the descriptions Telegram shows."""

from __future__ import annotations

from bot.content.spec import COMMAND_NAMES
from bot.walkthrough import REMINDER_OFF, Action, Verb

# name → verb, in menu order; each language describes them in messages.toml [commands]
COMMANDS: dict[str, Verb] = {
    "start": Verb.START,
    "resume": Verb.RESUME,
    "menu": Verb.MENU,
    "progress": Verb.PROGRESS,
    "resources": Verb.RESOURCES,
    "safety": Verb.SAFETY,
    "remind": Verb.REMIND,
    "hide": Verb.HIDE,
    "language": Verb.LANGUAGE,
    "privacy": Verb.PRIVACY,
    "delete": Verb.DELETE,
    "restart": Verb.RESTART,
    "help": Verb.HELP,
}
assert tuple(COMMANDS) == COMMAND_NAMES, "bot/content/spec.py lists the same commands"


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
    return Action(COMMANDS[name])
