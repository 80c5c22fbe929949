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
    Resource,
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


def all_resources(guide: Guide) -> list[Resource]:
    return [r for group in guide.resources for r in group.resources]


def test_all_part_five_resources_are_listed(guide: Guide) -> None:
    titles = {r.title: r for r in all_resources(guide)}
    assert titles["Bend Over Boyfriend"].details == "1998, presented by sexologist Carol Queen"
    assert titles["The Ultimate Guide to Anal Sex for Women"].author == "Tristan Taormino"
    assert titles["The Ultimate Guide to Prostate Pleasure"].author == (
        "Charlie Glickman and Aislinn Emirzian"
    )
    everything = " ".join(f"{r.title} {r.author} {r.description}" for r in all_resources(guide))
    for name in ("Strap-on Jo", "M. Lunas", "Rosie Franklin", "Thomas Macaulay Millar"):
        assert name in everything
    assert {"The Garden", "Good Vibrations", "Yes Means Yes!"} <= set(titles)
    # the two invented post titles are gone: posts are described by author and subject
    assert not {"How to have the safer-sex talk", "Building consent into sex"} & set(titles)
    read = guide.part("read")
    assert read is not None
    # Part 5 is one message per group (watch, read, learn in person), as /resources is
    assert [s.id for s in read.steps][:-1] == [f"read.{g.id}" for g in guide.resources]
    assert [g.id for g in guide.resources] == ["watch", "read", "learn"]
    assert read.steps[0].text in screens.resources(guide).text


def test_no_invented_addresses(guide: Guide) -> None:
    assert all(r.url is None for r in all_resources(guide))
    everything = json.dumps([s.text for p in guide.parts for s in p.steps])
    assert "http" not in everything


def test_every_rendered_step_is_valid_telegram_html_and_short(guide: Guide) -> None:
    for part in guide.parts:
        for step in part.steps:
            ticked = Progress(step_id=step.id, ticked=frozenset({step.id}))
            text = screens.step_screen(guide, ticked).text
            assert html_problems(text) == [], step.id
            assert len(text) < MAX_STEP_CHARS + 300 < 4096


def test_consent_is_unmistakable_and_the_warning_is_there(guide: Guide) -> None:
    step = guide.step("collect.a-process")
    assert step is not None
    assert "Consent does not have to be smooth or sexy" in step.text
    assert "It has to be there, every single time." in step.text
    assert "uncomfortable at first" in step.text
    assert "Nobody needs consent" not in step.text


# Each safety essential a sex educator expects, by what its sentence must say.
SAFETY_ESSENTIALS = {
    "lube and materials": (
        "Water-based lube is safe with everything",
        "silicone toys",
        "weakens latex",
    ),
    "no numbing": ("numbing creams", "Discomfort is how a body says slow down"),
    "switching": ("Never go from a bottom to a vagina or a mouth without a fresh condom or glove",),
    "nails": ("nails short and smooth",),
    "body signals": ("fullness or pressure is normal", "Sharp pain or bleeding means stop"),
    "when to see someone": ("see a doctor or a sexual-health clinic",),
    "testing": ("tested", "lining of the rectum is thin"),
    "mess": ("a little mess can happen", "nothing to be ashamed of"),
    "stuck": ("urgent care", "don't go digging"),
    "not medical advice": ("not medical advice",),
}


@pytest.mark.parametrize("essential", sorted(SAFETY_ESSENTIALS))
def test_every_safety_essential_is_in_the_walk_and_in_one_place(
    guide: Guide, essential: str
) -> None:
    in_one_place = screens.safety(guide).text
    for phrase in SAFETY_ESSENTIALS[essential]:
        assert any(phrase.lower() in s.text.lower() for s in guide.safety_steps), phrase
        assert phrase.lower() in in_one_place.lower()


