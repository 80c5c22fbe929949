"""What content/messages.toml must contain: every key, its format and its placeholders."""

from __future__ import annotations

from enum import Enum


class MessageFormat(Enum):
    HTML = "html"  # Telegram HTML, checked like the guide
    PLAIN = "plain"  # button labels and pop-up notices: no markup at all


H, P = MessageFormat.HTML, MessageFormat.PLAIN

# Every command the bot understands, in menu order (bot/commands.py maps them to verbs).
COMMAND_NAMES = (
    "start",
    "resume",
    "menu",
    "progress",
    "resources",
    "safety",
    "remind",
    "hide",
    "language",
    "privacy",
    "delete",
    "restart",
    "help",
)


def _keys(
    fmt: MessageFormat, spec: dict[str, tuple[str, ...]]
) -> dict[str, tuple[MessageFormat, frozenset[str]]]:
    return {key: (fmt, frozenset(fields)) for key, fields in spec.items()}


MESSAGE_SPEC: dict[str, dict[str, tuple[MessageFormat, frozenset[str]]]] = {
    "text": _keys(
        H,
        {
            "welcome": (),
            "under18": (),
            "privacy": ("language",),
            "languages": (),
            "help": (),
            "menu": (),
            "safety": ("essentials",),
            "step_header": (
                "part_number",
                "part_count",
                "part_title",
                "step_number",
                "step_count",
            ),
            "your_answer": ("answer",),
            "welcome_back": ("where",),
            "welcome_back_finished": (),
            "progress": ("overview", "where"),
            "progress_done": (),
            "progress_line": ("mark", "number", "title"),
            "progress_line_checklist": ("mark", "number", "title", "yes", "total"),
            "checklist_summary": ("title", "yes", "total"),
            "checklist_all_yes": (),
            "checklist_open": ("open",),
            "checklist_hold": ("items",),
            "my_checklists": ("checklists",),
            "finished": (),
            "resources": ("resources",),
            "restart_confirm": (),
            "delete_confirm": (),
            "deleted": (),
            "deleted_leftovers": (),
            "nothing_stored": (),
            "use_buttons": (),
            "unknown_command": (),
            "private_only": ("link",),
            "error": (),
            "store_down": (),
            "cancelled": (),
        },
    ),
    "buttons": _keys(
        P,
        {
            "confirm_adult": (),
            "under18": (),
            "next": (),
            "back": (),
            "menu": (),
            "continue": (),
            "resources": (),
            "progress": (),
            "restart": (),
            "restart_yes": (),
            "delete_yes": (),
            "cancel": (),
            "review": (),
            "part": ("number", "title"),
            "remind": (),
            "finish": (),
            "hide": (),
            "tidy_on": (),
            "tidy_off": (),
            "delete": (),
            "checklist": (),
            "safety": (),
            "language": (),
        },
    ),
    "notices": _keys(
        P,
        {
            "stale": (),
            "welcome_first": (),
            "confirm_again": (),
            "hidden": (),
            "tidy_on": (),
            "tidy_off": (),
            "language_set": (),
        },
    ),
    "reminder": {
        **_keys(H, {"text": (), "offer": (), "set": ("when",), "off": (), "nothing_left": ()}),
        **_keys(
            P, {"continue": (), "tomorrow": (), "in_3_days": (), "in_a_week": (), "no_thanks": ()}
        ),
    },
    # The bot's Telegram profile: shown in an empty chat before Start, and in its profile
    # and share previews. Plain text; set at start-up.
    "profile": _keys(P, {"description": (), "short_description": ()}),
    # This language's name in itself ("Español"), for /language.
    "language": _keys(P, {"name": ()}),
    # Telegram's command menu, registered per language: one description per command.
    "commands": _keys(P, dict.fromkeys(COMMAND_NAMES, ())),
}

# Telegram's limits for plain texts, and for buttons what a narrow phone shows uncut: a
# button alone on its row keeps about 32 characters, one of two or three about 16.
MAX_LABEL_CHARS = {
    "buttons": 32,
    "notices": 200,
    "reminder": 32,
    "profile": 512,
    "language": 32,
    "commands": 256,
}
MAX_PROFILE_CHARS = {"description": 512, "short_description": 120}
SHARED_ROW_BUTTONS = frozenset(
    {"back", "menu", "remind", "progress", "resources", "restart", "language", "hide"}
)
MAX_SHARED_ROW_CHARS = 16
MAX_ANSWER_CHARS = 16  # a checklist's two answers share a row

# Reminder texts (and the short profile description) can show on a lock screen or in a
# preview unasked; each language lists the words refused there in
# content/<lang>/lock-screen.toml.
DISCREET_TABLE = "reminder"
MIN_LOCK_SCREEN_WORDS = 20  # a list shorter than this cannot be a serious one
