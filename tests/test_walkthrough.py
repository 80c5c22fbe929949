"""The walkthrough engine, pure: what a user sees and where they end up."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands import COMMANDS, command_action
from bot.content import Guide, Part
from bot.walkthrough import Action, Effect, Outcome, Progress, Verb, View, begin, handle, resolve


def press(guide: Guide, outcome: Outcome, label_key: str) -> Outcome:
    """Press the button whose label is messages.buttons[label_key] on the current screen."""
    label = guide.messages.button(label_key)
    (button,) = [b for b in outcome.screen.buttons if b.label == label]
    return handle(guide, outcome.progress, button.action)


def answer(guide: Guide, outcome: Outcome, yes: bool) -> Outcome:
    """Answer the checklist item on screen: one tap, which also moves on."""
    verb = Verb.YES if yes else Verb.NOT_YET
    (button,) = [b for b in outcome.screen.buttons if b.action.verb is verb]
    return handle(guide, outcome.progress, button.action)


def confirmed(guide: Guide) -> Outcome:
    return handle(guide, None, Action(Verb.CONFIRM))


def walk_to(guide: Guide, step_id: str) -> Outcome:
    outcome = confirmed(guide)
    for _ in range(200):
        if not outcome.progress or outcome.progress.step_id == step_id:
            return outcome
        outcome = handle(guide, outcome.progress, outcome.screen.primary.action)  # type: ignore[union-attr]
    raise AssertionError(f"the way forward never reached {step_id}")


def test_first_visit_asks_for_18_plus_and_stores_nothing_yet(guide: Guide) -> None:
    outcome = handle(guide, None, Action(Verb.START))
    assert outcome.progress is None
    assert "18 or older" in outcome.screen.text
    assert outcome.screen.primary and outcome.screen.primary.action == Action(Verb.CONFIRM, "en")


def test_under_18_gets_a_kind_goodbye_and_nothing_is_kept(guide: Guide) -> None:
    outcome = handle(guide, None, Action(Verb.UNDERAGE))
    assert outcome.progress is None
    assert outcome.effect is Effect.FORGET
    assert "Nothing about you has been saved" in outcome.screen.text


def test_confirming_opens_part_one_with_its_intro(guide: Guide) -> None:
    outcome = confirmed(guide)
    assert outcome.progress == begin(guide)
    assert "Part 1 of 5 · Collect information" in outcome.screen.text
    assert guide.parts[0].intro in outcome.screen.text
    assert guide.messages.button("back") not in [b.label for b in outcome.screen.buttons]


def test_one_tap_answers_a_checklist_item_and_moves_on(guide: Guide) -> None:
    outcome = walk_to(guide, "talk.no-alcohol")
    assert "Part 3 of 5 · Talking about it" in outcome.screen.text
    assert "Step 10 of 23" in outcome.screen.text  # one way of counting: steps of the part
    part = guide.part("talk")
    assert part is not None and part.answers is not None
    labels = [b.label for b in outcome.screen.rows[0]]
    assert labels == list(part.answers)  # the part's own two answers, from content/
    yes = answer(guide, outcome, True)
    assert yes.progress.step_id == "talk.hand-in-hand"  # type: ignore[union-attr]
    assert "talk.no-alcohol" in yes.progress.ticked  # type: ignore[union-attr]
    not_yet = answer(guide, yes, False)
    assert not_yet.progress.step_id == "talk.lube"  # type: ignore[union-attr]
    assert not_yet.progress.answer("talk.hand-in-hand") is False  # type: ignore[union-attr]
    assert not_yet.progress.answer("talk.lube") is None  # type: ignore[union-attr]


def test_going_back_shows_the_answer_and_lets_it_change(guide: Guide) -> None:
    outcome = answer(guide, walk_to(guide, "talk.no-alcohol"), False)
    back = press(guide, outcome, "back")
    assert back.progress.step_id == "talk.no-alcohol"  # type: ignore[union-attr]
    assert guide.messages.text("your_answer", answer="Not yet") in back.screen.text
    changed = answer(guide, back, True)
    assert changed.progress.answer("talk.no-alcohol") is True  # type: ignore[union-attr]
    assert "talk.no-alcohol" not in changed.progress.not_yet  # type: ignore[union-attr]


def test_answering_twice_from_the_same_message_is_stale(guide: Guide) -> None:
    outcome = walk_to(guide, "collect.why")
    yes = Action(Verb.YES, "collect.why")
    once = handle(guide, outcome.progress, yes)
    twice = handle(guide, once.progress, yes)  # a double tap: the user has moved on
    assert twice.progress == once.progress
    assert twice.screen.notice == guide.messages.notice("stale")


def test_checklist_summary_offers_to_revisit_open_items(guide: Guide) -> None:
    outcome = answer(guide, walk_to(guide, "collect.why"), True)
    while outcome.progress.view is View.STEP:  # type: ignore[union-attr]
        outcome = answer(guide, outcome, False)
    assert "You answered yes to 1 of 10" in outcome.screen.text
    assert "Still open: 9." in outcome.screen.text
    review = press(guide, outcome, "review")
    assert review.progress.step_id == "collect.what-you-know"  # type: ignore[union-attr]
    visited = []
    while review.progress.view is View.STEP:  # type: ignore[union-attr]
        visited.append(review.progress.step_id)  # type: ignore[union-attr]
        review = answer(guide, review, True)
    assert len(visited) == 9
    assert "You answered yes to 10 of 10" in review.screen.text
    after = press(guide, review, "continue")
    assert after.progress.step_id == "collect.the-big-question"  # type: ignore[union-attr]


def test_the_end_offers_resources_and_menu(guide: Guide) -> None:
    outcome = walk_to(guide, guide.parts[-1].steps[-1].id)
    assert outcome.screen.primary.label == guide.messages.button("finish")  # type: ignore[union-attr]
    end = handle(guide, outcome.progress, outcome.screen.primary.action)  # type: ignore[union-attr]
    assert end.progress.finished and end.progress.view is View.FINISHED  # type: ignore[union-attr]
    labels = [b.label for b in end.screen.buttons]
    assert guide.messages.button("resources") in labels
    assert guide.messages.button("menu") in labels


def test_resources_menu_and_progress_keep_the_position(guide: Guide) -> None:
    outcome = walk_to(guide, "talk.lube")
    for verb in (Verb.RESOURCES, Verb.MENU, Verb.PROGRESS, Verb.HELP, Verb.PRIVACY):
        side = handle(guide, outcome.progress, Action(verb))
        assert side.progress == outcome.progress
    resources = handle(guide, outcome.progress, Action(Verb.RESOURCES))
    assert "Tristan Taormino" in resources.screen.text
    back = handle(guide, outcome.progress, resources.screen.primary.action)  # type: ignore[union-attr]
    assert back.screen.text == outcome.screen.text


def test_progress_overview_counts_answers_per_part(guide: Guide) -> None:
    outcome = answer(guide, walk_to(guide, "collect.why"), True)
    overview = handle(guide, outcome.progress, Action(Verb.PROGRESS)).screen.text
    assert "1. Collect information · 1/10 ✓" in overview
    assert "3. Talking about it · 0/14 ✓" in overview
    assert "Part 1 of 5 · Collect information</b>\n<i>Step 7 of 16" in overview


def test_jump_to_a_part_from_the_menu(guide: Guide) -> None:
    outcome = confirmed(guide)
    jumped = handle(guide, outcome.progress, Action(Verb.JUMP, "you"))
    assert jumped.progress.step_id == "you.get"  # type: ignore[union-attr]
    assert "Part 4 of 5 · Is it you?" in jumped.screen.text


def test_welcome_back_counts_as_the_step_does(guide: Guide) -> None:
    outcome = walk_to(guide, "talk.no-alcohol")
    again = handle(guide, outcome.progress, Action(Verb.START))
    where = "Part 3 of 5 · Talking about it</b>\n<i>Step 10 of 23</i>"
    assert where in again.screen.text
    assert where in outcome.screen.text  # the same words as the step's own header
    assert again.progress == outcome.progress


def test_a_finished_user_is_not_asked_to_carry_on(guide: Guide) -> None:
    last = walk_to(guide, guide.parts[-1].steps[-1].id)
    end = handle(guide, last.progress, last.screen.primary.action)  # type: ignore[union-attr]
    again = handle(guide, end.progress, Action(Verb.START))
    assert again.screen.text == guide.messages.text("welcome_back_finished")
    verbs = {b.action.verb for b in again.screen.buttons}
    assert {Verb.MENU, Verb.RESOURCES, Verb.RESTART, Verb.CHECKLIST} <= verbs
    assert Verb.RESUME not in verbs
    remind = handle(guide, end.progress, Action(Verb.REMIND))
    assert remind.screen.text == guide.messages.reminder("nothing_left")
    assert Verb.REMIND_SET not in {b.action.verb for b in remind.screen.buttons}


def test_my_checklists_list_every_item_with_its_answer(guide: Guide) -> None:
    outcome = answer(guide, walk_to(guide, "collect.why"), True)
    outcome = answer(guide, outcome, False)  # collect.what-you-know: not yet
    sent = handle(guide, outcome.progress, Action(Verb.CHECKLIST))
    assert sent.progress == outcome.progress  # nothing extra stored
    text = sent.screen.text
    assert "✅ Do you know why you want this?" in text
    assert "⏳ Have you read up on anal play?" in text
    assert "○ Does your partner know you find their bottom attractive?" in text
    items = [s for part in guide.parts for s in part.checklist]
    assert sum(text.count(f" {s.title}") for s in items) == len(items) == 24
    assert len(text) < 4096


def test_stale_and_forged_buttons_get_the_current_screen(guide: Guide) -> None:
    outcome = walk_to(guide, "talk.lube")
    for action in (
        Action(Verb.NEXT, "collect.why"),  # an older message
        Action(Verb.YES, "talk.no-such-step"),  # a step that no longer exists
        Action(Verb.YES, "talk.pick-your-way"),  # a text step
        Action(Verb.JUMP, "nowhere"),
        Action(Verb.NEXT, None),
    ):
        stale = handle(guide, outcome.progress, action)
        assert stale.progress == outcome.progress
        assert stale.screen.notice == guide.messages.notice("stale")
        assert stale.screen.text == outcome.screen.text


def test_buttons_after_delete_lead_back_to_the_welcome(guide: Guide) -> None:
    outcome = handle(guide, None, Action(Verb.NEXT, "talk.lube"))
    assert outcome.progress is None
    assert outcome.screen.notice == guide.messages.notice("stale")
    assert "18 or older" in outcome.screen.text


def test_delete_and_restart_ask_first(guide: Guide) -> None:
    outcome = walk_to(guide, "talk.lube")
    ask = handle(guide, outcome.progress, Action(Verb.DELETE), token="t1")
    assert ask.progress == replace(outcome.progress, pending="delete_yes:t1")
    assert ask.effect is Effect.NONE
    gone = handle(guide, ask.progress, Action(Verb.DELETE_CONFIRM, "t1"))
    assert gone.progress is None and gone.effect is Effect.FORGET
    ask = handle(guide, outcome.progress, Action(Verb.RESTART), token="t2")
    restart = handle(guide, ask.progress, Action(Verb.RESTART_CONFIRM, "t2"))
    assert restart.progress == begin(guide)


def test_content_edit_moves_a_removed_step_to_its_heir(guide: Guide) -> None:
    talk = guide.part("talk")
    assert talk is not None
    without_gloves = replace(talk, steps=tuple(s for s in talk.steps if s.id != "talk.gloves"))
    edited = Guide(
        parts=tuple(without_gloves if p.id == "talk" else p for p in guide.parts),
        resources=guide.resources,
        messages=guide.messages,
    )
    saved = walk_to(guide, "talk.gloves").progress
    assert saved is not None
    saved = replace(saved, ticked=saved.ticked | {"talk.gloves", "old.removed"})
    moved = resolve(edited, saved)
    assert moved.step_id == "talk.condoms"
    assert "talk.gloves" not in moved.ticked and "old.removed" not in moved.ticked
    gone_part = resolve(edited, replace(saved, step_id="oldpart.step", step_index=3))
    assert gone_part.step_id == guide.first_step.id


# -- invariants over any sequence of actions ------------------------------------------------


def all_actions(guide: Guide) -> list[Action]:
    steps = [s.id for p in guide.parts for s in p.steps]
    step_verbs = [Verb.NEXT, Verb.BACK, Verb.YES, Verb.NOT_YET]
    actions = [Action(v, s) for v in step_verbs for s in steps]
    actions += [Action(v, p.id) for v in (Verb.JUMP, Verb.REVIEW) for p in guide.parts]
    actions += [Action(v) for v in Verb if v not in step_verbs]
    actions += [Action(Verb.NEXT, "forged.step"), Action(Verb.JUMP, None)]
    return actions


def check_invariants(guide: Guide, progress: Progress | None) -> None:
    if progress is None:
        return
    step = guide.step(progress.step_id)
    assert step is not None, "position is a real step"
    checklist = {s.id for p in guide.parts for s in p.checklist}
    assert progress.ticked <= checklist, "ticks exist only for checklist steps"
    if progress.view is View.SUMMARY or progress.reviewing:
        assert step.is_checklist


GUIDE_FOR_STRATEGIES: list[Guide] = []


def guide_once() -> Guide:
    from bot.content import load_guide

    if not GUIDE_FOR_STRATEGIES:
        GUIDE_FOR_STRATEGIES.append(load_guide())
    return GUIDE_FOR_STRATEGIES[0]


def next_press(guide: Guide, outcome: Outcome, choose: Callable[[int], int]) -> Action:
    """What a user does next: mostly a button of the screen in front of them; now and then
    a stale or forged press (an old message's button, or made-up data)."""
    buttons = outcome.screen.buttons
    roll = choose(10)
    if not buttons or roll == 0:
        pool = all_actions(guide)
        return pool[choose(len(pool))]
    primary = outcome.screen.primary
    if primary is not None and roll <= 6:  # people mostly take the way forward
        return primary.action
    return buttons[choose(len(buttons))].action


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_invariants_hold_for_any_walk(data: st.DataObject) -> None:
    guide = guide_once()
    outcome = handle(guide, None, Action(Verb.START))
    for _ in range(data.draw(st.integers(1, 80))):
        action = next_press(guide, outcome, lambda n: data.draw(st.integers(0, n - 1)))
        outcome = handle(guide, outcome.progress, action)
        check_invariants(guide, outcome.progress)
        assert outcome.screen.text or (outcome.clear_chat and outcome.screen.notice)
        assert len(outcome.screen.text) < 4096


def test_a_walk_of_button_presses_reaches_every_screen(guide: Guide) -> None:
    """The strategy above is worth its name: pressing the current screen's buttons reaches
    every step, both checklist summaries, review mode and Back across a part boundary."""
    rng = random.Random(3)
    outcome = handle(guide, None, Action(Verb.START))
    steps, summaries, reviewing, back_across = set(), set(), False, False
    for _ in range(20_000):
        before = outcome.progress
        action = next_press(guide, outcome, rng.randrange)
        outcome = handle(guide, before, action)
        progress = outcome.progress
        if progress is None:
            continue
        steps.add(progress.step_id)
        if progress.view is View.SUMMARY:
            summaries.add(guide.position(progress.step_id)[0])
        reviewing |= progress.reviewing
        if action.verb is Verb.BACK and before is not None:
            back_across |= guide.position(before.step_id)[0] > guide.position(progress.step_id)[0]
    assert steps == {s.id for p in guide.parts for s in p.steps}
    assert summaries == {i for i, p in enumerate(guide.parts) if p.checklist}
    assert reviewing and back_across


def test_back_moves_within_a_part_and_across_parts(guide: Guide) -> None:
    second = guide.parts[1].steps[0]
    at = Progress(step_id=second.id, seen_parts=frozenset({"collect", second.part_id}))
    back = handle(guide, at, Action(Verb.BACK, second.id)).progress
    assert back is not None and back.step_id == guide.parts[0].steps[-1].id
    middle = guide.parts[0].steps[2]
    at = Progress(step_id=middle.id, step_index=2, seen_parts=frozenset({"collect"}))
    back = handle(guide, at, Action(Verb.BACK, middle.id)).progress
    assert back is not None and back.step_id == guide.parts[0].steps[1].id


def test_back_from_a_summary_returns_to_the_last_item(guide: Guide) -> None:
    last = guide.parts[0].checklist[-1]
    index = guide.position(last.id)[1]
    at = Progress(
        step_id=last.id, step_index=index, view=View.SUMMARY, seen_parts=frozenset({"collect"})
    )
    back = handle(guide, at, Action(Verb.BACK, last.id)).progress
    assert back is not None and (back.step_id, back.view) == (last.id, View.STEP)


def test_back_while_reviewing_goes_to_the_previous_open_item(guide: Guide) -> None:
    items = guide.parts[0].checklist
    ticked = frozenset({items[1].id})  # items 0 and 2 stay open
    index = guide.position(items[2].id)[1]
    at = Progress(
        step_id=items[2].id,
        step_index=index,
        ticked=ticked,
        reviewing=True,
        seen_parts=frozenset({"collect"}),
    )
    back = handle(guide, at, Action(Verb.BACK, items[2].id)).progress
    assert back is not None and back.step_id == items[0].id and back.reviewing


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_back_from_first_stays_and_next_from_last_finishes(data: st.DataObject) -> None:
    guide = guide_once()
    first = begin(guide)
    back = handle(guide, first, Action(Verb.BACK, first.step_id))
    assert back.progress == first
    last = guide.parts[-1].steps[-1]
    at_end = Progress(step_id=last.id, step_index=len(guide.parts[-1].steps) - 1)
    done = handle(guide, at_end, Action(Verb.NEXT, last.id)).progress
    assert done is not None and done.finished and done.view is View.FINISHED
    # and a random walk of nexts always ends there too
    progress = data.draw(st.sampled_from([s.id for p in guide.parts for s in p.steps]))
    current: Progress | None = resolve(guide, Progress(step_id=progress))
    for _ in range(200):
        assert current is not None
        if current.finished:
            break
        outcome = handle(
            guide, current, handle(guide, current, Action(Verb.RESUME)).screen.primary.action
        )  # type: ignore[union-attr]
        current = outcome.progress
    assert current is not None and current.finished


@st.composite
def edited_guides(draw: st.DrawFn, guide: Guide) -> Guide:
    parts: list[Part] = []
    for part in guide.parts:
        if len(guide.parts) > 1 and draw(st.integers(0, 9)) == 0:
            continue  # the whole part removed
        steps = list(part.steps)
        steps = [s for s in steps if draw(st.integers(0, 4)) != 0] or steps[:1]
        if draw(st.booleans()):
            steps = draw(st.permutations(steps))
        steps = [
            replace(s, id=f"{s.id}-renamed") if draw(st.integers(0, 6)) == 0 else s for s in steps
        ]
        parts.append(replace(part, steps=tuple(steps)))
    return Guide(
        parts=tuple(parts) or guide.parts, resources=guide.resources, messages=guide.messages
    )


@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_saved_progress_survives_any_content_edit(data: st.DataObject) -> None:
    guide = guide_once()
    outcome = handle(guide, None, Action(Verb.CONFIRM))
    for _ in range(data.draw(st.integers(0, 80))):
        press = next_press(guide, outcome, lambda n: data.draw(st.integers(0, n - 1)))
        outcome = handle(guide, outcome.progress, press)
    progress = outcome.progress or begin(guide)
    edited = data.draw(edited_guides(guide))
    moved = resolve(edited, progress)
    check_invariants(edited, moved)
    outcome = handle(edited, progress, data.draw(st.sampled_from(all_actions(edited))))
    check_invariants(edited, outcome.progress)


def test_restarting_keeps_the_language_even_when_answered_in_the_fallback(guide: Guide) -> None:
    """A user whose language became incomplete is answered in English, the fallback; a
    restart then must not make English their language for good."""
    spanish = replace(begin(guide), language="es", tidy=True)
    asked = handle(guide, spanish, Action(Verb.RESTART), token="t1").progress
    again = handle(guide, asked, Action(Verb.RESTART_CONFIRM, "t1"))
    assert again.progress is not None
    assert (again.progress.language, again.progress.tidy) == ("es", True)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_command_before_the_welcome_is_answered_is_not_called_a_stale_button(
    guide: Guide, name: str
) -> None:
    typed = handle(guide, None, command_action(f"/{name}") or Action(Verb.UNKNOWN))
    assert typed.progress is None
    assert typed.screen.notice != guide.messages.notice("stale"), name


def test_the_welcome_comes_first_with_a_word_of_why(guide: Guide) -> None:
    for verb in (Verb.RESOURCES, Verb.MENU, Verb.SAFETY, Verb.PROGRESS):
        typed = handle(guide, None, Action(verb))
        assert typed.screen.notice == guide.messages.notice("welcome_first")
        assert typed.screen.text == handle(guide, None, Action(Verb.START)).screen.text
    old_button = handle(guide, None, Action(Verb.NEXT, "collect.why"))
    assert old_button.screen.notice == guide.messages.notice("stale")
