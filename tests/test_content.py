"""The packaged guide is complete and valid, and every class of broken file is named."""

from __future__ import annotations

import json
import re
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
from bot.content.voice import plain, walk
from bot.markup import html_problems
from bot.walkthrough import Progress, screens
from tests import fingerprint
from tests.helpers import edit, run_cli


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
    assert titles["Bend Over Boyfriend"].details == (
        "Fatale Video, 1998, presented by sexologist Carol Queen"
    )
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
    consent, process = guide.step("collect.both-want-it"), guide.step("collect.a-process")
    assert consent is not None and process is not None
    assert "Consent does not have to be smooth or sexy" in consent.text
    assert "It has to be there, every single time." in consent.text
    assert "uncomfortable or even hurt" in process.text
    assert "Nobody needs consent" not in consent.text + process.text


# Each safety essential a sex educator expects, by what its sentence must say.
SAFETY_ESSENTIALS = {
    "lube and materials": (
        "Water-based lube is safe with everything",
        "silicone toys",
        "weakens latex",
    ),
    "no numbing": ("numbing creams", "Discomfort is how a body asks you to slow down"),
    "no natural lubrication": ("The anus makes no lubrication of its own", "lube is not optional"),
    "flared base": ("flared base", "made for anal use", "non-porous"),
    "the pain rule": (
        "Pressure or mild discomfort: pause, add lube, go slower",
        "Pain: stop",
        "Bleeding: stop, and give it time to heal",
    ),
    "switching": ("Never go from the anus to a vagina or a mouth", "fresh condom or glove"),
    "nails and gloves": ("Nails short and smooth, and gloves as well",),
    "mouths": ("dental dam",),
    "prep": ("Douching is optional", "plain lukewarm water, gently"),
    "when to see someone": ("see a doctor or a sexual-health clinic", "pain every time"),
    "testing": ("rectal and throat swabs", "lining of the rectum is thin"),
    "vaccines and prep": ("hepatitis A and B", "HPV", "PrEP"),
    "mess": ("a little mess can still happen", "nothing to be ashamed of"),
    "stuck": ("emergency department (A&amp;E, ER)", "don't go digging"),
    "red flags": ("Heavy bleeding, severe belly pain or a fever afterwards: go to an emergency",),
    "poppers": ("poppers", "erection pills"),
    "latex allergy": ("nitrile gloves and polyurethane condoms",),
    "oil and condoms": ("Oil-based lube weakens latex and polyisoprene",),
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


def test_safety_opens_with_a_fact_not_a_checklist_question(guide: Guide) -> None:
    essentials = screens.safety(guide).text.split("\n\n", 1)[1]
    assert essentials.startswith("<b>The anus makes no lubrication of its own.</b>")
    first_question = min(essentials.find(s.text) for s in guide.safety_steps if s.is_checklist)
    assert all(
        essentials.find(s.text) < first_question for s in guide.safety_steps if not s.is_checklist
    )


# What the educator asked for outside /safety, by the step it belongs in.
IN_THEIR_STEPS = {
    "talk.gloves": "nitrile",
    "talk.condoms": "polyurethane condoms are the ones to buy (polyisoprene works too",
    "talk.slowly": "the inner one is not under conscious control",
    "talk.they-lead": "a signal that needs no words",
    "talk.no-alcohol": "poppers",
    "intimacy.which-lube": "without numbing, warming or flavour additives",
    "collect.your-own-body": "Clean hands and short, smooth nails. Plenty of lube",
}


@pytest.mark.parametrize("step_id", sorted(IN_THEIR_STEPS))
def test_what_an_educator_would_add_is_where_it_belongs(guide: Guide, step_id: str) -> None:
    step = guide.step(step_id)
    assert step is not None and IN_THEIR_STEPS[step_id] in step.text


def test_one_pain_rule_wherever_pain_comes_up(guide: Guide) -> None:
    """Pain means stop, in every step that speaks of it; going slower is for discomfort."""
    speaks_of_pain = [
        s for s in walk(guide) if re.search(r"\b(pain|hurts?)\b", plain(s.text), re.IGNORECASE)
    ]
    assert {"intimacy.no-numbing", "talk.when-they-say-yes", "talk.body-signals"} <= {
        s.id for s in speaks_of_pain
    }
    for step in speaks_of_pain:
        text = plain(step.text)
        assert not re.search(r"(hurts|pain)[^.]*\b(slower|more lube)", text, re.IGNORECASE), step.id
    for step_id in ("intimacy.no-numbing", "talk.when-they-say-yes", "talk.body-signals"):
        found = guide.step(step_id)
        assert found is not None and re.search(r"(Pain|hurts?)\W[^.]*\bstop", plain(found.text))


def test_a_no_closes_the_question_and_a_yes_is_never_assumed(guide: Guide) -> None:
    after_a_no = guide.step("talk.after-a-no")
    assert after_a_no is not None
    assert "You don't bring it up again" in after_a_no.text
    assert "theirs to reopen" in after_a_no.text
    everything = " ".join(plain(s.text) for s in walk(guide))
    assert "when they say yes" not in everything
    assert "Reach for their bottom now and then" not in everything


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
        'text = """<b>Bottoms have moods, and you will listen to theirs.</b>\n\n'
        'Some days call for a lot, some for very little, and you follow their lead."""',
        'text = "  "',
        "step talk.listen: text: is empty",
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
        'short_description = "A step-by-step',
        'short_description = "Analplay, a step-by-step',
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
    "a gate on a text step": (
        "parts/3-talk.toml",
        'id = "talk.after-a-no"\nkind = "text"',
        'id = "talk.after-a-no"\nkind = "text"\ngate = true',
        "step talk.after-a-no: gate: only a checklist item can be a gate",
    ),
    "a lock-screen word inside a compound": (
        "messages.toml",
        'text = """Ready to pick up where you left off?"""',
        'text = """Buttons ready? Your bottomless curiosity awaits."""',
        "[reminder]: text: may show on a lock screen or in a preview and must be discreet; "
        "remove: bottomless (bottom)",
    ),
    "a part title too long for its button": (
        "parts/2-intimacy.toml",
        'title = "Small steps"',
        'title = "Small steps, taken slowly, together"',
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


def test_a_safety_message_telegram_would_refuse(content_copy: Path) -> None:
    edit(content_copy / "en" / "parts/3-talk.toml", "so keep a towel nearby", "so " + "x" * 2400)
    assert "en/parts/: the /safety message is 5" in "\n".join(problems_for(content_copy))


def test_text_over_the_limit(content_copy: Path) -> None:
    edit(content_copy / "en" / "parts/3-talk.toml", "then slower still.", "Slower. " * 500)
    assert any(
        p.startswith("en/parts/3-talk.toml: step talk.slowly: text: renders to")
        for p in problems_for(content_copy)
    )


def test_missing_file(content_copy: Path) -> None:
    (content_copy / "en" / "messages.toml").unlink()
    assert "en/messages.toml: file is missing" in problems_for(content_copy)


@pytest.mark.process
def test_check_content_summarises_valid_content() -> None:
    result = run_cli("check-content")
    assert result.returncode == 0, result.stderr
    assert "Part 1 · Collect information: 16 steps, 10 checklist items" in result.stdout
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
