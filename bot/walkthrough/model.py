"""The walkthrough's vocabulary: a user's progress, the actions they can take, and the
screens they see. Plain frozen data; no transport, no storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, StrEnum

from bot.markup import Markup


class View(StrEnum):
    STEP = "step"  # reading a step
    SUMMARY = "summary"  # the summary after a part's checklist
    FINISHED = "finished"  # the end of the guide


@dataclass(frozen=True)
class Progress:
    """Where an acknowledged (18+) user is. `None` stands for a user with nothing stored."""

    step_id: str
    step_index: int = 0  # the step's index in its part when saved: finds a removed step's heir
    view: View = View.STEP
    ticked: frozenset[str] = frozenset()  # checklist items answered "yes"
    seen_parts: frozenset[str] = frozenset()
    reviewing: bool = False  # next/back move among the open items of the current checklist
    finished: bool = False  # reached the end of the guide at least once
    tidy: bool = False  # keep only the current step in the chat (a privacy setting)
    not_yet: frozenset[str] = frozenset()  # checklist items answered "not yet"
    language: str = "en"  # the guide's language for this user, a two-letter code
    # the destructive confirmation shown last and still open, as "<verb>:<token>": only a
    # button carrying that token acts (an old one on screen asks anew)
    pending: str | None = None

    def answer(self, step_id: str) -> bool | None:
        """The user's answer to a checklist item: yes, not yet (False), or none."""
        if step_id in self.ticked:
            return True
        return False if step_id in self.not_yet else None


class Verb(StrEnum):
    # first contact
    START = "start"
    CONFIRM = "confirm"
    UNDERAGE = "underage"
    # moving through the guide; these carry the step id they were shown on
    NEXT = "next"
    BACK = "back"
    YES = "yes"  # a checklist item's answer; moves on
    NOT_YET = "not_yet"  # the other answer; moves on too
    # anywhere
    RESUME = "resume"
    MENU = "menu"
    JUMP = "jump"  # target: a part id
    REVIEW = "review"  # target: a part id
    PROGRESS = "progress"
    RESOURCES = "resources"
    HELP = "help"
    PRIVACY = "privacy"
    RESTART = "restart"
    RESTART_CONFIRM = "restart_yes"
    DELETE = "delete"
    DELETE_CONFIRM = "delete_yes"
    CANCEL = "cancel"
    REMIND = "remind"  # offer reminder choices
    REMIND_SET = "remind_set"  # target: a key of REMINDER_DELAYS, or "off"
    HIDE = "hide"  # clear the chat, keep the progress
    CHECKLIST = "checklist"  # send both checklists with their answers, to keep
    SAFETY = "safety"  # the safety essentials, at any time
    LANGUAGE = "language"  # list the languages
    SET_LANGUAGE = "set_language"  # target: a language code
    TIDY = "tidy"  # switch "keep only the current step in the chat" on or off
    UNKNOWN = "unknown"  # a button this version does not know (old or forged): stale


STEP_VERBS = frozenset({Verb.NEXT, Verb.BACK, Verb.YES, Verb.NOT_YET})
ANSWER_VERBS = frozenset({Verb.YES, Verb.NOT_YET})
PART_VERBS = frozenset({Verb.JUMP, Verb.REVIEW})
# destructive confirmations: their buttons carry a one-time token (older ones carry none)
CONFIRM_VERBS = frozenset({Verb.RESTART_CONFIRM, Verb.DELETE_CONFIRM})
# CONFIRM names the language of the welcome it was tapped on: the newcomer's language
TARGET_VERBS = STEP_VERBS | PART_VERBS | {Verb.REMIND_SET, Verb.SET_LANGUAGE, Verb.CONFIRM}

DAY = 24 * 3600
# reminder choice → (delay in seconds, its button in messages.toml [reminder])
REMINDER_CHOICES = {
    "1d": (DAY, "tomorrow"),
    "3d": (3 * DAY, "in_3_days"),
    "7d": (7 * DAY, "in_a_week"),
}
REMINDER_OFF = "off"


@dataclass(frozen=True)
class Action:
    verb: Verb
    target: str | None = None  # a step id for STEP_VERBS, a part id for PART_VERBS


@dataclass(frozen=True)
class Button:
    label: str
    action: Action
    primary: bool = False  # the natural way forward; a front end may make it the default


@dataclass(frozen=True)
class Screen:
    text: Markup
    rows: tuple[tuple[Button, ...], ...] = ()
    notice: str | None = None  # a short pop-up, e.g. "Saved"
    in_place: bool = False  # an update of the screen the user acted on, not a new one

    @property
    def empty(self) -> bool:
        """Nothing to send (the quick exit leaves the chat clear); a notice may remain."""
        return not self.text

    @property
    def buttons(self) -> tuple[Button, ...]:
        return tuple(button for row in self.rows for button in row)

    @property
    def primary(self) -> Button | None:
        return next((button for button in self.buttons if button.primary), None)


class Effect(Enum):
    NONE = "none"
    FORGET = "forget"  # erase everything stored about the user


@dataclass(frozen=True)
class ReminderChange:
    delay: int | None  # seconds from now; None cancels the user's reminder


@dataclass(frozen=True)
class Outcome:
    progress: Progress | None
    screen: Screen
    effect: Effect = field(default=Effect.NONE)
    reminder: ReminderChange | None = None
    clear_chat: bool = False  # remove the chat's messages, as far as Telegram allows
    # shown instead of `screen` if the chat could not be cleared completely
    if_left: Screen | None = None
