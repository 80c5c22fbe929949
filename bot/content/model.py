"""The guide as typed, frozen data: parts, steps, resources and the bot's own texts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from html import unescape
from types import MappingProxyType

from bot.content.spec import MESSAGE_SPEC, MessageFormat
from bot.markup import Markup, escape


class StepKind(StrEnum):
    TEXT = "text"
    CHECKLIST = "checklist"


class ResourceKind(StrEnum):
    BOOK = "book"
    FILM = "film"
    CLASS = "class"
    SHOP = "shop"
    VIDEO = "video"
    ARTICLE = "article"


RESOURCE_ICONS = {
    "book": "📖",
    "film": "🎬",
    "class": "🎓",
    "shop": "🛍",
    "video": "▶️",
    "article": "📝",
}


@dataclass(frozen=True)
class Step:
    id: str
    kind: StepKind
    text: Markup
    part_id: str
    safety: bool = False  # one of the safety essentials, also shown by /safety
    gate: bool = False  # a checklist item whose "Not yet" holds off the talk it prepares

    @property
    def is_checklist(self) -> bool:
        return self.kind is StepKind.CHECKLIST

    @property
    def title(self) -> str:
        """A checklist item's question: its opening bold line, as plain text."""
        found = re.match(r"<b>(.*?)</b>", self.text)
        return unescape(re.sub(r"<[^>]+>", "", found.group(1) if found else self.text))


@dataclass(frozen=True)
class Part:
    id: str
    title: str
    intro: Markup
    steps: tuple[Step, ...]
    answers: tuple[str, str] | None = None  # a checklist's two answers: yes, not yet

    @cached_property
    def checklist(self) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if step.is_checklist)

    @cached_property
    def gates(self) -> tuple[Step, ...]:
        return tuple(step for step in self.checklist if step.gate)


@dataclass(frozen=True)
class Resource:
    id: str
    kind: ResourceKind
    group: str
    title: str
    description: str
    author: str | None = None
    details: str | None = None  # what finds it: year, studio, host, publisher
    url: str | None = None

    def render(self) -> Markup:
        """The resource as one short block of Telegram HTML."""
        title = (
            f'<a href="{escape(self.url)}">{escape(self.title)}</a>'
            if self.url
            else (f"<b>{escape(self.title)}</b>")
        )
        byline = f", {escape(self.author)}" if self.author else ""
        details = f" ({escape(self.details)})" if self.details else ""
        icon = RESOURCE_ICONS[self.kind]
        return Markup(f"{icon} {title}{byline}{details}\n{escape(self.description)}")


@dataclass(frozen=True)
class ResourceGroup:
    """A few resources of one sort (watch, read, learn in person): one message."""

    id: str
    title: str
    intro: str
    resources: tuple[Resource, ...]

    def render(self) -> Markup:
        items = "\n\n".join(resource.render() for resource in self.resources)
        return Markup(f"<b>{escape(self.title)}</b>\n{escape(self.intro)}\n\n{items}")


class Messages:
    """The bot's own texts (content/messages.toml), filled in safely.

    Values for placeholders in HTML texts are escaped unless they are `Markup`.
    """

    def __init__(self, tables: Mapping[str, Mapping[str, str]]) -> None:
        self._tables = MappingProxyType({k: MappingProxyType(dict(v)) for k, v in tables.items()})

    def _fill(self, table: str, key: str, values: Mapping[str, object]) -> str:
        template = self._tables[table][key]
        if MESSAGE_SPEC[table][key][0] is MessageFormat.PLAIN:
            return template.format(**values)
        safe = {k: v if isinstance(v, Markup) else escape(str(v)) for k, v in values.items()}
        return Markup(template.format(**safe))

    def text(self, key: str, **values: object) -> Markup:
        return Markup(self._fill("text", key, values))

    def button(self, key: str, **values: object) -> str:
        return self._fill("buttons", key, values)

    def notice(self, key: str) -> str:
        return self._tables["notices"][key]

    def reminder(self, key: str, **values: object) -> str:
        return self._fill("reminder", key, values)

    def profile(self, key: str) -> str:
        return self._tables["profile"][key]

    def command(self, name: str) -> str:
        """The description of a command in Telegram's menu."""
        return self._tables["commands"][name]

    @property
    def language_name(self) -> str:
        return self._tables["language"]["name"]

    @property
    def tables(self) -> Mapping[str, Mapping[str, str]]:
        return self._tables


