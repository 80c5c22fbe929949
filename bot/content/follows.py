"""Which English text each translated text follows.

Every translated file ends with a [follows] table: for each of its texts, a short hash of
the English text it was translated from. When English changes, the hashes no longer match
and `check-content` names every translation left behind (language, file, key), while the
bot goes on serving the translation as it is. `python -m bot stamp-translation LANG`
records that a translator has brought a language up to date.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import tomllib
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FOLLOWS = "follows"
NOT_TEXT = frozenset({"id", "kind", "group"})  # identifiers, the same in every language
NONE_RECORDED = "records no English text it follows"
CHANGED = "English changed since it was translated"
HASH = re.compile(r"[0-9a-f]{8}")
# the [follows] header, however it is spelled; everything after it is the table
SECTION = re.compile(r"""^[ \t]*\[[ \t]*["']?follows["']?[ \t]*\][ \t]*(#.*)?$""", re.MULTILINE)
TABLE_HEADER = re.compile(r"^[ \t]*\[", re.MULTILINE)


class StampError(Exception):
    """Nothing was written; the message says why."""


def english_hash(text: str) -> str:
    """Of the text as a reader sees it: spaces within a line and the Unicode form do not
    count; line and paragraph breaks do, since Telegram shows them."""
    lines = unicodedata.normalize("NFC", text).strip().split("\n")
    normal = "\n".join(" ".join(line.split()) for line in lines)
    return hashlib.sha256(normal.encode()).hexdigest()[:8]


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


def follows_problem(raw: str, data: dict[str, Any]) -> str | None:
    """Why a file's [follows] table is unusable (the loader reports it), or None."""
    table = data.get(FOLLOWS)
    if table is None:
        return None
    if not isinstance(table, dict) or not all(
        isinstance(v, str) and HASH.fullmatch(v) for v in table.values()
    ):
        return f"{FOLLOWS}: must be a table of text keys and 8-character hashes"
    found = SECTION.search(raw)
    if found is None or TABLE_HEADER.search(raw, found.end()):
        return f"{FOLLOWS}: must be the file's last table, written [{FOLLOWS}]"
    return None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None  # the loader reports a missing or broken file


@dataclass(frozen=True)
class Pair:
    """An English file and the translation of it: parts are paired by their id, so a
    translation may name its part files as it likes."""

    english: Path
    translation: Path
    name: str  # as reported: "es/parts/3-talk.toml"


def pairs(root: Path, language: str, reference: str) -> list[Pair]:
    found = [
        Pair(root / reference / name, root / language / name, f"{language}/{name}")
        for name in ("messages.toml", "resources.toml")
    ]
    theirs = _parts_by_id(root / language)
    for part_id, english in _parts_by_id(root / reference).items():
        if part_id in theirs:
            translation = theirs[part_id]
            name = f"{language}/{translation.relative_to(root / language).as_posix()}"
            found.append(Pair(english, translation, name))
    return found


def _parts_by_id(base: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted((base / "parts").glob("*.toml")):
        data = _read(path)
        if data is not None and isinstance(data.get("id"), str):
            found.setdefault(data["id"], path)
    return found


def stale(root: Path, language: str, reference: str = "en") -> list[str]:
    """Every text of `language` that follows an older English text, or records none, as
    "es/parts/3-talk.toml: steps.talk.hygiene.text: why"."""
    found = []
    for pair in pairs(root, language, reference):
        english, mine = _read(pair.english), _read(pair.translation)
        if english is None or mine is None:
            continue
        recorded = mine.get(FOLLOWS)
        follows = recorded if isinstance(recorded, dict) else {}
        present = dict(texts(mine))
        for key, text in texts(english):
            if key in present and follows.get(key) != english_hash(text):
                why = CHANGED if follows.get(key) else NONE_RECORDED
                found.append(f"{pair.name}: {key}: {why}")
    return found


def stamp(root: Path, language: str, keys: Iterable[str] = (), reference: str = "en") -> list[str]:
    """Record that `language` follows today's English: for `keys` (as `stale` names them,
    with or without the reason), or for every text. Returns the names stamped anew.
    Every file is checked before any is written; raises StampError, writing nothing, if
    a key matches no text or a file cannot be rewritten safely."""
    if language == reference:
        raise StampError(f"{reference} is the reference every translation follows")
    wanted = {": ".join(key.strip().removeprefix("- ").split(": ")[:2]) for key in keys}
    stamped: list[str] = []
    rewrites: dict[Path, str] = {}
    matched: set[str] = set()
    for pair in pairs(root, language, reference):
        english, mine = _read(pair.english), _read(pair.translation)
        if english is None or mine is None:
            broken = pair.translation if mine is None else pair.english
            raise StampError(f"{broken}: cannot be read; run check-content first")
        said = follows_problem(pair.translation.read_text(encoding="utf-8"), mine)
        if said:
            raise StampError(f"{pair.name}: {said}")
        recorded = mine.get(FOLLOWS)
        old = recorded if isinstance(recorded, dict) else {}
        present = dict(texts(mine))
        follows: dict[str, str] = {}
        for key, text in texts(english):
            if key not in present:
                continue
            named = f"{pair.name}: {key}"
            if not wanted or named in wanted:
                matched.add(named)
                follows[key] = english_hash(text)
                if old.get(key) != follows[key]:
                    stamped.append(named)
            elif isinstance(old.get(key), str):
                follows[key] = old[key]
        if follows != old:
            rewrites[pair.translation] = _with_follows(pair.translation, mine, follows)
    unknown = sorted(wanted - matched)
    if unknown:
        raise StampError(f"no such translated text: {', '.join(unknown)}")
    for path, text in rewrites.items():
        _replace(path, text)
    return stamped


def _with_follows(path: Path, parsed: dict[str, Any], follows: dict[str, str]) -> str:
    """The file with its [follows] table replaced, the rest exactly as it was."""
    text = path.read_text(encoding="utf-8")
    found = SECTION.search(text)
    head = text[: found.start()] if found else text
    lines = [
        f"{json.dumps(key, ensure_ascii=False)} = {json.dumps(value)}"
        for key, value in sorted(follows.items())
    ]
    new = f"{head.rstrip()}\n\n[{FOLLOWS}]\n" + "\n".join(lines) + "\n"
    try:
        rest = {k: v for k, v in tomllib.loads(new).items() if k != FOLLOWS}
    except tomllib.TOMLDecodeError as error:
        raise StampError(f"{path}: cannot rewrite its [{FOLLOWS}] table: {error}") from error
    if rest != {k: v for k, v in parsed.items() if k != FOLLOWS}:
        raise StampError(f"{path}: [{FOLLOWS}] must be the file's last table")
    return new


def _replace(path: Path, text: str) -> None:
    """Write whole or not at all: a temporary file beside the real one (a symlink is
    followed), flushed to disk, then a rename."""
    target = path.resolve()
    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, target.stat().st_mode)
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as error:
        raise StampError(f"{path}: cannot be written: {error.strerror}") from error
