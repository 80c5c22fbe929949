"""The walkthrough as a pure function: (guide, progress, action) → outcome."""

from __future__ import annotations

from dataclasses import replace

from bot.content import Guide, Part, Step
from bot.walkthrough import screens
from bot.walkthrough.model import (
    ANSWER_VERBS,
    CONFIRM_VERBS,
    PART_VERBS,
    REMINDER_CHOICES,
    REMINDER_OFF,
    STEP_VERBS,
    Action,
    Effect,
    Outcome,
    Progress,
    ReminderChange,
    Verb,
    View,
)

# Which step verbs each view accepts; anything else on that step is a stale button.
VIEW_VERBS = {
    View.STEP: STEP_VERBS,
    View.SUMMARY: frozenset({Verb.NEXT, Verb.BACK}),
    View.FINISHED: frozenset(),
}

# What someone who has not answered the welcome may type (or tap on an old message): the
# welcome again, with a word that it comes first, not the stale-button notice.
COMMAND_VERBS = frozenset(
    {
        Verb.RESUME,
        Verb.MENU,
        Verb.PROGRESS,
        Verb.RESOURCES,
        Verb.SAFETY,
        Verb.REMIND,
        Verb.REMIND_SET,
        Verb.RESTART,
    }
)


def begin(guide: Guide) -> Progress:
    first = guide.first_step
    return Progress(
        step_id=first.id, seen_parts=frozenset({first.part_id}), language=guide.language
    )


def resolve(guide: Guide, progress: Progress) -> Progress:
    """Make saved progress fit the current content: a removed step gives way to the step
    now at its place in the same part (else the guide's start); stale ticks are dropped."""
    step = guide.step(progress.step_id)
    if (
        step is not None
        and progress.ticked <= guide.checklist_ids
        and progress.not_yet <= guide.checklist_ids
        and step.part_id in progress.seen_parts
        and progress.seen_parts <= guide.part_ids
        and guide.position(step.id)[1] == progress.step_index
        and (step.is_checklist or (progress.view is not View.SUMMARY and not progress.reviewing))
    ):
        return progress  # already fits: the common case, kept cheap
    ticked = progress.ticked & guide.checklist_ids
    not_yet = progress.not_yet & guide.checklist_ids
    seen = progress.seen_parts & guide.part_ids
    if step is None:
        part = guide.part(progress.step_id.partition(".")[0])
        step = (
            part.steps[min(progress.step_index, len(part.steps) - 1)]
            if part
            else (guide.first_step)
        )
        return replace(
            progress,
            step_id=step.id,
            step_index=guide.position(step.id)[1],
            view=View.STEP,
            ticked=ticked,
            not_yet=not_yet,
            seen_parts=seen | {step.part_id},
            reviewing=False,
        )
    if not step.is_checklist and (progress.view is View.SUMMARY or progress.reviewing):
        progress = replace(progress, view=View.STEP, reviewing=False)
    return replace(
        progress,
        ticked=ticked,
        not_yet=not_yet,
        seen_parts=seen | {step.part_id},
        step_index=guide.position(step.id)[1],
    )


# destructive confirmation → (its text, its button), both in messages.toml
ASKS = {
    Verb.DELETE_CONFIRM: ("delete_confirm", "delete_yes"),
    Verb.RESTART_CONFIRM: ("restart_confirm", "restart_yes"),
}


def handle(guide: Guide, progress: Progress | None, action: Action, token: str = "0") -> Outcome:
    """Apply one action. Never raises for odd input: stale or unknown actions get the
    current screen back with a notice. `token` is a fresh one-time token, used only if this
    action opens a destructive confirmation."""
    if progress is None:
        return _handle_stranger(guide, action)
    verb = action.verb
    if verb is Verb.HIDE:  # hiding the chat answers nothing: a "yes" sent before it stands
        return Outcome(resolve(guide, progress), screens.hidden(guide), clear_chat=True)
    # any other action answers or leaves the open confirmation: it is never open again
    asked, progress = progress.pending, replace(resolve(guide, progress), pending=None)
    if verb in CONFIRM_VERBS:
        return _confirmed(guide, progress, action, asked, token)
    if verb in (Verb.DELETE, Verb.UNDERAGE):  # under 18 after confirming 18+: erase, if sure
        return _ask(guide, progress, Verb.DELETE_CONFIRM, token)
    if verb is Verb.RESTART:
        return _ask(guide, progress, Verb.RESTART_CONFIRM, token)
    if verb in STEP_VERBS:
        return _handle_step(guide, progress, action)
    if verb is Verb.REMIND_SET:
        return _remind(guide, progress, action.target)
    if verb is Verb.SET_LANGUAGE:
        if action.target != guide.language:  # the runtime hands over the chosen language
            return stale(guide, progress)
        moved = replace(progress, language=guide.language)
        return show(guide, moved, notice=guide.messages.notice("language_set"))
    if verb in PART_VERBS:
        part = guide.part(action.target or "")
        if part is None:
            return stale(guide, progress)
        if verb is Verb.JUMP:
            return show(guide, _at(guide, progress, part.steps[0]))
        return _review(guide, progress, part)
    return _handle_other(guide, progress, verb)


