"""Building the screens a user sees from the guide and their progress."""

from __future__ import annotations

from bot.content import Guide, Part, Step
from bot.markup import Markup, escape
from bot.walkthrough.model import (
    REMINDER_CHOICES,
    REMINDER_OFF,
    Action,
    Button,
    Progress,
    Screen,
    Verb,
    View,
)

Row = tuple[Button, ...]


def button(
    guide: Guide,
    key: str,
    verb: Verb,
    target: str | None = None,
    *,
    primary: bool = False,
    **values: object,
) -> Button:
    return Button(guide.messages.button(key, **values), Action(verb, target), primary)


def menu_row(
    guide: Guide, step: Step | None = None, *, back: bool = True, remind: bool = False
) -> Row:
    row: list[Button] = []
    if step is not None and back:
        row.append(button(guide, "back", Verb.BACK, step.id))
    row.append(button(guide, "menu", Verb.MENU))
    if remind:
        row.append(button(guide, "remind", Verb.REMIND))
    return tuple(row)


def continue_row(guide: Guide) -> Row:
    return (button(guide, "continue", Verb.RESUME, primary=True),)


def current(guide: Guide, progress: Progress) -> Screen:
    """What the user is looking at in the guide right now."""
    if progress.view is View.SUMMARY:
        return checklist_summary(guide, progress)
    if progress.view is View.FINISHED:
        return finished(guide, progress)
    return step_screen(guide, progress)


def step_screen(guide: Guide, progress: Progress) -> Screen:
    step = guide.step(progress.step_id)
    assert step is not None, "progress is resolved before screens are built"
    part_index, step_index = guide.position(step.id)
    part = guide.parts[part_index]
    lines = [header(guide, part_index, step_index), ""]
    if step_index == 0:
        lines += [f"<i>{part.intro}</i>", ""]
    lines.append(step.text)
    answer = progress.answer(step.id) if step.is_checklist else None
    if answer is not None and part.answers is not None:
        label = part.answers[0] if answer else part.answers[1]
        lines += ["", guide.messages.text("your_answer", answer=label)]
    at_very_start = part_index == 0 and step_index == 0 and not progress.reviewing
    # the end of a part is a natural pause: offer a reminder there (not at the very end)
    pause = step_index == len(part.steps) - 1 and part_index < len(guide.parts) - 1
    return Screen(
        Markup("\n".join(lines)),
        (
            step_buttons(guide, part, step),
            menu_row(guide, step, back=not at_very_start, remind=pause),
        ),
    )


def header(guide: Guide, part_index: int, step_index: int) -> str:
    """Where a step is, counted one way everywhere: part m of n, step i of the part's k."""
    part = guide.parts[part_index]
    return guide.messages.text(
        "step_header",  # Markup: the placeholders are escaped
        part_number=part_index + 1,
        part_count=len(guide.parts),
        part_title=part.title,
        step_number=step_index + 1,
        step_count=len(part.steps),
    )


def step_buttons(guide: Guide, part: Part, step: Step) -> Row:
    if step.is_checklist and part.answers is not None:
        yes, not_yet = part.answers
        return (
            Button(yes, Action(Verb.YES, step.id), primary=True),
            Button(not_yet, Action(Verb.NOT_YET, step.id)),
        )
    forward = "finish" if step.id == guide.parts[-1].steps[-1].id else "next"
    return (button(guide, forward, Verb.NEXT, step.id, primary=True),)


def checklist_summary(guide: Guide, progress: Progress) -> Screen:
    step = guide.step(progress.step_id)
    assert step is not None
    part = guide.parts[guide.position(step.id)[0]]
    items = part.checklist
    yes = sum(item.id in progress.ticked for item in items)
    open_items = len(items) - yes
    text = guide.messages.text("checklist_summary", title=part.title, yes=yes, total=len(items))
    held = held_gates(part, progress)
    if held:
        extra = guide.messages.text("checklist_hold", items=bullets(held))
    elif open_items:
        extra = guide.messages.text("checklist_open", open=open_items)
    else:
        extra = guide.messages.text("checklist_all_yes")
    first_row: Row = (button(guide, "continue", Verb.NEXT, step.id, primary=True),)
    if open_items:
        first_row = (button(guide, "review", Verb.REVIEW, part.id), *first_row)
    return Screen(Markup(f"{text}\n\n{extra}"), (first_row, menu_row(guide, step, remind=True)))


