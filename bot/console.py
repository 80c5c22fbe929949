"""The guide in a terminal, over the same walkthrough and store as the Telegram bot.

Each screen's buttons are numbered, the primary action always 1. Type a number, a
button's label, or nothing (the primary action); `/menu`-style commands work too, and
`q` quits. Works with piped input.
"""

from __future__ import annotations

import hashlib
import html
import re
import sys
from typing import TextIO

from bot.commands import command_action
from bot.content import Guides
from bot.markup import Markup
from bot.runtime import Chat, Origin, Runtime, Shown
from bot.store import Store
from bot.walkthrough import Action, Button, Outcome, Screen, Verb

QUIT = {"q", "quit", "exit", "/quit"}


def console_user_id(name: str) -> int:
    """A stable id for a terminal user. Negative, so it can never be a Telegram user's."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return -(int.from_bytes(digest[:6], "big") + 1)


def to_terminal(markup: str, bold: bool) -> str:
    text = re.sub(r'<a href="([^"]*)">(.*?)</a>', r"\2 (\1)", markup, flags=re.S)
    if bold:
        text = re.sub(
            r"</?(b|strong)>", lambda m: "\033[0m" if m.group(0)[1] == "/" else "\033[1m", text
        )
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(text)


def ordered_buttons(screen: Screen) -> list[Button]:
    """The screen's buttons with the primary one first."""
    buttons = list(screen.buttons)
    primary = screen.primary
    if primary is not None:
        buttons.remove(primary)
        buttons.insert(0, primary)
    return buttons


def choose(screen: Screen, line: str) -> Action | None:
    """The action a line of input asks for, or None if it matches nothing."""
    line = line.strip()
    buttons = ordered_buttons(screen)
    if line.startswith("/"):
        return command_action(line)
    if not line:
        return buttons[0].action if buttons else None
    if line.isdigit():
        index = int(line) - 1
        return buttons[index].action if 0 <= index < len(buttons) else None
    wanted = re.sub(r"\W+", " ", line).strip().lower()
    for button in buttons:
        if re.sub(r"\W+", " ", button.label).strip().lower() == wanted:
            return button.action
    return None


class Console:
    """The terminal front end: the runtime's delivery is printing to `out`."""

    def __init__(
        self,
        guides: Guides,
        store: Store,
        user_id: int,
        out: TextIO,
        *,
        color: bool,
        language: str | None = None,
    ) -> None:
        self.runtime = Runtime(guides, store, self)
        self.origin = Origin(language=language)  # like Telegram's language_code
        self.user_id = user_id
        self.out = out
        self.color = color
        self.screen = Screen(Markup(""))

    async def show(
        self, user_id: int, outcome: Outcome, origin: Origin | None, chat: Chat
    ) -> Shown:
        self.screen = outcome.screen
        self.print_screen(outcome.screen)
        return Shown()  # a terminal has no chat to clear

    async def erase(self, user_id: int, message_ids: tuple[int, ...]) -> tuple[int, ...]:
        return ()  # a terminal has no chat to clear

    async def unavailable(self, user_id: int, origin: Origin | None, *, say: bool) -> None:
        messages = self.runtime.guides.for_user(None, self.origin.language).messages
        print(messages.text("store_down"), file=self.out)

    def print_screen(self, screen: Screen) -> None:
        rule = "─" * 60
        print(rule, file=self.out)
        if screen.notice:
            print(f"({screen.notice})\n", file=self.out)
        print(to_terminal(screen.text, self.color), file=self.out)
        buttons = ordered_buttons(screen)
        if buttons:
            print(file=self.out)
            for number, button in enumerate(buttons, start=1):
                print(f"  [{number}] {button.label}", file=self.out)
            print("\nEnter = 1 · number or label · /help · q to quit", file=self.out)
        else:
            print("\n/start · /help · q to quit", file=self.out)

    async def say_goodbye(self) -> None:
        """Says the place is saved only when something is: not after the under-18 exit."""
        stored = await self.runtime.store.load_user(self.user_id)
        print("\nBye for now." + (" Your place is saved." if stored else ""), file=self.out)

    async def run(self, lines: TextIO) -> None:
        await self.runtime.act(self.user_id, Action(Verb.START), self.origin)
        while True:
            print("> ", end="", file=self.out, flush=True)
            line = lines.readline()
            if not line or line.strip().lower() in QUIT:
                await self.say_goodbye()
                return
            action = choose(self.screen, line)
            if action is None:
                print("Please pick one of the numbers above, or type /help.", file=self.out)
                continue
            await self.runtime.act(self.user_id, action, self.origin)


async def run_console(guides: Guides, store: Store, user: str, language: str | None) -> None:
    console = Console(
        guides,
        store,
        console_user_id(user),
        sys.stdout,
        color=sys.stdout.isatty(),
        language=language,
    )
    await console.run(sys.stdin)