def test_every_text_and_profile_is_within_telegrams_limits(guide: Guide) -> None:
    assert len(guide.messages.profile("description")) <= 512
    assert len(guide.messages.profile("short_description")) <= 120
    assert len(screens.safety(guide).text) < 4096
    assert len(screens.resources(guide).text) < 4096


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
    (content_copy / "en" / "parts" / "2-intimacy.toml").write_text(
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
        'text = """<b>Gloves are on hand.</b>\n\nThey make fingers smoother and clean-up simpler, '
        'and they can look rather dashing."""',
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
        "gay, submissive or any less",
        "gay & submissive or any less",
        "step you.not-gay: text: HTML Telegram would reject: bare '&'",
    ),
    "unclosed tag": (
        "parts/1-collect.toml",
        "<b>Do you know why you want this?</b>",
        "<b>Do you know why you want this?",
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
        "You answered yes to {yes} of {total}.",
        "You answered yes to {yess} of {total}.",
        "[text]: checklist_summary: unknown placeholder {yess}",
    ),
    "explicit reminder": (
        "messages.toml",
        'text = """Ready to pick up where you left off?"""',
        'text = """Ready for more anal play?"""',
        "[reminder]: text: may show on a lock screen",
    ),
    "explicit short description": (
        "messages.toml",
        'short_description = "A private,',
        'short_description = "Anal play, private,',
        "[profile]: short_description: may show on a lock screen or in a preview",
    ),
    "neighbours open alike": (
        "parts/2-intimacy.toml",
        "Then become the world's leading expert",
        "Plenty of reason to become the world's leading expert",
        "step intimacy.tell-them: opens with 'plenty' like the step before (intimacy.see-it)",
    ),
    "neighbours repeat a sentence": (
        "parts/4-is-it-you.toml",
        "There is far more to explore than one single act",
        "Gay sex is sex that gay people have. There is far more to explore than one act",
        "step you.play-not-sex: repeats a sentence of you.not-gay",
    ),
    "ending said twice": (
        "messages.toml",
        "Thank you for reading it with such care.",
        "Be gentle with each other, and have fun.",
        "[text]: finished: repeats the last step (read.bukowski)",
    ),
    "a second narrator": (
        "messages.toml",
        "I don't know that command.",
        "The bot doesn't know that command.",
        "[text]: unknown_command: says 'the bot'",
    ),
    "the narrator by name": (
        "messages.toml",
        "I don't know that command.",
        "Gently doesn't know that command.",
        "[text]: unknown_command: names Gently",
    ),
    "a button a phone cuts": (
        "messages.toml",
        'checklist = "Send me my checklist"',
        'checklist = "Please send me my whole checklist now"',
        "[buttons]: checklist: 37 characters; at most 32",
    ),
    "a shared-row button a phone cuts": (
        "messages.toml",
        'back = "← Back"',
        'back = "← Back to the previous step"',
        "[buttons]: back: 27 characters; at most 16",
    ),
    "a part title too long for its button": (
        "parts/2-intimacy.toml",
        'title = "Make it part of your intimacy"',
        'title = "Make the area part of your intimacy"',
        "part intimacy: title: its menu button",
    ),
    "a checklist without answers": (
        "parts/3-talk.toml",
        '[answers]\nyes = "✓ Ready"\nnot_yet = "Not yet"\n',
        "",
        "part talk: answers: a part with checklist items needs [answers]",
    ),
    "an answer too long to share a row": (
        "parts/1-collect.toml",
        'not_yet = "Not yet"',
        'not_yet = "Not yet, I need time"',
        "part collect [answers]: not_yet: plain text of at most 16 characters",
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
    relative = f"en/{relative}"  # English, the reference language
    edit(content_copy / relative, old, new)
    problems = problems_for(content_copy)
    named = [p for p in problems if expected in p]
    assert named, problems
    assert all(p.startswith(f"{relative}: ") for p in named), named


def test_empty_part(content_copy: Path) -> None:
    (content_copy / "en" / "parts" / "9-empty.toml").write_text(
        'id = "empty"\ntitle = "Empty"\nintro = "Nothing here."\n', encoding="utf-8"
    )
    assert any(
        p.startswith("en/parts/9-empty.toml: part empty: steps: the part is empty")
        for p in problems_for(content_copy)
    )


def test_text_over_the_limit(content_copy: Path) -> None:
    edit(content_copy / "en" / "parts/3-talk.toml", "Slower than you think.", "Slower. " * 500)
    assert any(
        p.startswith("en/parts/3-talk.toml: step talk.slowly: text: renders to")
        for p in problems_for(content_copy)
    )


def test_missing_file(content_copy: Path) -> None:
    (content_copy / "en" / "messages.toml").unlink()
    assert "en/messages.toml: file is missing" in problems_for(content_copy)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.process
def test_check_content_summarises_valid_content() -> None:
    result = run_cli("check-content")
    assert result.returncode == 0, result.stderr
    assert "Part 1 · Collect information: 14 steps, 10 checklist items" in result.stdout
    assert "24 checklist items, 10 resources in 3 messages" in result.stdout
    assert "Reading time per message" in result.stdout
    assert "The whole walk: about" in result.stdout


@pytest.mark.process
def test_check_content_lists_every_error(content_copy: Path) -> None:
    edit(
        content_copy / "en" / "parts/1-collect.toml",
        'why"\nkind = "checklist"',
        'why"\nkind = "quiz"',
    )
    edit(content_copy / "en" / "resources.toml", 'title = "The Garden"\n', "")
    result = run_cli("check-content", str(content_copy))
    assert result.returncode == 1
    assert "unknown kind 'quiz'" in result.stderr
    assert "resource shop-the-garden: title: is missing" in result.stderr


@pytest.mark.process
def test_check_content_json_shape() -> None:
    result = run_cli("check-content", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"sections", "resources"}
    section = data["sections"][2]
    assert set(section) == {"id", "title", "intro", "steps"}
    assert set(section["steps"][0]) == {"id", "kind", "text"}
    assert sum(s["kind"] == "checklist" for s in section["steps"]) == 14
    assert set(data["resources"][0]) == {
        "group",
        "kind",
        "title",
        "author",
        "details",
        "description",
        "url",
    }