def bullets(steps: list[Step]) -> Markup:
    return Markup("\n".join(f"• {escape(step.title)}" for step in steps))


def held_gates(part: Part, progress: Progress) -> list[Step]:
    """The part's gates answered "Not yet": while any is, the talk it prepares waits."""
    return [gate for gate in part.gates if progress.answer(gate.id) is False]


def still_on_hold(guide: Guide, progress: Progress) -> Markup:
    """The hold, said again wherever the walk looks finished ("" when nothing is held)."""
    held = [gate for part in guide.parts for gate in held_gates(part, progress)]
    return guide.messages.text("checklist_hold", items=bullets(held)) if held else Markup("")


def finished(guide: Guide, progress: Progress) -> Screen:
    text = guide.messages.text("finished")
    hold = still_on_hold(guide, progress)
    return Screen(Markup(f"{hold}\n\n{text}" if hold else text), after_the_end(guide))


def after_the_end(guide: Guide) -> tuple[Row, ...]:
    return (
        (button(guide, "resources", Verb.RESOURCES, primary=True),),
        (button(guide, "checklist", Verb.CHECKLIST),),
        (button(guide, "menu", Verb.MENU), button(guide, "restart", Verb.RESTART)),
    )


def welcome_back_finished(guide: Guide, progress: Progress) -> Screen:
    """A returning user who has read it all: no "carry on", just where they might go."""
    text = guide.messages.text("welcome_back_finished")
    hold = still_on_hold(guide, progress)
    return Screen(Markup(f"{text}\n\n{hold}" if hold else text), after_the_end(guide))


def welcome(guide: Guide) -> Screen:
    return Screen(
        guide.messages.text("welcome"),
        (
            (button(guide, "confirm_adult", Verb.CONFIRM, guide.language, primary=True),),
            (button(guide, "under18", Verb.UNDERAGE),),
        ),
    )


def welcome_back(guide: Guide, progress: Progress) -> Screen:
    part_index, step_index = guide.position(progress.step_id)
    text = guide.messages.text("welcome_back", where=Markup(header(guide, part_index, step_index)))
    return Screen(text, (continue_row(guide), (button(guide, "menu", Verb.MENU),)))


def menu(guide: Guide) -> Screen:
    parts = [
        (button(guide, "part", Verb.JUMP, part.id, number=number, title=part.title),)
        for number, part in enumerate(guide.parts, start=1)
    ]
    return Screen(
        guide.messages.text("menu"),
        (
            continue_row(guide),
            *parts,
            (button(guide, "progress", Verb.PROGRESS), button(guide, "resources", Verb.RESOURCES)),
            (button(guide, "safety", Verb.SAFETY),),
            (button(guide, "remind", Verb.REMIND), button(guide, "restart", Verb.RESTART)),
            (button(guide, "language", Verb.LANGUAGE), button(guide, "hide", Verb.HIDE)),
        ),
    )


def progress_overview(guide: Guide, progress: Progress) -> Screen:
    part_index, step_index = guide.position(progress.step_id)
    lines = [
        overview_line(guide, number, part, progress, number - 1 == part_index)
        for number, part in enumerate(guide.parts, start=1)
    ]
    where = (
        guide.messages.text("progress_done")
        if progress.view is View.FINISHED
        else header(guide, part_index, step_index)
    )
    text = guide.messages.text("progress", overview=Markup("\n".join(lines)), where=where)
    return Screen(
        text,
        (
            continue_row(guide),
            (button(guide, "checklist", Verb.CHECKLIST),),
            (button(guide, "menu", Verb.MENU),),
        ),
    )


def overview_line(guide: Guide, number: int, part: Part, progress: Progress, here: bool) -> str:
    mark = (
        "▶️"
        if here and progress.view is not View.FINISHED
        else "✋"
        if held_gates(part, progress)
        else ("✅" if part.id in progress.seen_parts else "○")
    )
    if not part.checklist:
        return guide.messages.text("progress_line", mark=mark, number=number, title=part.title)
    yes = sum(item.id in progress.ticked for item in part.checklist)
    return guide.messages.text(
        "progress_line_checklist",
        mark=mark,
        number=number,
        title=part.title,
        yes=yes,
        total=len(part.checklist),
    )


