"""What content/messages.toml must contain: every key, its format and its placeholders."""

from __future__ import annotations

from enum import Enum


class MessageFormat(Enum):
    HTML = "html"  # Telegram HTML, checked like the guide
    PLAIN = "plain"  # button labels and pop-up notices: no markup at all


H, P = MessageFormat.HTML, MessageFormat.PLAIN


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
            "privacy": (),
            "help": (),
            "menu": (),
            "welcome_back": (
                "part_number",
                "part_count",
                "part_title",
                "step_number",
                "step_count",
            ),
            "progress": ("overview",),
            "checklist_summary": ("title", "ticked", "total"),
            "checklist_all_ticked": (),
            "checklist_unticked": ("unticked",),
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
            "tick": (),
            "untick": (),
            "skip": (),
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
        },
    ),
    "notices": _keys(
        P,
        {
            "stale": (),
            "ticked": (),
            "unticked": (),
            "saved": (),
            "hidden": (),
            "tidy_on": (),
            "tidy_off": (),
        },
    ),
    "reminder": {
        **_keys(H, {"text": (), "offer": (), "set": ("when",), "off": (), "pending": ("when",)}),
        **_keys(
            P, {"continue": (), "tomorrow": (), "in_3_days": (), "in_a_week": (), "no_thanks": ()}
        ),
    },
}

MAX_LABEL_CHARS = {"buttons": 40, "notices": 200, "reminder": 40}

# Reminder texts can pop up on a lock screen unasked, so none of these may appear there.
DISCREET_TABLE = "reminder"
EXPLICIT_WORDS = frozenset(
    [
        "anal",
        "anus",
        "arse",
        "ass",
        "bottom",
        "bottoms",
        "bum",
        "bums",
        "butt",
        "butts",
        "booty",
        "sex",
        "sexual",
        "sexy",
        "lube",
        "lubricant",
        "prostate",
        "penis",
        "vagina",
        "condom",
        "condoms",
        "toy",
        "toys",
        "vibrator",
        "dildo",
        "orgasm",
        "peg",
        "pegging",
        "strap",
        "naked",
        "nude",
        "fetish",
        "kink",
        "kinky",
        "intimacy",
        "intimate",
        "erotic",
        "porn",
        "pleasure",
    ]
)
