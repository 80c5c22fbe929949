"""The guide in the user's language (issue 15): validation of every language, choosing a
language, and the whole walk in Spanish and German through the real Application."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from bot.content import Guide, Guides, load_guides
from bot.telegram.codec import decode
from bot.walkthrough import Verb
from tests.helpers import FakeClock, edit, first_question, run_cli
from tests.telegram_helpers import Chat, running

ALICE, BOB = 1001, 1002
DAY = 24 * 3600


# -- validation ----------------------------------------------------------------------------


def test_every_language_is_complete_and_shaped_like_english(guides: Guides) -> None:
    assert list(guides.by_language) == ["en", "de", "es"]
    assert guides.incomplete == {}
    english = guides.reference
    for code, guide in guides.by_language.items():
        assert guide.language == code
        assert [s.id for p in guide.parts for s in p.steps] == [
            s.id for p in english.parts for s in p.steps
        ]
        assert ("es", "Español") in guide.languages and ("de", "Deutsch") in guide.languages


TALK_GLOVES_ES = '''[[steps]]
id = "talk.gloves"
kind = "checklist"'''

BROKEN_TRANSLATIONS = {
    "missing step": (
        "es/parts/3-talk.toml",
        TALK_GLOVES_ES,
        '[[steps]]\nid = "talk.gloves-gone"\nkind = "checklist"',
        "es/parts/3-talk.toml: part talk: steps differ from English (missing talk.gloves; "
        "extra talk.gloves-gone",
    ),
    "extra step": (
        "es/parts/4-is-it-you.toml",
        'id = "you.try"',
        'id = "you.extra"\nkind = "text"\ntext = """Un paso de más."""\n\n[[steps]]\n'
        'id = "you.try"',
        "es/parts/4-is-it-you.toml: part you: steps differ from English (extra you.extra",
    ),
    "placeholder mismatch": (
        "de/messages.toml",
        "{yes} von {total} Punkten abgehakt.",
        "{total} Punkte abgehakt.",
        "de/messages.toml: [text]: checklist_summary: placeholders ['title', 'total'] differ "
        "from English ['title', 'total', 'yes']",
    ),
    "explicit word in a reminder": (
        "es/messages.toml",
        'text = """¿Quieres seguir donde lo dejaste?"""',
        'text = """¿Quieres más sexo anal?"""',
        "es/messages.toml: [reminder]: text: may show on a lock screen or in a preview and "
        "must be discreet; remove: anal (anal), sexo (sex)",
    ),
    "missing key": (
        "de/messages.toml",
        'hide = "Chat leeren"\n',
        "",
        "de/messages.toml: [buttons]: hide: is missing",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_TRANSLATIONS))
def test_a_broken_translation_is_named_by_file_key_and_language_and_not_offered(
    content_copy: Path, case: str
) -> None:
    relative, old, new, expected = BROKEN_TRANSLATIONS[case]
    edit(content_copy / relative, old, new)
    guides = load_guides(content_copy)
    language = relative.split("/")[0]
    assert language not in guides.by_language, "an incomplete language is not offered"
    problems = guides.incomplete[language]
    assert any(expected in problem for problem in problems), problems
    assert guides.pick(language).language == "en"


@pytest.mark.process
def test_check_content_reports_an_incomplete_language_and_fails(content_copy: Path) -> None:
    edit(content_copy / "de/messages.toml", 'hide = "Chat leeren"\n', "")
    result = run_cli("check-content", str(content_copy))
    assert result.returncode == 1
    assert "de: incomplete, not offered to users; 1 problem(s)" in result.stderr
    assert "de/messages.toml: [buttons]: hide: is missing" in result.stderr
    assert "es (Español): complete" in result.stdout


@pytest.mark.process
def test_check_content_json_takes_a_language() -> None:
    result = run_cli("check-content", "--json", "--lang", "de")
    assert result.returncode == 0, result.stderr
    assert '"title": "Informationen sammeln"' in result.stdout


# -- choosing a language ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language_code", "expected"),
    [("es-MX", "es"), ("de", "de"), ("pt-BR", "en"), (None, "en"), ("ES", "es")],
)
async def test_first_contact_answers_in_telegrams_language(
    guides: Guides, db_path: Path, language_code: str | None, expected: str
) -> None:
    async with running(guides, db_path) as chat:  # type: ignore[arg-type]
        if language_code is not None:
            chat.updates.languages[ALICE] = language_code
        await chat.command(ALICE, "/start")
        assert chat.last_text(ALICE) == guides.by_language[expected].messages.text("welcome")
        await chat.press(ALICE, guides.by_language[expected].messages.button("confirm_adult"))
        assert _stored_language(db_path, ALICE) == expected


async def test_switching_language_keeps_the_place_and_the_answers(
    guides: Guides, db_path: Path
) -> None:
    english, spanish = guides.reference, guides.by_language["es"]
    async with running(guides, db_path) as chat:  # type: ignore[arg-type]
        await chat.begin(ALICE)
        for _ in range(first_question(english)):
            await chat.press(ALICE, english.messages.button("next"))
        await chat.press(ALICE, "✓ Yes")
        await chat.press(ALICE, "Not yet")
        before = _progress(db_path, ALICE)
        await chat.command(ALICE, "/language")
        await chat.press(ALICE, "Español")
        assert "Parte 1 de 5 · Reúne información" in chat.last_text(ALICE)
        assert "<i>Paso 8 de 16</i>" in chat.last_text(ALICE)
        assert chat.answers()[-1].params["text"] == spanish.messages.notice("language_set")
        assert _progress(db_path, ALICE) == before
        assert _stored_language(db_path, ALICE) == "es"
        await chat.press(ALICE, spanish.messages.button("back"))
        assert "Tu respuesta: Todavía no." in chat.last_text(ALICE)
        await chat.command(ALICE, "/privacy")
        assert "🌐 Español" in chat.last_text(ALICE)


async def test_a_typed_hint_answers_in_the_chosen_language(guides: Guides, db_path: Path) -> None:
    async with running(guides, db_path) as chat:  # type: ignore[arg-type]
        chat.updates.languages[ALICE] = "en"
        await chat.begin(ALICE)
        await chat.command(ALICE, "/language")
        await chat.press(ALICE, "Deutsch")
        await chat.send(chat.updates.message(ALICE, "hallo?"))
        assert chat.last_text(ALICE) == guides.by_language["de"].messages.text("use_buttons")


async def test_command_menus_and_profiles_are_registered_per_language(
    guides: Guides, db_path: Path
) -> None:
    async with running(guides, db_path) as chat:  # type: ignore[arg-type]
        menus = {
            c.params.get("language_code"): c for c in chat.api.calls if c.method == "setMyCommands"
        }
        assert set(menus) == {None, "de", "es"}
        for code, call in menus.items():
            messages = guides.by_language[code or "en"].messages
            assert call.params["scope"] == {"type": "all_private_chats"}
            described = {c["command"]: c["description"] for c in call.params["commands"]}
            assert described["language"] == messages.command("language")
            assert len(described) == 13
        profiles = {
            c.params.get("language_code"): c.params["description"]
            for c in chat.api.calls
            if c.method == "setMyDescription"
        }
        assert profiles == {
            code if code != "en" else None: g.messages.profile("description")
            for code, g in guides.by_language.items()
        }


async def test_a_reminder_goes_out_in_the_users_language(guides: Guides, db_path: Path) -> None:
    clock = FakeClock()
    german = guides.by_language["de"]
    async with running(guides, db_path, clock) as chat:  # type: ignore[arg-type]
        chat.updates.languages[BOB] = "de-AT"
        await chat.command(BOB, "/start")
        await chat.press(BOB, german.messages.button("confirm_adult"))
        await chat.command(BOB, "/remind")
        await chat.press(BOB, german.messages.reminder("tomorrow"))
        assert "morgen einen kurzen Stups" in chat.last_text(BOB)
        clock.advance(DAY + 1)
        timer = chat.gently.reminders
        await timer.tick()
        await timer.wait_idle()
        assert chat.last_text(BOB) == german.messages.reminder("text")


# -- the whole walk --------------------------------------------------------------------------


WORD = re.compile(r"[^\W\d_]+")


def words(text: str) -> set[str]:
    """The words a reader sees: no tags, no {placeholders}, no /commands."""
    text = re.sub(r"<[^>]+>|\{[^}]*\}|/[a-z_]+", " ", text)
    return {w.lower() for w in WORD.findall(text)}


def vocabulary(guide: Guide) -> set[str]:
    """Every word the guide's own content uses in this language (titles of books and
    films included, as published), and the languages' own names."""
    texts = [s.text for p in guide.parts for s in p.steps]
    texts += [p.title for p in guide.parts] + [p.intro for p in guide.parts]
    texts += [label for p in guide.parts if p.answers for label in p.answers]
    texts += [t for table in guide.messages.tables.values() for t in table.values()]
    texts += [name for _, name in guide.languages]
    return set().union(*(words(t) for t in texts))


