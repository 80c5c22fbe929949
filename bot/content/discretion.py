"""Words that must never show on a lock screen, matched as stems inside words.

A listed word is refused wherever it appears inside a word, so plurals, inflections and
compounds are caught too ("sexleben", "vibradores"). An allowed word covers a hit inside
it ("button" for "butt", "analyse" for "anal"). A word too short to be a stem ("Po") is
refused only as a whole word. Accents and case are ignored both ways.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


def fold(text: str) -> str:
    """Lowercase without accents ("Vibradóres" matches "vibrador"), but ñ stays a letter of
    its own, so that "año" never reads as "ano"."""
    composed = unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())
    return "".join(c if c == "ñ" else _bare(c) for c in composed)


def _bare(letter: str) -> str:
    decomposed = unicodedata.normalize("NFKD", letter)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class LockScreenWords:
    refused: frozenset[str]
    allowed: frozenset[str] = frozenset()
    whole: frozenset[str] = frozenset()  # refused only as whole words

    @classmethod
    def of(
        cls, refused: list[str], allowed: list[str], whole: list[str] | None = None
    ) -> LockScreenWords:
        folded = (frozenset(map(fold, words)) for words in (refused, allowed, whole or []))
        return cls(*folded)

    def idle_allowances(self) -> list[str]:
        """Allowed words that excuse nothing (they hold no refused stem whole) or switch a
        stem off everywhere (they are the stem itself)."""
        return sorted(
            a
            for a in self.allowed
            if a in self.refused or not any(stem in a for stem in self.refused)
        )

    def hits(self, text: str) -> list[str]:
        """Each word of `text` that holds a refused stem, as "word (stem)", sorted."""
        found: set[str] = set()
        for word in re.findall(r"[^\W\d_]+", fold(text)):
            found.update(f"{word} ({stem})" for stem in self.refused if self._hit(word, stem))
            if word in self.whole:
                found.add(word)
        return sorted(found)

    def _hit(self, word: str, stem: str) -> bool:
        start = word.find(stem)
        while start != -1:
            if not self._covered(word, start, start + len(stem)):
                return True
            start = word.find(stem, start + 1)
        return False

    def _covered(self, word: str, start: int, end: int) -> bool:
        for allowed in self.allowed:
            at = word.find(allowed)
            while at != -1:
                if at <= start and end <= at + len(allowed):
                    return True
                at = word.find(allowed, at + 1)
        return False