def show(
    guide: Guide, progress: Progress, *, in_place: bool = False, notice: str | None = None
) -> Outcome:
    screen = screens.current(guide, progress)
    return Outcome(progress, replace(screen, in_place=in_place, notice=notice))


def stale(guide: Guide, progress: Progress | None) -> Outcome:
    if progress is None:
        return Outcome(None, replace(screens.welcome(guide), notice=guide.messages.notice("stale")))
    return show(guide, progress, notice=guide.messages.notice("stale"))


def _handle_stranger(guide: Guide, action: Action) -> Outcome:
    verb = action.verb
    if verb is Verb.CONFIRM:  # its target names the welcome's language: the guide given
        return show(guide, begin(guide))
    if verb is Verb.UNDERAGE:
        return Outcome(None, screens.info(guide, "under18", False), Effect.FORGET)
    if verb is Verb.HELP:
        return Outcome(None, screens.info(guide, "help", False))
    if verb is Verb.PRIVACY:
        return Outcome(None, screens.privacy_text(guide))
    if verb is Verb.LANGUAGE:
        return Outcome(None, screens.languages(guide, acknowledged=False))
    if verb is Verb.SET_LANGUAGE:
        if action.target != guide.language:
            return stale(guide, None)
        notice = guide.messages.notice("language_set")
        return Outcome(None, replace(screens.welcome(guide), notice=notice))
    if verb in (Verb.DELETE, Verb.DELETE_CONFIRM):
        # the chat ledger may hold a stranger's message ids: erased too
        return Outcome(None, screens.info(guide, "nothing_stored", False), Effect.FORGET)
    if verb is Verb.HIDE:
        return Outcome(None, screens.hidden(guide), clear_chat=True)
    if verb is Verb.START:
        return Outcome(None, screens.welcome(guide))
    if verb in COMMAND_VERBS:
        notice = guide.messages.notice("welcome_first")
        return Outcome(None, replace(screens.welcome(guide), notice=notice))
    return stale(guide, None)


def _handle_step(guide: Guide, progress: Progress, action: Action) -> Outcome:
    verb = action.verb
    if action.target != progress.step_id or verb not in VIEW_VERBS[progress.view]:
        return stale(guide, progress)
    step = guide.step(progress.step_id)
    assert step is not None
    if verb in ANSWER_VERBS:
        if not step.is_checklist:
            return stale(guide, progress)
        return show(guide, _forward(guide, _answer(progress, step, verb is Verb.YES), step))
    if verb is Verb.BACK:
        if progress.view is not View.STEP:
            return show(guide, replace(progress, view=View.STEP))
        return show(guide, _back(guide, progress, step))
    return show(guide, _forward(guide, progress, step))


def _handle_other(guide: Guide, progress: Progress, verb: Verb) -> Outcome:
    if verb in (Verb.RESUME, Verb.CONFIRM):
        return show(guide, progress)
    if verb is Verb.START:
        if progress.view is View.FINISHED:
            return Outcome(progress, screens.welcome_back_finished(guide, progress))
        return Outcome(progress, screens.welcome_back(guide, progress))
    if verb is Verb.CHECKLIST:
        return Outcome(progress, screens.my_checklists(guide, progress))
    if verb is Verb.SAFETY:
        return Outcome(progress, screens.safety(guide))
    if verb is Verb.LANGUAGE:
        return Outcome(progress, screens.languages(guide, acknowledged=True))
    if verb is Verb.MENU:
        return Outcome(progress, screens.menu(guide))
    if verb is Verb.PROGRESS:
        return Outcome(progress, screens.progress_overview(guide, progress))
    if verb is Verb.RESOURCES:
        return Outcome(progress, screens.resources(guide))
    if verb is Verb.HELP:
        return Outcome(progress, screens.info(guide, "help", True))
    if verb is Verb.PRIVACY:
        return Outcome(progress, screens.privacy(guide, progress))
    if verb is Verb.TIDY:
        tidy = replace(progress, tidy=not progress.tidy)
        notice = guide.messages.notice("tidy_on" if tidy.tidy else "tidy_off")
        return Outcome(tidy, replace(screens.privacy(guide, tidy), in_place=True, notice=notice))
    if verb is Verb.CANCEL:
        return Outcome(progress, screens.info(guide, "cancelled", True))
    if verb is Verb.REMIND:
        if progress.view is View.FINISHED:  # nothing left to come back for
            return Outcome(progress, screens.remind_nothing_left(guide))
        return Outcome(progress, screens.remind_offer(guide))
    return stale(guide, progress)