ANSWER_MARKS = {True: "✅", False: "⏳", None: "○"}


def my_checklists(guide: Guide, progress: Progress) -> Screen:
    """Both checklists with each item's answer, as one message for the user to keep."""
    blocks = []
    for part in guide.parts:
        if not part.checklist:
            continue
        items = [
            f"{ANSWER_MARKS[progress.answer(item.id)]} {escape(item.title)}"
            for item in part.checklist
        ]
        blocks.append("\n".join([f"<b>{escape(part.title)}</b>", *items]))
    text = guide.messages.text("my_checklists", checklists=Markup("\n\n".join(blocks)))
    return Screen(text, (continue_row(guide),))


def resources(guide: Guide) -> Screen:
    text = guide.messages.text("resources", resources=guide.render_resources())
    return Screen(text, (continue_row(guide),))


def info(guide: Guide, key: str, acknowledged: bool) -> Screen:
    """A plain text screen (help, privacy, …) with a way back into the guide."""
    return Screen(guide.messages.text(key), (continue_row(guide),) if acknowledged else ())


def privacy(guide: Guide, progress: Progress) -> Screen:
    """What is kept, with the means to hide the chat, keep it tidy, change the language
    or erase everything."""
    tidy = "tidy_on" if progress.tidy else "tidy_off"
    return Screen(
        privacy_text(guide).text,
        (
            (button(guide, "hide", Verb.HIDE),),
            (button(guide, tidy, Verb.TIDY),),
            (button(guide, "language", Verb.LANGUAGE),),
            (button(guide, "delete", Verb.DELETE),),
            continue_row(guide),
        ),
    )


def privacy_text(guide: Guide) -> Screen:
    return Screen(guide.messages.text("privacy", language=guide.messages.language_name))


def languages(guide: Guide, *, acknowledged: bool) -> Screen:
    """Every complete language, each in its own name."""
    choices = tuple(
        (Button(name, Action(Verb.SET_LANGUAGE, code), primary=code == guide.language),)
        for code, name in guide.languages
    )
    rows = (*choices, continue_row(guide)) if acknowledged else choices
    return Screen(guide.messages.text("languages"), rows)


def hidden(guide: Guide) -> Screen:
    """The quick exit: no message at all, only a pop-up if the tap can show one."""
    return Screen(Markup(""), notice=guide.messages.notice("hidden"))


def confirm(guide: Guide, key: str, yes_key: str, yes: Action) -> Screen:
    return Screen(
        guide.messages.text(key),
        (
            (button(guide, yes_key, yes.verb, yes.target),),
            (button(guide, "cancel", Verb.CANCEL, primary=True),),
        ),
    )


def safety(guide: Guide) -> Screen:
    """The safety essentials from across the walk, in one message."""
    essentials = guide.render_safety()
    return Screen(guide.messages.text("safety", essentials=essentials), (continue_row(guide),))


def remind_offer(guide: Guide) -> Screen:
    label = guide.messages.reminder
    choices = tuple(
        Button(label(key), Action(Verb.REMIND_SET, choice))
        for choice, (_, key) in REMINDER_CHOICES.items()
    )
    return Screen(
        Markup(label("offer")),
        (
            choices,
            (Button(label("no_thanks"), Action(Verb.REMIND_SET, REMINDER_OFF)),),
            continue_row(guide),
        ),
    )


def remind_done(guide: Guide, choice: str) -> Screen:
    label = guide.messages.reminder
    if choice == REMINDER_OFF:
        text = label("off")
    else:
        when = label(REMINDER_CHOICES[choice][1])
        text = label("set", when=when[:1].lower() + when[1:])  # "In 3 Tagen" → "in 3 Tagen"
    return Screen(Markup(text), (continue_row(guide),))


def remind_nothing_left(guide: Guide) -> Screen:
    return Screen(Markup(guide.messages.reminder("nothing_left")), after_the_end(guide))


def reminder(guide: Guide) -> Screen:
    """The nudge itself: discreet, since it may show on a lock screen."""
    label = guide.messages.reminder
    return Screen(
        Markup(label("text")), ((Button(label("continue"), Action(Verb.RESUME), primary=True),),)
    )
