"""The walkthrough: pure domain logic, (guide, progress, action) → (progress, screen).

Nothing here knows about Telegram, SQL or any other I/O.
"""

from bot.walkthrough.engine import begin, handle, resolve
from bot.walkthrough.model import (
    PART_VERBS,
    STEP_VERBS,
    Action,
    Button,
    Effect,
    Outcome,
    Progress,
    Screen,
    Verb,
    View,
)

__all__ = [
    "PART_VERBS",
    "STEP_VERBS",
    "Action",
    "Button",
    "Effect",
    "Outcome",
    "Progress",
    "Screen",
    "Verb",
    "View",
    "begin",
    "handle",
    "resolve",
]
