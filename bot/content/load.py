"""Reading `content/` into a Guide, collecting every problem with its file, place and field."""

from __future__ import annotations

import re
import tomllib
from html import unescape
from pathlib import Path
from string import Formatter
from typing import Any

from bot.content.discretion import LockScreenWords
from bot.content.follows import FOLLOWS, follows_problem, stale
from bot.content.model import (
    Guide,
    Guides,
    Messages,
    Part,
    Resource,
    ResourceGroup,
    ResourceKind,
    Step,
    StepKind,
)
from bot.content.spec import (
    DISCREET_TABLE,
    MAX_ANSWER_CHARS,
    MAX_LABEL_CHARS,
    MAX_PROFILE_CHARS,
    MAX_SHARED_ROW_CHARS,
    MESSAGE_SPEC,
    MIN_LOCK_SCREEN_WORDS,
    SHARED_ROW_BUTTONS,
    MessageFormat,
)
from bot.content.voice import check_voice
from bot.markup import Markup, html_problems

MAX_STEP_CHARS = 3500  # Telegram allows 4096; headers, ticks and notices need the rest.
TELEGRAM_TEXT_LIMIT = 4096  # a message's text after entity parsing, in UTF-16 code units
MAX_ID_CHARS = 40  # keeps callback data far below Telegram's 64 bytes
SLUG = r"[a-z0-9]+(?:-[a-z0-9]+)*"
PART_ID = re.compile(rf"^{SLUG}$")
STEP_ID = re.compile(rf"^{SLUG}\.{SLUG}$")


class ContentError(Exception):
    """The content directory is unusable; `problems` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{len(problems)} problem(s) in the guide content:\n{listing}")


REFERENCE = "en"  # the language every other one is checked against
LANGUAGE = re.compile(r"^[a-z]{2}$")


def default_content_dir() -> Path:
    """`content/` beside the package in a checkout, else the copy installed with it."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package.parent / "content", package / "content_data"):
        if (candidate / REFERENCE / "messages.toml").is_file():
            return candidate
    return package.parent / "content"


def load_guide(directory: Path | None = None) -> Guide:
    """Load and validate the English guide (the reference), or raise ContentError naming
    every problem. `load_guides` loads every language."""
    return _Loader(directory or default_content_dir(), REFERENCE).load()


def load_guides(directory: Path | None = None) -> Guides:
    """Every language in `content/`: English must be complete (else ContentError); another
    language with problems is kept out, its problems listed in `Guides.incomplete`."""
    root = directory or default_content_dir()
    reference = _Loader(root, REFERENCE).load()
    complete = {REFERENCE: reference}
    incomplete: dict[str, list[str]] = {}
    folders = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for code in folders:
        if code == REFERENCE or not LANGUAGE.match(code):
            continue
        try:
            complete[code] = _Loader(root, code, reference).load()
        except ContentError as error:
            incomplete[code] = error.problems
    behind = {code: stale(root, code, REFERENCE) for code in complete if code != REFERENCE}
    return Guides.of(complete, incomplete, {code: keys for code, keys in behind.items() if keys})