def _ask(guide: Guide, progress: Progress, yes: Verb, token: str, again: bool = False) -> Outcome:
    """Open a destructive confirmation: its button carries `token`, and only that button,
    while this confirmation is the last one shown, acts."""
    text_key, yes_key = ASKS[yes]
    screen = screens.confirm(guide, text_key, yes_key, Action(yes, token))
    notice = guide.messages.notice("confirm_again") if again else None
    return Outcome(replace(progress, pending=f"{yes}:{token}"), replace(screen, notice=notice))


def _confirmed(
    guide: Guide, progress: Progress, action: Action, asked: str | None, token: str
) -> Outcome:
    """A "yes" to a destructive confirmation: it acts only if it answers the one still
    open; an older button (or one from before tokens) asks anew."""
    if action.target is None or asked != f"{action.verb}:{action.target}":
        return _ask(guide, progress, action.verb, token, again=True)
    if action.verb is Verb.RESTART_CONFIRM:
        restarted = replace(begin(guide), tidy=progress.tidy, language=progress.language)
        return show(guide, restarted)
    return Outcome(
        None,
        screens.info(guide, "deleted", False),
        Effect.FORGET,
        clear_chat=True,
        if_left=screens.info(guide, "deleted_leftovers", False),
    )


def _remind(guide: Guide, progress: Progress, choice: str | None) -> Outcome:
    if choice == REMINDER_OFF:
        change = ReminderChange(None)
    elif choice in REMINDER_CHOICES:
        change = ReminderChange(REMINDER_CHOICES[choice][0])
    else:
        return stale(guide, progress)
    return Outcome(progress, screens.remind_done(guide, choice), reminder=change)


def _at(
    guide: Guide, progress: Progress, step: Step, *, view: View = View.STEP, reviewing: bool = False
) -> Progress:
    return replace(
        progress,
        step_id=step.id,
        step_index=guide.position(step.id)[1],
        view=view,
        reviewing=reviewing,
        seen_parts=progress.seen_parts | {step.part_id},
    )


def _answer(progress: Progress, step: Step, yes: bool) -> Progress:
    if yes:
        return replace(
            progress, ticked=progress.ticked | {step.id}, not_yet=progress.not_yet - {step.id}
        )
    return replace(
        progress, ticked=progress.ticked - {step.id}, not_yet=progress.not_yet | {step.id}
    )


def _open_items(part: Part, progress: Progress) -> list[Step]:
    return [item for item in part.checklist if item.id not in progress.ticked]


def _review(guide: Guide, progress: Progress, part: Part) -> Outcome:
    open_items = _open_items(part, progress)
    if not open_items:
        last = part.checklist[-1] if part.checklist else part.steps[-1]
        return show(
            guide, _at(guide, progress, last, view=View.SUMMARY if part.checklist else View.STEP)
        )
    return show(guide, _at(guide, progress, open_items[0], reviewing=True))


def _forward(guide: Guide, progress: Progress, step: Step) -> Progress:
    part_index, step_index = guide.position(step.id)
    part = guide.parts[part_index]
    if progress.view is View.STEP:
        if progress.reviewing:
            later = [s for s in _open_items(part, progress) if part.steps.index(s) > step_index]
            return (
                _at(guide, progress, later[0], reviewing=True)
                if later
                else (_at(guide, progress, step, view=View.SUMMARY))
            )
        if step.is_checklist and step == part.checklist[-1]:
            return _at(guide, progress, step, view=View.SUMMARY)
    # past the summary, or an ordinary step: on to the next step in the guide
    following = _step_after(guide, part_index, step_index)
    if following is None:
        return _at(guide, replace(progress, finished=True), step, view=View.FINISHED)
    return _at(guide, progress, following)


def _back(guide: Guide, progress: Progress, step: Step) -> Progress:
    part_index, step_index = guide.position(step.id)
    part = guide.parts[part_index]
    if progress.reviewing:
        earlier = [s for s in _open_items(part, progress) if part.steps.index(s) < step_index]
        return _at(guide, progress, earlier[-1], reviewing=True) if earlier else progress
    if step_index > 0:
        return _at(guide, progress, part.steps[step_index - 1])
    if part_index > 0:
        return _at(guide, progress, guide.parts[part_index - 1].steps[-1])
    return progress


def _step_after(guide: Guide, part_index: int, step_index: int) -> Step | None:
    part = guide.parts[part_index]
    if step_index + 1 < len(part.steps):
        return part.steps[step_index + 1]
    if part_index + 1 < len(guide.parts):
        return guide.parts[part_index + 1].steps[0]
    return None
