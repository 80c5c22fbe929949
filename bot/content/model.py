"""The guide as typed, frozen data: parts, steps, resources and the bot's own texts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
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

    @property
    def is_checklist(self) -> bool:
        return self.kind is StepKind.CHECKLIST


@dataclass(frozen=True)
class Part:
    id: str
    title: str
    intro: Markup
    steps: tuple[Step, ...]

    @cached_property
    def checklist(self) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if step.is_checklist)


@dataclass(frozen=True)
class Resource:
    id: str
    kind: ResourceKind
    title: str
    description: str
    author: str | None = None
    url: str | None = None

    def render(self) -> Markup:
        """The resource as one short block of Telegram HTML."""
        title = (
            f'<a href="{escape(self.url)}">{escape(self.title)}</a>'
            if self.url
            else (f"<b>{escape(self.title)}</b>")
        )
        byline = f", {escape(self.author)}" if self.author else ""
        icon = RESOURCE_ICONS[self.kind]
        return Markup(f"{icon} {title}{byline}\n{escape(self.description)}")


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


@dataclass(frozen=True)
class Guide:
    parts: tuple[Part, ...]
    resources: tuple[Resource, ...]
    messages: Messages = field(compare=False)
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
        return Markup("\n\n".join(resource.render() for resource in self.resources))