class _Loader:
    def __init__(self, root: Path, language: str, reference: Guide | None = None) -> None:
        self.root = root
        self.language = language
        self.base = root / language
        self.reference = reference
        self.problems: list[str] = []
        self._file = ""
        self._part_files: dict[str, str] = {}
        self._lock_screen = LockScreenWords(frozenset())

    def load(self) -> Guide:
        if not self.base.is_dir():
            raise ContentError([f"{self.base}: content directory not found"])
        self._lock_screen = self._lock_screen_words()
        messages = self._messages()
        resources = self._resources()
        parts = self._parts(resources)
        self._check_unique_steps(parts)
        if self.problems:
            raise ContentError(self.problems)
        guide = Guide(
            parts=parts, resources=resources, messages=Messages(messages), language=self.language
        )
        self._check_rendered_resources(guide)
        self._check_rendered_safety(guide)
        self._check_part_buttons(guide)
        self.problems += check_voice(guide, messages, self._part_files, f"{self.language}/")
        if self.reference is not None:
            self._compare(guide, messages)
        if self.problems:
            raise ContentError(self.problems)
        return guide

    # -- reading helpers -------------------------------------------------------------

    def problem(self, where: str, message: str) -> None:
        self.problems.append(
            f"{self._file}: {where}: {message}" if where else f"{self._file}: {message}"
        )

    def read_toml(self, path: Path) -> dict[str, Any] | None:
        self._file = (
            str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)
        )
        if not path.is_file():
            self.problem("", "file is missing")
            return None
        try:
            raw = path.read_text(encoding="utf-8")
            data = tomllib.loads(raw)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            self.problem("", f"cannot be parsed: {error}")
            return None
        said = follows_problem(raw, data)
        if said:
            self.problem("", said)
        return data

    def unknown_keys(self, table: dict[str, Any], allowed: set[str], where: str) -> None:
        for key in sorted(set(table) - allowed):
            self.problem(where, f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")

    def string(
        self, table: dict[str, Any], key: str, where: str, *, required: bool = True
    ) -> str | None:
        value = table.get(key)
        if value is None:
            if required:
                self.problem(where, f"{key}: is missing")
            return None
        if not isinstance(value, str):
            self.problem(where, f"{key}: must be text, not {type(value).__name__}")
            return None
        if not value.strip():
            self.problem(where, f"{key}: is empty")
            return None
        return value.strip()

    def markup(self, table: dict[str, Any], key: str, where: str) -> Markup | None:
        value = self.string(table, key, where)
        if value is None:
            return None
        for issue in html_problems(value):
            self.problem(where, f"{key}: HTML Telegram would reject: {issue}")
        return Markup(value)

    def ident(self, table: dict[str, Any], where: str, pattern: re.Pattern[str]) -> str | None:
        value = self.string(table, "id", where)
        if value is None:
            return None
        if not pattern.match(value) or len(value) > MAX_ID_CHARS:
            self.problem(
                where,
                f"id: {value!r} must be lowercase words joined by '-' "
                f"(steps: 'part.step'), at most {MAX_ID_CHARS} characters",
            )
            return None
        return value

    # -- the files ------------------------------------------------------------------

    def _messages(self) -> dict[str, dict[str, str]]:
        data = self.read_toml(self.base / "messages.toml")
        if data is None:
            return {}
        self.unknown_keys(data, {*MESSAGE_SPEC, FOLLOWS}, "")
        tables: dict[str, dict[str, str]] = {}
        for table_name, spec in MESSAGE_SPEC.items():
            table = data.get(table_name)
            if not isinstance(table, dict):
                self.problem(f"[{table_name}]", "table is missing")
                continue
            self.unknown_keys(table, set(spec), f"[{table_name}]")
            tables[table_name] = {}
            for key, (fmt, fields) in spec.items():
                where = f"[{table_name}]"
                value = (
                    self.markup(table, key, where)
                    if fmt is MessageFormat.HTML
                    else self.string(table, key, where)
                )
                if value is None:
                    continue
                self._check_message(table_name, key, value, fmt, fields)
                tables[table_name][key] = value
        return tables

    def _check_message(
        self, table: str, key: str, value: str, fmt: MessageFormat, fields: frozenset[str]
    ) -> None:
        where = f"[{table}]"
        try:
            used = {name for _, name, _, _ in Formatter().parse(value) if name is not None}
        except ValueError as error:
            self.problem(where, f"{key}: broken {{placeholder}}: {error}")
            return
        for name in sorted(used - fields):
            allowed = ", ".join("{" + f + "}" for f in sorted(fields)) or "none"
            self.problem(where, f"{key}: unknown placeholder {{{name}}} (allowed: {allowed})")
        if fmt is MessageFormat.PLAIN:
            if re.search(r"[<>]", value):
                self.problem(where, f"{key}: plain text only, no HTML")
            limit = MAX_PROFILE_CHARS.get(key, MAX_LABEL_CHARS[table])
            if table == "buttons" and key in SHARED_ROW_BUTTONS:
                limit = MAX_SHARED_ROW_CHARS  # it shares a row with other buttons
            if len(value) > limit:
                self.problem(where, f"{key}: {len(value)} characters; at most {limit}")
        elif len(value) > MAX_STEP_CHARS:
            self.problem(where, f"{key}: {len(value)} characters; at most {MAX_STEP_CHARS}")
        if table == DISCREET_TABLE or key == "short_description":
            words = self._lock_screen.hits(value)
            if words:
                self.problem(
                    where,
                    f"{key}: may show on a lock screen or in a preview and must be "
                    f"discreet; remove: {', '.join(words)}",
                )

    def _resources(self) -> tuple[ResourceGroup, ...]:
        data = self.read_toml(self.base / "resources.toml")
        if data is None:
            return ()
        self.unknown_keys(data, {"groups", "resources", FOLLOWS}, "")
        groups = self._groups(data.get("groups"))
        entries = data.get("resources")
        if not isinstance(entries, list) or not entries:
            self.problem("", "needs at least one [[resources]] entry")
            return ()
        members: dict[str, list[Resource]] = {group: [] for group in groups}
        seen: set[str] = set()
        allowed = {"id", "kind", "group", "title", "author", "details", "description", "url"}
        for number, entry in enumerate(entries, start=1):
            where = f"resource {number}"
            if not isinstance(entry, dict):
                self.problem(where, "must be a [[resources]] table")
                continue
            rid = self.ident(entry, where, PART_ID)
            where = f"resource {rid or number}"
            self.unknown_keys(entry, allowed, where)
            kind = self._choice(entry, where, ResourceKind)
            group = self.string(entry, "group", where)
            title = self.string(entry, "title", where)
            description = self.string(entry, "description", where)
            author = self.string(entry, "author", where, required=False)
            details = self.string(entry, "details", where, required=False)
            url = self.string(entry, "url", where, required=False)
            if url and not re.fullmatch(r"https://[^\s\"'<>]+", url):
                self.problem(where, f"url: {url!r} must be a full https:// address")
            if group and group not in groups:
                known = ", ".join(groups) or "none"
                self.problem(where, f"group: unknown group {group!r} (the [[groups]]: {known})")
            if rid in seen:
                self.problem(where, f"id: duplicate id {rid!r}")
            if rid:
                seen.add(rid)
            if rid and kind and group in groups and title and description:
                members[group].append(
                    Resource(rid, kind, group, title, description, author, details, url)
                )
        for group_id in groups:
            if not members[group_id]:
                self.problem(f"group {group_id}", "has no resources")
        return tuple(
            ResourceGroup(group_id, title, intro, tuple(members[group_id]))
            for group_id, (title, intro) in groups.items()
            if members[group_id]
        )

    def _groups(self, raw: object) -> dict[str, tuple[str, str]]:
        """[[groups]]: id → (title, intro), in order; each becomes one message."""
        if not isinstance(raw, list) or not raw:
            self.problem("", "needs at least one [[groups]] entry (id, title, intro)")
            return {}
        groups: dict[str, tuple[str, str]] = {}
        for number, entry in enumerate(raw, start=1):
            where = f"group {number}"
            if not isinstance(entry, dict):
                self.problem(where, "must be a [[groups]] table")
                continue
            gid = self.ident(entry, where, PART_ID)
            self.unknown_keys(entry, {"id", "title", "intro"}, f"group {gid or number}")
            title = self.string(entry, "title", f"group {gid or number}")
            intro = self.string(entry, "intro", f"group {gid or number}")
            if gid in groups:
                self.problem(f"group {gid}", f"id: duplicate id {gid!r}")
            elif gid and title and intro:
                groups[gid] = (title, intro)
        return groups

    def _choice(
        self, table: dict[str, Any], where: str, enum: type[StepKind] | type[ResourceKind]
    ) -> Any:
        value = self.string(table, "kind", where)
        if value is None:
            return None
        try:
            return enum(value)
        except ValueError:
            choices = ", ".join(member.value for member in enum)
            self.problem(where, f"kind: unknown kind {value!r} (choose from: {choices})")
            return None

    def _parts(self, resources: tuple[ResourceGroup, ...]) -> tuple[Part, ...]:
        files = sorted((self.base / "parts").glob("*.toml"))
        if not files:
            self._file = f"{self.language}/parts/"
            self.problem("", "no part files (parts/*.toml) found")
        parts = [self._part(path, resources) for path in files]
        seen: set[str] = set()
        for part, path in zip(parts, files, strict=True):
            if part and part.id in seen:
                self._file = str(path.relative_to(self.root))
                self.problem(f"part {part.id}", f"id: duplicate part id {part.id!r}")
            if part:
                seen.add(part.id)
        return tuple(part for part in parts if part)

    def _part(self, path: Path, resources: tuple[ResourceGroup, ...]) -> Part | None:
        data = self.read_toml(path)
        if data is None:
            return None
        allowed = {"id", "title", "intro", "steps", "include_resources", "answers", FOLLOWS}
        self.unknown_keys(data, allowed, "")
        part_id = self.ident(data, "part", PART_ID)
        where = f"part {part_id or path.stem}"
        title = self.string(data, "title", where)
        shown = self._lock_screen.hits(title) if title else []
        if shown:
            self.problem(
                where,
                "title: shows in every step's header, and so in chat-list previews; remove: "
                + ", ".join(shown),
            )
        intro = self.markup(data, "intro", where)
        include = data.get("include_resources", False)
        if not isinstance(include, bool):
            self.problem(where, "include_resources: must be true or false")
            include = False
        raw_steps = data.get("steps", [])
        if not isinstance(raw_steps, list):
            self.problem(where, "steps: must be a list of [[steps]] tables")
            raw_steps = []
        steps: list[Step] = []
        if include and part_id:
            steps += [
                Step(f"{part_id}.{group.id}", StepKind.TEXT, group.render(), part_id)
                for group in resources
            ]
        for number, raw in enumerate(raw_steps, start=1):
            step = self._step(raw, number, part_id)
            if step:
                steps.append(step)
        if not steps and not raw_steps:
            self.problem(where, "steps: the part is empty; it needs at least one [[steps]]")
        if part_id is None or title is None or intro is None or not steps:
            return None
        self._part_files.setdefault(part_id, self._file)
        answers = self._answers(data.get("answers"), where, any(s.is_checklist for s in steps))
        first = steps[0]
        if len(intro) + len(first.text) + 2 > MAX_STEP_CHARS:
            self.problem(
                f"step {first.id}",
                f"text: with the part intro it renders to "
                f"{len(intro) + len(first.text) + 2} characters; at most {MAX_STEP_CHARS}",
            )
        return Part(part_id, title, intro, tuple(steps), answers)

    def _answers(self, raw: object, where: str, needed: bool) -> tuple[str, str] | None:
        """A checklist's two answers, [answers] yes / not_yet: both move on."""
        if raw is None:
            if needed:
                self.problem(where, "answers: a part with checklist items needs [answers]")
            return None
        if not isinstance(raw, dict):
            self.problem(where, "answers: must be a table with yes and not_yet")
            return None
        self.unknown_keys(raw, {"yes", "not_yet"}, f"{where} [answers]")
        labels = [self.string(raw, key, f"{where} [answers]") for key in ("yes", "not_yet")]
        for key, label in zip(("yes", "not_yet"), labels, strict=True):
            if label and (len(label) > MAX_ANSWER_CHARS or re.search(r"[<>]", label)):
                self.problem(
                    f"{where} [answers]",
                    f"{key}: plain text of at most {MAX_ANSWER_CHARS} characters "
                    "(the two answers share a row)",
                )
        yes, not_yet = labels
        return (yes, not_yet) if yes and not_yet else None

    def _step(self, raw: object, number: int, part_id: str | None) -> Step | None:
        where = f"step {number}"
        if not isinstance(raw, dict):
            self.problem(where, "must be a [[steps]] table")
            return None
        step_id = self.ident(raw, where, STEP_ID)
        where = f"step {step_id or number}"
        self.unknown_keys(raw, {"id", "kind", "text", "safety", "gate"}, where)
        safety, gate = (self._flag(raw, key, where) for key in ("safety", "gate"))
        if step_id and part_id and not step_id.startswith(f"{part_id}."):
            self.problem(where, f"id: must start with the part id, as in '{part_id}.something'")
        kind = self._choice(raw, where, StepKind)
        text = self.markup(raw, "text", where)
        if text and len(text) > MAX_STEP_CHARS:
            self.problem(
                where, f"text: renders to {len(text)} characters; at most {MAX_STEP_CHARS}"
            )
        if kind is StepKind.CHECKLIST and text and not text.startswith("<b>"):
            self.problem(where, "text: a checklist item opens with its question in <b>…</b>")
        if gate and kind is not StepKind.CHECKLIST:
            self.problem(where, "gate: only a checklist item can be a gate")
        if step_id is None or kind is None or text is None or part_id is None:
            return None
        return Step(step_id, kind, text, part_id, safety, gate)

    def _flag(self, table: dict[str, Any], key: str, where: str) -> bool:
        value = table.get(key, False)
        if not isinstance(value, bool):
            self.problem(where, f"{key}: must be true or false")
            return False
        return value

    def _check_unique_steps(self, parts: tuple[Part, ...]) -> None:
        seen: dict[str, str] = {}
        for part in parts:
            for step in part.steps:
                if step.id in seen:
                    self._file = self._part_files.get(part.id, f"{self.language}/parts/")
                    self.problem(
                        f"step {step.id}", f"id: duplicate step id (also in part {seen[step.id]})"
                    )
                seen.setdefault(step.id, part.id)

    def _check_part_buttons(self, guide: Guide) -> None:
        for number, part in enumerate(guide.parts, start=1):
            label = guide.messages.button("part", number=number, title=part.title)
            if len(label) > MAX_LABEL_CHARS["buttons"]:
                self._file = self._part_files.get(part.id, f"{self.language}/parts/")
                self.problem(
                    f"part {part.id}",
                    f"title: its menu button {label!r} has {len(label)} characters; a narrow "
                    f"phone shows {MAX_LABEL_CHARS['buttons']}",
                )

    def _check_rendered_resources(self, guide: Guide) -> None:
        rendered = guide.messages.text("resources", resources=guide.render_resources())
        if len(rendered) > MAX_STEP_CHARS:
            self._file = f"{self.language}/resources.toml"
            self.problem(
                "",
                f"the /resources message renders to {len(rendered)} characters; "
                f"at most {MAX_STEP_CHARS}: shorten the descriptions",
            )

    def _check_rendered_safety(self, guide: Guide) -> None:
        rendered = guide.messages.text("safety", essentials=guide.render_safety())
        length = telegram_length(rendered)
        if length > TELEGRAM_TEXT_LIMIT:
            self._file = f"{self.language}/parts/"
            self.problem(
                "",
                f"the /safety message is {length} characters as Telegram counts them; at most "
                f"{TELEGRAM_TEXT_LIMIT}: shorten the steps marked safety = true, or mark fewer",
            )

    # -- languages -----------------------------------------------------------------

    def _lock_screen_words(self) -> LockScreenWords:
        data = self.read_toml(self.base / "lock-screen.toml")
        if data is None:
            return LockScreenWords(frozenset())
        self.unknown_keys(data, {"refused", "allowed", "whole"}, "")
        lists: dict[str, list[str]] = {}
        for key in ("refused", "allowed", "whole"):
            words = data.get(key, [])
            if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
                self.problem(key, "must be a list of words")
                words = []
            lists[key] = words
        if len(lists["refused"]) < MIN_LOCK_SCREEN_WORDS:
            self.problem(
                "refused",
                f"{len(lists['refused'])} words; list at least {MIN_LOCK_SCREEN_WORDS} that must "
                "never show on a lock screen in this language",
            )
        words = LockScreenWords.of(lists["refused"], lists["allowed"], lists["whole"])
        for idle in words.idle_allowances():
            self.problem(
                "allowed",
                f"{idle!r} excuses nothing: an allowed word must contain a refused stem "
                "whole, and be longer than it",
            )
        return words

    def _compare(self, guide: Guide, messages: dict[str, dict[str, str]]) -> None:
        """A translation has English's shape: the same parts, step ids, kinds, safety and
        gate marks in the same order, the same answers and resources, the same placeholders."""
        reference = self.reference
        assert reference is not None
        mine = {part.id: part for part in guide.parts}
        if [p.id for p in guide.parts] != [p.id for p in reference.parts]:
            self._file = f"{self.language}/parts/"
            self.problem(
                "",
                f"parts {[p.id for p in guide.parts]} differ from English "
                f"{[p.id for p in reference.parts]}",
            )
        for theirs in reference.parts:
            part = mine.get(theirs.id)
            if part is None:
                continue
            self._file = self._part_files.get(part.id, f"{self.language}/parts/")
            shape = [(s.id, s.kind, s.safety, s.gate) for s in part.steps]
            expected = [(s.id, s.kind, s.safety, s.gate) for s in theirs.steps]
            if shape != expected:
                ids, english = [s[0] for s in shape], [s[0] for s in expected]
                missing = [i for i in english if i not in ids]
                extra = [i for i in ids if i not in english]
                detail = (f"missing {', '.join(missing)}; " if missing else "") + (
                    f"extra {', '.join(extra)}; " if extra else ""
                )
                self.problem(
                    f"part {part.id}",
                    f"steps differ from English ({detail or 'order, kind, safety or gate marks'})",
                )
            if (part.answers is None) != (theirs.answers is None):
                self.problem(f"part {part.id}", "answers: present in one language only")
        self._file = f"{self.language}/resources.toml"
        groups = [(g.id, [r.id for r in g.resources]) for g in guide.resources]
        english_groups = [(g.id, [r.id for r in g.resources]) for g in reference.resources]
        if groups != english_groups:
            self.problem("", f"groups and resources {groups} differ from English {english_groups}")
        self._file = f"{self.language}/messages.toml"
        for table, texts in reference.messages.tables.items():
            for key, text in texts.items():
                if key in messages.get(table, {}) and placeholders(text) != placeholders(
                    messages[table][key]
                ):
                    self.problem(
                        f"[{table}]",
                        f"{key}: placeholders {sorted(placeholders(messages[table][key]))} "
                        f"differ from English {sorted(placeholders(text))}",
                    )


def telegram_length(markup: str) -> int:
    """What Telegram counts against its limit: the text after entity parsing (tags gone,
    entities read), in UTF-16 code units."""
    visible = unescape(re.sub(r"<[^>]+>", "", markup))
    return len(visible.encode("utf-16-le")) // 2


def placeholders(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in Formatter().parse(text) if name}
    except ValueError:
        return set()