@dataclass(frozen=True)
class Guide:
    parts: tuple[Part, ...]
    resources: tuple[ResourceGroup, ...]
    messages: Messages = field(compare=False)
    language: str = "en"  # the two-letter code of content/<language>/
    # every complete language as (code, its own name), for /language; set by Guides
    languages: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    _index: Mapping[str, tuple[int, int]] = field(init=False, repr=False, compare=False)

    checklist_ids: frozenset[str] = field(init=False, repr=False, compare=False)
    part_ids: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        checklist = frozenset(s.id for part in self.parts for s in part.checklist)
        object.__setattr__(self, "checklist_ids", checklist)
        object.__setattr__(self, "part_ids", frozenset(part.id for part in self.parts))
        index = {
            step.id: (p, s)
            for p, part in enumerate(self.parts)
            for s, step in enumerate(part.steps)
        }
        object.__setattr__(self, "_index", MappingProxyType(index))

    @property
    def safety_steps(self) -> tuple[Step, ...]:
        return tuple(step for part in self.parts for step in part.steps if step.safety)

    def render_safety(self) -> Markup:
        """The safety essentials as /safety shows them: the facts first, then the checklist
        items (a question is no way to open it), each in walk order."""
        steps = sorted(self.safety_steps, key=lambda step: step.is_checklist)
        return Markup("\n\n".join(step.text for step in steps))

    @property
    def first_step(self) -> Step:
        return self.parts[0].steps[0]

    def step(self, step_id: str) -> Step | None:
        where = self._index.get(step_id)
        return None if where is None else self.parts[where[0]].steps[where[1]]

    def position(self, step_id: str) -> tuple[int, int]:
        """(part index, step index) of a step that exists."""
        return self._index[step_id]

    def part(self, part_id: str) -> Part | None:
        return next((part for part in self.parts if part.id == part_id), None)

    def render_resources(self) -> Markup:
        return Markup("\n\n".join(group.render() for group in self.resources))


@dataclass(frozen=True)
class Guides:
    """The guide in every complete language; English is the reference and the fallback."""

    by_language: Mapping[str, Guide]
    incomplete: Mapping[str, list[str]]  # language → its problems (not offered to users)
    # language → its texts that follow an older English text (still offered as they are)
    stale: Mapping[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        complete: Mapping[str, Guide],
        incomplete: Mapping[str, list[str]],
        stale: Mapping[str, list[str]] | None = None,
    ) -> Guides:
        names = tuple((code, guide.messages.language_name) for code, guide in complete.items())
        with_names = {code: replace(guide, languages=names) for code, guide in complete.items()}
        return cls(
            MappingProxyType(with_names),
            MappingProxyType(dict(incomplete)),
            MappingProxyType(dict(stale or {})),
        )

    @property
    def reference(self) -> Guide:
        return self.by_language["en"]

    def get(self, code: str | None) -> Guide | None:
        return self.by_language.get(code or "")

    def for_user(self, stored: str | None, telegram: str | None = None) -> Guide:
        """The one rule for the language a user is answered in: their own (stored), else
        Telegram's `language_code`, else English. A stored language no longer offered
        falls back to English, not to Telegram's."""
        if stored is not None:
            return self.get(stored) or self.reference
        return self.pick(telegram)

    def pick(self, language_code: str | None) -> Guide:
        """The guide for Telegram's `language_code` ("es-MX" → es); English otherwise."""
        base = (language_code or "").lower().replace("_", "-").split("-")[0]
        return self.by_language.get(base, self.reference)
