"""Telegram HTML: escaping, a marker for text that is already safe, and a checker that
refuses what the Bot API would reject."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

ALLOWED_TAGS = frozenset(
    [
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "tg-spoiler",
        "span",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    ]
)
ALLOWED_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


class Markup(str):
    """A string that is already valid Telegram HTML and must not be escaped again."""


def escape(text: str) -> Markup:
    return Markup(html.escape(text, quote=False))


def html_problems(markup: str) -> list[str]:
    """Every reason Telegram would refuse `markup`; empty when it is fine."""
    checker = _Checker()
    problems = checker.problems
    for match in re.finditer(r"&[^\s&]{0,12}", markup):
        if not ALLOWED_ENTITY.match(markup, match.start()):
            problems.append(f"bare '&' near {match.group()!r}: write &amp; (or &lt; &gt; &quot;)")
    checker.feed(markup)
    checker.close()
    if checker.open_tags:
        problems.append(f"unclosed tag <{checker.open_tags[-1]}>")
    return problems


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.problems: list[str] = []
        self.open_tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}> is not allowed by Telegram")
            return
        names = {name for name, _ in attrs}
        if tag == "a" and names != {"href"}:
            self.problems.append('<a> needs exactly one attribute, href="…"')
        elif tag == "span" and attrs != [("class", "tg-spoiler")]:
            self.problems.append('<span> is only allowed as <span class="tg-spoiler">')
        elif tag not in {"a", "span", "tg-emoji", "pre", "code", "blockquote"} and attrs:
            self.problems.append(f"tag <{tag}> takes no attributes")
        self.open_tags.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.problems.append(f"self-closing <{tag}/> is not allowed (Telegram has no <br>)")

    def handle_endtag(self, tag: str) -> None:
        if tag not in ALLOWED_TAGS:
            return  # already reported at the start tag
        if not self.open_tags or self.open_tags[-1] != tag:
            self.problems.append(f"</{tag}> does not close the tag that is open")
            return
        self.open_tags.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            self.problems.append("bare '<' or '>': write &lt; or &gt;")

    def handle_comment(self, data: str) -> None:
        self.problems.append("HTML comments are not allowed")
