"""The terminal front end, end to end through a subprocess with piped input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.console import choose, console_user_id
from bot.markup import Markup
from bot.walkthrough import Action, Button, Screen, Verb


def console(db: Path, keys: list[str], user: str = "tester", *extra: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "console", "--db", str(db), "--user", user, *extra],
        input="\n".join(keys) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.process
def test_walks_the_whole_guide_with_enter_alone(tmp_path: Path) -> None:
    out = console(tmp_path / "g.sqlite3", [""] * 120 + ["q"])
    assert "Part 1 of 5 · Collect information" in out
    assert "Step 15 of 16" in out  # the tenth checklist question
    assert "You answered yes to 10 of 10" in out
    assert "Part 5 of 5 · What to watch and read" in out
    assert "That's the whole guide." in out
    assert "\033[" not in out, "no terminal colours when output is piped"


@pytest.mark.process
def test_quitting_and_starting_again_resumes_at_the_same_step(tmp_path: Path) -> None:
    db = tmp_path / "g.sqlite3"
    first = console(db, ["1", "", "", "q"])
    assert "Step 3 of 16" in first
    assert "Your place is saved." in first
    second = console(db, ["", "q"])
    assert "Welcome back. You were here:" in second
    assert second.count("Part 1 of 5 · Collect information\nStep 3 of 16") == 2  # then the step
    other = console(db, ["q"], user="someone-else")
    assert "Hello, and welcome to Gently." in other


@pytest.mark.process
def test_commands_answers_labels_and_review(tmp_path: Path) -> None:
    db = tmp_path / "g.sqlite3"
    keys = [""] * 6  # confirm, then five text steps to the first checklist item
    keys += ["yes"]  # collect.why answered by label, one tap
    keys += ["not yet"] * 9  # the rest: the summary
    keys += ["go over the open ones", "/resources", "1", "/progress", "/menu", "nonsense", "q"]
    out = console(db, keys)
    assert "You answered yes to 1 of 10" in out
    assert "Still open: 9." in out
    assert "Tristan Taormino" in out
    assert "1. Collect information · 1/10 ✓" in out
    assert "Your answer: Not yet." in out  # going over the open ones shows the answer
    assert "Please pick one of the numbers above" in out


@pytest.mark.process
def test_delete_from_the_console(tmp_path: Path) -> None:
    db = tmp_path / "g.sqlite3"
    out = console(db, ["", "", "/delete", "2", "q"])
    assert "Erase everything?" in out
    assert "Everything I kept about you is gone" in out
    again = console(db, ["q"])
    assert "Hello, and welcome to Gently." in again


def test_choose_primary_is_always_one() -> None:
    primary = Button("Next", Action(Verb.NEXT, "a.b"), primary=True)
    menu = Button("☰ Menu", Action(Verb.MENU))
    screen = Screen(Markup("x"), ((menu, primary),))
    assert choose(screen, "") == primary.action
    assert choose(screen, "1") == primary.action
    assert choose(screen, "2") == menu.action
    assert choose(screen, "menu") == menu.action
    assert choose(screen, "/help") == Action(Verb.HELP)
    assert choose(screen, "7") is None
    assert console_user_id("a") < 0
    assert console_user_id("a") == console_user_id("a") != console_user_id("b")


@pytest.mark.process
def test_a_closed_output_pipe_ends_quietly(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line, as after `| head -0`
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bot", "console", "--db", str(tmp_path / "g.sqlite3")],
            input="\n\nq\n",
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.process
def test_the_console_takes_a_language(tmp_path: Path) -> None:
    out = console(tmp_path / "g.sqlite3", ["", "q"], "tester", "--lang", "de-DE")
    assert "Hallo und willkommen bei Gently." in out
    assert "Teil 1 von 5 · Informationen sammeln" in out


@pytest.mark.process
def test_after_the_under_18_exit_nothing_is_said_to_be_saved(tmp_path: Path) -> None:
    out = console(tmp_path / "g.sqlite3", ["2", "/resources", "q"])
    assert "Nothing about you has been saved." in out
    assert "(First things first: the guide is for adults, so it starts here.)" in out
    assert "That button belongs to an earlier message" not in out
    assert "Bye for now." in out and "Your place is saved." not in out
