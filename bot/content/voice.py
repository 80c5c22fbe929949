"""Checks on how the guide reads, beyond what Telegram would accept: no two neighbouring
messages open alike or repeat a sentence, the ending is not said twice, one narrator."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from html import unescape

from bot.content.model import Guide, Step

WORDS_PER_MINUTE = 200  # a calm reading pace
NARRATOR_NAME = "Gently"
NAME_ALLOWED_IN = frozenset({"welcome"})  # where the bot introduces itself by name
# How each language would name the bot in the third person, which the narrator never does.
THIRD_PERSON = {
    "en": ("the bot",),
    "es": ("el bot",),
    "de": ("der bot", "den bot", "dem bot", "des bots"),
}


def plain(text: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", text))


def opening_word(text: str) -> str:
    found = re.search(r"[^\W\d_]+", plain(text))
    return found.group(0).lower() if found else ""


def sentences(text: str) -> set[str]:
    """Sentences of three words or more, normalised, for spotting repeats."""
    found = set()
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", plain(text)):
        words = re.findall(r"[^\W_]+", sentence.lower())
        if len(words) >= 3:
            found.add(" ".join(words))
    return found


def reading_seconds(text: str) -> int:
    words = len(re.findall(r"[^\W_]+", plain(text)))
    return max(1, round(words * 60 / WORDS_PER_MINUTE))


def walk(guide: Guide) -> list[Step]:
    return [step for part in guide.parts for step in part.steps]


def check_voice(
    guide: Guide,
    messages: Mapping[str, Mapping[str, str]],
    part_files: Mapping[str, str],
    prefix: str = "",
) -> list[str]:
    """Problems with how the guide reads; `prefix` is the language folder ("es/")."""
    problems: list[str] = []
    steps = walk(guide)
    for before, after in itertools.pairwise(steps):
        where = f"{part_files.get(after.part_id, prefix + 'parts/')}: step {after.id}"
        if opening_word(before.text) == opening_word(after.text):
            problems.append(
                f"{where}: opens with {opening_word(after.text)!r} like the step before "
                f"({before.id}); vary the openings"
            )
        for repeated in sorted(sentences(before.text) & sentences(after.text)):
            problems.append(f"{where}: repeats a sentence of {before.id}: {repeated!r}")
    finish = messages.get("text", {}).get("finished", "")
    for repeated in sorted(sentences(steps[-1].text) & sentences(finish)) if steps else []:
        problems.append(
            f"{prefix}messages.toml: [text]: finished: repeats the last step "
            f"({steps[-1].id}): {repeated!r}"
        )
    problems += [f"{prefix}{problem}" for problem in narrator_problems(messages, guide.language)]
    return problems


def narrator_problems(
    messages: Mapping[str, Mapping[str, str]], language: str = "en"
) -> Iterable[str]:
    """One narrator: the bot speaks as "I", never as "the bot" or by name (but to say
    hello)."""
    third_person = THIRD_PERSON.get(language, THIRD_PERSON["en"])
    for table, texts in messages.items():
        for key, text in texts.items():
            lowered = plain(text).lower()
            for phrase in third_person:
                if re.search(rf"\b{re.escape(phrase)}\b", lowered):
                    yield (
                        f"messages.toml: [{table}]: {key}: says '{phrase}'; the narrator "
                        "speaks as 'I' throughout"
                    )
            if table != "profile" and key not in NAME_ALLOWED_IN and NARRATOR_NAME in text:
                yield (
                    f"messages.toml: [{table}]: {key}: names {NARRATOR_NAME}; the narrator "
                    "speaks as 'I' (the name belongs in the welcome)"
                )
