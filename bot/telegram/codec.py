"""Callback data: a small, versioned, prefixed format, far below Telegram's 64 bytes.

    g1:<code>[:<target>]      e.g. "g1:a:talk.lube" (yes), "g1:j:talk" (jump), "g1:m" (menu)

Destructive confirmations ("dy", "ry") carry a one-time token: "g1:dy:3f9a0c1e".

Codes retired with an older version ("t", "x", "k": tick, untick, skip) decode to None, so
their buttons get the stale-button answer.

Anything else (an older format, a typo, forged data) decodes to None.
"""

from __future__ import annotations

import re

from bot.walkthrough import CONFIRM_VERBS, TARGET_VERBS, Action, Verb

PREFIX = "g1"
MAX_BYTES = 64
_CODES: dict[Verb, str] = {
    Verb.START: "st",
    Verb.CONFIRM: "c",
    Verb.UNDERAGE: "u",
    Verb.NEXT: "n",
    Verb.BACK: "b",
    Verb.YES: "a",
    Verb.NOT_YET: "an",
    Verb.RESUME: "r",
    Verb.MENU: "m",
    Verb.JUMP: "j",
    Verb.REVIEW: "v",
    Verb.PROGRESS: "p",
    Verb.RESOURCES: "o",
    Verb.HELP: "h",
    Verb.PRIVACY: "y",
    Verb.RESTART: "rs",
    Verb.RESTART_CONFIRM: "ry",
    Verb.DELETE: "d",
    Verb.DELETE_CONFIRM: "dy",
    Verb.CANCEL: "z",
    Verb.REMIND: "rm",
    Verb.REMIND_SET: "R",
    Verb.HIDE: "hd",
    Verb.TIDY: "td",
    Verb.CHECKLIST: "ck",
    Verb.SAFETY: "sf",
    Verb.LANGUAGE: "lg",
    Verb.SET_LANGUAGE: "L",
}
_VERBS = {code: verb for verb, code in _CODES.items()}
_TARGET = re.compile(r"^[a-z0-9][a-z0-9.-]{0,47}$")


def encode(action: Action) -> str:
    if action.verb not in _CODES:
        raise ValueError(f"{action.verb} has no button")  # UNKNOWN is what decoding gives up to
    data = f"{PREFIX}:{_CODES[action.verb]}"
    if action.target is not None:
        data += f":{action.target}"
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data too long: {data!r}")
    return data


def decode(data: str | None) -> Action | None:
    """The action a button stands for, or None for anything unknown or malformed."""
    try:
        if not data or len(data.encode()) > MAX_BYTES:
            return None
    except UnicodeError:  # e.g. a lone surrogate: not something we ever sent
        return None
    prefix, _, rest = data.partition(":")
    code, _, target = rest.partition(":")
    verb = _VERBS.get(code)
    if prefix != PREFIX or verb is None:
        return None
    # a confirmation's token is optional: a button from before tokens asks anew
    needs_target = verb in TARGET_VERBS
    if (needs_target != bool(target) and verb not in CONFIRM_VERBS) or (
        target and not _TARGET.match(target)
    ):
        return None
    return Action(verb, target or None)
