"""Which English text each translated text follows.

Every translated file ends with a [follows] table: for each of its texts, a short hash of
the English text it was translated from. When English changes, the hashes no longer match
and `check-content` names every translation left behind (language, file, key), while the
bot goes on serving the translation as it is. `python -m bot stamp-translation LANG`
records that a translator has brought a language up to date.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

FOLLOWS = "follows"
NOT_TEXT = frozenset({"id", "kind", "group"})  # identifiers, the same in every language
NONE_RECORDED = "records no English text it follows"
SECTION = re.compile(r"^\[follows\][ \t]*$", re.MULTILINE)


def english_hash(text: str) -> str:
    return hashlib.sha256(text.strip().encode()).hexdigest()[:8]


def texts(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(key, text) for every translatable text of a content file: "text.welcome",
    "steps.talk.hygiene.text", "resources.bend-over-boyfriend.description"."""
    for key, value in data.items():
        if key == FOLLOWS or key in NOT_TEXT:
            continue
        if isinstance(value, str):
            yield prefix + key, value
        elif isinstance(value, dict):
            yield from texts(value, f"{prefix}{key}.")
        elif isinstance(value, list):
            for entry in value:
                if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                    yield from texts(entry, f"{prefix}{key}.{entry['id']}.")


def translated_files(root: Path, reference: str) -> list[Path]:
    """The files a translation mirrors, relative to a language folder."""
    base = root / reference
    parts = sorted(p.relative_to(base) for p in (base / "parts").glob("*.toml"))
    return [Path("messages.toml"), Path("resources.toml"), *parts]


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None  # the loader reports a missing or broken file


def stale(root: Path, language: str, reference: str = "en") -> list[str]:
    """Every text of `language` that follows an older English text, or records none, as
    "es/parts/3-talk.toml: steps.talk.hygiene.text: why"."""
    found = []
    for relative in translated_files(root, reference):
        english, mine = _read(root / reference / relative), _read(root / language / relative)
        if english is None or mine is None:
            continue
        follows = mine.get(FOLLOWS, {})
        present = dict(texts(mine))
        for key, text in texts(english):
            recorded = follows.get(key)
            if key in present and recorded != english_hash(text):
                why = "English changed since it was translated" if recorded else NONE_RECORDED
                found.append(f"{language}/{relative.as_posix()}: {key}: {why}")
    return found


def stamp(root: Path, language: str, keys: Iterable[str] = (), reference: str = "en") -> int:
    """Record that `language` follows today's English: for `keys` (as `stale` names them),
    or for every text. Returns how many hashes changed."""
    wanted = {": ".join(key.split(": ")[:2]) for key in keys}  # a stale line, reason and all
    changed = 0
    for relative in translated_files(root, reference):
        path = root / language / relative
        english, mine = _read(root / reference / relative), _read(path)
        if english is None or mine is None:
            continue
        follows: dict[str, str] = dict(mine.get(FOLLOWS, {}))
        present = dict(texts(mine))
        for key, text in texts(english):
            named = f"{language}/{relative.as_posix()}: {key}"
            if key in present and (not wanted or named in wanted):
                changed += follows.get(key) != english_hash(text)
                follows[key] = english_hash(text)
        _write_follows(path, mine, follows)
    return changed


def _write_follows(path: Path, parsed: dict[str, Any], follows: dict[str, str]) -> None:
    """Replace the [follows] table, which must close the file, leaving the rest as it is."""
    text = path.read_text(encoding="utf-8")
    found = SECTION.search(text)
    head = text[: found.start()].rstrip("\n") if found else text.rstrip("\n")
    lines = [f'"{key}" = "{value}"' for key, value in sorted(follows.items())]
    new = f"{head}\n\n[{FOLLOWS}]\n" + "\n".join(lines) + "\n"
    rest = {k: v for k, v in tomllib.loads(new).items() if k != FOLLOWS}
    if rest != {k: v for k, v in parsed.items() if k != FOLLOWS}:
        raise ValueError(f"{path}: [{FOLLOWS}] must be the file's last table")
    path.write_text(new, encoding="utf-8")
