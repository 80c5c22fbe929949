"""The third edition's mechanics, in every language: the readiness gate, translations that
record the English they follow, and lock-screen words matched as stems."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from bot.content import Guide, Guides, default_content_dir, load_guides
from bot.content.discretion import LockScreenWords
from bot.content.follows import CHANGED, StampError, stamp
from bot.content.load import telegram_length
from bot.walkthrough import Action, Outcome, Verb, View, handle
from tests.helpers import edit, run_cli

LANGUAGES = ("en", "es", "de")


# -- the readiness gate --------------------------------------------------------------------


def part_three_summary(guide: Guide, not_yet: set[str]) -> Outcome:
    """Walk to Part 3 and answer its checklist: "Not yet" for `not_yet`, "Ready" otherwise."""
    outcome = handle(guide, None, Action(Verb.CONFIRM))
    outcome = handle(guide, outcome.progress, Action(Verb.JUMP, "talk"))
    talk = guide.part("talk")
    assert talk is not None
    for _ in range(len(talk.steps) + 1):
        progress = outcome.progress
        assert progress is not None
        step = guide.step(progress.step_id)
        assert step is not None
        if progress.view is View.SUMMARY:
            return outcome
        if step.is_checklist:
            verb = Verb.NOT_YET if step.id in not_yet else Verb.YES
            outcome = handle(guide, progress, Action(verb, step.id))
        else:
            outcome = handle(guide, progress, Action(Verb.NEXT, step.id))
    raise AssertionError("Part 3's summary never came")


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_gate_answered_not_yet_holds_off_the_talk(guides: Guides, language: str) -> None:
    guide = guides.by_language[language]
    talk = guide.part("talk")
    assert talk is not None
    gates = {step.id for step in talk.gates}
    assert gates >= {"talk.they-lead", "talk.no-is-fine"}
    hold = guide.messages.text("checklist_hold", items="").split("\n")[0]
    for gate in sorted(gates):
        held = part_three_summary(guide, {gate}).screen.text
        assert hold in held, (language, gate)
        title = next(step.title for step in talk.gates if step.id == gate)
        assert f"• {title}" in held
    other = next(s.id for s in talk.checklist if not s.gate)
    not_held = part_three_summary(guide, {other}).screen.text
    assert hold not in not_held
    assert guide.messages.text("checklist_open", open=1) in not_held
    assert hold not in part_three_summary(guide, set()).screen.text


def test_a_gate_answered_ready_again_lifts_the_hold(guides: Guides) -> None:
    guide = guides.reference
    held = part_three_summary(guide, {"talk.no-is-fine"})
    assert held.progress is not None
    again = handle(guide, held.progress, Action(Verb.REVIEW, "talk"))
    assert again.progress is not None and again.progress.step_id == "talk.no-is-fine"
    lifted = handle(guide, again.progress, Action(Verb.YES, "talk.no-is-fine"))
    assert lifted.progress is not None and lifted.progress.view is View.SUMMARY
    hold = guide.messages.text("checklist_hold", items="").split("\n")[0]
    assert hold not in lifted.screen.text
    assert guide.messages.text("checklist_all_yes") in lifted.screen.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_hold_is_said_again_wherever_the_walk_looks_finished(
    guides: Guides, language: str
) -> None:
    guide = guides.by_language[language]
    held = part_three_summary(guide, {"talk.they-lead"})
    outcome = walk_to_the_end(guide, held)
    hold = guide.messages.text("checklist_hold", items="").split("\n")[0]
    assert hold in outcome.screen.text, "the finish says the talk is still on hold"
    again = handle(guide, outcome.progress, Action(Verb.START))
    assert hold in again.screen.text, "and so does the welcome back"
    overview = handle(guide, outcome.progress, Action(Verb.PROGRESS)).screen.text
    assert "✋ 3." in overview
    review = handle(guide, outcome.progress, Action(Verb.REVIEW, "talk"))
    assert review.progress is not None and review.progress.step_id == "talk.they-lead"
    lifted = walk_to_the_end(
        guide, handle(guide, review.progress, Action(Verb.YES, "talk.they-lead"))
    )
    assert hold not in lifted.screen.text
    assert "✋" not in handle(guide, lifted.progress, Action(Verb.PROGRESS)).screen.text


def walk_to_the_end(guide: Guide, outcome: Outcome) -> Outcome:
    outcome = handle(guide, outcome.progress, Action(Verb.JUMP, "read"))
    for _ in range(100):
        if outcome.progress is None or outcome.progress.view is View.FINISHED:
            return outcome
        outcome = handle(guide, outcome.progress, outcome.screen.primary.action)  # type: ignore[union-attr]
    raise AssertionError("the walk never reached the end")


def test_a_translation_must_mark_the_same_gates(content_copy: Path) -> None:
    edit(
        content_copy / "es/parts/3-talk.toml",
        'id = "talk.no-is-fine"\nkind = "checklist"\ngate = true',
        'id = "talk.no-is-fine"\nkind = "checklist"',
    )
    guides = load_guides(content_copy)
    assert "es" not in guides.by_language
    assert any("order, kind, safety or gate marks" in p for p in guides.incomplete["es"])


# -- translations follow English -----------------------------------------------------------

CHANGED_TEXT = "Picture holding their hand the whole way."


def test_every_translation_follows_todays_english(guides: Guides) -> None:
    assert guides.stale == {}


def test_an_english_edit_makes_both_translations_stale_and_still_served(
    content_copy: Path,
) -> None:
    edit(content_copy / "en/parts/3-talk.toml", CHANGED_TEXT, "Picture walking hand in hand.")
    guides = load_guides(content_copy)
    key = "parts/3-talk.toml: steps.talk.hand-in-hand.text"
    assert guides.stale == {
        "de": [f"de/{key}: English changed since it was translated"],
        "es": [f"es/{key}: English changed since it was translated"],
    }
    assert set(guides.by_language) == {"en", "es", "de"}, "a stale translation is still served"

    before = guides.by_language["es"]
    assert stamp(content_copy, "es", [f"  - es/{key}: {CHANGED}"]) == [f"es/{key}"]
    after = load_guides(content_copy)
    assert list(after.stale) == ["de"], "stamping one language leaves the other stale"
    assert after.by_language["es"].parts == before.parts, "stamping changes no text"
    assert after.by_language["es"].messages.tables == before.messages.tables


def test_a_renamed_part_file_is_still_followed(content_copy: Path) -> None:
    (content_copy / "es/parts/3-talk.toml").rename(content_copy / "es/parts/3-hablar.toml")
    edit(content_copy / "en/parts/3-talk.toml", CHANGED_TEXT, "Picture walking hand in hand.")
    assert load_guides(content_copy).stale["es"] == [
        f"es/parts/3-hablar.toml: steps.talk.hand-in-hand.text: {CHANGED}"
    ]


def test_a_broken_follows_table_is_a_problem_not_a_crash(content_copy: Path) -> None:
    path = content_copy / "es/messages.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text('follows = "x"\n' + text[: text.index("[follows]")], encoding="utf-8")
    guides = load_guides(content_copy)
    assert "es" not in guides.by_language
    assert any("follows: must be a table" in p for p in guides.incomplete["es"])


def test_a_follows_table_that_is_not_last_is_refused_and_stamp_writes_nothing(
    content_copy: Path,
) -> None:
    path = content_copy / "de/parts/4-is-it-you.toml"
    text = path.read_text(encoding="utf-8")
    head, table = text.split("[follows]\n")
    moved = f'{head.rstrip()}\n\n[follows]\n{table}\n[[steps]]\nid = "you.extra"\n'
    path.write_text(moved, encoding="utf-8")
    assert any(
        "must be the file's last table" in p for p in load_guides(content_copy).incomplete["de"]
    )
    edit(content_copy / "en/parts/1-collect.toml", "Lovely.", "How lovely.")
    snapshot = {p: p.read_bytes() for p in (content_copy / "de").rglob("*.toml")}
    with pytest.raises(StampError):
        stamp(content_copy, "de")
    assert {p: p.read_bytes() for p in (content_copy / "de").rglob("*.toml")} == snapshot


def test_stamping_an_unknown_text_writes_nothing(content_copy: Path) -> None:
    edit(content_copy / "en/parts/3-talk.toml", CHANGED_TEXT, "Picture walking hand in hand.")
    snapshot = {p: p.read_bytes() for p in (content_copy / "es").rglob("*.toml")}
    real = "es/parts/3-talk.toml: steps.talk.hand-in-hand.text"
    with pytest.raises(StampError, match=re.escape("no such translated text: es/parts/3-talk")):
        stamp(content_copy, "es", [real, "es/parts/3-talk.toml: typo"])
    assert {p: p.read_bytes() for p in (content_copy / "es").rglob("*.toml")} == snapshot


def test_stamp_refuses_english_and_a_file_it_cannot_read(content_copy: Path) -> None:
    with pytest.raises(StampError, match="the reference"):
        stamp(content_copy, "en")
    (content_copy / "es/resources.toml").write_text("[broken", encoding="utf-8")
    with pytest.raises(StampError, match=re.escape("resources.toml: cannot be read")):
        stamp(content_copy, "es")


def test_a_paragraph_break_counts_but_spaces_do_not(content_copy: Path) -> None:
    edit(content_copy / "en/parts/3-talk.toml", "answer freely.", "answer  freely. ")
    assert load_guides(content_copy).stale == {}
    edit(content_copy / "en/parts/3-talk.toml", "rests on them.\n\nTap", "rests on them. Tap")
    assert set(load_guides(content_copy).stale) == {"es", "de"}


def test_stamping_keeps_only_texts_that_exist_in_both(content_copy: Path) -> None:
    path = content_copy / "es/messages.toml"
    edit(path, "[follows]\n", '[follows]\n"text.gone" = "00000000"\n')
    edit(content_copy / "en/messages.toml", "Language changed.", "Language switched.")
    assert stamp(content_copy, "es") == ["es/messages.toml: notices.language_set"]
    assert '"text.gone"' not in path.read_text(encoding="utf-8")
    assert load_guides(content_copy).stale == {
        "de": [f"de/messages.toml: notices.language_set: {CHANGED}"]
    }


def test_a_new_translated_text_without_a_record_is_stale(content_copy: Path) -> None:
    edit(content_copy / "es/messages.toml", '"notices.stale" = ', '"notices.old" = ')
    assert load_guides(content_copy).stale == {
        "es": ["es/messages.toml: notices.stale: records no English text it follows"]
    }


@pytest.mark.process
def test_check_content_lists_stale_translations_and_fails(content_copy: Path) -> None:
    edit(content_copy / "en/parts/3-talk.toml", CHANGED_TEXT, "Picture walking hand in hand.")
    result = run_cli("check-content", str(content_copy))
    assert result.returncode == 1
    for language in ("es", "de"):
        assert (
            f"  - {language}/parts/3-talk.toml: steps.talk.hand-in-hand.text: "
            "English changed since it was translated"
        ) in result.stderr
    assert "es (Español): complete" in result.stdout
    stamped = run_cli("stamp-translation", "es", "--dir", str(content_copy))
    assert stamped.stdout == (
        "es: 1 text(s) now recorded as following today's English\n"
        "  - es/parts/3-talk.toml: steps.talk.hand-in-hand.text\n"
    )
    typo = run_cli("stamp-translation", "es", "x: y", "--dir", str(content_copy))
    assert (typo.returncode, typo.stderr) == (1, "Nothing stamped: no such translated text: x: y\n")


# -- lock-screen words match by stem -------------------------------------------------------


@pytest.fixture(scope="module")
def lock_screen() -> dict[str, LockScreenWords]:
    import tomllib

    lists = {}
    for language in LANGUAGES:
        path = default_content_dir() / language / "lock-screen.toml"
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        lists[language] = LockScreenWords.of(
            data["refused"], data.get("allowed", []), data.get("whole", [])
        )
    return lists


REFUSED = {
    "en": [
        "Your sexy weekend?",
        "Bottoms up!",
        "Lubricants on sale",
        "Your new toys wait.",
        "Nice ass.",
    ],
    "es": [
        "¿Sexuales?",
        "Culos y más",
        "Tus vibradores",
        "¿Follamos?",
        "Vamos a coger",
        "Tu ano",
        "Qué nalgona",
    ],
    "de": [
        "Zeit für dein Analspiel?",
        "Dein neues Toy wartet.",
        "Hast du Lube da?",
        "Dein Sexleben ruft.",
        "Der Plug ist da.",
        "Geiler Abend?",
        "Dein Po wartet.",
    ],
}
ALLOWED = {
    "en": [
        "Tap the button to pass on, class.",
        "Ready to pick up where you left off?",
        "The ambassador will assemble a coarse analysis.",
    ],
    "es": [
        "Feliz año nuevo",
        "Dame la mano",
        "Un vehículo",
        "Tu recordatorio semanal",
        "El canal mexicano",
        "Un mensaje anónimo",
    ],
    "de": [
        "Eine kurze Analyse",
        "Der Kanal ist analog.",
        "Ein lustiger Abend",
        "Butterbrot",
        "Die Post kommt, im Tempo der Nachbarschaft.",
        "Ein lebhafter Rechtsexperte flüstert.",
    ],
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_refused_words_are_caught_inside_words(
    lock_screen: dict[str, LockScreenWords], language: str
) -> None:
    for text in REFUSED[language]:
        assert lock_screen[language].hits(text), (language, text)
    for text in ALLOWED[language]:
        assert lock_screen[language].hits(text) == [], (language, text)


def test_accents_and_case_do_not_hide_a_word() -> None:
    words = LockScreenWords.of(["erotic", "coño", "ano"], ["mano"])
    assert words.hits("ERÓTICO") == ["erotico (erotic)"]
    decomposed = unicodedata.normalize("NFD", "coño, feliz año")
    assert words.hits(decomposed) == ["coño (coño)"], "a decomposed ñ is still ñ"


def test_an_allowed_word_must_hold_the_stem_it_excuses(content_copy: Path) -> None:
    edit(content_copy / "es/lock-screen.toml", '"escoger",', '"escoge", "anal",')
    problems = load_guides(content_copy).incomplete["es"]
    assert any("'escoge' excuses nothing" in p for p in problems), problems
    assert any("'anal' excuses nothing" in p for p in problems), "a stem cannot allow itself"


def test_telegram_counts_text_after_entity_parsing_in_utf16_units() -> None:
    assert telegram_length("<b>a&amp;b</b>😀") == 5


def test_a_part_title_is_checked_like_a_lock_screen_text(content_copy: Path) -> None:
    edit(
        content_copy / "de/parts/2-intimacy.toml",
        'title = "Kleine Schritte"',
        'title = "Intime Schritte"',
    )
    problems = load_guides(content_copy).incomplete["de"]
    assert any("part intimacy: title: shows in every step's header" in p for p in problems)