@pytest.mark.parametrize("language", ["es", "de"])
async def test_the_whole_walk_without_a_single_english_string(
    guides: Guides, db_path: Path, language: str
) -> None:
    """Every word the user is shown, texts, buttons and pop-ups, comes from this
    language's own content: no English sentence, no string from the code."""
    guide = guides.by_language[language]
    known = vocabulary(guide)
    async with running(guides, db_path) as chat:  # type: ignore[arg-type]
        chat.updates.languages[ALICE] = language
        await chat.command(ALICE, "/start")
        await chat.press(ALICE, guide.messages.button("confirm_adult"))
        await _walk_to_the_end(chat, guide)
        for command in ("/resources", "/safety", "/progress", "/privacy", "/help", "/menu"):
            await chat.command(ALICE, command)
        await chat.press(ALICE, guide.messages.button("checklist"))
        await chat.command(ALICE, "/remind")
        await chat.send(chat.updates.message(ALICE, "hello"))
        shown = [c for c in chat.api.to(ALICE) if c.method in ("sendMessage", "editMessageText")]
        answers = [c.params.get("text") or "" for c in chat.answers()]
    assert len(shown) > 60
    for call in shown:
        labels = " ".join(label for label, _ in call.buttons)
        assert words(f"{call.text} {labels}") <= known, words(f"{call.text} {labels}") - known
    assert set().union(*(words(a) for a in answers)) <= known


async def _walk_to_the_end(chat: Chat, guide: Guide) -> None:
    forward = {Verb.YES, Verb.NEXT}
    for _ in range(200):
        if chat.last_text(ALICE) == guide.messages.text("finished"):
            return
        call = [c for c in chat.api.to(ALICE) if c.buttons][-1]
        data = next(d for _, d in call.buttons if (a := decode(d)) and a.verb in forward)
        assert call.message_id is not None
        await chat.send(chat.updates.tap(ALICE, data, call.message_id))
    raise AssertionError("the walk never reached the end")


def _stored_language(db: Path, user: int) -> str:
    with sqlite3.connect(db) as raw:
        return str(
            raw.execute("SELECT language FROM users WHERE user_id = ?", (user,)).fetchone()[0]
        )


def _progress(db: Path, user: int) -> tuple[object, ...]:
    with sqlite3.connect(db) as raw:
        row = raw.execute(
            "SELECT step_id, view, ticked, not_yet FROM users WHERE user_id = ?", (user,)
        ).fetchone()
    return tuple(row)
