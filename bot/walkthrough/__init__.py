"""The walkthrough: pure domain logic, (guide, progress, action) → (progress, screen).

Nothing here knows about Telegram, SQL or any other I/O.
"""

from bot.walkthrough.engine import begin, handle, resolve
from bot.walkthrough.model import (
    ANSWER_VERBS,
    CONFIRM_VERBS,
    PART_VERBS,
    REMINDER_CHOICES,
    REMINDER_OFF,
    STEP_VERBS,
    TARGET_VERBS,
    Action,
    Button,
    Effect,
    Outcome,
    Progress,
    ReminderChange,
    Screen,
    Verb,
    View,
)

__all__ = [
    "ANSWER_VERBS",
    "CONFIRM_VERBS",
    "PART_VERBS",
    "REMINDER_CHOICES",
    "REMINDER_OFF",
    "STEP_VERBS",
    "TARGET_VERBS",
    "Action",
    "Button",
    "Effect",
    "Outcome",
    "Progress",
    "ReminderChange",
    "Screen",
    "Verb",
    "View",
    "begin",
    "handle",
    "resolve",
]
