"""The packaged guide is complete and valid, and every class of broken file is named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.content import (
    MAX_STEP_CHARS,
    ContentError,
    Guide,
    StepKind,
    default_content_dir,
    load_guide,
)
from bot.markup import html_problems
from bot.walkthrough import Progress, screens
from tests import fingerprint


def test_five_parts_in_the_order_of_the_post(guide: Guide) -> None:
    assert [p.id for p in guide.parts] == ["collect", "intimacy", "talk", "you", "read"]
    assert [len(p.checklist) for p in guide.parts] == [10, 0, 14, 0, 0]


def test_every_checklist_item_is_its_own_step_with_a_prompt(guide: Guide) -> None:
    for part in guide.parts:
        for step in part.checklist:
            assert step.kind is StepKind.CHECKLIST
            assert step.id.startswith(f"{part.id}.")
            assert step.text.startswith("<b>"), f"{step.id} should open with its prompt"


def test_all_part_five_resources_are_listed(guide: Guide) -> None:
    titles = {r.title: r for r in guide.resources}
    assert "Bend Over Boyfriend" in titles
    assert titles["The Ultimate Guide to Anal Sex for Women"].author == "Tristan Taormino"
    assert titles["The Ultimate Guide to Prostate Pleasure"].author == (
        "Charlie Glickman and Aislinn Emirzian"
    )
    authors = {r.author for r in guide.resources}
    assert {"Strap-on Jo", "M. Lunas", "Rosie Franklin"} <= authors
    assert {"The Garden", "Good Vibrations"} <= set(titles)
    assert any("Yes Means Yes" in (r.author or "") for r in guide.resources)
    read = guide.part("read")
    assert read is not None
    assert [s.id for s in read.steps][: len(guide.resources)] == [
        f"read.{r.id}" for r in guide.resources
    ]


def test_no_invented_addresses(guide: Guide) -> None:
    assert all(r.url is None for r in guide.resources)
    everything = json.dumps([s.text for p in guide.parts for s in p.steps])
    assert "http" not in everything


def test_every_rendered_step_is_valid_telegram_html_and_short(guide: Guide) -> None:
    for part in guide.parts:
        for step in part.steps:
            ticked = Progress(step_id=step.id, ticked=frozenset({step.id}))
            text = screens.step_screen(guide, ticked).text
            assert html_problems(text) == [], step.id
            assert len(text) < MAX_STEP_CHARS + 300 < 4096


def copied_runs(directory: Path, source: frozenset[str]) -> set[str]:
    """Ten-word runs of content files that match the source post (titles and the one
    quoted line are facts, and allowed)."""
    return {
        f"{path.name}: {run}"
        for path in sorted(directory.rglob("*.toml"))
        for digest, run in fingerprint.runs(path.read_text(encoding="utf-8")).items()
        if digest in source and "bukowski" not in run and "soul" not in run
    }


def test_written_in_the_projects_own_words() -> None:
    """Compared by hash (tests/source-fingerprint.txt), so nothing outside the repo is read."""
    assert not copied_runs(default_content_dir(), fingerprint.load())


def test_a_copied_sentence_is_caught(content_copy: Path) -> None:
    sentence = "one two three four five six seven eight nine ten eleven"
    (content_copy / "parts" / "2-intimacy.toml").write_text(
        f'id = "x"\ntext = "{sentence.title()}"\n', encoding="utf-8"
    )
    source = frozenset(fingerprint.runs(f"Before. {sentence}. After."))
    assert len(copied_runs(content_copy, source)) == 2


# -- broken copies ------------------------------------------------------------------------


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text not found in {path.name}: {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def problems_for(directory: Path) -> list[str]:
    with pytest.raises(ContentError) as caught:
        load_guide(directory)
    return caught.value.problems


BROKEN = {
    "unparsable file": (
        "parts/2-intimacy.toml",
        'id = "intimacy"',
        'id = "intimacy',
        "parts/2-intimacy.toml: cannot be parsed",
    ),
    "duplicate step id": (
        "parts/3-talk.toml",
        'id = "talk.gloves"',
        'id = "talk.lube"',
        "step talk.lube: id: duplicate step id",
    ),
    "missing text": (
        "parts/4-is-it-you.toml",
        'kind = "text"\ntext = """Look',
        'kind = "text"\nbody = """Look',
        "step you.get: text: is missing",
    ),
    "empty text": (
        "parts/3-talk.toml",
        'text = """<b>You have gloves.</b>\n\nThey make things smoother and cleaner, and they can look rather good."""',
        'text = "  "',
        "step talk.gloves: text: is empty",
    ),
    "unknown kind": (
        "parts/1-collect.toml",
        'id = "collect.why"\nkind = "checklist"',
        'id = "collect.why"\nkind = "quiz"',
        "step collect.why: kind: unknown kind 'quiz'",
    ),
    "html telegram would reject": (
        "parts/2-intimacy.toml",
        "<b>The anus makes no lubrication of its own.</b>",
        "<h1>The anus makes no lubrication of its own.</h1>",
        "step intimacy.lube-basics: text: HTML Telegram would reject: tag <h1> is not allowed",
    ),
    "bare ampersand": (
        "parts/4-is-it-you.toml",
        "gay, submissive or less",
        "gay & submissive or less",
        "step you.not-gay: text: HTML Telegram would reject: bare '&'",
    ),
    "unclosed tag": (
        "parts/1-collect.toml",
        "<b>Why do you want this?</b>",
        "<b>Why do you want this?",
        "step collect.why: text: HTML Telegram would reject: unclosed tag <b>",
    ),
    "resource without a title": (
        "resources.toml",
        'title = "Good Vibrations"\n',
        "",
        "resource shop-good-vibrations: title: is missing",
    ),
    "unknown key": (
        "resources.toml",
        'author = "Tristan Taormino"',
        'auther = "Tristan Taormino"',
        "resource guide-anal-women: unknown key 'auther'",
    ),
    "unknown placeholder": (
        "messages.toml",
        "You ticked {ticked} of {total}.",
        "You ticked {tickd} of {total}.",
        "[text]: checklist_summary: unknown placeholder {tickd}",
    ),
    "explicit reminder": (
        "messages.toml",
        'text = """Ready to pick up where you left off?"""',
        'text = """Ready for more anal play?"""',
        "[reminder]: text: reminders may show on a lock screen",
    ),
    "step id of another part": (
        "parts/2-intimacy.toml",
        'id = "intimacy.touch"',
        'id = "talk.touch"',
        "step talk.touch: id: must start with the part id",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_broken_file_names_file_place_and_field(content_copy: Path, case: str) -> None:
    relative, old, new, expected = BROKEN[case]
    edit(content_copy / relative, old, new)
    problems = problems_for(content_copy)
    named = [p for p in problems if expected in p]
    assert named, problems
    assert all(p.startswith(f"{relative}: ") for p in named), named


def test_empty_part(content_copy: Path) -> None:
    (content_copy / "parts" / "9-empty.toml").write_text(
        'id = "empty"\ntitle = "Empty"\nintro = "Nothing here."\n', encoding="utf-8"
    )
    assert any(
        p.startswith("parts/9-empty.toml: part empty: steps: the part is empty")
        for p in problems_for(content_copy)
    )


def test_text_over_the_limit(content_copy: Path) -> None:
    edit(content_copy / "parts/3-talk.toml", "Slower than you think.", "Slower. " * 500)
    assert any(
        p.startswith("parts/3-talk.toml: step talk.slowly: text: renders to")
        for p in problems_for(content_copy)
    )


def test_missing_file(content_copy: Path) -> None:
    (content_copy / "messages.toml").unlink()
    assert "messages.toml: file is missing" in problems_for(content_copy)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=60
    )


def test_check_content_summarises_valid_content() -> None:
    result = run_cli("check-content")
    assert result.returncode == 0, result.stderr
    assert "Part 1 · Collect information: 14 steps, 10 checklist items" in result.stdout
    assert "24 checklist items, 9 resources" in result.stdout


def test_check_content_lists_every_error(content_copy: Path) -> None:
    edit(content_copy / "parts/1-collect.toml", 'why"\nkind = "checklist"', 'why"\nkind = "quiz"')
    edit(content_copy / "resources.toml", 'title = "The Garden"\n', "")
    result = run_cli("check-content", str(content_copy))
    assert result.returncode == 1
    assert "unknown kind 'quiz'" in result.stderr
    assert "resource shop-the-garden: title: is missing" in result.stderr


def test_check_content_json_shape() -> None:
    result = run_cli("check-content", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"sections", "resources"}
    section = data["sections"][2]
    assert set(section) == {"id", "title", "intro", "steps"}
    assert set(section["steps"][0]) == {"id", "kind", "text"}
    assert sum(s["kind"] == "checklist" for s in section["steps"]) == 14
    assert set(data["resources"][0]) == {"kind", "title", "author", "description", "url"}
